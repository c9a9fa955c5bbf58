// fh::tools — small text helpers shared by tools that return foreign bytes as JSON text.
// Pure, no Asio.
#pragma once

#include <string>
#include <string_view>

namespace fh::tools {

// Replaces invalid UTF-8 (overlongs, surrogates, truncated sequences) with U+FFFD.
std::string to_valid_utf8(std::string_view s);

}  // namespace fh::tools
