// The registry (schema validation before running, permissions with an approver bound to the
// exact call, timeout, cancellation, redaction, taint gate) and the built-in host on a real
// io_context: shell.exec through the sandbox without blocking the loop, time.now, and the
// A cases of SECURITY.md §5 that touch this layer.
#include <doctest/doctest.h>

#include "tests/tools/util.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>

#include "tests/sandbox/test_util.hpp"
#include "tools/builtin.hpp"
#include "tools/shell/shell_tool.hpp"
#include "tools/time/time_tool.hpp"

namespace asio = boost::asio;
using namespace fh::tools;
using fh::Errc;
using fh::json;
using fh::Result;
using fh::test::TempDir;

namespace {

using tools_test::store;

template <class Handler = decltype(asio::detached)>
void spawn_into(asio::io_context& io, asio::awaitable<Result<json>> op, std::optional<Result<json>>& out,
                Handler h = asio::detached) {
  asio::co_spawn(io, store(std::move(op), out), std::move(h));
}

Result<json> call(std::shared_ptr<Registry> reg, const std::string& name, json args, std::string run_id = "run-1") {
  asio::io_context io;
  std::optional<Result<json>> out;
  spawn_into(io, reg->call(name, std::move(args), fh::api::ToolCallContext{run_id, "", "call-1"}), out);
  io.run();
  REQUIRE(out.has_value());
  return std::move(*out);
}

using tools_test::code_of;

asio::awaitable<Result<json>> sleepy(json, fh::api::ToolCallContext) {
  auto t_ex = co_await asio::this_coro::executor;  // a named local: GCC 12 double-destroys co_await temporaries in call arguments
  asio::steady_timer t(t_ex, std::chrono::seconds(10));
  co_await t.async_wait(asio::use_awaitable);
  co_return json{{"slept", true}};
}

std::shared_ptr<Registry> allow_all_registry() {
  auto reg = std::make_shared<Registry>();
  reg->set_permissions(fh::sandbox::PermissionEngine::from_json({{"default", "allow"}}).value());
  return reg;
}

ToolDef echo_tool(std::string name = "echo") {
  return ToolDef{fh::api::ToolSpec{name, "echo",
                                   json{{"type", "object"},
                                        {"properties", {{"text", {{"type", "string"}}}, {"n", {{"type", "integer"}, {"minimum", 1}}}}},
                                        {"required", {"text"}},
                                        {"additionalProperties", false}}},
                 make_sync_handler([](const json& a, const fh::api::ToolCallContext&) -> Result<json> {
                   return json{{"echo", a["text"]}};
                 })};
}

Options builtin_options(const TempDir& ws) {
  Options o;
  o.workspace = ws.path();
  o.permissions = fh::sandbox::PermissionEngine::from_json({{"default", "allow"}}).value();
  return o;
}

}  // namespace

TEST_CASE("registry: schema errors come back before the tool runs, naming field and expectation") {
  auto reg = allow_all_registry();
  int runs = 0;
  ToolDef def = echo_tool();
  auto inner = def.handler;
  def.handler = [&runs, inner](json a, fh::api::ToolCallContext c) {
    ++runs;
    return inner(std::move(a), std::move(c));
  };
  REQUIRE(reg->add(def).ok());
  auto wrong_type = call(reg, "echo", {{"text", 5}});
  CHECK(code_of(wrong_type) == Errc::invalid_argument);
  CHECK(wrong_type.error().message.find("/text") != std::string::npos);
  CHECK(wrong_type.error().message.find("\"string\"") != std::string::npos);
  CHECK(wrong_type.error().detail["schema"].is_object());
  auto missing = call(reg, "echo", json::object());
  CHECK(missing.error().message.find("text") != std::string::npos);
  auto extra = call(reg, "echo", {{"text", "a"}, {"bogus", 1}});
  CHECK(code_of(extra) == Errc::invalid_argument);
  CHECK(code_of(call(reg, "echo", {{"text", "a"}, {"n", 0}})) == Errc::invalid_argument);
  CHECK(code_of(call(reg, "echo", json::array())) == Errc::invalid_argument);
  CHECK(runs == 0);
  auto good = call(reg, "echo", {{"text", "hi"}});
  REQUIRE(good.ok());
  CHECK(good.value() == json{{"echo", "hi"}});
  CHECK(runs == 1);
  CHECK(code_of(call(reg, "nope", json::object())) == Errc::not_found);
}

