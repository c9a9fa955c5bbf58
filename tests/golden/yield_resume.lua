-- Effects suspend the branch wherever Lua can yield: plain code, pcall, user coroutines,
-- metamethods, nested parallel branches.
local out = {}
out.plain = llm.chat{prompt = "plain"}.text
local ok, v = pcall(function() task.sleep(0.01) return llm.chat{prompt = "pcall"}.text end)
out.pcall = v
local gen = coroutine.wrap(function() coroutine.yield(llm.chat{prompt = "co1"}.text) coroutine.yield(llm.chat{prompt = "co2"}.text) end)
out.co = {gen(), gen()}
local lazy = setmetatable({}, {__index = function(_, k) return llm.chat{prompt = "idx:" .. k}.text end})
out.index = lazy.key
out.nested = {task.all(function() return task.all(function() task.sleep(0.02) return "n1" end, function() return "n2" end) end)}
log.info("done")
return out
