#include "tests/daemon/support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "providers/mock/mock.hpp"
#include "tools/registry/registry.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace fh::test {

std::string temp_dir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / ("fh-daemon-" + tag + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  FH_ASSERT(::mkdtemp(buf.data()) != nullptr);
  return buf.data();
}

api::ProviderRegistry& test_providers() {
  static api::ProviderRegistry reg = [] {
    api::ProviderRegistry r;
    provider_mock::register_mock(r);
    return r;
  }();
  return reg;
}

httpd::ToolHostFactory test_tools() {
  return [](const std::string&, const std::string& workspace,
            httpd::ApproveFn approve) -> Result<std::shared_ptr<api::ToolHost>> {
    auto reg = std::make_shared<tools::Registry>();
    tools::ToolDef append;
    append.spec = {"append", "Appends one line to a file in the workspace",
                   {{"type", "object"},
                    {"properties", {{"path", {{"type", "string"}}}, {"line", {{"type", "string"}}}}},
                    {"required", {"path", "line"}}}};
    append.handler = tools::make_sync_handler([workspace](const json& args, const api::ToolCallContext&) -> Result<json> {
      std::string path = workspace + "/" + args["path"].get<std::string>();
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) return make_error(Errc::internal, "cannot open " + path);
      std::string line = args["line"].get<std::string>() + "\n";
      bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
      ::close(fd);
      if (!ok) return make_error(Errc::internal, "short write");
      return json{{"bytes", line.size()}};
    });
    tools::ToolDef danger;
    danger.spec = {"danger", "Needs a person's approval", {{"type", "object"}, {"properties", {{"x", json::object()}}}}};
    danger.handler = tools::make_sync_handler([](const json& args, const api::ToolCallContext&) -> Result<json> {
      return json{{"ok", args.value("x", json(nullptr))}};
    });
    if (auto r = reg->add(std::move(append)); !r) return r.error();
    if (auto r = reg->add(std::move(danger)); !r) return r.error();
    auto perms = sandbox::PermissionEngine::from_json(
        {{"default", "ask"}, {"rules", json::array({{{"action", "allow"}, {"tool", "append"}}})}});
    if (!perms) return perms.error();
    reg->set_permissions(std::move(perms.value()));
    reg->set_approver([approve](tools::ApprovalRequest r) -> asio::awaitable<tools::Approval> {
      std::string d = co_await approve(r.call_id, r.tool, r.args, r.reason);
      co_return d == "session" ? tools::Approval::session : d == "once" ? tools::Approval::once : tools::Approval::deny;
    });
    return std::shared_ptr<api::ToolHost>(reg);
  };
}

// ---- client ----
namespace {
Reply to_reply(bhttp::response<bhttp::string_body>& res) {
  Reply r;
  r.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  r.body = res.body();
  return r;
}
}  // namespace

Reply Client::call(const std::string& method, const std::string& target, const std::string& body,
                   std::map<std::string, std::string> extra) const {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  std::map<std::string, std::string> h = {{"host", host_header.empty() ? "127.0.0.1:" + std::to_string(port) : host_header},
                                          {"authorization", "Bearer " + token}};
  if (method == "POST") h["content-type"] = "application/json";
  for (auto& [k, v] : extra) h[k] = v;
  for (auto& [k, v] : h)
    if (!v.empty()) req.set(k, v);
  if (method == "POST" || !body.empty()) {
    req.body() = body;
    req.prepare_payload();
  }
  bhttp::write(stream, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> p;
  p.body_limit(64u << 20);
  bhttp::read(stream, buf, p);
  auto res = p.release();
  return to_reply(res);
}

std::string Client::raw(const std::string& bytes, int timeout_ms) const {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(stream.socket(), asio::buffer(bytes));
  std::string out;
  char buf[4096];
  for (;;) {
    boost::system::error_code ec;
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    size_t n = stream.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

json Client::wait_run(const std::string& id, const std::function<bool(const json&)>& pred, int timeout_ms) const {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  json last;
  while (std::chrono::steady_clock::now() < until) {
    auto r = get("/v1/runs/" + id);
    last = r.j();
    if (r.status == 200 && pred(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return last;
}

std::vector<Client::Frame> parse_sse(const std::string& body) {
  std::vector<Client::Frame> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    std::string block = body.substr(pos, end - pos);
    pos = end + 2;
    Client::Frame f;
    bool any = false;
    size_t lp = 0;
    while (lp <= block.size()) {
      size_t nl = block.find('\n', lp);
      std::string line = block.substr(lp, nl == std::string::npos ? std::string::npos : nl - lp);
      if (line.rfind("id: ", 0) == 0) f.id = std::stoll(line.substr(4)), any = true;
      else if (line.rfind("event: ", 0) == 0) f.event = line.substr(7);
      else if (line.rfind("data: ", 0) == 0) f.data = json::parse(line.substr(6), nullptr, false), any = true;
      if (nl == std::string::npos) break;
      lp = nl + 1;
    }
    if (any) out.push_back(std::move(f));
  }
  return out;
}

std::vector<Client::Frame> Client::events(const std::string& run_id, const std::string& last_event_id) const {
  std::map<std::string, std::string> h;
  if (!last_event_id.empty()) h["last-event-id"] = last_event_id;
  auto r = call("GET", "/v1/runs/" + run_id + "/events", "", h);
  return parse_sse(r.body);
}

// ---- fixture ----
struct DaemonFixture::Impl {
  asio::io_context io{1};
  std::unique_ptr<httpd::Daemon> daemon;
  std::unique_ptr<httpd::Server> server;
  std::thread thread;
};

DaemonFixture::DaemonFixture(httpd::DaemonOptions o, httpd::ServerOptions sopt) : impl(std::make_unique<Impl>()) {
  data_dir = o.data_dir.empty() ? temp_dir("data") : o.data_dir;
  o.data_dir = data_dir;
  if (o.workspace.empty()) o.workspace = data_dir;
  opt = o;
  sopt.log = [](const json&) {};  // quiet tests
  impl->daemon = std::make_unique<httpd::Daemon>(impl->io.get_executor(), test_providers(), o, test_tools());
  impl->server = std::make_unique<httpd::Server>(impl->io.get_executor(), sopt, impl->daemon->handler());
  FH_ASSERT(impl->server->start().ok());
  impl->daemon->set_port(impl->server->port());
  auto opened = impl->daemon->open();
  FH_ASSERT(opened.ok());
  client.port = impl->server->port();
  client.token = impl->daemon->token();
  impl->thread = std::thread([this] { impl->io.run(); });
}

DaemonFixture::~DaemonFixture() {
  std::promise<void> done;
  asio::post(impl->io, [&] {
    impl->server->stop();
    impl->daemon->shutdown();
    done.set_value();
  });
  done.get_future().wait();
  // Let runs finish their cancellation, then stop the loop.
  asio::post(impl->io, [this] { impl->io.stop(); });
  impl->thread.join();
  impl->server.reset();
  impl->daemon.reset();
}

}  // namespace fh::test
