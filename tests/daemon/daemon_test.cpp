// End to end over real HTTP: the runs API, the request checks and malformed input.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "providers/router/router.hpp"
#include "tests/daemon/support.hpp"

using fh::json;
using fh::test::DaemonFixture;

namespace {
json submit(const fh::test::Client& c, const json& body) {
  auto r = c.post("/v1/runs", body);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.j();
}
bool final_state(const json& d) {
  std::string s = d.value("state", "");
  return s == "succeeded" || s == "failed" || s == "cancelled";
}
}  // namespace

TEST_CASE("daemon: healthz needs no token and the token file is 0600") {
  DaemonFixture f;
  fh::test::Client anon = f.client;
  anon.token = "";
  auto r = anon.call("GET", "/healthz", "", {{"authorization", ""}});
  CHECK(r.status == 200);
  CHECK(r.j()["ok"] == true);
  struct stat st {};
  REQUIRE(::stat((f.data_dir + "/token").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(f.client.token.size() == 64);
}

TEST_CASE("daemon: submit a plan and read its output and events") {
  DaemonFixture f;
  auto d = submit(f.client, {{"source", "local r = llm.chat{messages={{role='user', content=input.q}}}\nreturn r.text"},
                             {"input", {{"q", "hello daemon"}}}, {"model", "mock/echo"}});
  std::string id = d["id"];
  CHECK(id.rfind("run_", 0) == 0);
  auto done = f.client.wait_run(id, final_state);
  CHECK(done["state"] == "succeeded");
  CHECK(done["output"] == "hello daemon");
  CHECK(done["finished_at"].is_string());
  // The event stream of a finished run: numbered from 1, bracketed by run_started / run_finished.
  auto evs = f.client.events(id);
  REQUIRE(evs.size() >= 4);
  for (size_t i = 0; i < evs.size(); ++i) CHECK(evs[i].id == static_cast<int64_t>(i) + 1);
  CHECK(evs[0].event == "run_submitted");
  CHECK(evs[0].data["source"].get<std::string>().find("llm.chat") != std::string::npos);
  CHECK(evs[1].event == "run_started");
  bool saw_finished = false, saw_llm = false;
  for (auto& e : evs) {
    saw_finished |= e.event == "run_finished";
    saw_llm |= e.event == "llm_result";
  }
  CHECK(saw_finished);
  CHECK(saw_llm);
  // Resumable: Last-Event-ID 2 starts at 3.
  auto rest = f.client.events(id, "2");
  REQUIRE(!rest.empty());
  CHECK(rest.front().id == 3);
  CHECK(rest.size() == evs.size() - 2);
  // The journal holds the same events.
  std::ifstream j(f.data_dir + "/runs/" + id + ".jsonl");
  size_t lines = 0;
  for (std::string line; std::getline(j, line);) ++lines;
  CHECK(lines == evs.size());
}

TEST_CASE("daemon: live SSE stream sees events as they happen") {
  DaemonFixture f;
  auto d = submit(f.client, {{"source", "for i=1,3 do llm.chat{messages={{role='user', content='x'..i}}} end return 'ok'"},
                             {"model", "mock/echo?latency_ms=100"}});
  // Subscribed while the run is going: the stream ends when the run does.
  auto evs = f.client.events(d["id"]);
  REQUIRE(!evs.empty());
  int llm = 0;
  for (auto& e : evs) llm += e.event == "llm_result";
  CHECK(llm == 3);
  CHECK(evs.back().event == "run_state");
  CHECK(evs.back().data["state"] == "succeeded");
}

TEST_CASE("daemon: named plans and listing with filters and paging") {
  auto plans = fh::test::temp_dir("plans");
  std::ofstream(plans + "/double.lua") << "return input.n * 2";
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans;
  DaemonFixture f(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto d = submit(f.client, {{"name", "double"}, {"input", {{"n", i}}}});
    ids.push_back(d["id"]);
  }
  for (auto& id : ids) CHECK(f.client.wait_run(id, final_state)["state"] == "succeeded");
  CHECK(f.client.wait_run(ids[3], final_state)["output"] == 6);
  auto bad = f.client.post("/v1/runs", {{"source", "return nil +"}});
  REQUIRE(bad.status == 201);
  CHECK(f.client.wait_run(bad.j()["id"], final_state)["state"] == "failed");

  auto all = f.client.get("/v1/runs?limit=2");
  REQUIRE(all.status == 200);
  CHECK(all.j()["data"].size() == 2);
  CHECK(all.j()["has_more"] == true);
  std::set<std::string> seen;
  json first = all.j();
  std::string after = first["next_after"];
  for (auto& d : first["data"]) seen.insert(d["id"].get<std::string>());
  for (int page = 0; page < 5 && !after.empty(); ++page) {
    auto next = f.client.get("/v1/runs?limit=2&after=" + after).j();
    for (auto& d : next["data"]) CHECK(seen.insert(d["id"].get<std::string>()).second);
    after = next["next_after"].is_string() ? next["next_after"].get<std::string>() : "";
  }
  CHECK(seen.size() == 6);
  CHECK(f.client.get("/v1/runs").j()["data"].size() == 6);
  auto failed = f.client.get("/v1/runs?state=failed").j();
  CHECK(failed["data"].size() == 1);
  CHECK(f.client.get("/v1/runs?state=bogus").status == 400);
  CHECK(f.client.get("/v1/runs?limit=0").status == 400);
  auto missing = f.client.post("/v1/runs", {{"name", "nope"}});
  CHECK(missing.status == 404);
  CHECK(missing.j()["error"]["code"] == "plan_not_found");
  CHECK(f.client.post("/v1/runs", {{"name", "../etc/passwd"}}).status == 400);
}

TEST_CASE("daemon: cancel a running run") {
  DaemonFixture f;
  auto d = submit(f.client, {{"source", "task.sleep(30) return 'late'"}});
  std::string id = d["id"];
  f.client.wait_run(id, [](const json& j) { return j["state"] == "running"; });
  auto c = f.client.post("/v1/runs/" + id + "/cancel", json::object());
  CHECK(c.status == 202);
  auto done = f.client.wait_run(id, final_state, 5000);
  CHECK(done["state"] == "cancelled");
  auto again = f.client.post("/v1/runs/" + id + "/cancel", json::object());
  CHECK(again.status == 409);
  CHECK(again.j()["error"]["code"] == "run_finished");
}

TEST_CASE("daemon: a tool call that asks waits for approval") {
  DaemonFixture f;
  const char* plan = "local r, err = tool.call('danger', {x = input.x}, 'c1')\n"
                     "if not r then return 'refused: ' .. err.code end\nreturn r.ok";
  auto d = submit(f.client, {{"source", plan}, {"input", {{"x", 42}}}});
  std::string id = d["id"];
  auto waiting = f.client.wait_run(id, [](const json& j) { return j["state"] == "waiting"; });
  REQUIRE(waiting["state"] == "waiting");
  CHECK(waiting["pending_approvals"][0]["call_id"] == "c1");
  CHECK(f.client.post("/v1/runs/" + id + "/approvals/other", {{"decision", "approve"}}).status == 404);
  CHECK(f.client.post("/v1/runs/" + id + "/approvals/c1", {{"decision", "maybe"}}).status == 400);
  auto ok = f.client.post("/v1/runs/" + id + "/approvals/c1", {{"decision", "approve"}});
  CHECK(ok.status == 200);
  auto done = f.client.wait_run(id, final_state);
  CHECK(done["state"] == "succeeded");
  CHECK(done["output"] == 42);

  auto d2 = submit(f.client, {{"source", plan}, {"input", {{"x", 1}}}});
  std::string id2 = d2["id"];
  f.client.wait_run(id2, [](const json& j) { return j["state"] == "waiting"; });
  CHECK(f.client.post("/v1/runs/" + id2 + "/approvals/c1", {{"approved", false}}).status == 200);
  auto denied = f.client.wait_run(id2, final_state);
  CHECK(denied["output"] == "refused: permission_denied");
}

TEST_CASE("daemon: auth and Host and Origin and content type are enforced") {
  fh::httpd::DaemonOptions o;
  o.security.allowed_origins = {"http://app.example"};
  DaemonFixture f(o);
  auto& c = f.client;
  auto noauth = c.call("GET", "/v1/runs", "", {{"authorization", ""}});
  CHECK(noauth.status == 401);
  CHECK(noauth.j()["error"]["code"] == "unauthorized");
  CHECK(c.call("GET", "/v1/runs", "", {{"authorization", "Bearer " + std::string(64, 'a')}}).status == 401);
  CHECK(c.call("GET", "/v1/runs", "", {{"authorization", "Basic " + c.token}}).status == 401);
  CHECK(c.call("GET", "/v1/runs/x/events", "", {{"authorization", ""}}).status == 401);  // streams too
  // DNS rebinding: a foreign Host is refused even with the token, and /healthz too.
  auto evil = c.call("GET", "/v1/runs", "", {{"host", "evil.example:" + std::to_string(c.port)}});
  CHECK(evil.status == 403);
  CHECK(evil.j()["error"]["code"] == "forbidden_host");
  CHECK(c.call("GET", "/healthz", "", {{"host", "evil.example"}}).status == 403);
  CHECK(c.call("GET", "/v1/runs", "", {{"host", "127.0.0.1:1"}}).status == 403);
  CHECK(c.call("GET", "/v1/runs", "", {{"host", "localhost:" + std::to_string(c.port)}}).status == 200);
  CHECK(c.call("GET", "/v1/runs", "", {{"host", "[::1]:" + std::to_string(c.port)}}).status == 200);
  // Origin: only listed ones; no CORS headers unless configured.
  auto bad_origin = c.call("GET", "/v1/runs", "", {{"origin", "http://evil.example"}});
  CHECK(bad_origin.status == 403);
  CHECK(bad_origin.j()["error"]["code"] == "forbidden_origin");
  auto good_origin = c.call("GET", "/v1/runs", "", {{"origin", "http://app.example"}});
  CHECK(good_origin.status == 200);
  CHECK(good_origin.headers.count("access-control-allow-origin") == 0);
  // Writes need a JSON content type.
  auto form = c.call("POST", "/v1/runs", "source=x", {{"content-type", "application/x-www-form-urlencoded"}});
  CHECK(form.status == 415);
  CHECK(c.call("POST", "/v1/runs", "{\"source\":\"return 1\"}", {{"content-type", ""}}).status == 415);
  CHECK(c.call("POST", "/v1/runs", "{\"source\":\"return 1\"}", {{"content-type", "application/json; charset=utf-8"}}).status == 201);
}

TEST_CASE("daemon: CORS only when configured and only for listed origins") {
  fh::httpd::DaemonOptions o;
  o.security.allowed_origins = {"http://app.example"};
  o.security.cors = true;
  DaemonFixture f(o);
  auto r = f.client.call("GET", "/v1/runs", "", {{"origin", "http://app.example"}});
  CHECK(r.status == 200);
  CHECK(r.headers["access-control-allow-origin"] == "http://app.example");
  auto pre = f.client.call("OPTIONS", "/v1/runs", "", {{"origin", "http://app.example"}, {"authorization", ""}});
  CHECK(pre.status == 204);
  CHECK(pre.headers["access-control-allow-methods"] == "GET, POST");
}

TEST_CASE("daemon: malformed requests get JSON errors and the server keeps serving") {
  fh::httpd::ServerOptions so;
  so.body_limit = 1024;
  so.header_timeout = std::chrono::milliseconds(300);
  so.idle_timeout = std::chrono::milliseconds(500);
  DaemonFixture f({}, so);
  auto& c = f.client;
  CHECK(c.get("/nope").status == 404);
  CHECK(c.get("/nope").j()["error"]["code"] == "not_found");
  auto wrong = c.call("DELETE", "/v1/runs", "", {{"content-type", "application/json"}});
  CHECK(wrong.status == 405);
  CHECK(wrong.headers["allow"] == "GET, POST");
  CHECK(c.call("PUT", "/v1/runs/abc", "{}").status == 405);
  CHECK(c.get("/v1/runs/run_missing").status == 404);
  auto badjson = c.call("POST", "/v1/runs", "{not json");
  CHECK(badjson.status == 400);
  CHECK(badjson.j()["error"]["code"] == "invalid_json");
  CHECK(c.call("POST", "/v1/runs", "[1,2]").status == 400);
  CHECK(c.post("/v1/runs", {{"source", 5}}).status == 400);
  CHECK(c.post("/v1/runs", {{"source", "return 1"}, {"name", "x"}}).status == 400);
  CHECK(c.post("/v1/runs", {{"source", "return 1"}, {"bogus", 1}}).status == 400);
  CHECK(c.post("/v1/runs", {{"source", "return 1"}, {"limits", {{"memory_mb", -1}}}}).status == 400);
  CHECK(c.post("/v1/runs", {{"source", "return 1"}, {"workspace", "relative/dir"}}).status == 400);
  auto big = c.call("POST", "/v1/runs", "{\"source\":\"" + std::string(4096, 'x') + "\"}");
  CHECK(big.status == 413);
  CHECK(big.j()["error"]["code"] == "payload_too_large");
  CHECK(c.events("run_nope").empty());
  // Raw garbage, a bad request line, an oversized Content-Length, a stalled request.
  auto garbage = c.raw("\x01\x02 hello\r\n\r\n");
  CHECK(garbage.find("400") != std::string::npos);
  CHECK(garbage.find("\"bad_request\"") != std::string::npos);
  auto huge = c.raw("POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(c.port) +
                    "\r\nContent-Length: 99999999\r\n\r\n");
  CHECK(huge.find("413") != std::string::npos);
  // A stalled request is dropped at the header timeout (Beast closes the socket on timeout).
  auto t0 = std::chrono::steady_clock::now();
  auto stalled = c.raw("GET /healthz HTTP/1.1\r\nHost: 127.0", 5000);
  CHECK(stalled.find("200") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(3000));
  t0 = std::chrono::steady_clock::now();
  auto idle = c.raw("", 5000);  // a connection that never sends is closed after the idle timeout
  CHECK(idle.empty());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(3000));
  // Keep-alive: two requests on one connection.
  std::string host = "Host: 127.0.0.1:" + std::to_string(c.port) + "\r\n";
  auto two = c.raw("GET /healthz HTTP/1.1\r\n" + host + "\r\nGET /healthz HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n");
  size_t first = two.find("HTTP/1.1 200"), second = two.find("HTTP/1.1 200", first + 1);
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  // Still serving.
  CHECK(c.get("/healthz").status == 200);
  CHECK(c.post("/v1/runs", {{"source", "return 1"}}).status == 201);
}

TEST_CASE("daemon: metrics in Prometheus text") {
  DaemonFixture f;
  auto d = submit(f.client, {{"source", "return 1"}});
  f.client.wait_run(d["id"], final_state);
  auto m = f.client.get("/metrics");
  CHECK(m.status == 200);
  CHECK(m.body.find("freehold_runs{state=\"succeeded\"} 1") != std::string::npos);
}

TEST_CASE("daemon: replay re-runs a journal offline and reports divergence") {
  DaemonFixture f;
  const char* plan =
      "local r = llm.chat{messages = {{role = 'user', content = 'abc'}}}\n"
      "local ok = tool.call('append', {path = 'replay.txt', line = r.text})\n"
      "return r.text .. '!'";
  auto d = submit(f.client, {{"source", plan}});
  std::string id = d["id"];
  CHECK(f.client.wait_run(id, final_state)["output"] == "abc!");
  std::string path = f.data_dir + "/runs/" + id + ".jsonl";
  auto rep = fh::httpd::replay_journal(path, f.data_dir);
  REQUIRE(rep);
  CHECK((*rep)["ok"] == true);
  CHECK((*rep)["replayed"]["output"] == "abc!");
  CHECK((*rep)["replayed_effects"] == 2);
  // The tool did not run again during the replay.
  std::ifstream lines(f.data_dir + "/replay.txt");
  int n = 0;
  for (std::string l; std::getline(lines, l);) ++n;
  CHECK(n == 1);
  // A journal whose recorded model result was changed diverges.
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = all.find("\"text\":\"abc\"");
  REQUIRE(at != std::string::npos);
  all.replace(at, 12, "\"text\":\"xyz\"");
  std::string forged = f.data_dir + "/runs/forged.jsonl";
  std::ofstream(forged) << all;
  auto div = fh::httpd::replay_journal(forged, f.data_dir);
  REQUIRE(div);
  CHECK((*div)["ok"] == false);
  CHECK((*div)["replayed"]["output"] == "xyz!");
  CHECK(!(*div)["diverged"].empty());
  CHECK(!fh::httpd::replay_journal(f.data_dir + "/runs/none.jsonl", f.data_dir));
}

// Issue 4: the daemon's run limits carry a spending budget; a call that does not fit is refused
// before it is sent (it never reaches the provider, so the journal has no record of it).
TEST_CASE("daemon: a run's budget limits refuse calls that do not fit, and survive a restart") {
  fh::httpd::DaemonOptions o;
  o.budget = fh::provider_router::budget_for_run;
  // Every reply reports 70 tokens; a call reserves its input estimate + 10. With 200 tokens, calls
  // 1-3 fit (the third reserves at 140 spent) and the 4th does not (210 spent).
  std::string dir = fh::test::temp_dir("budget_script");
  std::ofstream(dir + "/r.json") << R"({"replies": [{"text": "ok", "usage": {"input_tokens": 50, "output_tokens": 20}}]})";
  const std::string model = "mock/script?file=" + dir + "/r.json";
  const char* plan =
      "local function ask(i) return llm.chat{prompt = 'call ' .. i, max_tokens = 10} end\n"
      "local n = 0\n"
      "for i = 1, (input.first or 0) do if ask(i) then n = n + 1 end end\n"
      "if input.pause then task.sleep(input.pause) end\n"
      "local r, err = ask(99)\n"
      "return {n = n, last = r ~= nil, code = err and err.code or '', message = err and err.message or ''}";
  auto body = [&](const std::string& input, const std::string& limits, const std::string& m) {
    json b = json::object();
    b["source"] = plan;
    b["input"] = json::parse(input);
    b["limits"] = json::parse(limits);
    b["model"] = m;
    return b;
  };
  auto llm_effects = [](const std::string& journal) {
    int n = 0;
    std::ifstream j(journal);
    for (std::string line; std::getline(j, line);)
      if (line.find("\"type\":\"effect\"") != std::string::npos && line.find("\"kind\":\"llm\"") != std::string::npos) ++n;
    return n;
  };
  {
    DaemonFixture f(o);
    auto d = submit(f.client, body(R"({"first": 3})", R"({"max_tokens_total": 200})", model));
    std::string id = d["id"];
    auto done = f.client.wait_run(id, final_state);
    REQUIRE(done["state"] == "succeeded");
    CHECK(done["output"]["n"] == 3);
    CHECK(done["output"]["last"] == false);
    CHECK(done["output"]["code"] == "budget_exceeded");
    CHECK(llm_effects(f.data_dir + "/runs/" + id + ".jsonl") == 3);
    // USD: the mock has no price, and unknown prices count as over budget unless allowed.
    auto u = submit(f.client, body("{}", R"({"budget_usd": 1})", "mock/echo"));
    auto ud = f.client.wait_run(u["id"], final_state);
    CHECK(ud["output"]["code"] == "budget_exceeded");
    CHECK(ud["output"]["message"].get<std::string>().find("no price known for mock/echo") != std::string::npos);
    auto a = submit(f.client, body("{}", R"({"budget_usd": 1, "allow_unknown_prices": true})", "mock/echo"));
    CHECK(f.client.wait_run(a["id"], final_state)["output"]["last"] == true);
    // Bad budget limits are refused at submission, naming the key.
    auto bad = f.client.post("/v1/runs", body("{}", R"({"budget_usd": -1})", "mock/echo"));
    CHECK(bad.status == 400);
    CHECK(bad.body.find("budget_usd") != std::string::npos);
    auto bad2 = f.client.post("/v1/runs", body("{}", R"({"max_tokens_total": 1.5})", "mock/echo"));
    CHECK(bad2.status == 400);
    CHECK(bad2.body.find("max_tokens_total") != std::string::npos);
  }
  // A daemon that stops mid-run: the resumed run's replayed calls count against its budget again,
  // so the call after the restart is refused as it would have been without one.
  std::string data = fh::test::temp_dir("budget_resume");
  o.data_dir = data;
  std::string id;
  {
    DaemonFixture f(o);
    auto d = submit(f.client, body(R"({"first": 3, "pause": 1})", R"({"max_tokens_total": 200})", model));
    id = d["id"];
    for (int i = 0; i < 400 && llm_effects(data + "/runs/" + id + ".jsonl") < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(llm_effects(data + "/runs/" + id + ".jsonl") == 3);
  }
  DaemonFixture again(o);
  auto done = again.client.wait_run(id, final_state);
  REQUIRE(done["state"] == "succeeded");
  CHECK(done["output"]["n"] == 3);
  CHECK(done["output"]["code"] == "budget_exceeded");
  CHECK(llm_effects(data + "/runs/" + id + ".jsonl") == 3);  // nothing was called twice
}

TEST_CASE("daemon: a plan's bytes that are not UTF-8 come out as U+FFFD, as under freehold run") {
  // The journal keys an llm call by a hash of its request; that hash once threw on "\xff".
  DaemonFixture f;
  auto d = submit(f.client, {{"source", "local r = llm.chat{messages={{role='user', content='bad \\xff byte'}}}\nreturn r.text"},
                             {"model", "mock/echo"}});
  auto done = f.client.wait_run(d["id"], final_state);
  INFO(done.dump());
  CHECK(done["state"] == "succeeded");
  CHECK(done["output"] == "bad \xEF\xBF\xBD byte");
}
