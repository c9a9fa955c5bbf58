// The Lua VM's limits, one test per adversarial case of SECURITY.md §5 (L-cases).
#include <doctest/doctest.h>

#include "tests/runtime/support.hpp"

using fh::json;
using fh::plan::RunResult;
using fh::test::run_plan;
using S = RunResult::Status;

namespace {
fh::test::PlanRun run(const std::string& src, fh::lua::Limits lim = {}) {
  fh::test::PlanOptions o;
  o.limits = lim;
  return run_plan(src, o);
}
}  // namespace

TEST_CASE("L1: io, os.execute, os.getenv, require, dofile, loadfile, debug, collectgarbage are absent") {
  auto r = run(R"(
    return {io = io == nil, execute = os.execute == nil, getenv = os.getenv == nil, exit = os.exit == nil,
            require = require == nil, dofile = dofile == nil, loadfile = loadfile == nil,
            debug = debug == nil, gc = collectgarbage == nil, clock = type(os.clock) == "function",
            time = type(os.time) == "function", date = type(os.date) == "function"})");
  REQUIRE(r.result.status == S::succeeded);
  for (auto& [k, v] : r.result.output.items()) CHECK_MESSAGE(v == true, k);
  auto r2 = run("return os.getenv('HOME')");
  CHECK(r2.result.status == S::failed);
  CHECK(r2.result.message.find("getenv") != std::string::npos);
}

TEST_CASE("L2: package.loadlib is unreachable") {
  auto r = run("return package.loadlib('libc.so.6', 'system')");
  CHECK(r.result.status == S::failed);
  CHECK(r.result.message.find("package") != std::string::npos);
}

