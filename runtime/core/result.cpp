#include "runtime/core/result.hpp"

namespace fh {

std::string_view errc_name(Errc c) noexcept {
  switch (c) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::permission_denied: return "permission_denied";
    case Errc::limit_exceeded: return "limit_exceeded";
    case Errc::timeout: return "timeout";
    case Errc::cancelled: return "cancelled";
    case Errc::unavailable: return "unavailable";
    case Errc::provider: return "provider_error";
    case Errc::internal: return "internal";
  }
  return "internal";
}

json Error::to_json() const {
  json j = {{"code", errc_name(code)}, {"message", message}};
  if (!detail.is_null()) j["detail"] = detail;
  return j;
}

void assert_fail(const char* expr, const char* file, int line) noexcept {
  std::fprintf(stderr, "freehold: internal assertion failed: %s (%s:%d)\n", expr, file, line);
  std::abort();
}

}  // namespace fh
