// fh::swap: experiments over mock models with known behaviour; every number in the report is checked
// against values computed by hand from the scripted replies.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <cmath>
#include <fstream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "providers/mock/mock.hpp"
#include "runtime/swap/swap.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using fh::json;
using namespace fh::swap;

namespace {

const fh::api::ProviderRegistry& registry() {
  static fh::api::ProviderRegistry r = [] {
    fh::api::ProviderRegistry reg;
    fh::provider_mock::register_mock(reg);
    return reg;
  }();
  return r;
}

// A fresh folder per test; mock/script caches providers per model string, so every model string a
// test builds carries the folder name too.
fs::path fresh_dir(const std::string& name) {
  static std::atomic<int> n{0};
  auto d = fs::temp_directory_path() / ("fh_swap_test_" + std::to_string(::getpid()) + "_" + name + "_" + std::to_string(n++));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream f(p);
  std::string l;
  while (std::getline(f, l))
    if (!l.empty()) out.push_back(l);
  return out;
}

const char* kPlan = R"lua(
local r, err = llm.chat{messages = {{role = "user", content = input.q or "?"}}}
if not r then error("model failed: " .. tostring(err and err.message)) end
return r.text
)lua";

const char* kExactScorer = "function score(output, input, expected) return exact(output, expected) end\n";

// Five inputs; mock/echo answers with q, model B always answers "4".
//   input  q       expected   echo  B
//   0      "4"     "4"        1     1   tie
//   1      "2+2"   "4"        0     1   B wins
//   2      "7"     "7"        1     0   B loses
//   3      "x"     "4"        0     1   B wins
//   4      "hello" "hello"    1     0   B loses
std::vector<InputCase> five_inputs() {
  auto r = parse_inputs(R"({"input": {"q": "4"}, "expected": "4"}
{"input": {"q": "2+2"}, "expected": "4"}

{"input": {"q": "7"}, "expected": "7"}
{"input": {"q": "x"}, "expected": "4"}
{"input": {"q": "hello"}, "expected": "hello"}
)");
  REQUIRE(r);
  return r.value();
}

struct Models {
  std::string echo, four, broken;
};

Models make_models(const fs::path& dir) {
  write(dir / "four.json", R"({"replies": [{"text": "4", "cost_usd": 0.002, "latency_ms": 20,
                                            "usage": {"input_tokens": 10, "output_tokens": 2, "cached_input_tokens": 4}}]})");
  write(dir / "broken.json", R"({"replies": [{"error": {"kind": "server", "message": "boom", "status": 500}}]})");
  return {"mock/echo", "mock/script?file=" + (dir / "four.json").string(),
          "mock/script?file=" + (dir / "broken.json").string()};
}

Config base_config(const fs::path& dir, std::vector<std::string> models) {
  Config c;
  c.plan_source = kPlan;
  c.plan_name = "test_plan.lua";
  c.models = std::move(models);
  c.inputs = five_inputs();
  c.scorer_source = kExactScorer;
  c.out_dir = dir / "out";
  c.providers = &registry();
  return c;
}

struct Outcome {
  fh::Result<Summary> summary = fh::make_error(fh::Errc::internal, "not run");
  std::vector<Progress> progress;
  bool create_failed = false;
  std::string create_error;
};

// Runs an experiment to its end; with cancel_after >= 0, cancels it once that many cells are done.
Outcome run(Config cfg, int cancel_after = -1) {
  Outcome out;
  asio::io_context io(1);
  auto strand = asio::make_strand(io);
  auto exp = Experiment::create(strand, std::move(cfg));
  if (!exp) {
    out.create_failed = true;
    out.create_error = exp.error().message;
    return out;
  }
  auto e = exp.value();
  asio::co_spawn(strand, [&]() -> asio::awaitable<void> {
    out.summary = co_await e->run([&](const Progress& p) {
      out.progress.push_back(p);
      if (cancel_after >= 0 && p.done >= cancel_after && !e->cancelled()) e->cancel();
    });
  }, asio::detached);
  io.run();
  return out;
}

const ModelStats& stats_of(const Summary& s, const std::string& model) {
  for (const auto& m : s.models)
    if (m.model == model) return m;
  FAIL("no stats for " << model);
  return s.models.front();
}

}  // namespace

