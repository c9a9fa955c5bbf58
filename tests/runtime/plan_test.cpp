// Plan semantics: yield/resume, parallel branches, errors, cancellation, streaming, goldens.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <boost/asio/awaitable.hpp>

#include "runtime/api/chat.hpp"
#include "runtime/api/tool.hpp"
#include "tests/runtime/support.hpp"

using fh::json;
using fh::test::PlanOptions;
using fh::test::run_plan;
using S = fh::plan::RunResult::Status;
namespace fs = std::filesystem;

TEST_CASE("the input is both ... and the global input; the return value is the output") {
  PlanOptions o;
  o.input = {{"n", 2}};
  auto r = run_plan("local a = ... return {dots = a.n, global = input.n}", o);
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == json{{"dots", 2}, {"global", 2}});
  CHECK(r.events.front()["type"] == "run_started");
  CHECK(r.events.back()["type"] == "run_finished");
}

TEST_CASE("a non-serialisable return value fails clearly") {
  auto r = run_plan("return {f = print}");
  CHECK(r.result.status == S::failed);
  CHECK(r.result.message.find("not JSON-serialisable") != std::string::npos);
}

TEST_CASE("task.all returns results in argument order, not completion order") {
  auto r = run_plan(R"(
    local a, b, c = task.all(
      function() task.sleep(0.06) return "slow" end,
      function() return "instant" end,
      function() task.sleep(0.02) return llm.chat{prompt = "mid"}.text end)
    return {a, b, c})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == json::array({"slow", "instant", "mid"}));
}

TEST_CASE("task.all over 100 branches that sleep 0.2 s and call a model finishes well under 0.5 s") {
  auto r = run_plan(R"(
    local fns = {}
    for i = 1, 100 do fns[i] = function() task.sleep(0.2) return llm.chat{prompt = tostring(i)}.text end end
    local res = {task.all(table.unpack(fns))}
    return {n = #res, first = res[1], last = res[100]})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["n"] == 100);
  CHECK(r.result.output["last"] == "100");
  CHECK(r.wall_ms < 500);
  MESSAGE("100 branches: " << r.wall_ms << " ms");
}

TEST_CASE("task.all over 10 000 branches completes") {
  auto r = run_plan(R"(
    local fns = {}
    for i = 1, 10000 do fns[i] = function() task.sleep(0.2) return #llm.chat{prompt = tostring(i)}.text end end
    local res = {task.all(table.unpack(fns))}
    local sum = 0
    for _, v in ipairs(res) do sum = sum + v end
    return {n = #res, sum = sum})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["n"] == 10000);
  CHECK(r.result.output["sum"] == 38894);  // total digits of 1..10000
  MESSAGE("10000 branches: " << r.wall_ms << " ms");
}

TEST_CASE("task.all raises the first error after cancelling the rest; their <close> variables run") {
  auto r = run_plan(R"(
    local ok, err = pcall(task.all,
      function()
        local guard <close> = setmetatable({}, {__close = function() log.info("closed slow branch") end})
        task.sleep(5)
        log.info("must not run")
      end,
      function() task.sleep(0.01) error("boom") end)
    return {ok = ok, err = tostring(err)})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["ok"] == false);
  CHECK(r.result.output["err"].get<std::string>().find("boom") != std::string::npos);
  bool closed = false, leaked = false;
  for (auto& e : r.events) {
    if (e.value("message", "") == "closed slow branch") closed = true;
    if (e.value("message", "") == "must not run") leaked = true;
  }
  CHECK(closed);
  CHECK_FALSE(leaked);
  CHECK(r.wall_ms < 2000);
}

TEST_CASE("task.spawn and task.join") {
  auto r = run_plan(R"(
    local h = task.spawn(function(x) task.sleep(0.01) return "a", "b" end)
    local x, y = task.join(h)
    local ok, err = pcall(task.join, h)
    return {x, y, ok, tostring(err):find("already joined") ~= nil})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == json::array({"a", "b", false, true}));
}

TEST_CASE("cancelling a run stops plan code, runs <close> variables, and reports cancelled (130)") {
  PlanOptions o;
  o.cancel_after_ms = 50;
  auto r = run_plan(R"(
    local g <close> = setmetatable({}, {__close = function() log.info("cleanup ran") end})
    task.all(function() task.sleep(10) end, function() llm.chat{model = "mock/echo?latency_ms=10000", prompt = "x"} end)
    log.info("after")
    return 1)", o);
  CHECK(r.result.status == S::cancelled);
  CHECK(r.result.exit_code() == 130);
  bool cleanup = false, after = false;
  for (auto& e : r.events) {
    cleanup = cleanup || e.value("message", "") == "cleanup ran";
    after = after || e.value("message", "") == "after";
  }
  CHECK(cleanup);
  CHECK_FALSE(after);
  CHECK(r.wall_ms < 2000);
}

TEST_CASE("provider failures come back as nil, err with a code and a tostring") {
  fs::path dir = fs::temp_directory_path() / "fh_plan_test";
  fs::create_directories(dir);
  std::ofstream(dir / "err.json") << R"({"replies": [{"error": {"kind": "rate_limit", "message": "slow down",
                                          "status": 429, "retryable": true, "retry_after_ms": 1500}}]})";
  PlanOptions o;
  o.model = "mock/script?file=" + (dir / "err.json").string();
  auto r = run_plan(R"(
    local r, err = llm.chat{prompt = "hi"}
    return {r = r == nil, code = err.code, retryable = err.retryable, status = err.status,
            after = err.retry_after_ms, s = tostring(err)})", o);
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["r"] == true);
  CHECK(r.result.output["code"] == "rate_limit");
  CHECK(r.result.output["retryable"] == true);
  CHECK(r.result.output["status"] == 429);
  CHECK(r.result.output["after"] == 1500);
  CHECK(r.result.output["s"] == "rate_limit: slow down");
}

