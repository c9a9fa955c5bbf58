-- Workload 4 (streaming): one streamed reply. The harness timestamps the emit lines on stderr:
-- "start" before the request, "first" at the first text delta, "done" after the last event.
-- One unmeasured reply first (connection set up), like the peers. Input: {model}.
for _ in llm.stream{model = input.model, prompt = "talk"} do end  -- warm-up reply, as for the peers
emit{ev = "start"}
local n, first = 0, false
for ev in llm.stream{model = input.model, prompt = "talk"} do
  if ev.type == "text" then
    n = n + 1
    if not first then first = true; emit{ev = "first"} end
  end
end
emit{ev = "done", deltas = n}
return n