TEST_CASE("percentile and bootstrap interval") {
  CHECK(percentile({}, 0.5) == 0);
  CHECK(percentile({4, 1, 3, 2}, 0.5) == doctest::Approx(2.5));
  CHECK(percentile({1, 2, 3, 4}, 0.95) == doctest::Approx(3.85));
  CHECK(percentile({7}, 0.95) == 7);
  auto c = bootstrap_mean({0.5, 0.5, 0.5}, 1);
  CHECK(c.mean == 0.5);
  CHECK(c.low == 0.5);
  CHECK(c.high == 0.5);
  // 100 coin flips (50 ones): normal approximation 0.5 +- 1.96 * 0.05 = [0.402, 0.598]
  std::vector<double> v(100, 0.0);
  for (int i = 0; i < 50; ++i) v[static_cast<size_t>(i)] = 1;
  auto b = bootstrap_mean(v, 7);
  CHECK(b.mean == doctest::Approx(0.5));
  CHECK(b.low == doctest::Approx(0.402).epsilon(0.05));
  CHECK(b.high == doctest::Approx(0.598).epsilon(0.05));
  auto b2 = bootstrap_mean(v, 7);
  CHECK(b2.low == b.low);  // fixed seed: the same interval every time
  CHECK(b2.high == b.high);
}

TEST_CASE("inputs parsing and score detection") {
  CHECK(!parse_inputs(""));
  CHECK(!parse_inputs("{\"input\": 1}\nnot json\n"));
  auto bad = parse_inputs("{\"x\": 1}\n");
  REQUIRE(!bad);
  CHECK(bad.error().message.find("line 1") != std::string::npos);
  auto ok = parse_inputs("{\"input\": {\"a\": 1}}\r\n{\"input\": {}, \"expected\": null}\n");
  REQUIRE(ok);
  REQUIRE(ok->size() == 2);
  CHECK(!(*ok)[0].has_expected);
  CHECK((*ok)[1].has_expected);
  CHECK(defines_score("local x = 1\nfunction score(o, i, e)\n return 1 end"));
  CHECK(defines_score("  score = function (o) return 1 end"));
  CHECK(!defines_score("local function score(o) return 1 end"));
  CHECK(!defines_score("function scorer(o) end"));
}