TEST_CASE("a plan-defined tool reports its calls and results as events and counts its calls") {
  auto r = run_plan(R"(
    tool.define{name = "add", parameters = {type = "object", required = {"a"}, properties = {a = {type = "number"}}},
                handler = function(a) if a.a < 0 then error("negative") end return a.a + 1 end}
    local one = tool.call("add", {a = 1}, "c1")
    local _, bad = tool.call("add", {a = "x"}, "c2")
    local _, boom = tool.call("add", {a = -1})
    return {one = one, bad = bad.code, boom = boom.code})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == json{{"one", 2}, {"bad", "invalid_argument"}, {"boom", "tool_error"}});
  CHECK(r.result.tool_calls == 3);
  std::vector<json> ev;
  for (auto& e : r.events)
    if (e.value("tool", "") == "add") ev.push_back(e);
  REQUIRE(ev.size() == 6);
  CHECK(ev[0]["type"] == "tool_call");
  CHECK(ev[0]["call_id"] == "c1");
  CHECK(ev[0]["arguments"] == json{{"a", 1}});
  CHECK(ev[1]["type"] == "tool_result");
  CHECK(ev[1]["call_id"] == "c1");
  CHECK(ev[1]["result"] == 2);
  CHECK(ev[3]["error"]["code"] == "invalid_argument");
  CHECK(ev[4]["call_id"] == "");
  CHECK(ev[5]["error"]["code"] == "tool_error");
  CHECK(ev[5]["error"]["message"].get<std::string>().find("negative") != std::string::npos);
}

