// /metrics after real runs: the exposition parses as Prometheus text (HELP/TYPE before samples,
// cumulative buckets ending in +Inf == _count) and its numbers equal what the runs' events show.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <thread>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/daemon/support.hpp"

using fh::json;
using fh::test::DaemonFixture;

namespace {

bool metric_final(const json& d) {
  std::string s = d.value("state", "");
  return s == "succeeded" || s == "failed" || s == "cancelled";
}

// A sample "name{a="x",b="y"} value" keyed as name{a="x",b="y"} (labels as written).
struct Exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family -> counter/gauge/histogram
  double at(const std::string& key) const {
    auto it = samples.find(key);
    return it == samples.end() ? std::nan("") : it->second;
  }
};

// Parses and checks the structure; any violation fails the test.
Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::set<std::string> helped;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    REQUIRE_MESSAGE(!line.empty(), "empty line in exposition");
    if (line.rfind("# HELP ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      CHECK_MESSAGE(helped.insert(name).second, "HELP twice for ", name);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream ls(line.substr(7));
      std::string name, type;
      ls >> name >> type;
      CHECK_MESSAGE(helped.count(name), "TYPE without HELP: ", name);
      CHECK((type == "counter" || type == "gauge" || type == "histogram"));
      CHECK_MESSAGE(e.types.emplace(name, type).second, "TYPE twice for ", name);
      continue;
    }
    auto space = line.rfind(' ');
    REQUIRE_MESSAGE(space != std::string::npos, line);
    std::string key = line.substr(0, space), value = line.substr(space + 1);
    std::string name = key.substr(0, key.find('{'));
    bool name_ok = !name.empty();
    for (char c : name) name_ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
    CHECK_MESSAGE(name_ok, line);
    if (key.find('{') != std::string::npos) CHECK_MESSAGE(key.back() == '}', line);
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!e.types.count(family) && name.ends_with(suffix)) family = name.substr(0, name.size() - std::string(suffix).size());
    REQUIRE_MESSAGE(e.types.count(family), "sample before its TYPE: ", line);
    if (family != name) CHECK(e.types[family] == "histogram");
    char* end = nullptr;
    double v = value == "+Inf" ? INFINITY : std::strtod(value.c_str(), &end);
    if (value != "+Inf") CHECK_MESSAGE((end && *end == '\0'), "bad number: ", line);
    CHECK_MESSAGE(e.samples.emplace(key, v).second, "sample twice: ", key);
  }
  // Histograms: cumulative buckets, +Inf equals _count.
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    double prev = 0;
    int buckets = 0;
    for (const auto& [key, v] : e.samples)
      if (key.rfind(family + "_bucket{", 0) == 0) ++buckets;
    CHECK(buckets >= 10);
    std::istringstream again(text);
    for (std::string line; std::getline(again, line);) {
      if (line.rfind(family + "_bucket{le=\"", 0) != 0) continue;
      double v = std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
      CHECK(v >= prev);
      prev = v;
    }
    CHECK(e.at(family + "_bucket{le=\"+Inf\"}") == e.at(family + "_count"));
  }
  return e;
}

// The daemon in its own process (daemon_test_server), so it can be SIGKILLed and restarted.
pid_t metrics_server(const std::string& data, const std::string& port_file, fh::test::Client& c) {
  std::filesystem::remove(port_file);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(FH_DAEMON_TEST_SERVER, FH_DAEMON_TEST_SERVER, data.c_str(), data.c_str(), port_file.c_str(), nullptr);
    ::_exit(127);
  }
  c.port = 0;
  for (int i = 0; i < 1000 && c.port == 0; ++i) {
    std::ifstream f(port_file);
    int port = 0;
    if (f >> port && port > 0) c.port = static_cast<uint16_t>(port);
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream(data + "/token") >> c.token;
  return pid;
}

}  // namespace

