-- The Lua side of the plan API: tool.call / tool.define and agent.run.
-- Loaded once per run by the host with one argument, `host` = {call, error, event, tools};
-- returns the `tool` and `agent` module tables. Plans never see `host`.
-- host.event(type, tool, call_id, key, value) counts a tool call and, when someone listens,
-- reports {type, tool, call_id, [key] = value}: positional, so a run nobody watches builds no
-- event tables.
local host = ...
local defined = host.tools          -- name -> {spec = {...}, handler = fn}
local host_call, make_error, report = host.call, host.error, host.event
local type, pairs, ipairs, pcall, error, tostring = type, pairs, ipairs, pcall, error, tostring
local json_encode = json.encode
local unpack = table.unpack
local llm_chat, task_all = llm.chat, task.all

local tool = {}

-- A small check of arguments against the subset of JSON Schema plan-defined tools use:
-- type, required, properties, enum, items. Returns nil or a message the model can act on.
local function check(schema, value, path)
  if type(schema) ~= "table" then return nil end
  local t = schema.type
  local lt = type(value)
  if t == "object" and lt ~= "table" then return path .. ": expected an object" end
  if t == "array" and lt ~= "table" then return path .. ": expected an array" end
  if t == "string" and lt ~= "string" then return path .. ": expected a string" end
  if t == "boolean" and lt ~= "boolean" then return path .. ": expected a boolean" end
  if (t == "number" or t == "integer") and lt ~= "number" then return path .. ": expected a number" end
  if t == "integer" and math.type(value) ~= "integer" then return path .. ": expected an integer" end
  if schema.enum then
    local ok = false
    for _, v in ipairs(schema.enum) do if v == value then ok = true end end
    if not ok then return path .. ": not one of the allowed values" end
  end
  if t == "object" then
    for _, k in ipairs(schema.required or {}) do
      if value[k] == nil then return path .. "." .. k .. ": required" end
    end
    for k, sub in pairs(schema.properties or {}) do
      if value[k] ~= nil then
        local m = check(sub, value[k], path .. "." .. k)
        if m then return m end
      end
    end
  elseif t == "array" and schema.items then
    for i, v in ipairs(value) do
      local m = check(schema.items, v, path .. "[" .. i .. "]")
      if m then return m end
    end
  end
  return nil
end

function tool.define(def)
  if type(def) ~= "table" then error("tool.define expects a table", 2) end
  if type(def.name) ~= "string" or def.name == "" then error("tool.define: name must be a non-empty string", 2) end
  if type(def.handler) ~= "function" then error("tool.define: handler must be a function", 2) end
  if def.parameters ~= nil and type(def.parameters) ~= "table" then
    error("tool.define: parameters must be a JSON Schema table", 2)
  end
  defined[def.name] = {
    spec = {name = def.name, description = def.description or "",
            parameters = def.parameters or {type = "object", properties = {}}},
    handler = def.handler,
  }
  return def.name
end

-- tool.call(name, args [, call_id]) -> result | nil, err
function tool.call(name, args, call_id)
  if type(name) ~= "string" then error("tool.call: name must be a string", 2) end
  if args ~= nil and type(args) ~= "table" then error("tool.call: arguments must be a table", 2) end
  local d = defined[name]
  if not d then return host_call(name, args, call_id) end
  args = args or {}
  report("tool_call", name, call_id, "arguments", args)
  local bad = check(d.spec.parameters, args, "arguments")
  if bad then
    local err = make_error("invalid_argument", name .. ": " .. bad)
    report("tool_result", name, call_id, "error", {code = err.code, message = err.message})
    return nil, err
  end
  local ok, res, err = pcall(d.handler, args)
  if not ok then
    err = make_error("tool_error", name .. ": " .. tostring(res))
    res = nil
  end
  if res == nil and err == nil then res = json.null end
  if res ~= nil then
    report("tool_result", name, call_id, "result", res)
  else
    report("tool_result", name, call_id, "error",
           {code = type(err) == "table" and err.code or "tool_error", message = tostring(err)})
  end
  return res, err
