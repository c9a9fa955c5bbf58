// http.fetch: SECURITY.md §5 "N" cases against a local HTTP server. Each blocked case has a
// negative control: the same URL with the address policy switched off reaches the server, so
// the refusal is the policy's doing and not a broken harness.
#include <doctest/doctest.h>

#include "tests/tools/util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "tools/http/address_policy.hpp"
#include "tools/builtin.hpp"
#include "tools/http/fetch_tool.hpp"
#include "sandbox/redactor.hpp"

namespace asio = boost::asio;
using namespace fh::tools;
using fh::Errc;
using fh::json;
using fh::Result;

namespace {

// A minimal HTTP/1.1 server on 127.0.0.1 (one thread, one request per connection).
class TinyServer {
 public:
  explicit TinyServer(std::string name) : name_(std::move(name)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);  // loopback aliases (127.0.0.2) and 0.0.0.0 too
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TinyServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& host, const std::string& path = "/") const {
    return "http://" + host + ":" + std::to_string(port_) + path;
  }
  int hits() const { return hits_; }
  std::vector<std::string> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  void loop() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      ++hits_;
      char buf[4096];
      ssize_t n = recv(c, buf, sizeof buf - 1, 0);
      std::string req(buf, n > 0 ? static_cast<size_t>(n) : 0);
      {
        std::lock_guard lk(mu_);
        requests_.push_back(req);
      }
      std::string path = req.substr(req.find(' ') + 1);
      path = path.substr(0, path.find(' '));
      std::string status = "200 OK", extra, body = name_;
      if (path == "/redir-file") {
        status = "302 Found";
        extra = "Location: file:///etc/passwd\r\n";
      } else if (path.rfind("/redir-to/", 0) == 0) {
        status = "302 Found";
        extra = "Location: " + path.substr(10) + "\r\n";
      } else if (path == "/echo") {
        body = req;  // a hostile server reflecting what it was sent
      } else if (path == "/big") {
        body.assign(3u << 20, 'x');
      } else if (path == "/slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      }
      std::string resp = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nX-Test: a\r\n" + extra +
                         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      size_t off = 0;
      while (off < resp.size()) {
        ssize_t w = send(c, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += static_cast<size_t>(w);
      }
      close(c);
    }
  }
  std::string name_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

using tools_test::store;

Result<json> fetch(const std::string& url, http::FetchOptions o = {}, json extra = json::object(),
                   std::shared_ptr<const fh::sandbox::Redactor> redactor = nullptr) {
  Registry reg;
  if (redactor) reg.set_redactor(redactor);
  reg.set_permissions(fh::sandbox::PermissionEngine::from_json({{"default", "allow"}}).value());
  REQUIRE(reg.add(http::tool_def(std::move(o))).ok());
  json args = extra;
  args["url"] = url;
  asio::io_context io;
  std::optional<Result<json>> out;
  fh::api::ToolCallContext ctx;
  asio::co_spawn(io, store(reg.call("http.fetch", std::move(args), ctx), out), asio::detached);
  io.run();
  REQUIRE(out.has_value());
  return std::move(*out);
}

// The negative-control policy: everything allowed.
http::FetchOptions open_policy() {
  http::FetchOptions o;
  o.policy_override = [](const ::sockaddr*) { return std::string(); };
  return o;
}

// Loopback 127.0.0.1 allowed (it stands in for "a public server"), the real policy otherwise.
http::FetchOptions loopback_is_public() {
  http::FetchOptions o;
  o.policy_override = [](const ::sockaddr* sa) {
    if (sa->sa_family == AF_INET && reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
      return std::string();
    return std::string(http::blocked_sockaddr(sa));
  };
  return o;
}

using tools_test::code_of;

}  // namespace

TEST_CASE("address policy: blocked and allowed ranges (v4, v6, mapped, NAT64, 6to4, Teredo)") {
  for (const char* ip : {"127.0.0.1", "127.255.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                         "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
                         "192.0.2.5", "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1",
                         "64:ff9b::7f00:1", "2002:7f00:1::", "2001:0:4136::", "fd00:ec2::254", "fc00::1",
                         "fe80::1", "ff02::1", "2001:db8::1", "fec0::1"})
    CHECK_MESSAGE(!http::blocked_literal(ip).empty(), ip << " should be blocked");
  for (const char* ip : {"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "::ffff:8.8.8.8",
                         "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"})
    CHECK_MESSAGE(http::blocked_literal(ip).empty(), ip << " should be allowed");
  CHECK(!http::blocked_literal("not-an-ip").empty());
}

TEST_CASE("N1 127.0.0.1, localhost and [::1] are blocked at connect; control reaches the server") {
  TinyServer s("direct");
  for (const char* host : {"127.0.0.1", "localhost", "[::1]"}) {
    auto r = fetch(s.url(host));
    CHECK_MESSAGE(code_of(r) == Errc::permission_denied, host);
  }
  CHECK(s.hits() == 0);
  auto ok = fetch(s.url("127.0.0.1"), open_policy());
  REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message));
  CHECK(ok.value()["status"] == 200);
  CHECK(ok.value()["body"] == "direct");
  CHECK(ok.value()["headers"]["x-test"] == "a");
  CHECK(fetch(s.url("localhost"), open_policy()).ok());
}

