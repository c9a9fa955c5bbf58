-- A scripted model calls two tools in parallel, gets a schema error on one, corrects it, answers.
tool.define{name = "add", description = "a+b",
  parameters = {type = "object", properties = {a = {type = "number"}, b = {type = "number"}}, required = {"a", "b"}},
  handler = function(x) task.sleep(0.02) return {sum = x.a + x.b} end}
tool.define{name = "mul", description = "a*b",
  parameters = {type = "object", properties = {a = {type = "number"}, b = {type = "number"}}, required = {"a", "b"}},
  handler = function(x) return {product = x.a * x.b} end}
local res, err = agent.run{instructions = "use tools", input = "2+3 and 4*5?", tools = {"add", "mul"}, max_steps = 5}
if not res then error(tostring(err)) end
return {text = res.text, steps = res.steps, stop = res.stop_reason, usage = res.usage,
        transcript = res.messages}