end

local agent = {}

local function add_usage(total, u)
  if type(u) ~= "table" then return end
  for k, v in pairs(u) do
    if type(v) == "number" then total[k] = (total[k] or 0) + v end
  end
end

-- Plain values, compared by content (tool-call arguments decoded from JSON: no cycles).
local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Did two replies ask for the same calls? Same tools with equal arguments; ids differ per reply.
local function same_calls(a, b)
  if b == nil or #a ~= #b then return false end
  for i = 1, #a do
    if a[i].name ~= b[i].name or not equal(a[i].arguments, b[i].arguments) then return false end
  end
  return true
end

-- agent.run{model, instructions, input | messages, tools, max_steps, tool_choice, parallel_tool_calls,
--           reset_tool_choice}
-- -> {text, messages, usage, steps, stop_reason} | nil, err
function agent.run(opts)
  if type(opts) ~= "table" then error("agent.run expects a table", 2) end
  local messages = {}
  if type(opts.input) == "string" then
    messages[1] = {role = "user", content = opts.input}
  elseif type(opts.messages) == "table" then
    for i, m in ipairs(opts.messages) do messages[i] = m end
  else
    error("agent.run: give input (a string) or messages", 2)
  end
  local max_steps = opts.max_steps or 8
  if math.type(max_steps) ~= "integer" or max_steps < 1 then error("agent.run: max_steps must be a positive integer", 2) end
  local usage, cost = {}, nil
  local last_calls, repeats = nil, 0
  -- A forced tool_choice ("required" or a name) holds until the model has called a tool; then it
  -- goes back to auto so the model can answer (reset_tool_choice = false keeps it).
  local tool_choice = opts.tool_choice
  -- One call table for every step: `messages` grows in place, only tool_choice changes.
  local call = {model = opts.model, system = opts.instructions, messages = messages, tools = opts.tools,
                tool_choice = tool_choice, temperature = opts.temperature, max_tokens = opts.max_tokens}
  for step = 1, max_steps do
    call.tool_choice = tool_choice
    local r, err = llm_chat(call)
    if not r then return nil, err end
    add_usage(usage, r.usage)
    if type(r.cost_usd) == "number" then cost = (cost or 0) + r.cost_usd end
    messages[#messages + 1] = {role = "assistant", content = r.text, tool_calls = r.tool_calls}
    local calls = r.tool_calls or {}
    if #calls == 0 then
      return {text = r.text, messages = messages, usage = usage, cost_usd = cost, steps = step, stop_reason = "final"}
    end
    if opts.reset_tool_choice ~= false then tool_choice = nil end
    if same_calls(calls, last_calls) then repeats = repeats + 1 else repeats = 0 end
    last_calls = calls
    if repeats >= 2 then
      return {text = r.text, messages = messages, usage = usage, cost_usd = cost, steps = step, stop_reason = "repeated_call"}
    end
    local results
    if #calls == 1 or opts.parallel_tool_calls == false then
      results = {}
      for i, c in ipairs(calls) do results[i] = {tool.call(c.name, c.arguments, c.id)} end
    else
      local fns = {}
      for i, c in ipairs(calls) do fns[i] = function() return {tool.call(c.name, c.arguments, c.id)} end end
      results = {task_all(unpack(fns))}
    end
    for i, c in ipairs(calls) do
      local res, e = results[i][1], results[i][2]
      local content
      if res ~= nil then
        content = type(res) == "string" and res or json_encode(res)
      else
        local is_t = type(e) == "table"
        content = json_encode({error = {code = is_t and e.code or "error", message = is_t and e.message or tostring(e)}})
      end
      messages[#messages + 1] = {role = "tool", tool_call_id = c.id, name = c.name, content = content}
    end
  end
  return {text = nil, messages = messages, usage = usage, cost_usd = cost, steps = max_steps, stop_reason = "max_steps"}
end

return tool, agent