TEST_CASE("N2 alternate IPv4 spellings are classified after resolution") {
  TinyServer s("direct");
  for (const char* host : {"2130706433", "0x7f000001", "127.1", "0177.0.0.1"}) {
    CHECK_MESSAGE(code_of(fetch(s.url(host))) == Errc::permission_denied, host);
    auto ctl = fetch(s.url(host), open_policy());  // control: they do mean loopback
    CHECK_MESSAGE(ctl.ok(), host);
  }
}

TEST_CASE("N3 0.0.0.0 is blocked (control: it reaches the local server)") {
  TinyServer s("direct");
  CHECK(code_of(fetch(s.url("0.0.0.0"))) == Errc::permission_denied);
  CHECK(fetch(s.url("0.0.0.0"), open_policy()).ok());
}

TEST_CASE("N4 mapped, ULA and metadata addresses are blocked") {
  TinyServer s("direct");
  CHECK(code_of(fetch(s.url("[::ffff:127.0.0.1]"))) == Errc::permission_denied);
  CHECK(code_of(fetch("http://[fd00:ec2::254]/latest/meta-data/")) == Errc::permission_denied);
  auto md = fetch("http://169.254.169.254/latest/meta-data/");
  CHECK(code_of(md) == Errc::permission_denied);
  if (!md.ok()) CHECK(md.error().message.find("169.254") != std::string::npos);
}

TEST_CASE("N5 a redirect from an allowed server to an internal address is refused at connect") {
  TinyServer s("direct");
  auto r = fetch(s.url("127.0.0.1", "/redir-to/" + s.url("127.0.0.2")), loopback_is_public());
  CHECK(code_of(r) == Errc::permission_denied);
  auto ctl = fetch(s.url("127.0.0.1", "/redir-to/" + s.url("127.0.0.2")), open_policy());
  CHECK(ctl.ok());  // control: the redirect target is reachable without the policy
}

TEST_CASE("N6 non-HTTP schemes are refused, also as redirect targets") {
  for (const char* u : {"file:///etc/passwd", "gopher://127.0.0.1/", "dict://127.0.0.1:11211/stat", "ftp://x/"})
    CHECK_MESSAGE(code_of(fetch(u)) == Errc::invalid_argument, u);
  TinyServer s("direct");
  auto r = fetch(s.url("127.0.0.1", "/redir-file"), loopback_is_public());
  CHECK(!r.ok());
  if (r.ok()) CHECK(r.value()["body"].get<std::string>().find("root:") == std::string::npos);
}

TEST_CASE("N7 proxy variables in the daemon env are ignored") {
  TinyServer target("direct"), proxy("proxy");
  setenv("http_proxy", proxy.url("127.0.0.1").c_str(), 1);
  setenv("HTTP_PROXY", proxy.url("127.0.0.1").c_str(), 1);
  auto r = fetch(target.url("127.0.0.1"), loopback_is_public());
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  REQUIRE(r.ok());
  CHECK(r.value()["body"] == "direct");
  CHECK(proxy.hits() == 0);
}

TEST_CASE("N9 size and time caps") {
  TinyServer s("direct");
  http::FetchOptions o = loopback_is_public();
  o.max_body_bytes = 1 << 20;
  CHECK(code_of(fetch(s.url("127.0.0.1", "/big"), o)) == Errc::limit_exceeded);
  o.total = std::chrono::milliseconds(400);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(code_of(fetch(s.url("127.0.0.1", "/slow"), o)) == Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1400));
}

TEST_CASE("http.fetch arguments: schema and header validation") {
  CHECK(code_of(fetch("https://example.org/", {}, {{"method", "TRACE"}})) == Errc::invalid_argument);
  CHECK(code_of(fetch("https://example.org/", {}, {{"headers", {{"X-A", 1}}}})) == Errc::invalid_argument);
  CHECK(code_of(fetch("https://example.org/", {}, {{"headers", {{"Bad Name", "v"}}}})) == Errc::invalid_argument);
  CHECK(code_of(fetch("https://example.org/", {}, {{"headers", {{"X-A", "v\r\nX-Injected: 1"}}}})) ==
        Errc::invalid_argument);
}