TEST_CASE("three models - success rates and scores and intervals and costs and tokens and paired comparison and errors") {
  auto dir = fresh_dir("main");
  auto m = make_models(dir);
  auto cfg = base_config(dir, {m.echo, m.four, m.broken});
  cfg.repeat = 2;
  cfg.concurrency = 4;
  auto r = run(cfg);
  REQUIRE_MESSAGE(!r.create_failed, r.create_error);
  REQUIRE_MESSAGE(r.summary, r.summary.error().message);
  const Summary& s = r.summary.value();
  CHECK(s.total_cells == 30);
  CHECK(s.scored);

  // every cell is in results.jsonl with the contract's fields
  auto ls = lines(cfg.out_dir / "results.jsonl");
  REQUIRE(ls.size() == 30);
  for (const auto& l : ls) {
    json j = json::parse(l);
    for (const char* k : {"model", "input_index", "repeat", "ok", "output", "error", "score", "latency_ms", "ttft_ms",
                          "usage", "cost_usd", "llm_calls", "tool_calls", "skipped"})
      CHECK_MESSAGE(j.contains(k), k);
  }

  const auto& echo = stats_of(s, m.echo);
  CHECK(echo.cells == 10);
  CHECK(echo.ok == 10);
  CHECK(echo.success_rate == 1.0);
  REQUIRE(echo.mean_score);
  CHECK(*echo.mean_score == doctest::Approx(0.6));
  // 10 cells of 0/1 with mean 0.6: 0.6 +- 1.96 * sqrt(0.24 / 10) = [0.296, 0.904]
  CHECK(*echo.ci_low == doctest::Approx(0.296).epsilon(0.2));
  CHECK(*echo.ci_high == doctest::Approx(0.904).epsilon(0.1));
  CHECK(*echo.ci_low <= 0.6);
  CHECK(*echo.ci_high >= 0.6);
  CHECK(!echo.cost_per_run);  // mock/echo reports no cost
  CHECK(echo.llm_calls == 1.0);

  const auto& four = stats_of(s, m.four);
  CHECK(four.cells == 10);
  CHECK(four.success_rate == 1.0);
  CHECK(*four.mean_score == doctest::Approx(0.6));
  REQUIRE(four.cost_per_run);
  CHECK(*four.cost_per_run == doctest::Approx(0.002));
  CHECK(four.cost_total == doctest::Approx(0.02));
  CHECK(four.input_tokens == 10);
  CHECK(four.cached_tokens == 4);
  CHECK(four.output_tokens == 2);
  CHECK(four.latency_p50 >= 20);  // the scripted reply takes 20 ms
  CHECK(four.latency_p95 >= four.latency_p50);
  CHECK(four.ttft_p50 >= 20);
  CHECK(four.paired == 5);
  CHECK(four.wins == 2);
  CHECK(four.ties == 1);
  CHECK(four.losses == 2);

  const auto& broken = stats_of(s, m.broken);
  CHECK(broken.cells == 10);
  CHECK(broken.ok == 0);
  CHECK(broken.failed == 10);
  CHECK(broken.success_rate == 0.0);
  CHECK(*broken.mean_score == 0.0);  // a failure scores 0
  CHECK(*broken.ci_low == 0.0);
  CHECK(*broken.ci_high == 0.0);
  REQUIRE(broken.errors.size() == 1);  // counted, not lost
  CHECK(broken.errors.begin()->second == 10);
  CHECK(broken.errors.begin()->first.find("boom") != std::string::npos);
  CHECK(broken.paired == 5);
  CHECK(broken.wins == 0);
  CHECK(broken.ties == 2);  // inputs 1 and 3: echo scores 0 too
  CHECK(broken.losses == 3);

  CHECK(s.spent_usd == doctest::Approx(0.02));

  // the report carries these numbers
  std::string md = read(cfg.out_dir / "report.md");
  CHECK(md.find("5 inputs x 2 repeats x 3 models = 30 cells; spent $0.020000") != std::string::npos);
  char ci[64];
  std::snprintf(ci, sizeof ci, "0.600 [%.3f, %.3f]", *echo.ci_low, *echo.ci_high);
  CHECK(md.find(std::string("| ") + m.echo + " | 10 | 10 | 0 | 0 | 100.0 % [100.0 %, 100.0 %] | " + ci) != std::string::npos);
  CHECK(md.find("| 0.000 [0.000, 0.000] |") != std::string::npos);
  CHECK(md.find("| 0.0 % [0.0 %, 0.0 %] |") != std::string::npos);
  CHECK(md.find("| 10.0 / 4.0 / 2.0 / 0.0 | 1.00 / 0.00 | $0.002000 | $0.020000 |") != std::string::npos);
  CHECK(md.find("| " + m.four + " | 5 | 40.0 % (2) | 20.0 % (1) | 40.0 % (2) |") != std::string::npos);
  CHECK(md.find("| " + m.broken + " | 5 | 0.0 % (0) | 40.0 % (2) | 60.0 % (3) |") != std::string::npos);
  CHECK(md.find("x10: ") != std::string::npos);
  CHECK(md.find("boom") != std::string::npos);

  json sj = json::parse(read(cfg.out_dir / "summary.json"));
  CHECK(sj["models"][1]["per_run"]["cost_usd"].get<double>() == doctest::Approx(0.002));

  std::string html = read(cfg.out_dir / "report.html");
  for (const char* id : {"chart-score", "chart-cost", "chart-latency"})
    CHECK_MESSAGE(html.find(std::string("id='") + id + "'") != std::string::npos, id);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // no external resources
  CHECK(html.find("mock/script?file=") != std::string::npos);
  CHECK(html.find("&amp;") == std::string::npos);  // no '&' in these names; escaping checked below
  CHECK(html.find("<circle") != std::string::npos);

  // progress: monotonic, ends complete with the spend
  REQUIRE(!r.progress.empty());
  CHECK(r.progress.back().done == 30);
  CHECK(r.progress.back().failed == 10);
  CHECK(r.progress.back().spent_usd == doctest::Approx(0.02));
  CHECK(r.progress.back().eta_s == 0);
}

