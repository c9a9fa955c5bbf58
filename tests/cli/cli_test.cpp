// The freehold binary end to end: what a user types, what they see.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <algorithm>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "runtime/core/result.hpp"
#include "tests/providers/support/server_thread.hpp"

namespace fs = std::filesystem;

namespace {

struct Proc {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs the binary with `args` and extra environment `env` ("K=V"), capturing both streams.
Proc run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const fs::path dir = fs::temp_directory_path() / ("fh_cli_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path out = dir / "out", err = dir / "err";
  std::fflush(nullptr);  // nothing buffered is written twice by the child
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::freopen(out.c_str(), "w", stdout);
    std::freopen(err.c_str(), "w", stderr);
    std::freopen("/dev/null", "r", stdin);
    std::vector<char*> argv;
    static std::string bin = FH_FREEHOLD_BIN;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Proc p;
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  p.out = slurp(out);
  p.err = slurp(err);
  return p;
}

fs::path write_temp(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("fh_cli_files_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}

// A plan that walks every value reachable from its globals (tables, their metatables when
// visible, function results it can get without arguments are not called) and reports where a
// given needle occurs. It also asks a remote provider (which holds the key) for a reply so the
// error object and everything the bridge returned are in reach.
const char* kWalker = R"LUA(
local needles = input.needles
local seen, hits, visited = {}, {}, 0
local function check(s, path)
  for _, n in ipairs(needles) do
    if string.find(s, n, 1, true) then hits[#hits + 1] = path end
  end
end
local function walk(v, path, depth)
  if depth > 40 then return end
  local t = type(v)
  if t == "string" then visited = visited + 1; check(v, path)
  elseif t == "table" then
    if seen[v] then return end
    seen[v] = true
    visited = visited + 1
    for k, x in pairs(v) do
      walk(k, path .. "[key]", depth + 1)
      walk(x, path .. "." .. tostring(k), depth + 1)
    end
    local mt = getmetatable(v)
    if type(mt) == "table" then walk(mt, path .. "<mt>", depth + 1) end
  end
end
local r, err = llm.chat{ model = "openai/gpt-4.1-mini", messages = {{role = "user", content = "hi"}} }
_G.last_reply, _G.last_error = r, err
local r2, err2 = llm.chat{ model = "anthropic/claude-haiku-4-5", messages = {{role = "user", content = "hi"}} }
_G.last_reply2, _G.last_error2 = r2, err2
walk(_G, "_G", 0)
walk(input, "input", 0)
walk(string, "string", 0)
walk(getmetatable(""), "stringmt", 0)
return { hits = hits, visited = visited, err = tostring(err), echo = needles }
)LUA";

}  // namespace

TEST_CASE("S1 no secret value is reachable from Lua, and the redactor scrubs the rest") {
  const std::string key1 = "sk-fh-test-4c1d9e7f00aa", key2 = "sk-ant-fh-test-77e1b2c3d4";
  const auto plan = write_temp("walker.lua", kWalker);
  // Unreachable base URLs: the call fails fast, so the error path is in reach too.
  const auto cfg = write_temp("cfg.json", R"({"providers": {"openai": {"base_url": "http://127.0.0.1:9"},
      "anthropic": {"base_url": "http://127.0.0.1:9"}}, "secrets": {"github": "ghp_fhtestsecret123456"}})");
  const fh::json input = {{"needles", {key1, key2, "ghp_fhtestsecret123456"}}};
  auto p = run({"run", plan.string(), "--json", "--config", cfg.string(), "--model", "mock/echo", "--input", input.dump()},
               {"OPENAI_API_KEY=" + key1, "ANTHROPIC_API_KEY=" + key2});
  INFO(p.err);
  REQUIRE(p.code == 0);
  // The plan's output echoes its input (which holds the needles): the redactor scrubs it.
  CHECK(p.out.find(key1) == std::string::npos);
  CHECK(p.out.find(key2) == std::string::npos);
  CHECK(p.err.find(key1) == std::string::npos);
  const auto out = fh::json::parse(p.out, nullptr, false);
  REQUIRE(out.is_object());
  // Negative control: the needles are in `input`, so the walker must find them exactly there.
  std::vector<std::string> hits = out["hits"].get<std::vector<std::string>>();
  CHECK(out["visited"].get<int>() > 50);
  REQUIRE(!hits.empty());
  for (const auto& h : hits)
    CHECK_MESSAGE((h.rfind("input.needles", 0) == 0 || h.rfind("_G.input.needles", 0) == 0), "secret reachable at " << h);
  // The output echoed the needles back: every one is scrubbed.
  REQUIRE(out["echo"].size() == 3);
  for (const auto& e : out["echo"]) CHECK(e == "[REDACTED]");
  CHECK(out["err"].get<std::string>().find("network") != std::string::npos);
}

TEST_CASE("one plan runs unchanged on mock/script and on the local model: tool call, result, final answer") {
  const std::string plan = std::string(FH_SOURCE_DIR) + "/scripts/plans/tool_agent.lua";
  const std::string mock = "mock/script?file=" + std::string(FH_SOURCE_DIR) + "/scripts/plans/tool_agent.replies.json";
  for (const std::string& model : std::vector<std::string>{mock, "local/default"}) {
    CAPTURE(model);
    auto p = run({"run", plan, "--json", "--model", model});
    INFO(p.err);
    REQUIRE(p.code == 0);
    const auto out = fh::json::parse(p.out, nullptr, false);
    REQUIRE(out.is_object());
    CHECK(out["stop"] == "final");
    CHECK(out["steps"] == 2);
    REQUIRE(out["looked_up"].size() == 1);
    CHECK(out["looked_up"][0].is_string());
    CHECK(out["answer"].is_string());
    CHECK(!out["answer"].get<std::string>().empty());
  }
}

TEST_CASE("freehold run with no --model runs on the shipped local model, no API key needed") {
  auto p = run({"run", std::string(FH_SOURCE_DIR) + "/scripts/plans/hello.lua"}, {"OPENAI_API_KEY=", "ANTHROPIC_API_KEY="});
  INFO(p.err);
  CHECK(p.code == 0);
  CHECK(!p.out.empty());
}

TEST_CASE("libcurl is loaded only by a plan that makes a request; without it the request fails clearly") {
  // LD_DEBUG=files makes the dynamic loader name every library it opens on stderr.
  const auto local = write_temp("no_http.lua", "local r = llm.chat{model = 'mock/echo', prompt = 'hi'} return r.text");
  Proc p = run({"run", local.string()}, {"LD_DEBUG=files"});
  REQUIRE(p.code == 0);
  CHECK(p.out.find("hi") != std::string::npos);
  CHECK(p.err.find("libcurl") == std::string::npos);
  const auto remote = write_temp("http.lua", R"LUA(
local r, err = llm.chat{model = "openai/gpt-4.1-mini", messages = {{role = "user", content = "hi"}}}
return {ok = r ~= nil, message = err and err.message or ""}
)LUA");
  // Port 9 (discard): nothing listens, the request fails after curl is loaded.
  const std::vector<std::string> env = {"OPENAI_API_KEY=x", "OPENAI_BASE_URL=http://127.0.0.1:9/v1"};
  std::vector<std::string> traced = env;
  traced.push_back("LD_DEBUG=files");
  Proc h = run({"run", remote.string()}, traced);
  CHECK(h.err.find("libcurl") != std::string::npos);
  std::vector<std::string> missing = env;
  missing.push_back("FH_LIBCURL=/nonexistent/libcurl.so.4");
  Proc m = run({"run", remote.string()}, missing);
  INFO(m.out, m.err);
  CHECK(m.out.find("cannot load libcurl (/nonexistent/libcurl.so.4)") != std::string::npos);
  CHECK(m.out.find("\"ok\": false") != std::string::npos);
}

TEST_CASE("freehold tokenize prints the ids the model was trained with") {
  // stories260K.expected.json: the prompt and its ids, BOS first.
  std::ifstream f(std::string(FH_SHARED_DIR) + "/models/stories260K.expected.json");
  const auto all = fh::json::parse(f, nullptr, false);
  REQUIRE(all.is_array());
  const auto& expected = all.at(0);
  auto p = run({"tokenize", "--model", "local/default", "--text", expected["prompt"].get<std::string>()});
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto ids = fh::json::parse(p.out, nullptr, false);
  CHECK(ids == expected["prompt_ids"]);
  auto bad = run({"tokenize", "--model", "local/nope.gguf", "--text", "x"});
  CHECK(bad.code != 0);
  CHECK(bad.err.find("nope.gguf") != std::string::npos);
}

// Issue 3: `freehold chat` and a Lua plan are two doors to the same provider call, so for every
// recorded OpenAI and Anthropic reply they must produce the same unified result (and, streamed,
// the same events), apart from the timings.
namespace {

fh::json drop_timings(fh::json j) {
  if (j.is_object()) {
    j.erase("latency_ms");
    j.erase("ttft_ms");
    if (auto pd = j.find("provider_data"); pd != j.end() && pd->is_object()) {
      pd->erase("queue_wait_ms");
      if (pd->empty()) j.erase(pd);
    }
  }
  return j;
}

std::vector<fh::json> json_lines(const std::string& s) {
  std::vector<fh::json> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(fh::json::parse(l, nullptr, false));
  return out;
}
}  // namespace

TEST_CASE("freehold chat and a Lua plan give identical unified results for every recorded reply") {
  std::vector<std::string> fixtures;
  for (const auto& e : fs::directory_iterator(fs::path(FH_SHARED_DIR) / "fixtures/providers")) {
    const std::string n = e.path().filename().string();
    const bool openai = n.rfind("openai_chat_stream_", 0) == 0 || n.rfind("openai_chat_response_", 0) == 0;
    const bool anthropic = n.rfind("anthropic_stream_", 0) == 0 || n.rfind("anthropic_message_", 0) == 0;
    if ((openai || anthropic) && (e.path().extension() == ".sse" || e.path().extension() == ".json")) fixtures.push_back(n);
  }
  std::sort(fixtures.begin(), fixtures.end());
  REQUIRE(fixtures.size() >= 20);
  const auto streamed_plan = write_temp("parity_stream.lua", R"LUA(
local evs = {}
for ev in llm.stream{messages = {{role = "user", content = "hi"}}} do evs[#evs + 1] = ev end
return evs
)LUA");
  const auto whole_plan = write_temp("parity_whole.lua", R"LUA(
local r, err = llm.chat{messages = {{role = "user", content = "hi"}}}
return r or {error = err}
)LUA");
  for (const auto& name : fixtures) {
    CAPTURE(name);
    const bool stream = name.ends_with(".sse");
    const bool openai = name.rfind("openai", 0) == 0;
    const std::string body = fh::test::read_fixture(name);
    fh::test::ServerThread st([&](const fh::test::MockRequest&) {
      fh::test::MockResponse r;
      r.body = body;
      if (!stream) {
        r.headers = {{"content-type", "application/json"}};
        r.chunked = false;
      }
      return r;
    });
    const std::string model = openai ? "openai/gpt-4o" : "anthropic/claude-sonnet-4";
    const std::string url = st.server->base_url() + (openai ? "/v1" : "");
    const auto cfg = write_temp("parity_cfg.json", fh::json{{"providers", {{openai ? "openai" : "anthropic", {{"base_url", url}}}}}}.dump());
    const std::vector<std::string> keys = {"OPENAI_API_KEY=k", "ANTHROPIC_API_KEY=k"};

    std::vector<std::string> chat_args = {"chat", "--model", model, "--base-url", url, "--json", "hi"};
    if (stream) chat_args.insert(chat_args.begin() + 1, "--stream");
    auto c = run(chat_args, keys);
    auto p = run({"run", (stream ? streamed_plan : whole_plan).string(), "--json", "--config", cfg.string(), "--model", model}, keys);
    INFO(c.err);
    INFO(p.err);
    REQUIRE(c.code == 0);
    REQUIRE(p.code == 0);
    const auto plan_out = fh::json::parse(p.out, nullptr, false);
    if (stream) {
      auto chat_lines = json_lines(c.out);
      REQUIRE(plan_out.is_array());
      REQUIRE(plan_out.size() == chat_lines.size());
      CHECK(plan_out.back()["type"] == "result");
      for (size_t i = 0; i < chat_lines.size(); ++i) CHECK(drop_timings(plan_out[i]) == drop_timings(chat_lines[i]));
    } else {
      const auto chat_out = fh::json::parse(c.out, nullptr, false);
      REQUIRE(chat_out.is_object());
      CHECK(!plan_out.contains("error"));
      CHECK(drop_timings(plan_out) == drop_timings(chat_out));
    }
  }
}

// Issue 9: the example experiment runs a scripted model and the shipped local model side by side.
TEST_CASE("freehold swap runs the example experiment on a scripted model and on the local model") {
  const std::string plans = std::string(FH_SOURCE_DIR) + "/scripts/plans/";
  const std::string accurate = "mock/script?file=" + plans + "swap_example.accurate.json&mode=sequence";
  const fs::path out = fs::temp_directory_path() / ("fh_cli_swap_" + std::to_string(getpid()));
  fs::remove_all(out);
  auto p = run({"swap", plans + "swap_example.lua", "--models", accurate + ",local/default", "--inputs",
                plans + "swap_example.inputs.jsonl", "--scorer", plans + "swap_example.scorer.lua", "--concurrency", "1",
                "--out", out.string()});
  INFO(p.err);
  REQUIRE(p.code == 0);
  std::istringstream in(slurp(out / "results.jsonl"));
  int local_cells = 0, scripted_cells = 0;
  for (std::string line; std::getline(in, line);) {
    const auto cell = fh::json::parse(line, nullptr, false);
    REQUIRE(cell.is_object());
    if (cell["model"] == "local/default") {
      ++local_cells;
      CHECK(cell["ok"] == true);  // a tiny story model answers badly, but it answers
      CHECK(cell["usage"]["output_tokens"].get<int64_t>() > 0);
      CHECK(cell["usage"]["input_tokens"].get<int64_t>() > 0);
      CHECK(cell["cost_usd"] == 0.0);
      CHECK(cell["score"].is_number());
    } else {
      ++scripted_cells;
      CHECK(cell["score"] == 1.0);
    }
  }
  CHECK(local_cells == 4);
  CHECK(scripted_cells == 4);
  const std::string md = slurp(out / "report.md");
  CHECK(md.find("local/default") != std::string::npos);
  CHECK(fs::file_size(out / "report.html") > 1000);
  fs::remove_all(out);
}

// Issue 4: a budget from the config file holds like --budget-usd; the command line wins over it.
TEST_CASE("a run budget from the config refuses a call before it is sent; --budget-usd overrides it") {
  const auto plan = write_temp("budget.lua", R"LUA(
local r, err = llm.chat{prompt = "hi", max_tokens = 100}
return {ok = r ~= nil, message = err and err.message or "", code = err and err.code or ""}
)LUA");
  // Nothing listens on port 9: a call that is sent fails with a network error instead.
  const auto tiny = write_temp("budget_tiny.json", R"({"providers": {"openai": {"base_url": "http://127.0.0.1:9/v1"}},
      "budget": {"usd": 0.000001}})");
  const std::vector<std::string> key = {"OPENAI_API_KEY=k"};
  auto p = run({"run", plan.string(), "--json", "--config", tiny.string(), "--model", "openai/gpt-4o"}, key);
  INFO(p.err);
  REQUIRE(p.code == 0);
  auto out = fh::json::parse(p.out, nullptr, false);
  CHECK(out["ok"] == false);
  CHECK(out["message"].get<std::string>().find("budget_exceeded") != std::string::npos);
  CHECK(out["code"] == "budget_exceeded");

  auto wide = run({"run", plan.string(), "--json", "--config", tiny.string(), "--model", "openai/gpt-4o", "--budget-usd", "100"}, key);
  REQUIRE(wide.code == 0);
  auto out2 = fh::json::parse(wide.out, nullptr, false);
  CHECK(out2["ok"] == false);
  CHECK(out2["message"].get<std::string>().find("budget_exceeded") == std::string::npos);  // sent, and refused by the network

  const auto bad = write_temp("budget_bad.json", R"({"budget": {"usd": -1}})");
  auto b = run({"run", plan.string(), "--config", bad.string(), "--model", "mock/echo"});
  CHECK(b.code == 2);
  CHECK(b.err.find("budget.usd") != std::string::npos);
}