TEST_CASE("registry: bad schemas and duplicates are refused at add()") {
  Registry reg;
  CHECK(reg.add(echo_tool()).ok());
  CHECK(!reg.add(echo_tool()).ok());
  ToolDef bad = echo_tool("bad");
  bad.spec.parameters = json{{"type", 7}};
  CHECK(!reg.add(bad).ok());
  ToolDef nohandler = echo_tool("nohandler");
  nohandler.handler = nullptr;
  CHECK(!reg.add(nohandler).ok());
  CHECK(reg.list().size() == 1);
  CHECK(reg.spec("echo").ok());
  CHECK(reg.remove("echo"));
  CHECK(!reg.spec("echo").ok());
}

TEST_CASE("registry: per-call timeout cancels the tool") {
  auto reg = allow_all_registry();
  ToolDef def{fh::api::ToolSpec{"sleepy", "", json{{"type", "object"}}}, sleepy, std::chrono::milliseconds(100)};
  REQUIRE(reg->add(def).ok());
  auto t0 = std::chrono::steady_clock::now();
  auto r = call(reg, "sleepy", json::object());
  CHECK(code_of(r) == Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE("registry: deny > ask > allow; ask goes to the approver with the exact call") {
  auto reg = std::make_shared<Registry>();
  REQUIRE(reg->add(echo_tool()).ok());
  reg->set_permissions(fh::sandbox::PermissionEngine::from_json(
                           {{"default", "ask"}, {"rules", {{{"action", "deny"}, {"tool", "echo"}, {"command", "x"}}}}})
                           .value());
  // No approver: ask is refused.
  CHECK(code_of(call(reg, "echo", {{"text", "a"}})) == Errc::permission_denied);
  std::vector<ApprovalRequest> seen;
  Approval answer = Approval::deny;
  reg->set_approver([&](ApprovalRequest req) -> asio::awaitable<Approval> {
    seen.push_back(req);
    co_return answer;
  });
  CHECK(code_of(call(reg, "echo", {{"text", "a"}})) == Errc::permission_denied);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].tool == "echo");
  CHECK(seen[0].args == json{{"text", "a"}});
  CHECK(seen[0].call_id == "call-1");
  answer = Approval::once;
  CHECK(call(reg, "echo", {{"text", "a"}}).ok());
  CHECK(seen.size() == 2);
  answer = Approval::session;
  CHECK(call(reg, "echo", {{"text", "b"}}).ok());
  CHECK(call(reg, "echo", {{"text", "b"}}).ok());  // remembered for this exact call
  CHECK(seen.size() == 3);
  answer = Approval::deny;
  CHECK(code_of(call(reg, "echo", {{"text", "c"}})) == Errc::permission_denied);  // a different call asks again
  CHECK(seen.size() == 4);
}

TEST_CASE("S2 tool results and errors are scrubbed of registered secrets") {
  auto reg = allow_all_registry();
  REQUIRE(reg->add(echo_tool()).ok());
  auto red = std::make_shared<fh::sandbox::Redactor>();
  red->add("ghp_SuperSecretToken123");
  reg->set_redactor(red);
  auto r = call(reg, "echo", {{"text", "token=ghp_SuperSecretToken123 b64=" + fh::sandbox::base64_encode("ghp_SuperSecretToken123")}});
  REQUIRE(r.ok());
  std::string out = r.value().dump();
  CHECK(out.find("ghp_SuperSecretToken123") == std::string::npos);
  CHECK(out.find(fh::sandbox::base64_encode("ghp_SuperSecretToken123")) == std::string::npos);
  CHECK(out.find("[REDACTED]") != std::string::npos);
}

TEST_CASE("A3 after reading untrusted content, outbound tools need approval (taint gate)") {
  auto reg = allow_all_registry();
  ToolDef web = echo_tool("web.get");
  web.untrusted_output = true;
  ToolDef post = echo_tool("net.post");
  post.outbound = true;
  REQUIRE(reg->add(web).ok());
  REQUIRE(reg->add(post).ok());
  CHECK(call(reg, "net.post", {{"text", "hi"}}, "run-a").ok());  // clean run: allowed
  CHECK(call(reg, "web.get", {{"text", "page"}}, "run-a").ok());
  auto gated = call(reg, "net.post", {{"text", "workspace data"}}, "run-a");
  CHECK(code_of(gated) == Errc::permission_denied);
  CHECK(gated.error().message.find("taint") != std::string::npos);
  CHECK(call(reg, "net.post", {{"text", "hi"}}, "run-b").ok());  // other runs unaffected
  reg->end_run("run-a");
  CHECK(call(reg, "net.post", {{"text", "hi"}}, "run-a").ok());
}

