-- Workload 3 (cold start): an agent whose one model call answers at once; then the process exits.
-- Input: {model}.
tool.define{
  name = "echo", description = "Returns its argument",
  parameters = {type = "object", properties = {text = {type = "string"}}, required = {"text"}},
  handler = function(a) return a end,
}
local res, err = agent.run{model = input.model, instructions = "Call echo until told otherwise.",
                           input = "run 0", tools = {"echo"}, max_steps = 2}
if not res then error(tostring(err)) end
return res.text
