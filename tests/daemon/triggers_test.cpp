// Triggers end to end: a webhook route starts a run over real HTTP, a cron trigger fires through
// the real scheduler (with a shifted wall clock so a minute boundary is near), and bad trigger
// configurations are refused at parse time or when the daemon opens.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "runtime/core/sha256.hpp"
#include "tests/daemon/support.hpp"

namespace ch = std::chrono;
using fh::json;
using fh::test::DaemonFixture;

namespace {
bool trig_final(const json& d) {
  std::string s = d.value("state", "");
  return s == "succeeded" || s == "failed" || s == "cancelled";
}
std::vector<fh::httpd::TriggerSpec> triggers(const json& list) {
  auto t = fh::httpd::parse_triggers(list);
  REQUIRE_MESSAGE(t.ok(), (t ? "" : t.error().message));
  return t.value();
}
std::string trigger_refusal(const json& list) {
  auto t = fh::httpd::parse_triggers(list);
  return t ? std::string("(accepted)") : t.error().message;
}
std::string plans_dir() {
  auto dir = fh::test::temp_dir("trigger-plans");
  std::ofstream(dir + "/echo_input.lua") << "return input";
  std::ofstream(dir + "/ask.lua") << "local r = llm.chat{messages={{role='user', content=input.q}}}\nreturn r.text";
  return dir;
}
}  // namespace

TEST_CASE("triggers: a webhook starts a run with the posted body and safe headers") {
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans_dir();
  o.triggers = triggers(json::parse(R"([{"name": "gh", "webhook": "/hooks/gh/push", "plan": "echo_input"}])"));
  DaemonFixture f(o);
  auto r = f.client.call("POST", "/hooks/gh/push", R"({"ref": "refs/heads/main", "commits": [1, 2]})",
                         {{"x-github-event", "push"}, {"x-github-delivery", "d-42"}, {"x-hub-signature-256", "sha256=abc"},
                          {"cookie", "s=1"}, {"user-agent", "GitHub-Hookshot/1"}});
  REQUIRE(r.status == 202);
  json d = r.j();
  CHECK(d["trigger"] == "gh");
  CHECK(d["name"] == "echo_input");
  auto done = f.client.wait_run(d["id"], trig_final);
  REQUIRE(done["state"] == "succeeded");
  CHECK(done["trigger"] == "gh");
  const json& out = done["output"];
  CHECK(out["body"]["ref"] == "refs/heads/main");
  CHECK(out["body"]["commits"].size() == 2);
  CHECK(out["headers"]["x-github-event"] == "push");
  CHECK(out["headers"]["x-github-delivery"] == "d-42");
  CHECK(out["headers"]["user-agent"] == "GitHub-Hookshot/1");
  CHECK(out["headers"]["content-type"] == "application/json");
  // Credentials never reach the plan (its input is journaled).
  CHECK_FALSE(out["headers"].contains("authorization"));
  CHECK_FALSE(out["headers"].contains("cookie"));
  CHECK_FALSE(out["headers"].contains("x-hub-signature-256"));
  CHECK_FALSE(out["headers"].contains("host"));
  // The trigger is in the journal's first event and in the run list.
  auto evs = f.client.events(d["id"]);
  REQUIRE(!evs.empty());
  CHECK(evs[0].data["trigger"] == "gh");
  auto list = f.client.get("/v1/runs").j();
  REQUIRE(list["data"].size() == 1);
  CHECK(list["data"][0]["trigger"] == "gh");

  // Any JSON value is a body; an empty body is null.
  auto arr = f.client.call("POST", "/hooks/gh/push", "[1,2,3]");
  REQUIRE(arr.status == 202);
  CHECK(f.client.wait_run(arr.j()["id"], trig_final)["output"]["body"] == json::array({1, 2, 3}));
  auto empty = f.client.call("POST", "/hooks/gh/push", "");
  REQUIRE(empty.status == 202);
  CHECK(f.client.wait_run(empty.j()["id"], trig_final)["output"]["body"].is_null());
}

