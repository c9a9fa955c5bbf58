#include "tests/providers/support/mock_server.hpp"

#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace fh::test {

struct MockServer::State : std::enable_shared_from_this<MockServer::State> {
  explicit State(asio::any_io_executor ex) : acceptor(ex) {}
  tcp::acceptor acceptor;
  Handler handler;
  std::vector<MockRequest> requests;
  std::set<std::shared_ptr<tcp::socket>> sockets;
  size_t accepted = 0;
  unsigned short port = 0;
  bool stopped = false;
};

namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 529: return "Site Overloaded";
    default: return "Status";
  }
}

// Splits the body as the response asks.
std::vector<std::string> cut(const MockResponse& r) {
  std::vector<std::string> out;
  if (r.body.empty()) return out;
  if (r.split == MockResponse::Split::whole) {
    out.push_back(r.body);
  } else if (r.split == MockResponse::Split::one_byte) {
    for (char c : r.body) out.emplace_back(1, c);
  } else {
    std::mt19937 rng(r.seed);
    std::uniform_int_distribution<size_t> len(1, 64);
    for (size_t i = 0; i < r.body.size();) {
      size_t n = std::min(len(rng), r.body.size() - i);
      out.push_back(r.body.substr(i, n));
      i += n;
    }
  }
  return out;
}

void reset(tcp::socket& s) {
  boost::system::error_code ec;
  s.set_option(asio::socket_base::linger(true, 0), ec);  // close() then sends RST
  s.close(ec);
}

asio::awaitable<void> session(std::shared_ptr<MockServer::State> st, std::shared_ptr<tcp::socket> sock) {
  boost::beast::flat_buffer buf;
  sock->set_option(tcp::no_delay(true));
  for (;;) {
    // Read one request (keep-alive: several per connection).
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(*sock, buf, req, asio::as_tuple(asio::use_awaitable));
    if (ec || st->stopped) break;
    MockRequest mr{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      mr.headers[name] = std::string(f.value());
    }
    st->requests.push_back(mr);
    MockResponse r = st->handler ? st->handler(mr) : MockResponse{};
    if (r.reset_before_headers) { reset(*sock); break; }
    if (r.hang) {
      asio::steady_timer t(sock->get_executor(), std::chrono::hours(1));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      break;
    }
    // Status line and headers.
    std::ostringstream head;
    head << "HTTP/1.1 " << r.status << ' ' << reason(r.status) << "\r\n";
    for (const auto& [k, v] : r.headers) head << k << ": " << v << "\r\n";
    if (r.chunked) head << "transfer-encoding: chunked\r\n";
    else head << "content-length: " << r.body.size() << "\r\n";
    head << "\r\n";
    std::string h = head.str();
    auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(h), asio::as_tuple(asio::use_awaitable));
    if (wec) break;
    // Body pieces, each its own HTTP chunk (or raw bytes with Content-Length).
    size_t sent = 0;
    bool broke = false;
    asio::steady_timer gap(sock->get_executor());
    for (const auto& piece : cut(r)) {
      std::string_view p = piece;
      if (r.reset_after && sent + p.size() >= *r.reset_after) p = p.substr(0, *r.reset_after - sent);
      std::string frame;
      if (r.chunked) {
        char sz[32];
        std::snprintf(sz, sizeof sz, "%zx\r\n", p.size());
        frame = std::string(sz) + std::string(p) + "\r\n";
      } else {
        frame = std::string(p);
      }
      if (!p.empty()) {
        auto [e2, n2] = co_await asio::async_write(*sock, asio::buffer(frame), asio::as_tuple(asio::use_awaitable));
        if (e2) { broke = true; break; }
      }
      sent += p.size();
      if (r.reset_after && sent >= *r.reset_after) { reset(*sock); broke = true; break; }
      if (r.gap.count() > 0) {
        gap.expires_after(r.gap);
        co_await gap.async_wait(asio::as_tuple(asio::use_awaitable));
        if (st->stopped) { broke = true; break; }
      }
    }
    if (broke) break;
    if (r.chunked) {
      static const char last[] = "0\r\n\r\n";
      auto [e3, n3] = co_await asio::async_write(*sock, asio::buffer(last, 5), asio::as_tuple(asio::use_awaitable));
      if (e3) break;
    }
    if (!req.keep_alive()) break;
  }
  boost::system::error_code ignored;
  sock->close(ignored);
  st->sockets.erase(sock);
}

asio::awaitable<void> listen(std::shared_ptr<MockServer::State> st) {
  for (;;) {
    auto sock = std::make_shared<tcp::socket>(st->acceptor.get_executor());
    auto [ec] = co_await st->acceptor.async_accept(*sock, asio::as_tuple(asio::use_awaitable));
    if (ec || st->stopped) co_return;
    ++st->accepted;
    st->sockets.insert(sock);
    asio::co_spawn(st->acceptor.get_executor(), session(st, sock), asio::detached);
  }
}

}  // namespace

MockServer::MockServer(asio::any_io_executor ex, Handler h) : state_(std::make_shared<State>(ex)) {
  state_->handler = std::move(h);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(ep.protocol());
  state_->acceptor.set_option(asio::socket_base::reuse_address(true));
  state_->acceptor.bind(ep);
  state_->acceptor.listen(4096);
  state_->port = state_->acceptor.local_endpoint().port();
  asio::co_spawn(ex, listen(state_), asio::detached);
}

MockServer::~MockServer() { stop(); }

void MockServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  for (const auto& s : state_->sockets) s->close(ec);
}

unsigned short MockServer::port() const { return state_->port; }
std::string MockServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port()); }
void MockServer::set_handler(Handler h) { state_->handler = std::move(h); }
const std::vector<MockRequest>& MockServer::requests() const { return state_->requests; }
size_t MockServer::connections_accepted() const { return state_->accepted; }

std::string read_fixture(const std::string& name) {
  std::ifstream f(std::string(FH_SHARED_DIR) + "/fixtures/providers/" + name, std::ios::binary);
  if (!f) throw std::runtime_error("missing fixture " + name);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace fh::test