TEST_CASE("an LLM judge scores through its own model and its cost counts toward the spend") {
  auto dir = fresh_dir("judge");
  write(dir / "judge.json", R"({"replies": [{"text": "Score: 0.75", "cost_usd": 0.001}]})");
  auto m = make_models(dir);
  auto cfg = base_config(dir, {m.echo, m.four});
  cfg.scorer_source = "function score(output, input, expected)\n  return judge{model = 'mock/script?file=" +
                      (dir / "judge.json").string() + "', rubric = 'Is it right?'}\nend\n";
  cfg.concurrency = 3;
  auto r = run(cfg);
  REQUIRE_MESSAGE(r.summary, r.summary.error().message);
  for (const auto& ms : r.summary->models) {
    CHECK(*ms.mean_score == doctest::Approx(0.75));
    CHECK(*ms.ci_low == doctest::Approx(0.75));
    CHECK(*ms.ci_high == doctest::Approx(0.75));
    CHECK(ms.scoring_cost_total == doctest::Approx(0.005));
    CHECK(ms.ties == (ms.model == m.four ? 5 : 0));
  }
  // 5 cells of B at 0.002 + 10 judge calls at 0.001
  CHECK(r.summary->spent_usd == doctest::Approx(0.02));
}

TEST_CASE("scorer helpers contains/numeric/schema_valid and a scorer error leaves the score null") {
  auto dir = fresh_dir("helpers");
  auto m = make_models(dir);
  auto cfg = base_config(dir, {m.echo});
  cfg.inputs = parse_inputs(R"({"input": {"q": "the answer is 41.9"}, "expected": 42}
{"input": {"q": "{\"name\": \"Ada\", \"age\": 36}"}, "expected": {"type": "object", "required": ["name", "age"], "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}, "additionalProperties": false}}
{"input": {"q": "{\"name\": 5}"}, "expected": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}
{"input": {"q": "Hello World"}, "expected": "world"}
{"input": {"q": "crash"}, "expected": "x"}
)").value();
  cfg.scorer_source = R"lua(
function score(output, input, expected)
  if output == "crash" then error("scorer broke") end
  if type(expected) == "number" then return numeric(output, expected, 0.2) end
  if type(expected) == "table" then return (schema_valid(output, expected)) end
  return contains(output, expected, {ignore_case = true})
end
)lua";
  auto r = run(cfg);
  REQUIRE_MESSAGE(r.summary, r.summary.error().message);
  auto recs = load_results(cfg.out_dir / "results.jsonl").value().records;
  REQUIRE(recs.size() == 5);
  std::map<int64_t, json> by;
  for (auto& j : recs) by[j["input_index"].get<int64_t>()] = j;
  CHECK(by[0]["score"] == 1.0);
  CHECK(by[1]["score"] == 1.0);
  CHECK(by[2]["score"] == 0.0);
  CHECK(by[3]["score"] == 1.0);
  CHECK(by[4]["score"].is_null());
  CHECK(by[4]["score_error"].get<std::string>().find("scorer broke") != std::string::npos);
  const auto& s = r.summary->models[0];
  CHECK(s.score_errors == 1);
  CHECK(s.scored == 4);
  CHECK(*s.mean_score == doctest::Approx(0.75));
}

TEST_CASE("a plan that defines score() is its own scorer and its model calls do not run while scoring") {
  auto dir = fresh_dir("inplan");
  auto m = make_models(dir);
  std::string plan =
      std::string("tool.define{name = 'noop', description = 'nothing', parameters = {type = 'object'},\n"
                  "            handler = function() return {} end}\n"
                  "function score(output, input, expected) return exact(output, expected) end\n") + kPlan;
  REQUIRE(defines_score(plan));
  auto cfg = base_config(dir, {m.four});
  cfg.plan_source = plan;
  cfg.scorer_source = plan;
  cfg.scorer_is_plan = true;
  auto r = run(cfg);
  REQUIRE_MESSAGE(r.summary, r.summary.error().message);
  const auto& s = r.summary->models[0];
  CHECK(s.score_errors == 0);
  REQUIRE(s.mean_score);
  CHECK(*s.mean_score == doctest::Approx(0.6));
  CHECK(s.cost_total == doctest::Approx(0.01));  // only the 5 plan runs called the model
  CHECK(r.summary->spent_usd == doctest::Approx(0.01));
}

TEST_CASE("interrupting keeps finished cells and resume runs only the missing ones") {
  auto dir = fresh_dir("resume");
  write(dir / "slow.json", R"({"replies": [{"text": "4", "cost_usd": 0.001, "latency_ms": 30}]})");
  auto slow = "mock/script?file=" + (dir / "slow.json").string();
  auto cfg = base_config(dir, {"mock/echo?latency_ms=30", slow});
  cfg.repeat = 2;
  cfg.concurrency = 3;
  auto first = run(cfg, 4);
  REQUIRE_MESSAGE(first.summary, first.summary.error().message);
  auto before = lines(cfg.out_dir / "results.jsonl");
  CHECK(before.size() >= 4);
  CHECK(before.size() < 20);
  for (const auto& l : before) CHECK(json::parse(l)["status"] != "cancelled");

  auto again = run(cfg);
  CHECK(again.create_failed);  // an existing results.jsonl needs --resume
  CHECK(again.create_error.find("--resume") != std::string::npos);

  cfg.resume = true;
  auto second = run(cfg);
  REQUIRE_MESSAGE(second.summary, second.summary.error().message);
  auto after = lines(cfg.out_dir / "results.jsonl");
  REQUIRE(after.size() == 20);  // every cell exactly once: nothing was run twice
  for (size_t i = 0; i < before.size(); ++i) CHECK(after[i] == before[i]);
  std::set<std::string> keys;
  for (const auto& l : after) {
    json j = json::parse(l);
    keys.insert(j["model"].get<std::string>() + "#" + j["input_index"].dump() + "#" + j["repeat"].dump());
  }
  CHECK(keys.size() == 20);
  CHECK(second.progress.front().done == static_cast<int64_t>(before.size()));
  CHECK(second.summary->models[1].cost_total == doctest::Approx(0.01));
  CHECK(*second.summary->models[0].mean_score == doctest::Approx(0.6));

  // a third run has nothing left to do
  auto third = run(cfg);
  REQUIRE(third.summary);
  CHECK(lines(cfg.out_dir / "results.jsonl").size() == 20);
}

TEST_CASE("budget - cells that would exceed it are skipped and reported and run later on resume") {
  auto dir = fresh_dir("budget");
  auto m = make_models(dir);
  auto cfg = base_config(dir, {m.four});
  cfg.repeat = 2;  // 10 cells at $0.002
  cfg.budget_usd = 0.005;
  auto r = run(cfg);
  REQUIRE_MESSAGE(r.summary, r.summary.error().message);
  const auto& s = r.summary->models[0];
  // cell 1: estimate 0 -> runs; cell 2: 0.002 + 0.002 <= 0.005 -> runs; cell 3: 0.004 + 0.002 > 0.005
  CHECK(s.cells == 2);
  CHECK(s.skipped == 8);
  CHECK(s.cost_total == doctest::Approx(0.004));
  CHECK(r.summary->spent_usd <= 0.005);
  CHECK(r.progress.back().skipped == 8);
  auto md = read(cfg.out_dir / "report.md");
  CHECK(md.find("| " + m.four + " | 2 | 2 | 0 | 8 |") != std::string::npos);
  CHECK(md.find("(budget $0.005000)") != std::string::npos);
  int skipped = 0;
  for (const auto& l : lines(cfg.out_dir / "results.jsonl")) {
    json j = json::parse(l);
    if (j["skipped"] == true) {
      ++skipped;
      CHECK(j["error"].get<std::string>().find("budget") != std::string::npos);
    }
  }
  CHECK(skipped == 8);

  cfg.resume = true;
  cfg.budget_usd = 1.0;
  auto r2 = run(cfg);
  REQUIRE(r2.summary);
  CHECK(r2.summary->models[0].cells == 10);
  CHECK(r2.summary->models[0].skipped == 0);
  CHECK(r2.summary->models[0].cost_total == doctest::Approx(0.02));
}

TEST_CASE("bad configurations and hostile results files get clear errors") {
  auto dir = fresh_dir("bad");
  auto cfg = base_config(dir, {});
  auto r = run(cfg);
  CHECK(r.create_failed);
  cfg = base_config(dir, {"mock/echo", "mock/echo"});
  CHECK(run(cfg).create_failed);
  cfg = base_config(dir, {"mock/echo"});
  cfg.concurrency = 0;
  CHECK(run(cfg).create_failed);

  // a torn last line (killed mid-write) and junk are skipped, not fatal
  fs::create_directories(dir / "torn");
  write(dir / "torn" / "results.jsonl",
        "{\"model\": \"mock/echo\", \"input_index\": 0, \"repeat\": 0, \"ok\": true, \"score\": 1}\n[1,2]\n{\"model\": \"mo");
  auto loaded = load_results(dir / "torn" / "results.jsonl");
  REQUIRE(loaded);
  CHECK(loaded->records.size() == 1);
  CHECK(loaded->malformed == 2);

  // an unknown model fails its cells (counted), and a plan that does not compile fails every cell
  cfg = base_config(dir, {"nope/model"});
  cfg.out_dir = dir / "unknown";
  cfg.inputs.resize(2);
  auto u = run(cfg);
  REQUIRE(u.summary);
  CHECK(u.summary->models[0].failed == 2);
  cfg = base_config(dir, {"mock/echo"});
  cfg.out_dir = dir / "syntax";
  cfg.plan_source = "return (";
  auto sx = run(cfg);
  REQUIRE(sx.summary);
  CHECK(sx.summary->models[0].failed == 5);
  CHECK(sx.summary->models[0].errors.size() == 1);

  // model names are escaped in the HTML report
  Summary s;
  s.plan = "<x>";
  ModelStats ms;
  ms.model = "mock/script?file=a&b=<c>";
  s.models.push_back(ms);
  auto html = render_html(s);
  CHECK(html.find("a&amp;b=&lt;c&gt;") != std::string::npos);
  CHECK(html.find("<c>") == std::string::npos);
}

TEST_CASE("the example experiment in scripts/plans gives the numbers its scripts imply") {
  auto dir = fresh_dir("example");
  std::string plans = std::string(FH_SOURCE_DIR) + "/scripts/plans/";
  Config c;
  auto read_or_fail = [](const std::string& p) {
    std::string t = read(p);
    REQUIRE_MESSAGE(!t.empty(), p);
    return t;
  };
  c.plan_source = read_or_fail(plans + "swap_example.lua");
  c.plan_name = "swap_example.lua";
  c.inputs = parse_inputs(read_or_fail(plans + "swap_example.inputs.jsonl")).value();
  c.scorer_source = read_or_fail(plans + "swap_example.scorer.lua");
  std::string accurate = "mock/script?file=" + plans + "swap_example.accurate.json&mode=sequence";
  std::string cheap = "mock/script?file=" + plans + "swap_example.cheap.json&mode=sequence";
  c.models = {"mock/echo", accurate, cheap};
  c.repeat = 2;
  c.concurrency = 1;
  c.out_dir = dir / "out";
  c.providers = &registry();
  auto r = run(c);
  REQUIRE_MESSAGE(r.summary, r.summary.error().message);
  const auto& s = r.summary.value();
  // echo repeats the question: only "Return the number 12." carries the right first number
  CHECK(*stats_of(s, "mock/echo").mean_score == doctest::Approx(0.25));
  CHECK(*stats_of(s, accurate).mean_score == doctest::Approx(1.0));
  CHECK(*stats_of(s, accurate).cost_per_run == doctest::Approx(0.003));
  CHECK(stats_of(s, accurate).latency_p50 >= 60);
  // cheap: 42 18 12 1000(within 5 %: 0.5) | 42 error 12 1024 -> 5.5 / 8
  const auto& ch = stats_of(s, cheap);
  CHECK(*ch.mean_score == doctest::Approx(0.6875));
  CHECK(ch.success_rate == doctest::Approx(0.875));
  CHECK(ch.failed == 1);
  CHECK(*ch.cost_per_run == doctest::Approx(0.0004 * 7 / 8));
  // per input vs echo (0, 0, 1, 0): accurate (1, 1, 1, 1) -> 3 wins 1 tie; cheap (1, 0, 1, 0.75) -> 2 wins 2 ties
  CHECK(stats_of(s, accurate).wins == 3);
  CHECK(stats_of(s, accurate).ties == 1);
  CHECK(ch.wins == 2);
  CHECK(ch.ties == 2);
  CHECK(ch.losses == 0);
  CHECK(s.spent_usd == doctest::Approx(0.003 * 8 + 0.0004 * 7));
}