TEST_CASE("triggers: webhook routes keep the daemon's request rules") {
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans_dir();
  o.triggers = triggers(json::parse(R"([{"name": "gh", "webhook": "/hooks/gh", "plan": "echo_input"}])"));
  DaemonFixture f(o);
  auto unknown = f.client.call("POST", "/hooks/nope", "{}");
  CHECK(unknown.status == 404);
  CHECK(unknown.j()["error"]["code"] == "hook_not_found");
  CHECK(f.client.call("POST", "/hooks/gh/extra", "{}").status == 404);
  CHECK(f.client.call("POST", "/hooks/gh", "{}", {{"authorization", ""}}).status == 401);
  CHECK(f.client.call("POST", "/hooks/gh", "{}", {{"authorization", "Bearer wrong"}}).status == 401);
  CHECK(f.client.call("POST", "/hooks/gh", "{}", {{"host", "evil.example:80"}}).status == 403);
  CHECK(f.client.call("POST", "/hooks/gh", "{}", {{"origin", "https://evil.example"}}).status == 403);
  CHECK(f.client.call("POST", "/hooks/gh", "{}", {{"content-type", "text/plain"}}).status == 415);
  auto get = f.client.call("GET", "/hooks/gh");
  CHECK(get.status == 405);
  CHECK(get.headers["allow"] == "POST");
  auto bad = f.client.call("POST", "/hooks/gh", "{not json");
  CHECK(bad.status == 400);
  CHECK(bad.j()["error"]["code"] == "invalid_json");
  // None of the refused requests started a run.
  CHECK(f.client.get("/v1/runs").j()["data"].empty());
}

TEST_CASE("triggers: a signed webhook is authenticated by the body's HMAC-SHA256, not the token") {
  const std::string secret = "webhook-test-secret-0123456789";
  ::setenv("FH_TEST_HOOK_SECRET", secret.c_str(), 1);
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans_dir();
  o.triggers = triggers(json::parse(R"([{"name": "gh", "webhook": "/hooks/gh", "plan": "echo_input",
      "signature": {"header": "X-Hub-Signature-256", "secret_env": "FH_TEST_HOOK_SECRET"}}])"));
  REQUIRE(o.triggers[0].signature);
  CHECK(o.triggers[0].signature->header == "x-hub-signature-256");
  DaemonFixture f(o);
  const std::string body = R"({"ref": "refs/heads/main"})";
  const std::string sig = fh::to_hex(fh::hmac_sha256(secret, body));
  // No bearer token: the signature is the credential ("sha256=" prefix optional, hex in any case).
  auto ok = f.client.call("POST", "/hooks/gh", body, {{"authorization", ""}, {"x-hub-signature-256", "sha256=" + sig}});
  REQUIRE(ok.status == 202);
  auto done = f.client.wait_run(ok.j()["id"], trig_final);
  REQUIRE(done["state"] == "succeeded");
  CHECK(done["output"]["body"]["ref"] == "refs/heads/main");
  CHECK_FALSE(done["output"]["headers"].contains("x-hub-signature-256"));
  std::string upper = sig;
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  CHECK(f.client.call("POST", "/hooks/gh", body, {{"authorization", ""}, {"x-hub-signature-256", upper}}).status == 202);

  // A valid bearer token does not replace the signature.
  auto missing = f.client.call("POST", "/hooks/gh", body);
  CHECK(missing.status == 401);
  CHECK(missing.j()["error"]["code"] == "missing_signature");
  auto other_body = f.client.call("POST", "/hooks/gh", R"({"ref": "refs/heads/evil"})", {{"x-hub-signature-256", "sha256=" + sig}});
  CHECK(other_body.status == 401);
  CHECK(other_body.j()["error"]["code"] == "bad_signature");
  const std::string wrong_key = fh::to_hex(fh::hmac_sha256("another-secret-0123456789", body));
  CHECK(f.client.call("POST", "/hooks/gh", body, {{"x-hub-signature-256", "sha256=" + wrong_key}}).status == 401);
  CHECK(f.client.call("POST", "/hooks/gh", body, {{"x-hub-signature-256", "sha256=" + sig.substr(1)}}).status == 401);
  CHECK(f.client.call("POST", "/hooks/gh", body, {{"x-hub-signature-256", "sha1=" + sig}}).status == 401);
  // The Host and Origin rules still hold for a signed webhook.
  CHECK(f.client.call("POST", "/hooks/gh", body, {{"x-hub-signature-256", sig}, {"host", "evil.example:80"}}).status == 403);
  CHECK(f.client.call("POST", "/hooks/gh", body, {{"x-hub-signature-256", sig}, {"origin", "https://evil.example"}}).status == 403);
  // Only the two signed requests started runs.
  CHECK(f.client.get("/v1/runs").j()["data"].size() == 2);

  // Configuration errors name the problem.
  auto refused = [](const char* text) { return trigger_refusal(json::parse(text)); };
  ::unsetenv("FH_TEST_HOOK_SECRET_UNSET");
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_HOOK_SECRET_UNSET"}}])") ==
        "trigger 'n': the environment variable 'FH_TEST_HOOK_SECRET_UNSET' named by 'signature.secret_env' is not set or empty");
  ::setenv("FH_TEST_HOOK_SHORT", "short", 1);
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_HOOK_SHORT"}}])")
            .find("shorter than 16 characters") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X Sig", "secret_env": "FH_TEST_HOOK_SECRET"}}])")
            .find("'signature.header' must be a header name") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret": "inline"}}])") ==
        "trigger 'n': unknown key 'signature.secret' (header, secret_env, scheme, tolerance_s)");
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": "sha256"}])").find("'signature' must be") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_HOOK_SECRET"}}])") ==
        "trigger 'n': 'signature' is for webhook triggers");
}

