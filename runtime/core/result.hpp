// fh::core — the error vocabulary and Result<T>.
// Depends on: the standard library and nlohmann_json only. Thread-agnostic value types.
// Expected failures (bad input, network, refusal, limits, cancel) travel as Result values;
// FH_ASSERT is for bugs only and is never reachable from user input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace fh {

using json = nlohmann::json;

enum class Errc {
  invalid_argument,   // the caller sent something malformed
  not_found,
  permission_denied,  // policy or sandbox said no
  limit_exceeded,     // memory, instructions, size, budget
  timeout,            // a deadline passed
  cancelled,
  unavailable,        // network, upstream down, retryable
  provider,           // a model provider failed; detail holds the ProviderError JSON
  internal,
};

std::string_view errc_name(Errc c) noexcept;

struct Error {
  Errc code = Errc::internal;
  std::string message;
  json detail;  // optional structured detail (null when absent)

  json to_json() const;
};

inline Error make_error(Errc c, std::string msg, json detail = nullptr) {
  return Error{c, std::move(msg), std::move(detail)};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT: implicit by design
  Result(E e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }

  E& error() & { return std::get<1>(v_); }
  const E& error() const& { return std::get<1>(v_); }
  E&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, E> v_;
};

// Result<void>: success carries nothing.
struct Ok {};

[[noreturn]] void assert_fail(const char* expr, const char* file, int line) noexcept;

}  // namespace fh

#define FH_ASSERT(cond) \
  ((cond) ? (void)0 : ::fh::assert_fail(#cond, __FILE__, __LINE__))
