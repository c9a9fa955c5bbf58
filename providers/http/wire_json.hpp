// fh::http::wire — small readers for untrusted provider JSON, shared by every codec (one way of
// doing each thing): absent and null fields read as "not there", wrong types as empty/zero, and
// tool-call arguments move between the parsed form and the JSON-text form. Never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/api/chat.hpp"
#include "runtime/core/json_text.hpp"
#include "runtime/core/utf8.hpp"

namespace fh::http::wire {

// The member `k` of an object, or nullptr when `j` is not an object or the member is absent/null.
inline const json* find(const json& j, const char* k) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(k);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
inline std::string str(const json& j, const char* k) {
  const json* v = find(j, k);
  return v && v->is_string() ? v->get<std::string>() : std::string{};
}
inline int64_t num(const json& j, const char* k) {
  const json* v = find(j, k);
  if (!v || !v->is_number()) return 0;
  if (v->is_number_integer()) return v->get<int64_t>();
  double d = v->get<double>();
  return d > 9.0e18 || d < -9.0e18 ? 0 : static_cast<int64_t>(d);
}
// A token count: as num(), but negative or absurd counts (past 10^12) read as 0, so sums of
// counts and the cost computed from them cannot overflow or go negative.
inline int64_t count(const json& j, const char* k) {
  int64_t n = num(j, k);
  return n < 0 || n > 1'000'000'000'000 ? 0 : n;
}

// Nesting depth of JSON text, fed whole or in pieces (brackets outside strings). Copying, comparing
// or printing a json value recurses once per level, so untrusted text nested past kMaxDepth is
// refused before it becomes a value: a 100000-deep reply would otherwise overflow the stack.
inline constexpr int kMaxDepth = 256;
struct DepthScan {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  void feed(std::string_view s) {
    for (char c : s) {
      if (deepest > kMaxDepth) return;  // verdict reached
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '[' || c == '{') {
        if (++depth > deepest) deepest = depth;
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
      }
    }
  }
  bool too_deep() const noexcept { return deepest > kMaxDepth; }
};
inline bool too_deep(std::string_view text) {
  DepthScan d;
  d.feed(text);
  return d.too_deep();
}
// Untrusted JSON text -> a value; discarded when it is not JSON or nests deeper than kMaxDepth.
inline json parse(std::string_view text) {
  if (too_deep(text)) return json(json::value_t::discarded);
  return json::parse(text, nullptr, false);
}
// The malformed() detail for text that parse() refused (or that has the wrong shape): why, when
// it was too deep, else `otherwise`.
inline std::string parse_problem(std::string_view text, std::string otherwise) {
  return too_deep(text) ? "JSON nests deeper than " + std::to_string(kMaxDepth) + " levels" : otherwise;
}

// Arguments as JSON text (OpenAI/Mistral wire form): strings pass through, values are dumped.
inline std::string arguments_text(const json& args) {
  return args.is_string() ? args.get<std::string>() : json_text(args);
}
// JSON text -> parsed arguments; empty means {}; invalid (or too deep) JSON stays a string (the
// unified rule).
inline json parse_arguments(std::string_view s) {
  if (s.empty()) return json::object();
  auto j = parse(s);
  return j.is_discarded() ? json(std::string(s)) : j;
}
// Arguments as an object (Anthropic/Gemini wire form): an unparseable string becomes {}.
inline json arguments_object(const json& args) {
  if (args.is_object()) return args;
  if (args.is_string()) {
    json p = parse_arguments(args.get<std::string>());
    if (p.is_object()) return p;
  }
  return json::object();
}

// "malformed response from <provider>: <what>" — retryable server error.
inline api::ProviderError malformed(std::string_view provider, std::string what) {
  api::ProviderError e;
  e.kind = api::ErrorKind::server;
  e.message = "malformed response from " + std::string(provider) + ": " + std::move(what);
  e.retryable = true;
  e.provider = std::string(provider);
  return e;
}

// A data: URL split into media type and base64 payload; false when `url` is not one.
inline bool split_data_url(std::string_view url, std::string& media_type, std::string& data) {
  if (url.rfind("data:", 0) != 0) return false;
  auto semi = url.find(';'), comma = url.find(',');
  if (semi == std::string_view::npos || comma == std::string_view::npos || semi > comma) return false;
  media_type = std::string(url.substr(5, semi - 5));
  data = std::string(url.substr(comma + 1));
  return true;
}

// The start of an untrusted body (at most `max` bytes) quoted in an error message, as valid UTF-8:
// an invalid byte, or a character cut by the limit, becomes '?'.
inline std::string snippet(std::string_view body, size_t max = 200) { return utf8::repaired(body.substr(0, max), "?"); }

// 64-bit FNV-1a, for stable synthesized ids.
inline uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace fh::http::wire