TEST_CASE("triggers: a stripe-scheme webhook signs its timestamp with the body and refuses stale requests") {
  const std::string secret = "whsec_test_0123456789abcdef";
  ::setenv("FH_TEST_STRIPE_SECRET", secret.c_str(), 1);
  const int64_t t0 = 1795000000;  // the daemon's (fixed) clock
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans_dir();
  o.clock = [&] { return ch::system_clock::time_point(ch::seconds(t0)); };
  o.triggers = triggers(json::parse(R"([{"name": "pay", "webhook": "/hooks/pay", "plan": "echo_input",
      "signature": {"header": "Stripe-Signature", "secret_env": "FH_TEST_STRIPE_SECRET", "scheme": "stripe"}}])"));
  REQUIRE(o.triggers[0].signature);
  CHECK(o.triggers[0].signature->scheme == fh::httpd::WebhookSignature::Scheme::stripe);
  CHECK(o.triggers[0].signature->tolerance_s == 300);
  DaemonFixture f(o);
  const std::string body = R"({"type": "invoice.paid"})";
  auto v1 = [&](int64_t t, const std::string& b) { return fh::to_hex(fh::hmac_sha256(secret, std::to_string(t) + "." + b)); };
  auto post = [&](const std::string& header, const std::string& b) {
    return f.client.call("POST", "/hooks/pay", b, {{"authorization", ""}, {"stripe-signature", header}});
  };
  auto code = [](const auto& r) { return r.j()["error"]["code"].template get<std::string>(); };

  auto ok = post("t=" + std::to_string(t0) + ",v1=" + v1(t0, body), body);
  REQUIRE(ok.status == 202);
  auto done = f.client.wait_run(ok.j()["id"], trig_final);
  REQUIRE(done["state"] == "succeeded");
  CHECK(done["output"]["body"]["type"] == "invoice.paid");
  CHECK_FALSE(done["output"]["headers"].contains("stripe-signature"));
  // Several v1 values (a secret being rolled) and v0 / unknown items: one matching v1 is enough.
  CHECK(post("t=" + std::to_string(t0 - 10) + ",v1=" + std::string(64, 'a') + ",v0=xyz,v1=" + v1(t0 - 10, body), body).status == 202);
  // Within the tolerance on both sides; beyond it refused as expired, even with a valid digest.
  CHECK(post("t=" + std::to_string(t0 - 299) + ",v1=" + v1(t0 - 299, body), body).status == 202);
  CHECK(post("t=" + std::to_string(t0 + 299) + ",v1=" + v1(t0 + 299, body), body).status == 202);
  auto stale = post("t=" + std::to_string(t0 - 301) + ",v1=" + v1(t0 - 301, body), body);
  CHECK(stale.status == 401);
  CHECK(code(stale) == "expired_signature");
  CHECK(stale.j()["error"]["message"].get<std::string>().find("tolerance 300 s") != std::string::npos);
  // The digest covers the timestamp and the body.
  auto moved = post("t=" + std::to_string(t0 - 1) + ",v1=" + v1(t0, body), body);
  CHECK(moved.status == 401);
  CHECK(code(moved) == "bad_signature");
  CHECK(code(post("t=" + std::to_string(t0) + ",v1=" + v1(t0, body), R"({"type": "invoice.void"})")) == "bad_signature");
  // Malformed headers, a missing header, and the bearer token alone are refused.
  auto no_t = post("v1=" + v1(t0, body), body);
  CHECK(code(no_t) == "bad_signature");
  CHECK(no_t.j()["error"]["message"].get<std::string>().find("no timestamp") != std::string::npos);
  CHECK(code(post("t=" + std::to_string(t0), body)) == "bad_signature");
  CHECK(code(post("t=12ab,v1=" + v1(t0, body), body)) == "bad_signature");
  CHECK(code(post("t=1,t=2,v1=" + v1(t0, body), body)) == "bad_signature");
  auto missing = f.client.call("POST", "/hooks/pay", body);
  CHECK(missing.status == 401);
  CHECK(code(missing) == "missing_signature");
  CHECK(missing.j()["error"]["message"].get<std::string>().find("t=<unix time>") != std::string::npos);
  CHECK(f.client.get("/v1/runs").j()["data"].size() == 4);

  // The checker on its own: too many v1 values, a 13-digit time, an empty header.
  const auto& sig = o.triggers[0].signature.value();
  std::string many = "t=" + std::to_string(t0);
  for (int i = 0; i < 9; ++i) many += ",v1=" + v1(t0, body);
  CHECK(fh::httpd::webhook_signature_problem(sig, many, body, t0) == "has too many v1 signatures");
  CHECK(fh::httpd::webhook_signature_problem(sig, "t=1234567890123,v1=" + v1(t0, body), body, t0) == "has no timestamp (t=<unix seconds>)");
  CHECK(fh::httpd::webhook_signature_problem(sig, "", body, t0) == "has no timestamp (t=<unix seconds>)");
  CHECK(fh::httpd::webhook_signature_problem(sig, ",,,", body, t0) == "has no timestamp (t=<unix seconds>)");
  CHECK(fh::httpd::webhook_signature_problem(sig, "t=" + std::to_string(t0) + ",v1=" + v1(t0, body), body, t0).empty());

  // Configuration: the scheme's name and the tolerance are checked.
  auto refused = [](const char* text) { return trigger_refusal(json::parse(text)); };
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_STRIPE_SECRET", "scheme": "sha1"}}])")
            .find("'signature.scheme' must be \"hex\" (the default) or \"stripe\"") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_STRIPE_SECRET", "tolerance_s": 60}}])")
            .find("'signature.tolerance_s' is for the stripe scheme") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_STRIPE_SECRET", "scheme": "stripe", "tolerance_s": 0}}])")
            .find("from 1 to 86400") != std::string::npos);
  auto longer = triggers(json::parse(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "signature": {"header": "X-Sig", "secret_env": "FH_TEST_STRIPE_SECRET", "scheme": "stripe", "tolerance_s": 900}}])"));
  CHECK(longer[0].signature->tolerance_s == 900);
}

