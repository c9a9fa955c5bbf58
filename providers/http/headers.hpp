// fh::http — response headers and the retry hints providers put in them. Pure (no curl, no Asio).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fh::http {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

// First value of a header (name compared case-insensitively), or empty.
std::string_view header_value(const Headers& h, std::string_view name) noexcept;

// `retry-after-ms` (milliseconds) or `retry-after` (seconds, or an HTTP date relative to `now`).
std::optional<int64_t> retry_after_ms(const Headers& h, std::chrono::system_clock::time_point now);

// A Go-style duration ("644ms", "1.5s", "6m0s", "17.28s") in milliseconds.
std::optional<int64_t> parse_go_duration_ms(std::string_view s);

// An RFC 3339 UTC timestamp ("2025-08-21T12:40:59Z") as milliseconds after `now` (>= 0).
std::optional<int64_t> rfc3339_delay_ms(std::string_view s, std::chrono::system_clock::time_point now);

// "Please try again in 644ms." / "in 20s" / "in 1m30s" inside an error message.
std::optional<int64_t> retry_hint_in_message(std::string_view message);

}  // namespace fh::http
