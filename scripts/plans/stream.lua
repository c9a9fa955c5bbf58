-- Streaming: iterate the model's events as they arrive.
local parts = {}
for ev in llm.stream{prompt = (input and input.prompt) or "streams arrive one word at a time"} do
  if ev.type == "text" then
    parts[#parts + 1] = ev.text
  elseif ev.type == "error" then
    error("stream failed: " .. ev.error.message)
  end
end
return table.concat(parts)