TEST_CASE("triggers: a cron trigger fires at its minute and submits the configured run") {
  // The daemon's wall clock is shifted, at its first reading, to 400 ms before the next 5-minute
  // boundary: the scheduler, cron parser and timer are the real ones; only the wait is shorter.
  // (Shifting at the first reading keeps a slow start-up, e.g. under ASan, from missing it.)
  struct Shift {
    std::mutex mu;
    std::optional<ch::system_clock::duration> offset;
    ch::steady_clock::time_point first;
  };
  auto shift = std::make_shared<Shift>();
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans_dir();
  o.clock = [shift] {
    std::lock_guard lock(shift->mu);
    auto real = ch::system_clock::now();
    if (!shift->offset) {
      auto boundary = ch::ceil<ch::minutes>(real + ch::minutes(1));
      while (ch::floor<ch::minutes>(boundary).time_since_epoch().count() % 5 != 0) boundary += ch::minutes(1);
      shift->offset = (boundary - ch::milliseconds(400)) - real;
      shift->first = ch::steady_clock::now();
    }
    return real + *shift->offset;
  };
  o.triggers = triggers(json::parse(R"([
    {"name": "every5", "cron": "*/5 * * * *", "plan": "ask", "input": {"q": "scheduled hello"}, "model": "mock/echo"},
    {"name": "offbeat", "cron": "1-4,6-9 * * * *", "plan": "echo_input"}])"));
  DaemonFixture f(o);
  // Exactly one run, of "every5", at the boundary (the next firings of both are minutes away).
  json runs;
  auto until = ch::steady_clock::now() + ch::seconds(10);
  while (ch::steady_clock::now() < until) {
    runs = f.client.get("/v1/runs").j()["data"];
    if (!runs.empty()) break;
    std::this_thread::sleep_for(ch::milliseconds(20));
  }
  auto seen = ch::steady_clock::now();
  REQUIRE(runs.size() == 1);
  {
    std::lock_guard lock(shift->mu);
    REQUIRE(shift->offset.has_value());
    CHECK(seen - shift->first >= ch::milliseconds(350));  // it waited for the minute, not fired at once
  }
  CHECK(runs[0]["trigger"] == "every5");
  CHECK(runs[0]["model"] == "mock/echo");
  auto done = f.client.wait_run(runs[0]["id"], trig_final);
  CHECK(done["state"] == "succeeded");
  CHECK(done["output"] == "scheduled hello");
  std::this_thread::sleep_for(ch::milliseconds(600));
  CHECK(f.client.get("/v1/runs").j()["data"].size() == 1);
}