TEST_CASE("a mock script with a malformed reply is refused when it is loaded, naming the reply") {
  fs::path dir = fs::temp_directory_path() / "fh_plan_test";
  fs::create_directories(dir);
  std::ofstream(dir / "bad_latency.json") << R"({"replies": [{"text": "ok"}, {"text": "late", "latency_ms": "5"}]})";
  std::ofstream(dir / "bad_text.json") << R"({"replies": [{"text": 42}]})";
  for (const char* file : {"bad_latency.json", "bad_text.json"}) {
    PlanOptions o;
    o.model = "mock/script?file=" + (dir / file).string();
    auto r = run_plan(R"(return llm.chat{prompt = "hi"}.text)", o);
    REQUIRE(r.result.status == S::failed);
    const std::string& msg = r.result.message;
    INFO(msg);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find(std::string(file) == "bad_latency.json" ? "reply #2: latency_ms" : "reply #1: text") != std::string::npos);
  }
}

TEST_CASE("llm.stream yields text deltas, tool-call events, usage, finish and the assembled result") {
  auto r = run_plan(R"(
    local types, text, result = {}, {}, nil
    for ev in llm.stream{prompt = "a b c"} do
      types[#types + 1] = ev.type
      if ev.type == "text" then text[#text + 1] = ev.text end
      if ev.type == "result" then result = ev end
    end
    return {types = types, text = table.concat(text), result_text = result.text, usage = result.usage.output_tokens})");
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["types"] == json::array({"text", "text", "text", "usage", "finish", "result"}));
  CHECK(r.result.output["text"] == "a b c");
  CHECK(r.result.output["result_text"] == "a b c");
}

TEST_CASE("llm.chat reads a call's messages straight from Lua, with message_from_json's rules") {
  // Every message shape a plan can write; the request the provider gets must equal the JSON path's.
  const char* history = R"([
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": "", "reasoning": "thinking",
     "tool_calls": [{"id": "c1", "name": "add", "arguments": {"a": 1, "b": [2, 3]}},
                    {"id": "c2", "name": "mul", "arguments": "{\"x\": 4}"},
                    {"id": "c3", "name": "bad", "arguments": "not json"}]},
    {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "{\"sum\": 3}"},
    {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "url": "https://x/y.png"}]},
    {"role": "assistant", "content": "ok", "provider_data": {"gemini": {"sig": "s"}}},
    {"role": "user", "content": null, "extra_key": 1}
  ])";
  PlanOptions o;
  o.input = json{{"history", json::parse(history)}};
  auto r = run_plan(R"(
    local msgs = {}
    for i, m in ipairs(input.history) do msgs[i] = m end
    llm.chat{prompt = "last", messages = msgs, system = "sys", temperature = 0.5, max_tokens = 7,
             stop = {"a", "b"}, seed = 3, tool_choice = "auto"}
    return true)", o);
  REQUIRE(r.result.status == S::succeeded);
  json request;
  for (const auto& e : r.events)
    if (e.value("type", "") == "llm_request") request = e["request"];
  REQUIRE(request.is_object());

  fh::api::ChatRequest want;
  want.model = "echo";
  want.system = "sys";
  for (const auto& m : json::parse(history)) want.messages.push_back(fh::api::message_from_json(m).value());
  want.messages.push_back(fh::api::Message::user("last"));  // a prompt comes after the messages
  want.temperature = 0.5;
  want.max_tokens = 7;
  want.stop = {"a", "b"};
  want.seed = 3;
  want.tool_choice = "auto";
  CHECK(request == fh::api::to_json(want));
  CHECK(request["messages"][1]["tool_calls"][1]["arguments"] == json{{"x", 4}});
  CHECK(request["messages"][1]["tool_calls"][2]["arguments"] == "not json");
}

