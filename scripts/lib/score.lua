-- Scoring for `freehold swap` (embedded into fh::swap at build time). It runs as its own small plan
-- for each successful cell, with input = {output, input, expected?, scorer, scorer_name, scorer_is_plan}.
-- It loads the scorer text into an environment holding the helpers below and returns
-- score(output, input, expected) as a number (true/false count as 1/0).
--
-- Helpers a scorer can use:
--   exact(output, expected [, {ignore_case = true}])   trimmed text equality (tables: same JSON)
--   contains(output, needle [, {ignore_case = true}])  plain substring test
--   numeric(output, expected [, tol])                  first number in each within tol (default 1e-6)
--   number(value)                                      first number in a value, or nil
--   schema_valid(value, schema)                        JSON Schema subset check -> ok, reason
--   judge{model = ..., rubric = ... [, output, input, expected]}  an LLM grade in [0, 1]; the model
--       defaults to the model under test, output/input/expected to the cell's
local args = input
local cell_output, cell_input, cell_expected = args.output, args.input, args.expected

local function text_of(v)
  if type(v) == "string" then return v end
  if v == nil or v == json.null then return "" end
  if type(v) == "table" then return json.encode(v) end
  return tostring(v)
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local H = {}

function H.exact(output, expected, opts)
  if type(output) == "table" and type(expected) == "table" then
    return json.encode(output) == json.encode(expected)
  end
  local a, b = trim(text_of(output)), trim(text_of(expected))
  if opts and opts.ignore_case then a, b = a:lower(), b:lower() end
  return a == b
end

function H.contains(output, needle, opts)
  local a, b = text_of(output), text_of(needle)
  if opts and opts.ignore_case then a, b = a:lower(), b:lower() end
  return a:find(b, 1, true) ~= nil
end

function H.number(v)
  if type(v) == "number" then return v end
  local s = text_of(v)
  local m = s:match("[-+]?%d+%.?%d*[eE][-+]?%d+") or s:match("[-+]?%d+%.?%d*") or s:match("[-+]?%.%d+")
  return m and tonumber(m) or nil
end

function H.numeric(output, expected, tol)
  local a, b = H.number(output), H.number(expected)
  if a == nil or b == nil then return false end
  return math.abs(a - b) <= (tol or 1e-6)
end

-- JSON Schema, a subset: type, enum, const, properties, required, additionalProperties (false or a
-- schema), items, minItems, maxItems, minLength, maxLength, minimum, maximum, anyOf.
local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #t
end

local function type_ok(v, ty)
  if ty == "null" then return v == nil or v == json.null end
  if ty == "boolean" then return type(v) == "boolean" end
  if ty == "string" then return type(v) == "string" end
  if ty == "number" then return type(v) == "number" end
  if ty == "integer" then return math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v)) end
  if ty == "array" then return type(v) == "table" and is_array(v) end
  if ty == "object" then return type(v) == "table" and (next(v) == nil or not is_array(v)) end
  return false
end

