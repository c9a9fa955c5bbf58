// fh::http — an awaitable HTTP client over libcurl's multi interface, driven by the caller's
// io_context through curl's socket and timer callbacks (no thread per request, nothing blocks the
// loop). One curl multi handle — hence one connection pool and DNS cache — per io_context, kept in
// an io_context service; several io_contexts each get their own.
// Depends on: fh::core. <curl/curl.h> is included only by http.cpp.
// Executors: curl runs on a strand of the caller's io_context; `on_chunk` and the completion run
// on the caller's executor, in order (with a multi-threaded io_context, call from a strand).
// Cancellation: the awaiting coroutine's cancellation slot aborts the transfer (Errc cancelled).
// Timeouts: connect, first byte (from start), idle between body chunks, total.
// TLS verification is always on; HTTPS_PROXY / NO_PROXY (and lower-case forms) are honoured unless
// `proxy_off` is set.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "providers/http/headers.hpp"
#include "runtime/core/result.hpp"

struct sockaddr;

namespace fh::http {

struct Timeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds first_byte{120'000};  // from start until response headers arrive
  std::chrono::milliseconds idle{120'000};        // longest silence between body chunks
  std::chrono::milliseconds total{600'000};       // whole transfer
};

struct ResponseHead {
  int status = 0;
  Headers headers;
};

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  Timeouts timeouts;
  // Streaming: when set, body chunks go here (on the caller's executor) instead of into
  // Response::body. Return false to stop the transfer early (completes without error).
  std::function<bool(const ResponseHead&, std::string_view chunk)> on_chunk;

  // ---- hooks for fetching untrusted URLs (the http.fetch tool) ----
  // Called with each address curl is about to connect to (after DNS, also after redirects and
  // for proxies); returning false refuses the connection (Errc permission_denied).
  std::function<bool(const ::sockaddr*)> address_guard;
  bool http_only = true;                 // protocols (and redirect targets) limited to http/https
  bool proxy_off = false;                // ignore proxy environment variables
  long max_redirects = 0;                // 0: do not follow redirects
  std::optional<uint64_t> max_body_bytes;  // larger bodies fail with Errc limit_exceeded
  std::string ca_file;                   // extra CA bundle (tests); verification stays on
  // Sent as `Authorization: Bearer …` to the URL's own host only: curl drops it on a redirect to
  // any other host, port or scheme (CURLOPT_UNRESTRICTED_AUTH stays off).
  std::string bearer_token;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;  // empty when Request::on_chunk consumed it
  std::string effective_url;
  std::chrono::milliseconds elapsed{0};
  std::chrono::milliseconds time_to_first_byte{0};
};

// Runs one request. Errors: Errc::timeout (detail.phase = connect|first_byte|idle|total),
// cancelled, unavailable (network: DNS, refused, reset, TLS), permission_denied (address guard),
// limit_exceeded (max_body_bytes), invalid_argument (bad URL or protocol). An HTTP error status is
// not an Error: it is a Response with that status.
boost::asio::awaitable<Result<Response>> fetch(Request req);

// Number of transfers currently running on this thread's io_context service (for tests).
struct Stats {
  uint64_t started = 0;
  uint64_t connections_opened = 0;
  int running = 0;
  int multi_handles = 0;  // curl multi handles (each its own connection cache) made so far
};
boost::asio::awaitable<Stats> stats();

// A URL's scheme and host (lower-cased, IPv6 without brackets) as curl itself parses it, so a
// check on the host sees what the connection will use. nullopt: not a URL curl accepts.
struct UrlParts {
  std::string scheme, host;
};
std::optional<UrlParts> parse_url(const std::string& url);

}  // namespace fh::http
