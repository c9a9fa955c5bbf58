-- One plan, any provider: the model must call a tool first (tool_choice = "required"), gets its
-- result, then answers. Run it unchanged on the scripted mock or on the shipped local model:
--   freehold run scripts/plans/tool_agent.lua --model "mock/script?file=scripts/plans/tool_agent.replies.json"
--   freehold run scripts/plans/tool_agent.lua --model local/default
-- On a local model the tool call comes out of constrained decoding, so its arguments always
-- match the schema, whatever the model.
local calls = {}
tool.define{
  name = "lookup", description = "Look up a word in the story dictionary",
  parameters = {type = "object", properties = {word = {type = "string", maxLength = 16}}, required = {"word"}},
  handler = function(args)
    calls[#calls + 1] = args.word
    return {word = args.word, meaning = "a small friendly animal"}
  end,
}
local res, err = agent.run{
  instructions = "Look the word up, then tell a one-line story with it.",
  input = "What is a bunny?",
  tools = {"lookup"},
  tool_choice = "required",
  max_steps = 3,
  max_tokens = 48,
  temperature = 0,
}
if not res then error(tostring(err)) end
return {answer = res.text, steps = res.steps, stop = res.stop_reason, looked_up = calls}