TEST_CASE("triggers: a cron trigger with catch_up runs once at start for a firing missed while down") {
  // Each daemon reads a fixed clock; all share one data folder (DATA/triggers.json).
  const auto day = ch::sys_days{ch::year{2026} / ch::March / 14};
  auto at = [&](int h, int m, int sec = 0) { return ch::system_clock::time_point(day + ch::hours(h) + ch::minutes(m) + ch::seconds(sec)); };
  const std::string data = fh::test::temp_dir("catch-up");
  const std::string plans = plans_dir();
  // Starts a daemon at `now`; returns the runs the trigger has made, once there are `expect` of
  // them and 300 ms later there are still no more (the catch-up run comes from the trigger's
  // coroutine as the daemon starts, asynchronously to the requests).
  auto start_at = [&](ch::system_clock::time_point now, bool catch_up, size_t expect) {
    fh::httpd::DaemonOptions o;
    o.plan_dir = plans;
    o.data_dir = data;
    o.clock = [now] { return now; };
    json t = json::parse(R"([{"name": "nightly", "cron": "0 3 * * *", "plan": "echo_input", "input": {"k": 1}}])");
    t[0]["catch_up"] = catch_up;
    o.triggers = triggers(t);
    DaemonFixture f(o);
    auto list = [&] {
      json mine = json::array(), all = f.client.get("/v1/runs").j();
      for (const auto& r : all["data"])
        if (r.value("trigger", "") == "nightly") mine.push_back(r);
      return mine;
    };
    const auto until = ch::steady_clock::now() + ch::seconds(10);
    while (list().size() < expect && ch::steady_clock::now() < until) std::this_thread::sleep_for(ch::milliseconds(20));
    std::this_thread::sleep_for(ch::milliseconds(300));
    json done = json::array();
    for (const auto& r : list()) done.push_back(f.client.wait_run(r["id"], trig_final));
    return done;
  };
  auto state = [&] {
    std::ifstream in(data + "/triggers.json");
    return json::parse(in, nullptr, false);
  };
  // First start, 02:59:30: nothing to catch up; the arming time is the baseline.
  CHECK(start_at(at(2, 59, 30), true, 0).empty());
  CHECK(state()["nightly"]["last_fire"] == "2026-03-14T02:59:30Z");
  // Down over 03:00; back at 05:00 without catch_up: the firing is skipped.
  CHECK(start_at(at(5, 0), false, 0).empty());
  CHECK(state()["nightly"]["last_fire"] == "2026-03-14T02:59:30Z");
  // With catch_up: one run at start, with the trigger's input, recorded as the last firing.
  auto runs = start_at(at(5, 0), true, 1);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["state"] == "succeeded");
  CHECK(runs[0]["output"] == json{{"k", 1}});
  CHECK(state()["nightly"]["last_fire"] == "2026-03-14T05:00:00Z");
  // Ten minutes later nothing was missed (the next firing is tomorrow at 03:00): still one run.
  CHECK(start_at(at(5, 10), true, 1).size() == 1);
  // Two days down make one catch-up run, not two.
  CHECK(start_at(at(5 + 48, 0), true, 2).size() == 2);
  // An unreadable state file is ignored: a new baseline, no catch-up.
  std::ofstream(data + "/triggers.json") << "[1, 2";
  CHECK(start_at(at(5 + 96, 0), true, 2).size() == 2);
  CHECK(state()["nightly"]["last_fire"] == "2026-03-18T05:00:00Z");

  auto refused = [](const char* text) { return trigger_refusal(json::parse(text)); };
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "plan": "p", "catch_up": "yes"}])") == "trigger 'n': 'catch_up' must be true or false");
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "catch_up": true}])") == "trigger 'n': 'catch_up' is for cron triggers");
}

