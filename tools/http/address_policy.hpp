// fh::tools::http — the connect-time address policy of http.fetch: loopback, private,
// link-local, CGNAT, metadata, multicast, reserved, documentation ranges, and IPv6 forms that
// embed or reach IPv4 (mapped, NAT64, 6to4, Teredo) are refused. Decided on the *resolved*
// sockaddr curl is about to connect to, so alternate spellings, redirects and DNS rebinding are
// all caught. Pure (no curl, no Asio).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

struct sockaddr;

namespace fh::tools::http {

// Why an address is refused ("" = allowed).
std::string_view blocked_v4(uint32_t addr_host_order) noexcept;
std::string_view blocked_v6(const std::array<uint8_t, 16>& a) noexcept;
std::string_view blocked_sockaddr(const ::sockaddr* sa) noexcept;

// Parses a numeric address (inet_pton forms only) and classifies it; for tests and tools.
std::string_view blocked_literal(const std::string& ip) noexcept;

}  // namespace fh::tools::http
