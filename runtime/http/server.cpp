// The HTTP server: listener -> one session coroutine per connection -> the handler.
#include "runtime/http/server.hpp"
#include "runtime/core/json_text.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace fh::httpd {

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Response Response::json_body(int status, const json& j) {
  Response r;
  r.status = status;
  r.headers.emplace_back("content-type", "application/json");
  r.body = json_text(j);
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  return json_body(status, {{"error", {{"code", code}, {"message", message}, {"type", code}}}});
}

void log_stderr(const json& record) {
  std::cerr << json_text(record) + "\n" << std::flush;
}

class Session;

struct Server::State {
  asio::any_io_executor ex;
  ServerOptions opt;
  Handler handler;
  tcp::acceptor acceptor;
  bool stopped = false;
  std::set<Session*> sessions;
  State(asio::any_io_executor e, ServerOptions o, Handler h)
      : ex(std::move(e)), opt(std::move(o)), handler(std::move(h)), acceptor(ex) {}
  void log(json rec) {
    rec["ts"] = now_iso();
    if (opt.log) opt.log(rec);
    else log_stderr(rec);
  }
};

class Session : public Responder, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Server::State> st, tcp::socket sock) : st_(std::move(st)), stream_(std::move(sock)) {
    st_->sessions.insert(this);
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() override { st_->sessions.erase(this); }

  // Closes the connection if it is waiting for a request; a busy one closes after its response.
  void on_stop() {
    if (idle_) {
      boost::system::error_code ec;
      stream_.socket().cancel(ec);
    }
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    beast::flat_buffer buf;
    while (!st_->stopped && !closing_) {
      // Wait for the first bytes of the next request (idle / keep-alive timeout).
      if (buf.size() == 0) {
        idle_ = true;
        stream_.expires_after(st_->opt.idle_timeout);
        auto [ec, n] = co_await stream_.async_read_some(buf.prepare(8192), use_tuple);
        idle_ = false;
        if (ec) break;
        buf.commit(n);
      }
      // Read the whole request within the header timeout; refuse oversize bodies and headers.
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(st_->opt.header_limit));
      parser.body_limit(st_->opt.body_limit);
      stream_.expires_after(st_->opt.header_timeout);
      auto [ec, n] = co_await bhttp::async_read(stream_, buf, parser, use_tuple);
      if (ec) {
        closing_ = true;
        version_ = 11;
        keep_alive_ = false;
        started_ = std::chrono::steady_clock::now();
        method_ = "-";
        path_ = "-";
        if (ec == bhttp::error::body_limit)
          co_await send(Response::error(413, "payload_too_large",
                                        "request body is larger than " + std::to_string(st_->opt.body_limit) + " bytes"));
        else if (ec == bhttp::error::header_limit)
          co_await send(Response::error(431, "headers_too_large", "request headers are too large"));
        else if (ec == beast::error::timeout)
          co_await send(Response::error(408, "request_timeout", "the request did not arrive in time"));
        else if (ec != bhttp::error::end_of_stream && ec != asio::error::eof &&
                 ec != asio::error::connection_reset && ec != asio::error::operation_aborted)
          co_await send(Response::error(400, "bad_request", "malformed HTTP request: " + ec.message()));
        break;
      }
      auto msg = parser.release();
      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      auto q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) {
        std::string_view qs(req.target);
        qs.remove_prefix(q + 1);
        while (!qs.empty()) {
          auto amp = qs.find('&');
          auto part = qs.substr(0, amp);
          auto eq = part.find('=');
          if (!part.empty())
            req.query[url_decode(part.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1));
          if (amp == std::string_view::npos) break;
          qs.remove_prefix(amp + 1);
        }
      }
      for (const auto& f : msg) {
        auto name = ascii_lower(f.name_string());
        auto& slot = req.headers[name];
        slot += (slot.empty() ? "" : ", ") + std::string(f.value());
      }
      req.body = std::move(msg.body());
      req.remote = remote_;
      keep_alive_ = msg.keep_alive();
      version_ = msg.version();
      responded_ = false;
      method_ = req.method;
      path_ = req.path;
      extra_headers.clear();
      started_ = std::chrono::steady_clock::now();
      // Hand the request to the handler; a handler that throws is a bug, answered with a 500.
      bool threw = false;
      try {
        co_await st_->handler(req, *this);
      } catch (const std::exception& e) {
        threw = true;
        st_->log({{"level", "error"}, {"msg", "handler threw"}, {"what", e.what()}, {"path", path_}});
      }
      if (!responded_) co_await send(Response::error(500, "internal", threw ? "internal error" : "no response"));
      if (!keep_alive_) break;
    }
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  // ---- Responder ----
  asio::awaitable<bool> send(Response r) override {
    responded_ = true;
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version_};
    res.set(bhttp::field::server, "freehold");
    for (auto& [k, v] : r.headers) res.set(k, v);
    for (auto& [k, v] : extra_headers) res.set(k, v);
    res.keep_alive(keep_alive_ && !st_->stopped && !closing_);
    res.body() = std::move(r.body);
    res.prepare_payload();
    log_request(r.status, res.body().size());
    stream_.expires_after(st_->opt.write_timeout);
    auto [ec, n] = co_await bhttp::async_write(stream_, res, use_tuple);
    if (ec) closing_ = true;
    co_return !ec;
  }

  asio::awaitable<bool> begin_stream(int status, std::vector<std::pair<std::string, std::string>> headers) override {
    responded_ = true;
    bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), version_};
    res.set(bhttp::field::server, "freehold");
    for (auto& [k, v] : headers) res.set(k, v);
    for (auto& [k, v] : extra_headers) res.set(k, v);
    res.keep_alive(keep_alive_);
    res.chunked(true);
    log_request(status, 0);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    stream_.expires_after(st_->opt.write_timeout);
    auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, use_tuple);
    if (ec) closing_ = true;
    co_return !ec;
  }

  asio::awaitable<bool> write(std::string data) override {
    if (closing_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the body
    stream_.expires_after(st_->opt.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(data)), use_tuple);
    if (ec) closing_ = true;
    co_return !ec && !st_->stopped;
  }

  asio::awaitable<void> end_stream() override {
    if (closing_) co_return;
    stream_.expires_after(st_->opt.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk_last(), use_tuple);
    if (ec || st_->stopped) closing_ = true;
  }

  bool stopping() const override { return st_->stopped || closing_; }

 private:
  void log_request(int status, size_t bytes) {
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
    st_->log({{"level", status >= 500 ? "error" : "info"}, {"msg", "request"}, {"method", method_}, {"path", path_},
              {"status", status}, {"bytes", bytes}, {"ms", std::round(ms * 100) / 100}, {"remote", remote_}});
  }

  std::shared_ptr<Server::State> st_;
  beast::tcp_stream stream_;
  std::string remote_, method_, path_;
  std::chrono::steady_clock::time_point started_{};
  unsigned version_ = 11;
  bool keep_alive_ = true, responded_ = false, closing_ = false, idle_ = false;
};