TEST_CASE("metrics: /metrics counts the model calls, tokens, cost and latencies the runs made") {
  DaemonFixture f;
  auto dir = fh::test::temp_dir("metrics-script");
  // A priced reply, then (second call of the same conversation) a scripted provider error.
  std::ofstream(dir + "/replies.json")
      << R"({"replies": [{"text": "priced", "usage": {"input_tokens": 120, "output_tokens": 30}, "cost_usd": 0.0125,
                          "latency_ms": 300},
                         {"error": {"kind": "server", "message": "scripted outage", "status": 503, "retryable": false}}]})";
  std::string script = "mock/script?file=" + dir + "/replies.json";

  std::vector<std::string> ids;
  auto submit = [&](const json& body) {
    auto r = f.client.post("/v1/runs", body);
    REQUIRE(r.status == 201);
    ids.push_back(r.j()["id"]);
  };
  // Two echo calls of 100 ms; one priced call and one failed call; one run failing without a call.
  submit({{"source", "local a = llm.chat{messages={{role='user', content='one two three'}}}\n"
                     "local b = llm.chat{messages={{role='user', content='four five'}}}\nreturn a.text .. b.text"},
          {"model", "mock/echo?latency_ms=100"}});
  submit({{"source", "local a = llm.chat{messages={{role='user', content='hi'}}}\n"
                     "local b, err = llm.chat{messages={{role='user', content='hi'}, {role='assistant', content=a.text},"
                     " {role='user', content='again'}}}\nreturn err and err.message or 'no error'"},
          {"model", script}});
  submit({{"source", "error('plan gives up')"}});
  for (auto& id : ids) REQUIRE(metric_final(f.client.wait_run(id, metric_final)));
  CHECK(f.client.wait_run(ids[1], metric_final)["output"] == "scripted outage");

  // What the runs' events say they did.
  int64_t calls = 0, errors = 0, in_tokens = 0, out_tokens = 0;
  double cost = 0, latency_sum = 0;
  for (auto& id : ids)
    for (auto& ev : f.client.events(id)) {
      if (ev.event == "llm_error") ++calls, ++errors;
      if (ev.event != "llm_result") continue;
      ++calls;
      const json& r = ev.data["result"];
      in_tokens += r["usage"]["input_tokens"].get<int64_t>();
      out_tokens += r["usage"]["output_tokens"].get<int64_t>();
      if (r["cost_usd"].is_number()) cost += r["cost_usd"].get<double>();
      latency_sum += r["latency_ms"].get<double>() / 1000.0;
    }
  REQUIRE(calls == 4);
  REQUIRE(errors == 1);

  auto m = f.client.get("/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0);
  auto e = parse_exposition(m.body);
  CHECK(e.at("freehold_model_calls_total{provider=\"mock\"}") == calls);
  CHECK(e.at("freehold_model_call_errors_total{provider=\"mock\"}") == errors);
  CHECK(e.at("freehold_model_tokens_total{provider=\"mock\",direction=\"input\"}") == in_tokens);
  CHECK(e.at("freehold_model_tokens_total{provider=\"mock\",direction=\"output\"}") == out_tokens);
  CHECK(in_tokens >= 120);
  CHECK(e.at("freehold_model_cost_usd_total{provider=\"mock\"}") == doctest::Approx(cost));
  CHECK(cost == doctest::Approx(0.0125));
  // Latencies: the two 100 ms echo calls, the 300 ms priced call and the failed call (its wall time).
  CHECK(e.at("freehold_model_call_duration_seconds_count") == 4);
  CHECK(e.at("freehold_model_call_duration_seconds_bucket{le=\"0.1\"}") >= 2);
  CHECK(e.at("freehold_model_call_duration_seconds_bucket{le=\"0.25\"}") >= 2);
  CHECK(e.at("freehold_model_call_duration_seconds_bucket{le=\"0.5\"}") == 4);
  CHECK(e.at("freehold_model_call_duration_seconds_sum") >= latency_sum - 0.001);
  CHECK(e.at("freehold_model_call_duration_seconds_sum") < latency_sum + 0.5);
  // Runs: by state now, and finished ones with their durations (the echo run took >= 200 ms).
  CHECK(e.at("freehold_runs{state=\"succeeded\"}") == 2);
  CHECK(e.at("freehold_runs{state=\"failed\"}") == 1);
  CHECK(e.at("freehold_runs_finished_total{state=\"succeeded\"}") == 2);
  CHECK(e.at("freehold_runs_finished_total{state=\"failed\"}") == 1);
  CHECK(e.at("freehold_run_duration_seconds_count") == 3);
  CHECK(e.at("freehold_run_duration_seconds_sum") >= 0.2 + 0.3);
  CHECK(e.at("freehold_run_duration_seconds_bucket{le=\"0.1\"}") <= 1);

  // A gateway call is a model call too (provider of the result), and a gateway request.
  auto g = f.client.post("/v1/chat/completions", {{"model", "mock/echo"}, {"messages", {{{"role", "user"}, {"content", "via gateway"}}}}});
  REQUIRE(g.status == 200);
  auto e2 = parse_exposition(f.client.get("/metrics").body);
  CHECK(e2.at("freehold_gateway_requests_total") == 1);
  CHECK(e2.at("freehold_model_calls_total{provider=\"mock\"}") == calls + 1);
  CHECK(e2.at("freehold_model_tokens_total{provider=\"mock\",direction=\"input\"}") ==
        in_tokens + g.j()["usage"]["prompt_tokens"].get<int64_t>());
  CHECK(e2.at("freehold_model_call_duration_seconds_count") == 5);

  // /metrics needs the token like every route but /healthz.
  CHECK(f.client.call("GET", "/metrics", "", {{"authorization", ""}}).status == 401);
}

