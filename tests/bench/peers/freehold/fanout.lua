-- Workload 2 (fan-out): `runs` concurrent agent runs, each 4 tool-asking model calls and a final
-- answer (5 calls). Input: {model, runs}.
tool.define{
  name = "echo", description = "Returns its argument",
  parameters = {type = "object", properties = {text = {type = "string"}}, required = {"text"}},
  handler = function(a) return a end,
}
local runs = input.runs or 1000
local handles = {}
for i = 1, runs do
  handles[i] = task.spawn(function()
    local res, err = agent.run{model = input.model, instructions = "Call echo until told otherwise.",
                               input = "run " .. i, tools = {"echo"}, max_steps = 6}
    if not res then error(tostring(err)) end
    return res.steps
  end)
end
local calls = 0
for i = 1, runs do calls = calls + task.join(handles[i]) end
if calls ~= 5 * runs then error("expected " .. 5 * runs .. " model calls, got " .. calls) end
return {runs = runs, calls = calls}