namespace {
asio::awaitable<void> accept_loop(std::shared_ptr<Server::State> st) {
  while (!st->stopped) {
    // Each connection gets its own strand; its session coroutine runs there.
    auto [ec, sock] = co_await st->acceptor.async_accept(asio::make_strand(st->ex), use_tuple);
    if (ec) {
      if (st->stopped || !st->acceptor.is_open()) co_return;
      st->log({{"level", "warn"}, {"msg", "accept failed"}, {"error", ec.message()}});
      asio::steady_timer t(st->ex, std::chrono::milliseconds(50));  // e.g. out of descriptors
      co_await t.async_wait(use_tuple);
      continue;
    }
    auto ex = sock.get_executor();
    auto s = std::make_shared<Session>(st, std::move(sock));
    asio::co_spawn(ex, [s]() { return s->run(); }, asio::detached);
  }
}
}  // namespace

Server::Server(asio::any_io_executor ex, ServerOptions opt, Handler handler)
    : state_(std::make_shared<State>(std::move(ex), std::move(opt), std::move(handler))) {}

Server::~Server() { stop(); }

Result<Ok> Server::start() {
  auto& st = *state_;
  std::string host = st.opt.host == "localhost" ? "127.0.0.1" : st.opt.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error(Errc::invalid_argument, "cannot listen on '" + st.opt.host + "': not an IP address");
  tcp::endpoint ep(addr, st.opt.port);
  st.acceptor.open(ep.protocol(), ec);
  if (!ec) st.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) st.acceptor.bind(ep, ec);
  if (!ec) st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::unavailable, "cannot listen on " + host + ":" + std::to_string(st.opt.port) + ": " + ec.message());
  st.log({{"level", "info"}, {"msg", "listening"}, {"host", host}, {"port", port()}});
  asio::co_spawn(st.ex, accept_loop(state_), asio::detached);
  return Ok{};
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Server::stop() {
  auto& st = *state_;
  if (st.stopped) return;
  st.stopped = true;
  boost::system::error_code ec;
  st.acceptor.close(ec);
  for (auto* s : std::vector<Session*>(st.sessions.begin(), st.sessions.end())) s->on_stop();
}

size_t Server::open_connections() const { return state_->sessions.size(); }

// Built outside co_await expressions (GCC 12 mis-compiles braced string pairs there).
std::vector<std::pair<std::string, std::string>> sse_headers() {
  return {{"content-type", "text/event-stream"}, {"cache-control", "no-cache"}};
}

}  // namespace fh::httpd
