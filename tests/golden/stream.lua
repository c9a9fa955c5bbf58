-- Streaming a scripted reply with reasoning, chunks and a tool call.
local evs = {}
for ev in llm.stream{prompt = "go"} do evs[#evs + 1] = ev end
return evs
