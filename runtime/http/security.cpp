#include "runtime/http/security.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fh::httpd {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  // Length is not secret (the token's length is fixed); the content is compared in full.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool host_allowed(std::string_view host, const SecurityOptions& o) {
  std::string port = ":" + std::to_string(o.port);
  for (const char* name : {"127.0.0.1", "localhost", "[::1]"})
    if (host == std::string(name) + port) return true;
  return std::find(o.allowed_hosts.begin(), o.allowed_hosts.end(), host) != o.allowed_hosts.end();
}

std::optional<Response> check_request(const Request& req, const SecurityOptions& o, bool needs_auth) {
  // DNS rebinding: a browser sends the attacker's name in Host.
  if (!host_allowed(req.header("host"), o))
    return Response::error(403, "forbidden_host", "Host header must name the loopback listener (e.g. 127.0.0.1:" +
                                                      std::to_string(o.port) + ")");
  // CSRF: browsers always send Origin on cross-site writes; only listed origins pass.
  if (req.has_header("origin")) {
    auto origin = req.header("origin");
    if (std::find(o.allowed_origins.begin(), o.allowed_origins.end(), origin) == o.allowed_origins.end())
      return Response::error(403, "forbidden_origin", "Origin '" + origin + "' is not allowed");
  }
  if (needs_auth) {
    auto auth = req.header("authorization");
    constexpr std::string_view bearer = "Bearer ";
    bool ok = auth.size() > bearer.size() && std::equal(bearer.begin(), bearer.end(), auth.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
              });
    if (!ok || o.token.empty() || !constant_time_equal(std::string_view(auth).substr(bearer.size()), o.token)) {
      auto r = Response::error(401, "unauthorized", "a valid bearer token is required (see the daemon's token file)");
      r.headers.emplace_back("www-authenticate", "Bearer");
      return r;
    }
  }
  return std::nullopt;
}

std::optional<Response> check_content_type(const Request& req) {
  // Writes carry JSON, which a plain HTML form cannot send.
  if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE") {
    auto ct = req.header("content-type");
    auto semi = ct.find(';');
    std::string base = ascii_lower(ct.substr(0, semi));
    while (!base.empty() && base.back() == ' ') base.pop_back();
    if (base != "application/json")
      return Response::error(415, "unsupported_media_type", "writes require Content-Type: application/json");
  }
  return std::nullopt;
}

Result<std::string> load_or_create_token(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0)
      return make_error(Errc::permission_denied, "token file '" + path + "' is readable by others (chmod 600 it)");
    std::ifstream f(path);
    std::string tok;
    std::getline(f, tok);
    while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
    if (tok.size() < 16) return make_error(Errc::invalid_argument, "token file '" + path + "' holds no usable token");
    return tok;
  }
  unsigned char raw[32];
  int rnd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (rnd < 0 || ::read(rnd, raw, sizeof raw) != static_cast<ssize_t>(sizeof raw)) {
    if (rnd >= 0) ::close(rnd);
    return make_error(Errc::internal, "cannot read /dev/urandom");
  }
  ::close(rnd);
  static const char* hex = "0123456789abcdef";
  std::string tok;
  for (unsigned char c : raw) {
    tok += hex[c >> 4];
    tok += hex[c & 15];
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::permission_denied, "cannot create token file '" + path + "': " + std::strerror(errno));
  std::string line = tok + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return make_error(Errc::internal, "cannot write token file '" + path + "'");
  return tok;
}

}  // namespace fh::httpd
