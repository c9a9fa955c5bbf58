-- A provider-swap experiment's plan: one question in, the model's short answer out. The same plan
-- runs on every model of the experiment; the scorer (swap_example.scorer.lua) grades the answers.
-- From the repository root (sequence-mode scripts map replies to cells in order, so keep
-- --concurrency 1 for the scripted models to answer the inputs they were written for):
--   freehold swap scripts/plans/swap_example.lua \
--     --models 'mock/echo,mock/script?file=scripts/plans/swap_example.accurate.json&mode=sequence,mock/script?file=scripts/plans/swap_example.cheap.json&mode=sequence' \
--     --inputs scripts/plans/swap_example.inputs.jsonl --scorer scripts/plans/swap_example.scorer.lua \
--     --repeat 2 --concurrency 1 --out /tmp/swap-example
-- Add a real or local model to --models (e.g. openai/gpt-4.1-mini, local/MODEL.gguf) to compare it
-- with the scripted ones; --budget-usd caps the spend.
local question = (input and input.question) or "What is 6 times 7?"
local r, err = llm.chat{
  system = "Answer with the number only.",
  messages = {{role = "user", content = question}},
  max_tokens = 20,
}
if not r then error("model call failed: " .. tostring(err)) end
return r.text
