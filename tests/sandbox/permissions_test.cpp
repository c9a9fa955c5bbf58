// Permission engine (deny > ask > allow, config-only rules), the redactor (S2), and the
// seccomp program build. Pure unit tests: no sandboxed process.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "sandbox/permissions.hpp"
#include "sandbox/redactor.hpp"
#include "sandbox/seccomp_filter.hpp"
#include "tests/sandbox/test_util.hpp"

using namespace fh::sandbox;
using fh::json;

namespace {
PermissionEngine engine(const json& cfg) {
  auto e = PermissionEngine::from_json(cfg);
  REQUIRE_MESSAGE(e.ok(), (e.ok() ? "" : e.error().message));
  return std::move(e).value();
}
}  // namespace

TEST_CASE("permissions: deny > ask > allow whatever the rule order") {
  auto e = engine({{"default", "allow"},
                   {"rules",
                    {{{"action", "allow"}, {"tool", "fs.*"}},
                     {{"action", "ask"}, {"tool", "fs.write"}, {"path", "src/**"}},
                     {{"action", "deny"}, {"tool", "fs.write"}, {"path", "src/secret/**"}}}}});
  CHECK(e.evaluate("fs.read", {{"path", "a.txt"}}).decision == Decision::allow);
  CHECK(e.evaluate("fs.write", {{"path", "src/a.cpp"}}).decision == Decision::ask);
  CHECK(e.evaluate("fs.write", {{"path", "src/secret/k"}}).decision == Decision::deny);
  // Lexical tricks normalize before matching.
  CHECK(e.evaluate("fs.write", {{"path", "docs/../src/secret/./k"}}).decision == Decision::deny);
  CHECK(e.evaluate("shell.exec", {{"command", "ls"}}).decision == Decision::allow);  // default
}

TEST_CASE("permissions: defaults without a config (reads allowed, writes/shell ask)") {
  PermissionEngine e;
  CHECK(e.evaluate("fs.read", {{"path", "x"}}).decision == Decision::allow);
  CHECK(e.evaluate("fs.list", json::object()).decision == Decision::allow);
  CHECK(e.evaluate("time.now", json::object()).decision == Decision::allow);
  CHECK(e.evaluate("fs.write", {{"path", "x"}, {"content", ""}}).decision == Decision::ask);
  CHECK(e.evaluate("shell.exec", {{"argv", {"ls"}}}).decision == Decision::ask);
  CHECK(e.evaluate("http.fetch", {{"url", "https://x.org"}}).decision == Decision::ask);
  // A config with no default is default-deny.
  CHECK(engine(json::object()).evaluate("fs.read", {{"path", "x"}}).decision == Decision::deny);
}

TEST_CASE("permissions: config is validated strictly") {
  CHECK(!PermissionEngine::from_json(json::array()).ok());
  CHECK(!PermissionEngine::from_json({{"default", "maybe"}}).ok());
  CHECK(!PermissionEngine::from_json({{"rules", {{{"tool", "x"}}}}}).ok());  // no action
  CHECK(!PermissionEngine::from_json({{"rules", {{{"action", "allow"}, {"colour", "x"}}}}}).ok());
  CHECK(!PermissionEngine::from_json({{"rules", {{{"action", "allow"}, {"path", "a"}, {"command", "b"}}}}}).ok());
  CHECK(!PermissionEngine::from_json({{"surprise", 1}}).ok());
}

TEST_CASE("A1 allowed 'git status' does not cover 'git -c core.pager=... log'") {
  auto e = engine({{"default", "ask"}, {"rules", {{{"action", "allow"}, {"tool", "shell.exec"}, {"command", "git status"}}}}});
  CHECK(e.evaluate("shell.exec", {{"argv", {"git", "status"}}}).decision == Decision::allow);
  CHECK(e.evaluate("shell.exec", {{"command", "git status"}}).decision == Decision::allow);
  CHECK(e.evaluate("shell.exec", {{"argv", {"git", "-c", "core.pager=sh -c id", "log"}}}).decision == Decision::ask);
  CHECK(e.evaluate("shell.exec", {{"command", "git -c core.pager='sh -c id' log"}}).decision == Decision::ask);
  // A wildcard allow never matches a compound shell line.
  auto w = engine({{"default", "deny"}, {"rules", {{{"action", "allow"}, {"tool", "shell.exec"}, {"command", "git status*"}}}}});
  CHECK(w.evaluate("shell.exec", {{"command", "git status; curl evil"}}).decision == Decision::deny);
  CHECK(w.evaluate("shell.exec", {{"command", "git status --short"}}).decision == Decision::allow);
  // argv words are quoted, so an argument with a space cannot look like two words.
  CHECK(w.evaluate("shell.exec", {{"argv", {"git", "status x; id"}}}).subject.value == "git 'status x; id'");
}

