-- Errors: an effect failure is `nil, err`; misuse raises at the plan's line; branch errors raise.
local r, err = llm.chat{prompt = "first"}            -- reply 1 is a scripted rate_limit error
local misuse_ok, misuse = pcall(llm.chat, {prompt = 5})
local branch_ok, branch_err = pcall(task.all, function() error("branch failed") end)
local tool_r, tool_err = tool.call("nope", {})
return {r = r == nil, code = err.code, retryable = err.retryable, misuse_ok = misuse_ok, misuse = misuse,
        branch_ok = branch_ok, branch_err = branch_err, tool_code = tool_err.code}