TEST_CASE("L3: load refuses binary chunks") {
  auto r = run(R"(local f, err = load("\27Lua\84\0"); return {f = f == nil, err = err})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["f"] == true);
  CHECK(r.result.output["err"].get<std::string>().find("binary") != std::string::npos);
  auto ok = run("return load('return 1 + 1')()");
  CHECK(ok.result.output == 2);
}

TEST_CASE("L4/L5: string.dump is gone from the library and from the string metatable") {
  auto r = run(R"(return {lib = string.dump == nil, meta = ("x").dump == nil, empty = (""):len()})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["lib"] == true);
  CHECK(r.result.output["meta"] == true);
}

TEST_CASE("L6: string.rep bomb hits the memory cap quickly and the process lives") {
  auto r = run("return string.rep('x', 1e9)");
  CHECK(r.result.status == S::limit_exceeded);
  CHECK(r.result.message.find("memory") != std::string::npos);
  CHECK(r.wall_ms < 2000);
}

TEST_CASE("L7: repeated concat bombs inside pcall are each bounded and the plan continues") {
  fh::lua::Limits lim;
  lim.memory_bytes = 32u << 20;
  auto r = run(R"(
    local caught = 0
    for i = 1, 20 do
      local ok = pcall(function() local s = "x" for j = 1, 40 do s = s .. s end end)
      if not ok then caught = caught + 1 end
    end
    return caught)", lim);
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == 20);
}

TEST_CASE("L8: table growth hits the memory cap") {
  fh::lua::Limits lim;
  lim.memory_bytes = 16u << 20;
  auto r = run("local t = {} for i = 1, 1e9 do t[i] = i end", lim);
  CHECK(r.result.status == S::limit_exceeded);
}

TEST_CASE("L9: a million coroutines hit the memory cap") {
  fh::lua::Limits lim;
  lim.memory_bytes = 16u << 20;
  auto r = run("local t = {} for i = 1, 1e6 do t[i] = coroutine.create(function() end) end", lim);
  CHECK(r.result.status == S::limit_exceeded);
}

TEST_CASE("L10: unbounded recursion is bounded") {
  auto r = run("local function f(n) return 1 + f(n + 1) end return f(1)");
  CHECK(r.result.status != S::succeeded);
  CHECK((r.result.message.find("stack overflow") != std::string::npos ||
         r.result.message.find("memory") != std::string::npos));
}

TEST_CASE("L11: an endless loop is killed by the instruction budget") {
  fh::lua::Limits lim;
  lim.instructions = 20'000'000;
  auto r = run("while true do end", lim);
  CHECK(r.result.status == S::limit_exceeded);
  CHECK(r.result.message.find("instruction budget exceeded") != std::string::npos);
  CHECK(r.result.exit_code() == 3);
}

TEST_CASE("L12: pcall cannot swallow the kill") {
  fh::lua::Limits lim;
  lim.instructions = 20'000'000;
  auto r = run("while true do pcall(function() while true do end end) end", lim);
  CHECK(r.result.status == S::limit_exceeded);
}

TEST_CASE("L13: a loop inside coroutine.wrap is killed too") {
  fh::lua::Limits lim;
  lim.instructions = 20'000'000;
  auto r = run("coroutine.wrap(function() while true do end end)()", lim);
  CHECK(r.result.status == S::limit_exceeded);
}

TEST_CASE("L14: the deadline kills a loop the budget would allow") {
  fh::lua::Limits lim;
  lim.instructions = 1'000'000'000'000'000ull;
  lim.deadline = std::chrono::milliseconds(300);
  auto r = run("while true do end", lim);
  CHECK(r.result.status == S::limit_exceeded);
  CHECK(r.result.message.find("deadline exceeded") != std::string::npos);
  CHECK(r.wall_ms < 1500);
}

TEST_CASE("L14b: the deadline also ends a run that is waiting on I/O") {
  fh::lua::Limits lim;
  lim.deadline = std::chrono::milliseconds(100);
  auto r = run("task.sleep(30) return 1", lim);
  CHECK(r.result.status == S::limit_exceeded);
  CHECK(r.wall_ms < 1500);
}

TEST_CASE("L16: giant table.concat / sort are bounded by memory and budget") {
  fh::lua::Limits lim;
  lim.memory_bytes = 32u << 20;
  lim.instructions = 50'000'000;
  auto r = run("local t = {} for i = 1, 5e6 do t[i] = i end table.sort(t, function(a, b) return a > b end)", lim);
  CHECK(r.result.status == S::limit_exceeded);
}

TEST_CASE("L17: setmetatable refuses __gc") {
  auto r = run("setmetatable({}, {__gc = function() while true do end end}) return 1");
  CHECK(r.result.status == S::failed);
  CHECK(r.result.message.find("__gc") != std::string::npos);
}

TEST_CASE("L19: error objects are never evaluated by the host; huge errors are truncated") {
  auto r = run("error(setmetatable({}, {__tostring = function() while true do end end}))");
  CHECK(r.result.status == S::failed);
  CHECK(r.result.message == "(non-string error)");
  auto big = run("error(string.rep('e', 1e6))");
  CHECK(big.result.status == S::failed);
  CHECK(big.result.message.size() < 5000);
}

TEST_CASE("L21: the string metatable is locked") {
  auto r = run("getmetatable('').__index.upper = function() return 'evil' end");
  CHECK(r.result.status == S::failed);
  auto r2 = run("return getmetatable('')");
  CHECK(r2.result.output == "locked");
}

TEST_CASE("L22: library tables are read-only") {
  for (const char* src : {"string.rep = nil", "rawset(string, 'rep', nil)", "setmetatable(string, nil)",
                          "table.insert = print", "json.encode = nil"}) {
    auto r = run(src);
    CHECK_MESSAGE(r.result.status == S::failed, src);
    bool says_why = r.result.message.find("read-only") != std::string::npos ||
                    r.result.message.find("protected") != std::string::npos;
    CHECK_MESSAGE(says_why, src << ": " << r.result.message);
  }
  auto r = run("local n = 0 for k in pairs(string) do n = n + 1 end return n");
  CHECK(r.result.output.get<int>() > 10);  // iteration still works through the proxy
}

TEST_CASE("L23: effects work inside pcall and inside an __index metamethod") {
  auto r = run(R"(
    local ok, v = pcall(function() return llm.chat{prompt = "in pcall"}.text end)
    local t = setmetatable({}, {__index = function(_, k) return llm.chat{prompt = k}.text end})
    return {ok = ok, v = v, idx = t.hello})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["v"] == "in pcall");
  CHECK(r.result.output["idx"] == "hello");
}

