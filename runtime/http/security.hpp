// fh::http — the daemon's request checks (SECURITY.md §4.8): Host must name the loopback listener
// (DNS rebinding), Origin if present must be on an explicit list (CSRF), a bearer token compared in
// constant time on every route but /healthz, and a JSON content type on every write.
// Depends on: fh::core and the plain Request/Response values of server.hpp. No I/O but the token file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/http/server.hpp"

namespace fh::httpd {

struct SecurityOptions {
  std::string token;                        // required bearer token (never empty when serving)
  uint16_t port = 0;                        // the listening port, for the Host check
  std::vector<std::string> allowed_hosts;   // extra Host values (HOST:PORT), from config only
  std::vector<std::string> allowed_origins; // exact Origin values; empty: any Origin is refused
  bool cors = false;                        // send Access-Control-Allow-Origin for allowed origins
};

// Compares without an early exit on the first differing byte.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// 127.0.0.1:PORT, localhost:PORT, [::1]:PORT (or an allowed_hosts entry).
bool host_allowed(std::string_view host, const SecurityOptions& o);

// The first refusal (Host, Origin, token) for this request, or nothing. `needs_auth` is false
// only for /healthz.
std::optional<Response> check_request(const Request& req, const SecurityOptions& o, bool needs_auth);

// Writes must carry Content-Type: application/json (checked after routing, so 404/405 come first).
std::optional<Response> check_content_type(const Request& req);

// Reads DIR/token, or creates it (32 random bytes, hex, mode 0600) when missing. A token file that
// others can read is refused.
Result<std::string> load_or_create_token(const std::string& path);

}  // namespace fh::httpd
