-- The smallest plan: one model call. Run it with any model:
--   freehold run scripts/plans/hello.lua --input '{"name": "Ada"}'              (mock/echo, no key)
--   freehold run scripts/plans/hello.lua --model openai/gpt-4.1-mini --input '{"name": "Ada"}'
local name = (input and input.name) or "world"
local r, err = llm.chat{
  system = "Answer in one short sentence.",
  messages = {{role = "user", content = "Say hello to " .. name .. "."}},
  max_tokens = 60,
}
if not r then error("model call failed: " .. tostring(err)) end
log.info("tokens in/out:", r.usage.input_tokens, r.usage.output_tokens)
return r.text