TEST_CASE("metrics: a resumed run's model calls served from its journal are not counted again") {
  auto data = fh::test::temp_dir("metrics-resume");
  std::string port_file = data + ".port";
  fh::test::Client c;
  pid_t pid = metrics_server(data, port_file, c);
  REQUIRE(c.port != 0);
  auto r = c.post("/v1/runs", {{"source", "local a = llm.chat{model='mock/echo', messages={{role='user', content='first'}}}\n"
                                          "local b = llm.chat{model='mock/echo?latency_ms=1500', messages={{role='user', content='second'}}}\n"
                                          "return a.text .. ' ' .. b.text"}});
  REQUIRE(r.status == 201);
  std::string id = r.j()["id"];
  // Kill the daemon while the second call is in flight (the first one is in the journal).
  bool first_done = false;
  for (int i = 0; i < 500 && !first_done; ++i) {
    auto d = c.get("/v1/runs/" + id).j();
    // run_submitted, run_started, llm_request, effect (journaled), llm_result, ...
    first_done = d.value("events", 0) >= 5;
    if (!first_done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(first_done);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);

  pid = metrics_server(data, port_file, c);
  REQUIRE(c.port != 0);
  auto done = c.wait_run(id, metric_final, 15000);
  CHECK(done["state"] == "succeeded");
  CHECK(done["output"] == "first second");
  // This process made one model call (the second); the first came back from the journal.
  int results_after_resume = 0;
  bool resumed = false;
  for (auto& ev : c.events(id)) {
    resumed |= ev.event == "run_resumed";
    if (resumed && ev.event == "llm_result") ++results_after_resume;
  }
  CHECK(resumed);
  CHECK(results_after_resume == 2);
  auto e = parse_exposition(c.get("/metrics").body);
  CHECK(e.at("freehold_model_calls_total{provider=\"mock\"}") == 1);
  CHECK(e.at("freehold_model_call_duration_seconds_count") == 1);
  CHECK(e.at("freehold_model_call_duration_seconds_sum") == doctest::Approx(1.5));
  CHECK(e.at("freehold_runs_finished_total{state=\"succeeded\"}") == 1);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, &status, 0);
}
