-- Fan out: ask about several topics at once. Each branch suspends on its model call; one thread
-- runs them all. task.all returns the results in argument order.
local topics = (input and input.topics) or {"tides", "volcanoes", "bees"}
local branches = {}
for i, topic in ipairs(topics) do
  branches[i] = function()
    local r, err = llm.chat{prompt = "One fact about " .. topic .. "."}
    if not r then return "error: " .. tostring(err) end
    emit{type = "progress", done = topic}
    return r.text
  end
end
local answers = {task.all(table.unpack(branches))}
local out = {}
for i, topic in ipairs(topics) do out[topic] = answers[i] end
return out