TEST_CASE("builtin host: the tool set, fs tools through the registry, time.now") {
  TempDir ws;
  auto host = make_builtin_host(builtin_options(ws));
  REQUIRE_MESSAGE(host.ok(), (host.ok() ? "" : host.error().message));
  std::vector<std::string> names;
  for (const auto& s : (*host)->list()) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"fs.edit", "fs.list", "fs.read", "fs.write", "http.fetch", "shell.exec", "time.now"});
  CHECK(call(*host, "fs.write", {{"path", "n.txt"}, {"content", "note"}}).ok());
  CHECK(call(*host, "fs.read", {{"path", "n.txt"}}).value() == json{{"content", "note"}});
  auto bad = call(*host, "fs.read", {{"path", 7}});
  CHECK(code_of(bad) == Errc::invalid_argument);
  auto t = call(*host, "time.now", json::object());
  REQUIRE(t.ok());
  CHECK(t.value()["iso"].get<std::string>().size() == 20);
  CHECK(std::abs(t.value()["unix"].get<int64_t>() - std::time(nullptr)) <= 2);
  CHECK(fh::tools::time::now_json(std::chrono::system_clock::time_point(std::chrono::seconds(86400))) ==
        json{{"iso", "1970-01-02T00:00:00Z"}, {"unix", 86400}});
  // Another tool on the same host.
  CHECK((*host)->add(echo_tool()).ok());
  CHECK(call(*host, "echo", {{"text", "x"}}).ok());
}

TEST_CASE("shell.exec: argv and command forms, exit codes, output, timeout_s, schema oneOf") {
  TempDir ws;
  auto host = make_builtin_host(builtin_options(ws));
  REQUIRE(host.ok());
  auto a = call(*host, "shell.exec", {{"argv", {"echo", "hello"}}});
  REQUIRE_MESSAGE(a.ok(), (a.ok() ? "" : a.error().message));
  CHECK(a.value() == json{{"exit_code", 0}, {"stdout", "hello\n"}, {"stderr", ""}, {"timed_out", false}, {"truncated", false}});
  auto c = call(*host, "shell.exec", {{"command", "echo out; echo err >&2; printf '\\377'; exit 3"}});
  REQUIRE(c.ok());
  CHECK(c.value()["exit_code"] == 3);
  CHECK(c.value()["stdout"] == "out\n\xEF\xBF\xBD");  // invalid UTF-8 replaced
  CHECK(c.value()["stderr"] == "err\n");
  auto t = call(*host, "shell.exec", {{"command", "sleep 10"}, {"timeout_s", 0.3}});
  REQUIRE(t.ok());
  CHECK(t.value()["timed_out"] == true);
  CHECK(code_of(call(*host, "shell.exec", {{"argv", {"a"}}, {"command", "b"}})) == Errc::invalid_argument);
  CHECK(code_of(call(*host, "shell.exec", json::object())) == Errc::invalid_argument);
  CHECK(code_of(call(*host, "shell.exec", {{"argv", json::array()}})) == Errc::invalid_argument);
  CHECK(code_of(call(*host, "shell.exec", {{"command", "true"}, {"timeout_s", -1}})) == Errc::invalid_argument);
  // The shell works in the workspace and the file tools see its result.
  REQUIRE(call(*host, "shell.exec", {{"command", "echo made > made.txt"}}).ok());
  CHECK(call(*host, "fs.read", {{"path", "made.txt"}}).value()["content"] == "made\n");
}

