#include "providers/local/text/unicode.hpp"

#include <algorithm>
#include <array>

namespace fh::local::unicode {
namespace {

struct UnicodeRun {
  uint32_t first;
  uint8_t flags;
};
struct CodepointRange {
  uint32_t first, last;
};

#include "providers/local/text/unicode_data.inc"

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};  // every mapped code point is < 512
  ByteMap() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

uint8_t lookup_flags(uint32_t cp) {
  // The last run whose start is <= cp.
  const auto* end = std::end(kUnicodeRuns);
  const auto* it = std::upper_bound(std::begin(kUnicodeRuns), end, cp,
                                    [](uint32_t v, const UnicodeRun& r) { return v < r.first; });
  return it == std::begin(kUnicodeRuns) ? 0 : (it - 1)->flags;
}

struct AsciiFlags {
  std::array<uint8_t, 128> f{};
  AsciiFlags() {
    for (uint32_t c = 0; c < 128; ++c) f[c] = lookup_flags(c);
  }
};

}  // namespace

uint8_t flags(uint32_t cp) {
  static const AsciiFlags ascii;
  if (cp < 128) return ascii.f[cp];
  if (cp > 0x10FFFF) return 0;
  return lookup_flags(cp);
}

bool is_deepseek_letter(uint32_t cp) {
  const auto* end = std::end(kDeepseekLetters);
  const auto* it = std::upper_bound(std::begin(kDeepseekLetters), end, cp,
                                    [](uint32_t v, const CodepointRange& r) { return v < r.first; });
  return it != std::begin(kDeepseekLetters) && cp <= (it - 1)->last;
}

Decoded decode_utf8(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1, true};
  const Decoded bad{0xFFFD, 1, false};
  size_t n;
  uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) { n = 2; cp = b0 & 0x1F; }
  else if ((b0 & 0xF0) == 0xE0) { n = 3; cp = b0 & 0x0F; }
  else if ((b0 & 0xF8) == 0xF0) { n = 4; cp = b0 & 0x07; }
  else return bad;
  if (i + n > s.size()) return bad;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
  return {cp, static_cast<uint8_t>(n), true};
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint32_t byte_to_cp(uint8_t b) { return byte_map().to_cp[b]; }

int cp_to_byte(uint32_t cp) { return cp < 512 ? byte_map().from_cp[cp] : -1; }

}  // namespace fh::local::unicode
