// fh::http — the daemon's HTTP/1.1 server: keep-alive, body and header limits, idle and header
// timeouts, structured JSON logs, graceful stop. Beast stays inside server.cpp: handlers see plain
// Request values and a Responder that sends a whole response or a chunked stream (Server-Sent
// Events).
//
// Depends on: fh::core (and Boost.Beast in the .cpp only). Runs on the executor it is given; the
// daemon runs that io_context on one thread, so handlers, runs and shared state never race.
// stop() closes the listener and idle connections; streaming handlers see stopping() and end.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "runtime/core/result.hpp"

namespace fh::httpd {

// Completion token for the daemon's awaited operations: errors come back as values.
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// The headers of a Server-Sent Events response.
std::vector<std::pair<std::string, std::string>> sse_headers();

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: "/v1/runs?limit=5"
  std::string path;     // "/v1/runs"
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased; repeated names joined by ", "
  std::string body;
  std::string remote;   // peer address
  std::string header(const std::string& lower_name) const;
  bool has_header(const std::string& lower_name) const { return headers.count(lower_name) != 0; }
};

// ASCII lower case (header names, hex digests).
std::string ascii_lower(std::string_view s);

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  static Response json_body(int status, const json& j);
  // {"error": {"code": code, "message": message, "type": code}} (OpenAI clients read "message").
  static Response error(int status, std::string_view code, std::string_view message);
};

// How a handler answers. Every call runs on the server's executor. A false return means the
// peer is gone (or the server is stopping): the handler should return.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual boost::asio::awaitable<bool> send(Response r) = 0;
  // A chunked response whose body is written piece by piece (SSE).
  virtual boost::asio::awaitable<bool> begin_stream(int status, std::vector<std::pair<std::string, std::string>> headers) = 0;
  virtual boost::asio::awaitable<bool> write(std::string data) = 0;
  virtual boost::asio::awaitable<void> end_stream() = 0;
  virtual bool stopping() const = 0;
  // Headers the server adds to every response of this request (CORS, set by the handler).
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

using Handler = std::function<boost::asio::awaitable<void>(const Request&, Responder&)>;
// One structured log record (a JSON object); the default writes one line to stderr.
using LogFn = std::function<void(const json&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the OS picks (see Server::port())
  size_t body_limit = 1u << 20;
  size_t header_limit = 16u << 10;
  std::chrono::milliseconds idle_timeout{30'000};    // waiting for a request on a kept-alive connection
  std::chrono::milliseconds header_timeout{10'000};  // from the first byte to the end of the body
  std::chrono::milliseconds write_timeout{30'000};
  LogFn log;  // empty: JSON lines to stderr
};

void log_stderr(const json& record);

class Server {
 public:
  Server(boost::asio::any_io_executor ex, ServerOptions opt, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Binds and starts accepting. An address in use or a bad host is an Error.
  Result<Ok> start();
  uint16_t port() const;
  // Stops accepting and closes idle connections; a connection mid-request finishes it first.
  void stop();
  size_t open_connections() const;
  // Wakes streaming handlers (e.g. on new events); they re-check their state.
  struct State;

 private:
  std::shared_ptr<State> state_;
};

// UTC time as 2026-01-02T03:04:05.678Z.
std::string now_iso();

// Percent-decoding for query strings ('+' is a space). Invalid escapes are kept as written.
std::string url_decode(std::string_view s);

}  // namespace fh::httpd
