-- An agent: the model picks tools, the runtime runs them (in parallel when it asks for several)
-- and feeds the results back until the model answers. The scripted mock model below plays a fixed
-- conversation; swap --model for a real one and the plan stays the same.
tool.define{
  name = "add", description = "Add two numbers",
  parameters = {type = "object", properties = {a = {type = "number"}, b = {type = "number"}}, required = {"a", "b"}},
  handler = function(args) return {sum = args.a + args.b} end,
}
tool.define{
  name = "weather", description = "Weather for a city",
  parameters = {type = "object", properties = {city = {type = "string"}}, required = {"city"}},
  handler = function(args) task.sleep(0.01) return {city = args.city, sky = "clear"} end,
}
local model = (input and input.model) or "mock/script?file=scripts/plans/agent.replies.json"
local res, err = agent.run{
  model = model,
  instructions = "Use the tools, then answer briefly.",
  input = "What is 2+3, and what is the weather in Oslo?",
  tools = {"add", "weather"},
  max_steps = 5,
}
if not res then error(tostring(err)) end
return {answer = res.text, steps = res.steps, stop = res.stop_reason}