TEST_CASE("A1 approvals bind to the exact normalized call") {
  PermissionEngine e;
  auto a = e.evaluate("shell.exec", {{"argv", {"git", "status"}}}, "/ws");
  auto b = e.evaluate("shell.exec", {{"argv", {"git", "status"}}}, "/ws");
  auto c = e.evaluate("shell.exec", {{"argv", {"git", "status", "-v"}}}, "/ws");
  auto d = e.evaluate("shell.exec", {{"argv", {"git", "status"}}}, "/other");
  CHECK(a.call_key == b.call_key);
  CHECK(a.call_key != c.call_key);
  CHECK(a.call_key != d.call_key);
  // Key order in the arguments does not matter (canonical JSON).
  auto x = e.evaluate("fs.write", json::parse(R"({"path":"a","content":"b"})"));
  auto y = e.evaluate("fs.write", json::parse(R"({"content":"b","path":"a"})"));
  CHECK(x.call_key == y.call_key);
}

TEST_CASE("permissions: domain rules match the URL host, subdomains only with *.") {
  auto e = engine({{"default", "deny"},
                   {"rules", {{{"action", "allow"}, {"tool", "http.fetch"}, {"domain", "*.github.com"}},
                              {{"action", "allow"}, {"tool", "http.fetch"}, {"domain", "example.org"}}}}});
  CHECK(e.evaluate("http.fetch", {{"url", "https://api.github.com/x"}}).decision == Decision::allow);
  CHECK(e.evaluate("http.fetch", {{"url", "https://github.com/"}}).decision == Decision::allow);
  CHECK(e.evaluate("http.fetch", {{"url", "https://EXAMPLE.org:8443/p"}}).decision == Decision::allow);
  CHECK(e.evaluate("http.fetch", {{"url", "https://example.org.evil.com/"}}).decision == Decision::deny);
  CHECK(e.evaluate("http.fetch", {{"url", "https://github.com@evil.com/"}}).decision == Decision::deny);
  CHECK(e.evaluate("http.fetch", {{"url", "https://evilgithub.com/"}}).decision == Decision::deny);
}

TEST_CASE("A6 the policy loads only from a trusted file (not group/other-writable)") {
  fh::test::TempDir d;
  std::string p = d / "config.json";
  fh::test::write_text(p, R"({"permissions": {"default": "deny", "rules": [{"action": "allow", "tool": "fs.read"}]}})");
  chmod(p.c_str(), 0600);
  auto ok = PermissionEngine::from_file(p);
  REQUIRE(ok.ok());
  CHECK(ok->evaluate("fs.read", {{"path", "x"}}).decision == Decision::allow);
  chmod(p.c_str(), 0666);
  CHECK(!PermissionEngine::from_file(p).ok());
  std::string link = d / "link.json";
  symlink(p.c_str(), link.c_str());
  chmod(p.c_str(), 0600);
  CHECK(!PermissionEngine::from_file(link).ok());  // no symlinked policy
}

TEST_CASE("glob and path normalization") {
  CHECK(PermissionEngine::glob_match("src/*.cpp", "src/a.cpp", true));
  CHECK(!PermissionEngine::glob_match("src/*.cpp", "src/x/a.cpp", true));
  CHECK(PermissionEngine::glob_match("src/**", "src/x/a.cpp", true));
  CHECK(PermissionEngine::glob_match("fs.*", "fs.read", false));
  CHECK(!PermissionEngine::glob_match("fs.*", "shell.exec", false));
  CHECK(PermissionEngine::normalize_path("a/./b/../c").value() == "a/c");
  CHECK(!PermissionEngine::normalize_path("../x").has_value());
  CHECK(!PermissionEngine::normalize_path("a/../../x").has_value());
  CHECK(!PermissionEngine::normalize_path("/etc/passwd").has_value());
  CHECK(PermissionEngine::normalize_path(".").value() == ".");
}

TEST_CASE("S2 the redactor scrubs raw, base64 (every alignment, url-safe) and URL-encoded forms") {
  Redactor r;
  const std::string secret = "sk-ant-api03-Zx9/Qw+e r&t=1";
  CHECK(r.add(secret));
  CHECK(!r.add("short"));
  std::string transcript = "key is " + secret + " ok";
  CHECK(r.scrub(transcript) == "key is [REDACTED] ok");
  for (int lead = 0; lead < 3; ++lead) {
    std::string prefix(static_cast<size_t>(lead), 'A');
    std::string b64 = base64_encode(prefix + "Authorization: Bearer " + secret + " trailing");
    CHECK_MESSAGE(r.contains_secret(b64), "alignment " << lead);
    std::string b64url = base64_encode(prefix + "u:" + secret, true, false);
    CHECK_MESSAGE(r.contains_secret(b64url), "url-safe alignment " << lead);
  }
  CHECK(r.contains_secret("https://x.org/?k=" + url_encode(secret)));
  CHECK(r.contains_secret("q=" + url_encode(secret, false, true)));
  CHECK(r.scrub("https://x.org/?k=" + url_encode(secret)) == "https://x.org/?k=[REDACTED]");
  CHECK(!r.contains_secret("nothing to see here"));
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(url_encode("a b/c") == "a%20b%2Fc");
}

TEST_CASE("seccomp deny-list compiles to BPF") {
  const auto& p = deny_list_program();
  CHECK(p.error.empty());
  CHECK(p.insns.size() > 20);
}
