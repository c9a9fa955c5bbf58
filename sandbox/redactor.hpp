// fh::sandbox — the secrets redactor: a registry of secret values whose raw, base64 (standard
// and URL-safe, at every byte alignment) and URL-encoded forms are scrubbed from any string
// before it is logged, journaled, shown to a model or returned from a tool.
// Depends on: the standard library only. Thread-safe (a shared mutex guards the registry).
#pragma once

#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fh::sandbox {

class Redactor {
 public:
  static constexpr std::string_view mask = "[REDACTED]";
  // Registers a secret. Values shorter than 6 bytes are refused (they would mask ordinary text).
  bool add(std::string_view secret);
  std::string scrub(std::string_view text) const;
  // True when `text` holds any registered form of any secret.
  bool contains_secret(std::string_view text) const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::string> forms_;  // every encoded form, longest first
};

// Encoders used for the forms (exposed for tests).
std::string base64_encode(std::string_view in, bool url_safe = false, bool pad = true);
std::string url_encode(std::string_view in, bool upper_hex = true, bool plus_for_space = false);

}  // namespace fh::sandbox