TEST_CASE("llm.chat refuses a malformed call with a message that names the field") {
  auto r = run_plan(R"(
    local function why(t) local ok, e = pcall(llm.chat, t) return ok and "accepted" or e end
    return {
      why{messages = {{role = "robot", content = "x"}}},
      why{messages = {{role = "tool", content = "x"}}},
      why{messages = {{role = "user", content = 5}}},
      why{messages = {{role = "assistant", tool_calls = {{id = "a"}}}}},
      why{messages = {[1] = {role = "user", content = "x"}, [3] = {role = "user", content = "y"}}},
      why{messages = "hi"},
      why{messages = {"hi"}},
      why{messages = {}},
      why{prompt = "x", tools = {"nope"}},
      why{prompt = "x", max_tokens = 1.5},
      why{prompt = "x", schema = "s"},
      why{"positional"},
      why{prompt = "x", stop = 3},
    })");
  REQUIRE(r.result.status == S::succeeded);
  const auto& out = r.result.output;
  REQUIRE(out.size() == 13);
  const char* want[] = {
      "messages[1]: message role must be system, user, assistant or tool",
      "messages[1]: a tool message needs tool_call_id",
      "messages[1]: message content must be a string or an array of parts",
      "messages[1]: a tool call needs a name",
      "messages must be a list",
      "messages must be a list",
      "messages[1]: a message must be an object",
      "needs messages (or prompt)",
      "unknown tool 'nope'",
      "max_tokens must be a positive integer",
      "schema must be a JSON Schema table",
      "expects a table of named fields",
      "stop must be a string or a list of strings",
  };
  for (size_t i = 0; i < out.size(); ++i) {
    INFO(i, ": ", out[i]);
    CHECK(out[i].get<std::string>().find(std::string("llm.chat: ") + want[i]) != std::string::npos);
  }
}

TEST_CASE("a plan-defined tool's spec reaches the model on every call of an agent loop") {
  fs::path dir = fs::temp_directory_path() / "fh_plan_test";
  fs::create_directories(dir);
  std::ofstream(dir / "two_calls.json") << R"({"replies": [
    {"tool_calls": [{"id": "t1", "name": "echo", "arguments": {"text": "a"}}]},
    {"tool_calls": [{"id": "t2", "name": "echo", "arguments": {"text": "b"}}]},
    {"text": "done"}]})";
  PlanOptions o;
  o.model = "mock/script?file=" + (dir / "two_calls.json").string();
  auto r = run_plan(R"(
    tool.define{name = "echo", description = "returns its argument",
                parameters = {type = "object", properties = {text = {type = "string"}}, required = {"text"}},
                handler = function(a) return a end}
    local res = agent.run{input = "go", tools = {"echo"}}
    return res.steps)", o);
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output == 3);
  int requests = 0;
  for (const auto& e : r.events) {
    if (e.value("type", "") != "llm_request") continue;
    ++requests;
    REQUIRE(e["request"]["tools"].size() == 1);
    CHECK(e["request"]["tools"][0]["name"] == "echo");
    CHECK(e["request"]["tools"][0]["description"] == "returns its argument");
    CHECK(e["request"]["tools"][0]["parameters"]["required"] == json::array({"text"}));
  }
  CHECK(requests == 3);
}

TEST_CASE("agent.run stops when the model asks for the same calls three times, whatever their ids") {
  fs::path dir = fs::temp_directory_path() / "fh_plan_test";
  fs::create_directories(dir);
  // Steps 2-4 repeat one call (new ids each time, arguments in another key order); step 1 differs.
  std::ofstream(dir / "repeat.json") << R"({"replies": [
    {"tool_calls": [{"id": "a", "name": "echo", "arguments": {"text": "x", "n": [1, 2]}}]},
    {"tool_calls": [{"id": "b", "name": "echo", "arguments": {"text": "y", "n": [1, 2]}}]},
    {"tool_calls": [{"id": "c", "name": "echo", "arguments": {"n": [1, 2], "text": "y"}}]},
    {"tool_calls": [{"id": "d", "name": "echo", "arguments": {"text": "y", "n": [1, 2]}}]},
    {"text": "never reached"}]})";
  PlanOptions o;
  o.model = "mock/script?file=" + (dir / "repeat.json").string();
  auto r = run_plan(R"(
    tool.define{name = "echo", handler = function(a) return a end}
    local res = agent.run{input = "go", tools = {"echo"}}
    return {steps = res.steps, stop = res.stop_reason})", o);
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["stop"] == "repeated_call");
  CHECK(r.result.output["steps"] == 4);
}