TEST_CASE("triggers: bad configurations are refused with clear messages") {
  auto refused = [](const char* text) { return trigger_refusal(json::parse(text)); };
  CHECK(refused(R"({"name": "x"})") == "'triggers' must be a list");
  CHECK(refused(R"([42])") == "trigger #1: must be an object");
  CHECK(refused(R"([{"cron": "* * * * *", "plan": "p"}])").find("trigger #1: needs a 'name'") == 0);
  CHECK(refused(R"([{"name": "a b", "cron": "* * * * *", "plan": "p"}])").find("needs a 'name'") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "plan": "p", "when": 1}])") ==
        "trigger 'n': unknown key 'when' (name, cron, webhook, plan, input, model, signature, catch_up)");
  CHECK(refused(R"([{"name": "n", "cron": "61 * * * *", "plan": "p"}])") ==
        "trigger 'n': cron minute field: '61' is out of range 0-59");
  CHECK(refused(R"([{"name": "n", "cron": "* * *", "plan": "p"}])").find("needs 5 fields") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "cron": 5, "plan": "p"}])") == "trigger 'n': 'cron' must be a string");
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "plan": "p"}, {"name": "n", "webhook": "/hooks/x", "plan": "p"}])") ==
        "trigger 'n': the name is used twice");
  CHECK(refused(R"([{"name": "n", "webhook": "/v1/runs", "plan": "p"}])").find("'webhook' must be a path under /hooks/") != std::string::npos);
  for (const char* path : {"/hooks/", "/hooks", "/hooks/../v1/runs", "/hooks/a//b", "/hooks/a/", "/hooks/a?b=1", "hooks/a"}) {
    json t = json::array({{{"name", "n"}, {"webhook", path}, {"plan", "p"}}});
    CHECK_MESSAGE(trigger_refusal(t).find("under /hooks/") != std::string::npos, path);
  }
  CHECK(refused(R"([{"name": "a", "webhook": "/hooks/x", "plan": "p"}, {"name": "b", "webhook": "/hooks/x", "plan": "p"}])") ==
        "trigger 'b': webhook path /hooks/x is used twice");
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *"}])") == "trigger 'n': needs a 'plan' (a plan name of the plan folder)");
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "plan": "../etc/passwd"}])").find("'plan' must be a plan name") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "plan": "p"}])") == "trigger 'n': give exactly one of 'cron' and 'webhook'");
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "webhook": "/hooks/x", "plan": "p"}])") ==
        "trigger 'n': give exactly one of 'cron' and 'webhook'");
  CHECK(refused(R"([{"name": "n", "webhook": "/hooks/x", "plan": "p", "input": {}}])").find("'input' is for cron triggers") != std::string::npos);
  CHECK(refused(R"([{"name": "n", "cron": "* * * * *", "plan": "p", "model": ""}])") == "trigger 'n': 'model' must be a non-empty string");
  CHECK(trigger_refusal(nullptr) == "(accepted)");

  // A trigger naming a plan the plan folder lacks stops the daemon from opening.
  auto open_error = [](fh::httpd::DaemonOptions o) {
    boost::asio::io_context io(1);
    o.data_dir = fh::test::temp_dir("trigger-open");
    fh::httpd::Daemon d(io.get_executor(), fh::test::test_providers(), o, fh::test::test_tools());
    auto r = d.open();
    return r ? std::string("(opened)") : r.error().message;
  };
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans_dir();
  o.triggers = triggers(json::parse(R"([{"name": "nightly", "cron": "0 3 * * *", "plan": "missing"}])"));
  CHECK(open_error(o) == "trigger 'nightly': no plan named 'missing' in " + o.plan_dir);
  o.plan_dir.clear();
  CHECK(open_error(o).find("trigger 'nightly': no plan folder is configured") == 0);
  o.plan_dir = plans_dir();
  o.triggers = triggers(json::parse(R"([{"name": "nightly", "cron": "0 3 * * *", "plan": "ask"}])"));
  CHECK(open_error(o) == "(opened)");
}