// S4: a bound secret is sent to its own hosts only, and its value never comes back to the caller.
namespace {
constexpr const char* kToken = "ghp_fhS4secretvalue0123456789";
http::FetchOptions with_github_secret() {
  http::FetchOptions o = open_policy();
  o.secrets["github"] = http::BoundSecret{kToken, {"localhost"}};  // "api.github.com" stands here as localhost
  o.secrets_over_plain_http = true;  // the local server has no TLS
  return o;
}
bool has_auth(const std::string& raw_request) { return raw_request.find(kToken) != std::string::npos; }
}  // namespace

TEST_CASE("S4 a secret goes to its bound host only: another host is refused before any byte is sent") {
  TinyServer s("direct");
  auto ok = fetch(s.url("localhost"), with_github_secret(), {{"secret", "github"}});
  REQUIRE(ok.ok());  // control: the bound host gets the token as a bearer credential
  REQUIRE(s.requests().size() == 1);
  CHECK(s.requests()[0].find(std::string("Authorization: Bearer ") + kToken) != std::string::npos);

  auto evil = fetch(s.url("127.0.0.1"), with_github_secret(), {{"secret", "github"}});  // "evil.com"
  CHECK(code_of(evil) == Errc::permission_denied);
  CHECK(evil.error().message.find("not bound to 127.0.0.1") != std::string::npos);
  CHECK(s.requests().size() == 1);  // nothing reached the server
  // Look-alike hosts do not match either.
  http::FetchOptions o = with_github_secret();
  o.secrets["github"].domains = {"localhost.evil"};
  CHECK(code_of(fetch(s.url("localhost"), o, {{"secret", "github"}})) == Errc::permission_denied);
  CHECK(s.requests().size() == 1);
}

TEST_CASE("S4 a redirect from the bound host to another host drops the Authorization header") {
  TinyServer s("direct");
  auto r = fetch(s.url("localhost", "/redir-to/" + s.url("127.0.0.1", "/echo")), with_github_secret(), {{"secret", "github"}});
  REQUIRE(r.ok());
  auto reqs = s.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(has_auth(reqs[0]));   // control: sent to the bound host
  CHECK(!has_auth(reqs[1]));  // not after the redirect to another host
  CHECK(reqs[1].find("Authorization") == std::string::npos);
}

TEST_CASE("S4 secrets need https, a known name, no competing header; a reflected token is scrubbed") {
  TinyServer s("direct");
  http::FetchOptions strict = with_github_secret();
  strict.secrets_over_plain_http = false;
  auto plain = fetch(s.url("localhost"), strict, {{"secret", "github"}});
  CHECK(code_of(plain) == Errc::permission_denied);
  CHECK(plain.error().message.find("https") != std::string::npos);
  CHECK(code_of(fetch(s.url("localhost"), with_github_secret(), {{"secret", "gitlab"}})) == Errc::invalid_argument);
  CHECK(code_of(fetch(s.url("localhost"), with_github_secret(),
                      {{"secret", "github"}, {"headers", {{"Authorization", "Bearer x"}}}})) == Errc::invalid_argument);
  CHECK(s.requests().empty());

  auto red = std::make_shared<fh::sandbox::Redactor>();
  red->add(kToken);
  auto echoed = fetch(s.url("localhost", "/echo"), with_github_secret(), {{"secret", "github"}}, red);
  REQUIRE(echoed.ok());
  REQUIRE(s.requests().size() == 1);
  CHECK(has_auth(s.requests()[0]));
  CHECK(echoed->dump().find(kToken) == std::string::npos);  // the server echoed it; the tool result does not carry it
}

TEST_CASE("S4 config: bound secrets are read from the user's config; bad shapes are clear errors") {
  auto o = options_from_config(json::parse(R"({"secrets": {"github": {"value": "v1", "domains": ["API.github.com", ".githubusercontent.com"]},
                                                            "plain": "v2"}})"), "/tmp");
  REQUIRE(o.ok());
  REQUIRE(o->fetch.secrets.count("github") == 1);
  CHECK(o->fetch.secrets.at("github").value == "v1");
  CHECK(o->fetch.secrets.at("github").domains == std::vector<std::string>{"api.github.com", ".githubusercontent.com"});
  CHECK(o->fetch.secrets.at("plain").domains.empty());
  CHECK(!options_from_config(json::parse(R"({"secrets": {"x": {"value": "v", "domains": "a.com"}}})"), "/tmp").ok());
  CHECK(!options_from_config(json::parse(R"({"secrets": {"x": {"value": "v", "hosts": ["a.com"]}}})"), "/tmp").ok());
  CHECK(!options_from_config(json::parse(R"({"secrets": {"x": 5}})"), "/tmp").ok());
}