namespace {
// A ToolHost whose one tool returns `size` bytes: used to push large results into small VMs.
class BigTool final : public fh::api::ToolHost {
 public:
  explicit BigTool(size_t size) : size_(size) {}
  fh::Result<fh::api::ToolSpec> spec(std::string_view name) const override {
    if (name != "big") return fh::make_error(fh::Errc::not_found, "no");
    return fh::api::ToolSpec{"big", "returns a big string", {{"type", "object"}}};
  }
  std::vector<fh::api::ToolSpec> list() const override { return {*spec("big")}; }
  boost::asio::awaitable<fh::Result<json>> call(std::string_view, json, fh::api::ToolCallContext) override {
    co_return json{{"data", std::string(size_, 'x')}};
  }

 private:
  size_t size_;
};
}  // namespace

TEST_CASE("L20: a tool result larger than the VM's memory is an error in the plan, not an abort") {
  BigTool big(16u << 20);
  PlanOptions o;
  o.tools = &big;
  o.limits.memory_bytes = 8u << 20;
  auto r = run_plan(R"(
    local ok, err = pcall(tool.call, "big", {})
    return {ok = ok, err = tostring(err)})", o);
  REQUIRE(r.result.status == S::succeeded);
  CHECK(r.result.output["ok"] == false);
  CHECK(r.result.output["err"].get<std::string>().find("memory") != std::string::npos);
}

TEST_CASE("golden plan transcripts (tests/golden/*.lua)") {
  bool update = std::getenv("FH_UPDATE_GOLDEN") != nullptr;
  int n = 0;
  for (auto& entry : fs::directory_iterator(fs::path(FH_SOURCE_DIR) / "tests/golden")) {
    if (entry.path().extension() != ".lua") continue;
    ++n;
    fs::path base = entry.path();
    base.replace_extension();
    PlanOptions o;
    o.chunk = entry.path().filename().string();
    if (fs::exists(base.string() + ".replies.json"))  // relative: tests run in the source dir
      o.model = "mock/script?file=tests/golden/" + base.filename().string() + ".replies.json";
    if (fs::exists(base.string() + ".input.json")) o.input = json::parse(fh::test::read_text(base.string() + ".input.json"));
    auto r = run_plan(fh::test::read_text(entry.path().string()), o);
    json output = r.result.output;
    fh::test::scrub_timings(output);  // a plan may return a result with its latency in it
    json got = {{"status", r.result.status_name()}, {"output", output},
                {"events", fh::test::stable_events(r.events)}};
    std::string expected_path = base.string() + ".expected.json";
    if (update) {
      std::ofstream(expected_path) << got.dump(2) << "\n";
      continue;
    }
    REQUIRE_MESSAGE(fs::exists(expected_path), expected_path);
    json want = json::parse(fh::test::read_text(expected_path));
    fh::test::scrub_timings(want["output"]);
    CHECK_MESSAGE(got == want, entry.path().filename().string() << "\n got: " << got.dump(2));
  }
  CHECK(n >= 3);
}

TEST_CASE("every example plan in scripts/plans runs and succeeds") {
  int n = 0;
  for (auto& entry : fs::directory_iterator(fs::path(FH_SOURCE_DIR) / "scripts/plans")) {
    if (entry.path().extension() != ".lua") continue;
    ++n;
    PlanOptions o;
    o.chunk = entry.path().filename().string();
    auto r = run_plan(fh::test::read_text(entry.path().string()), o);
    CHECK_MESSAGE(r.result.status == S::succeeded, entry.path().filename().string() << ": " << r.result.message);
  }
  CHECK(n >= 3);
}
