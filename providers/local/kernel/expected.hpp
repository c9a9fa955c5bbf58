// fh::kernel::Expected — a small std-only result type for the kernel library.
//
// The kernel depends on nothing but the C++ standard library, so it cannot use fh::Result (which
// pulls in nlohmann::json). Expected failures (a hostile file, an unsupported architecture, an
// aborted evaluation) are returned as an Error with a human-readable message; bugs are asserts.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace fh::kernel {

enum class ErrorKind { invalid_file, unsupported, io, invalid_argument, aborted, out_of_context };

struct Error {
  ErrorKind kind = ErrorKind::invalid_file;
  std::string message;
};

inline Error make_error(ErrorKind kind, std::string message) { return Error{kind, std::move(message)}; }

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Expected<void>: success carries no value.
struct Ok {};
template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Ok) {}
  Expected(Error error) : err_(std::move(error)), failed_(true) {}
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const { return err_; }

 private:
  Error err_{};
  bool failed_ = false;
};

}  // namespace fh::kernel
