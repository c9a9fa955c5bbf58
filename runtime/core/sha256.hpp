// fh::core — SHA-256 and HMAC-SHA256 over bytes (the journal's content addresses, webhook
// signatures).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fh {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // 64 lowercase hex digits
Sha256Digest hmac_sha256(std::string_view key, std::string_view message);
std::string to_hex(std::span<const uint8_t> bytes);  // lowercase

}  // namespace fh
