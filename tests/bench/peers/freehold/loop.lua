-- Workload 1 (agent-loop overhead): `runs` agent runs, one after another, each 10 model calls that
-- ask for the `echo` tool and an 11th that answers. Input: {model, runs}. Output: CPU seconds of the
-- runs (os.clock) and the steps of the last run. Wall time is measured by the harness (runs=N minus
-- runs=0), since a plan has no wall clock finer than a second.
tool.define{
  name = "echo", description = "Returns its argument",
  parameters = {type = "object", properties = {text = {type = "string"}}, required = {"text"}},
  handler = function(a) return a end,
}
local runs = input.runs or 1
local c0 = os.clock()
local last
for i = 1, runs do
  local res, err = agent.run{model = input.model, instructions = "Call echo until told otherwise.",
                             input = "run " .. i, tools = {"echo"}, max_steps = 12}
  if not res then error(tostring(err)) end
  if res.steps ~= 11 then error("expected 11 model calls, got " .. tostring(res.steps) .. " (" .. tostring(res.stop_reason) .. ")") end
  last = res
end
return {cpu_s = os.clock() - c0, runs = runs, steps = last and last.steps or 0}
