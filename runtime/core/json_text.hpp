// fh::json_text — JSON text of a value that may hold bytes a plan, a tool or a model produced.
// nlohmann's default dump throws on invalid UTF-8; a Lua string is any bytes, so a plan with
// "\xff" in a message would fail on one path (a provider request, a journal key) and pass on
// another (mock/echo, the printed output). Every serialisation of such data goes through here:
// invalid bytes become U+FFFD, everywhere the same way.
#pragma once

#include <string>

#include "runtime/core/result.hpp"

namespace fh {

inline std::string json_text(const json& j, int indent = -1) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace fh