local function check(v, s, path)
  if type(s) ~= "table" then return true end
  if s.type ~= nil then
    local tys = type(s.type) == "table" and s.type or {s.type}
    local any = false
    for _, ty in ipairs(tys) do any = any or type_ok(v, ty) end
    if not any then return false, path .. ": expected " .. table.concat(tys, "|") end
  end
  if s.enum ~= nil then
    local found = false
    for _, e in ipairs(s.enum) do found = found or H.exact(v, e) and type(v) == type(e) end
    if not found then return false, path .. ": not one of the enum values" end
  end
  if s.const ~= nil and not (H.exact(v, s.const) and type(v) == type(s.const)) then
    return false, path .. ": not the const value"
  end
  if s.anyOf ~= nil then
    local any = false
    for _, sub in ipairs(s.anyOf) do any = any or (check(v, sub, path)) end
    if not any then return false, path .. ": matches no anyOf branch" end
  end
  if type(v) == "string" then
    if s.minLength and utf8.len(v) and utf8.len(v) < s.minLength then return false, path .. ": too short" end
    if s.maxLength and utf8.len(v) and utf8.len(v) > s.maxLength then return false, path .. ": too long" end
  elseif type(v) == "number" then
    if s.minimum and v < s.minimum then return false, path .. ": below minimum" end
    if s.maximum and v > s.maximum then return false, path .. ": above maximum" end
  elseif type(v) == "table" then
    if is_array(v) and (next(v) ~= nil or s.items ~= nil or s.type == "array") then
      if s.minItems and #v < s.minItems then return false, path .. ": too few items" end
      if s.maxItems and #v > s.maxItems then return false, path .. ": too many items" end
      if s.items then
        for i, item in ipairs(v) do
          local ok, why = check(item, s.items, path .. "[" .. i .. "]")
          if not ok then return false, why end
        end
      end
    else
      for _, k in ipairs(s.required or {}) do
        if v[k] == nil then return false, path .. ": missing required '" .. tostring(k) .. "'" end
      end
      local props = s.properties or {}
      for k, sub in pairs(props) do
        if v[k] ~= nil then
          local ok, why = check(v[k], sub, path .. "." .. tostring(k))
          if not ok then return false, why end
        end
      end
      if s.additionalProperties ~= nil and s.additionalProperties ~= true then
        for k, val in pairs(v) do
          if props[k] == nil then
            if s.additionalProperties == false then return false, path .. ": unexpected '" .. tostring(k) .. "'" end
            local ok, why = check(val, s.additionalProperties, path .. "." .. tostring(k))
            if not ok then return false, why end
          end
        end
      end
    end
  end
  return true
end

function H.schema_valid(value, schema)
  if type(value) == "string" then
    local decoded = json.decode(value)
    if decoded == nil then return false, "$: not valid JSON" end
    value = decoded
  end
  return check(value, schema, "$")
end

function H.judge(opts)
  if type(opts) ~= "table" or type(opts.rubric) ~= "string" then
    error("judge{model = ..., rubric = ...}: rubric (a string) is required", 2)
  end
  local out = opts.output
  if out == nil then out = cell_output end
  local inp = opts.input
  if inp == nil then inp = cell_input end
  local exp = opts.expected
  if exp == nil then exp = cell_expected end
  local parts = {"Rubric:\n" .. opts.rubric, "Task input:\n" .. text_of(inp)}
  if exp ~= nil then parts[#parts + 1] = "Reference answer:\n" .. text_of(exp) end
  parts[#parts + 1] = "Answer to grade:\n" .. text_of(out)
  local r, err = llm.chat{
    model = opts.model,
    system = "You grade an answer against a rubric. Reply with only a number from 0 (fails the rubric) to 1 (fully meets it).",
    messages = {{role = "user", content = table.concat(parts, "\n\n")}},
    max_tokens = 16,
    temperature = 0,
  }
  if not r then error("judge: model call failed: " .. tostring(type(err) == "table" and err.message or err), 2) end
  local x = H.number(r.text)
  if x == nil then error("judge: no number in the reply '" .. r.text:sub(1, 80) .. "'", 2) end
  return math.max(0, math.min(1, x))
end

-- The scorer's environment: globals as usual plus the helpers and the cell's input. A plan used as
-- its own scorer gets stubs for the effectful modules: the first use stops its top-level code.
local STOP = {}
local env = setmetatable({}, {__index = _ENV})
for k, f in pairs(H) do env[k] = f end
env.input = cell_input
if args.scorer_is_plan then
  local stop = {__index = function() return function() error(STOP, 0) end end}
  local stub = setmetatable({}, stop)
  env.llm, env.agent, env.task = stub, stub, stub
  env.tool = setmetatable({define = function() end}, stop)  -- tool definitions may come before score
end

local chunk, cerr = load(args.scorer, "=" .. (args.scorer_name or "scorer.lua"), "t", env)
if not chunk then error("scorer does not compile: " .. tostring(cerr), 0) end
local ok, e = pcall(chunk, cell_input)
if not ok and e ~= STOP and not args.scorer_is_plan then error(e, 0) end
local f = rawget(env, "score")
if type(f) ~= "function" then error("the scorer defines no global function score(output, input, expected)", 0) end
local s = f(cell_output, cell_input, cell_expected)
if type(s) == "boolean" then s = s and 1 or 0 end
if type(s) ~= "number" or s ~= s then error("score() returned a " .. type(s) .. ", not a number or boolean", 0) end
return s
