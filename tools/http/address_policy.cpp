#include "tools/http/address_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace fh::tools::http {

namespace {

struct V4Range {
  uint32_t net;
  int bits;
  std::string_view why;
};

constexpr uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }

constexpr V4Range v4_blocked[] = {
    {ip4(0, 0, 0, 0), 8, "this-network (0.0.0.0/8)"},      {ip4(10, 0, 0, 0), 8, "private (10/8)"},
    {ip4(100, 64, 0, 0), 10, "carrier-grade NAT (100.64/10)"}, {ip4(127, 0, 0, 0), 8, "loopback (127/8)"},
    {ip4(169, 254, 0, 0), 16, "link-local / cloud metadata (169.254/16)"},
    {ip4(172, 16, 0, 0), 12, "private (172.16/12)"},         {ip4(192, 0, 0, 0), 24, "IETF protocol assignments (192.0.0/24)"},
    {ip4(192, 0, 2, 0), 24, "documentation (192.0.2/24)"},   {ip4(192, 88, 99, 0), 24, "6to4 relay (192.88.99/24)"},
    {ip4(192, 168, 0, 0), 16, "private (192.168/16)"},       {ip4(198, 18, 0, 0), 15, "benchmarking (198.18/15)"},
    {ip4(198, 51, 100, 0), 24, "documentation (198.51.100/24)"}, {ip4(203, 0, 113, 0), 24, "documentation (203.0.113/24)"},
    {ip4(224, 0, 0, 0), 4, "multicast (224/4)"},             {ip4(240, 0, 0, 0), 4, "reserved / broadcast (240/4)"},
};

bool prefix_eq(const std::array<uint8_t, 16>& a, std::initializer_list<uint8_t> p, int bits) {
  int i = 0;
  for (uint8_t byte : p) {
    int take = bits - i * 8;
    if (take <= 0) break;
    uint8_t mask = take >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - take));
    if ((a[static_cast<size_t>(i)] & mask) != (byte & mask)) return false;
    ++i;
  }
  return true;
}

}  // namespace

std::string_view blocked_v4(uint32_t a) noexcept {
  for (const auto& r : v4_blocked) {
    uint32_t mask = r.bits == 0 ? 0 : ~uint32_t{0} << (32 - r.bits);
    if ((a & mask) == (r.net & mask)) return r.why;
  }
  return {};
}

std::string_view blocked_v6(const std::array<uint8_t, 16>& a) noexcept {
  static constexpr std::array<uint8_t, 16> zero{};
  bool first10_zero = std::memcmp(a.data(), zero.data(), 10) == 0;
  if (first10_zero && a[10] == 0xff && a[11] == 0xff) {  // ::ffff:a.b.c.d, IPv4-mapped
    uint32_t v4 = (uint32_t(a[12]) << 24) | (uint32_t(a[13]) << 16) | (uint32_t(a[14]) << 8) | a[15];
    auto why = blocked_v4(v4);
    return why.empty() ? std::string_view{} : std::string_view("IPv4-mapped address of a blocked range");
  }
  if (first10_zero && a[10] == 0 && a[11] == 0) return "unspecified, loopback or IPv4-compatible (::/96)";
  if (prefix_eq(a, {0x00, 0x64, 0xff, 0x9b}, 32) && std::memcmp(a.data() + 4, zero.data(), 8) == 0)
    return "NAT64 (64:ff9b::/96)";
  if (prefix_eq(a, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return "local NAT64 (64:ff9b:1::/48)";
  if (prefix_eq(a, {0x01, 0x00}, 16) && std::memcmp(a.data() + 2, zero.data(), 6) == 0) return "discard (100::/64)";
  if (prefix_eq(a, {0x20, 0x01, 0x0d, 0xb8}, 32)) return "documentation (2001:db8::/32)";
  if (prefix_eq(a, {0x20, 0x01, 0x00, 0x00}, 32)) return "Teredo (2001::/32)";
  if (prefix_eq(a, {0x20, 0x02}, 16)) return "6to4 (2002::/16)";
  if (prefix_eq(a, {0xfc}, 7)) return "unique local (fc00::/7)";
  if (prefix_eq(a, {0xfe, 0x80}, 10)) return "link-local (fe80::/10)";
  if (prefix_eq(a, {0xfe, 0xc0}, 10)) return "site-local (fec0::/10)";
  if (prefix_eq(a, {0xff}, 8)) return "multicast (ff00::/8)";
  return {};
}

std::string_view blocked_sockaddr(const ::sockaddr* sa) noexcept {
  if (!sa) return "no address";
  if (sa->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);
    return blocked_v4(ntohl(in.sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), in6.sin6_addr.s6_addr, 16);
    return blocked_v6(a);
  }
  return "not an IP address";
}

std::string_view blocked_literal(const std::string& ip) noexcept {
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) return blocked_v4(ntohl(v4.s_addr));
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), v6.s6_addr, 16);
    return blocked_v6(a);
  }
  return "not a numeric IP address";
}

}  // namespace fh::tools::http