TEST_CASE("L24: effects where a yield cannot work give a clean error and the run survives") {
  auto r = run(R"(
    local ok1, e1 = pcall(table.sort, {3, 2, 1}, function(a, b) task.sleep(0) return a < b end)
    local ok2, e2 = pcall(string.gsub, "abc", "%w", function(c) return llm.chat{prompt = c}.text end)
    local ok3, e3 = pcall(tostring, setmetatable({}, {__tostring = function() task.sleep(0) return "x" end}))
    local after = llm.chat{prompt = "still fine"}.text
    return {ok1 = ok1, e1 = tostring(e1), ok2 = ok2, ok3 = ok3, after = after})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["ok1"] == false);
  CHECK(r.result.output["e1"].get<std::string>().find("cannot run here") != std::string::npos);
  CHECK(r.result.output["ok2"] == false);
  CHECK(r.result.output["ok3"] == false);
  CHECK(r.result.output["after"] == "still fine");
}

TEST_CASE("L26: load gets the plan's environment, no host globals") {
  auto r = run("return load('return _REAL_SETMETATABLE == nil and fh == nil and package == nil')()");
  CHECK(r.result.output == true);
}

TEST_CASE("L30: runs do not share globals") {
  auto a = run("shared_value = 42 return shared_value");
  auto b = run("return shared_value == nil");
  CHECK(a.result.output == 42);
  CHECK(b.result.output == true);
}

TEST_CASE("coroutine.yield at the top of a branch is a clear error, not a hang") {
  auto r = run("coroutine.yield(1)");
  CHECK(r.result.status == S::failed);
  CHECK(r.result.message.find("outside a coroutine") != std::string::npos);
}

TEST_CASE("user coroutines keep working, and effects inside them suspend the branch") {
  auto r = run(R"(
    local co = coroutine.wrap(function(a)
      local x = coroutine.yield(a + 1)
      local t = llm.chat{prompt = "inside"}.text
      coroutine.yield(t)
      return x * 2
    end)
    local first = co(1)
    local second = co(10)
    local third = co()
    return {first, second, third})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == json::array({2, "inside", 20}));
}

TEST_CASE("json conversion: depth limit, cycles, non-finite numbers, functions") {
  auto r = run(R"(
    local t = {} t.self = t
    local ok1, e1 = pcall(json.encode, t)
    local ok2 = pcall(json.encode, {x = 0/0})
    local ok3 = pcall(json.encode, {f = print})
    local v, err = json.decode("{bad")
    local deep = string.rep("[", 200) .. string.rep("]", 200)
    local ok4 = pcall(json.decode, deep)
    return {ok1 = ok1, e1 = e1, ok2 = ok2, ok3 = ok3, v = v == nil, err = err.code, ok4 = ok4,
            arr = json.encode(json.array{}), obj = json.encode({}), null = json.encode({a = json.null})})");
  REQUIRE(r.result.status == S::succeeded);
  auto& o = r.result.output;
  CHECK(o["ok1"] == false);
  CHECK(o["e1"].get<std::string>().find("nested too deeply") != std::string::npos);
  CHECK(o["ok2"] == false);
  CHECK(o["ok3"] == false);
  CHECK(o["v"] == true);
  CHECK(o["err"] == "invalid_argument");
  CHECK(o["ok4"] == false);
  CHECK(o["arr"] == "[]");
  CHECK(o["obj"] == "{}");
  CHECK(o["null"] == "{\"a\":null}");
}

TEST_CASE("a plan that does not compile reports file:line and exit code 2") {
  fh::test::PlanOptions o;
  o.chunk = "broken.lua";
  auto r = run_plan("local x = \n\n return +", o);
  CHECK(r.result.status == S::invalid_plan);
  CHECK(r.result.exit_code() == 2);
  CHECK(r.result.message.find("broken.lua:3:") != std::string::npos);
}

TEST_CASE("misuse raises with the plan's file and line") {
  auto r = run("local x = 1\nllm.chat{prompt = 'x', temprature = 1}");
  CHECK(r.result.status == S::failed);
  CHECK(r.result.exit_code() == 1);
  CHECK(r.result.message.find("plan.lua:2:") != std::string::npos);
  CHECK(r.result.message.find("unknown field 'temprature'") != std::string::npos);
  CHECK(r.result.traceback.find("stack traceback") != std::string::npos);
}