TEST_CASE("shell.exec does not block the loop, and cancellation kills the sandbox") {
  TempDir ws;
  auto host = make_builtin_host(builtin_options(ws));
  REQUIRE(host.ok());
  asio::io_context io;
  int ticks = 0;
  std::optional<Result<json>> slow, cancelled;
  spawn_into(io, (*host)->call("shell.exec", {{"command", "sleep 0.6; echo done"}}, {}), slow);
  // A ticker on the same loop: it must keep running while the command runs.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto t_ex = co_await asio::this_coro::executor;  // a named local: GCC 12 double-destroys co_await temporaries in call arguments
        asio::steady_timer t(t_ex);
        for (int i = 0; i < 10; ++i) {
          t.expires_after(std::chrono::milliseconds(20));
          co_await t.async_wait(asio::use_awaitable);
          ++ticks;
        }
      },
      asio::detached);
  asio::cancellation_signal sig;
  auto t0 = std::chrono::steady_clock::now();
  spawn_into(io, (*host)->call("shell.exec", {{"command", "sleep 30"}}, {}), cancelled,
             asio::bind_cancellation_slot(sig.slot(), asio::detached));
  asio::steady_timer stopper(io, std::chrono::milliseconds(400));
  stopper.async_wait([&](boost::system::error_code) { sig.emit(asio::cancellation_type::terminal); });
  io.run();
  CHECK(ticks == 10);
  REQUIRE(slow.has_value());
  REQUIRE(slow->ok());
  CHECK(slow->value()["stdout"] == "done\n");
  REQUIRE(cancelled.has_value());
  CHECK(code_of(*cancelled) == Errc::cancelled);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("A1 an approved call still runs inside the sandbox") {
  TempDir ws;
  Options o;
  o.workspace = ws.path();
  o.permissions = fh::sandbox::PermissionEngine::from_json(
                      {{"default", "ask"}, {"rules", {{{"action", "allow"}, {"tool", "shell.exec"}, {"command", "git status"}}}}})
                      .value();
  std::vector<std::string> asked;
  o.approver = [&](ApprovalRequest r) -> asio::awaitable<Approval> {
    asked.push_back(r.subject);
    co_return Approval::once;
  };
  auto host = make_builtin_host(o);
  REQUIRE(host.ok());
  auto r = call(*host, "shell.exec", {{"argv", {"sh", "-c", "id -u; cat /proc/self/status | grep NoNewPrivs"}}});
  REQUIRE(r.ok());
  REQUIRE(asked.size() == 1);  // not covered by the allow rule: asked
  CHECK(asked[0] == "sh -c 'id -u; cat /proc/self/status | grep NoNewPrivs'");
  CHECK(r.value()["stdout"].get<std::string>().rfind("1000\nNoNewPrivs:\t1", 0) == 0);
}

TEST_CASE("A4 an injected 'rm -rf' is limited to the workspace") {
  TempDir ws, outside;
  fh::test::write_text(outside / "keep.txt", "precious");
  fh::test::write_text(ws / "work.txt", "scratch");
  auto host = make_builtin_host(builtin_options(ws));
  REQUIRE(host.ok());
  // The model "complies" with a prompt injection; policy here allows shell (worst case).
  auto r = call(*host, "shell.exec", {{"command", "rm -rf --no-preserve-root / 2>/dev/null; rm -rf /workspace/* ; ls /usr/bin | head -1"}});
  REQUIRE(r.ok());
  CHECK(!std::filesystem::exists(ws / "work.txt"));       // inside: gone, as asked
  CHECK(fh::test::read_text(outside / "keep.txt") == "precious");  // outside: untouched
  CHECK(std::filesystem::exists("/usr/bin/sh"));
  CHECK(!r.value()["stdout"].get<std::string>().empty());  // /usr still there inside too (read-only)
}

TEST_CASE("A6 the agent cannot edit its own policy through the tools") {
  TempDir home, ws;
  fh::test::write_text(home / "config.json", R"({"permissions": {"default": "ask"}})");
  auto host = make_builtin_host(builtin_options(ws));
  REQUIRE(host.ok());
  CHECK(code_of(call(*host, "fs.write", {{"path", "../" + std::filesystem::path(home.path()).filename().string() + "/config.json"}, {"content", "{}"}})) ==
        Errc::permission_denied);
  CHECK(code_of(call(*host, "fs.write", {{"path", ".freehold/permissions.json"}, {"content", "{}"}})) == Errc::permission_denied);
  auto r = call(*host, "shell.exec", {{"command", "echo '{}' > " + home.path() + "/config.json; echo rc=$?"}});
  REQUIRE(r.ok());
  CHECK(fh::test::read_text(home / "config.json") == R"({"permissions": {"default": "ask"}})");
}
