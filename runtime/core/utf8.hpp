// fh::utf8 — the one strict UTF-8 check for bytes that reach text output (error snippets, tool
// results). Well-formed means RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
// (The tokenizer decodes code points itself, with llama.cpp's lenient rules where it must match.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fh::utf8 {

// Bytes of the well-formed character at s[i], or 0 when the bytes there are not one (a stray
// continuation byte, a bad lead, an overlong form, a surrogate, or a character cut off by the end).
inline size_t char_len(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  const unsigned c = at(0);
  if (c < 0x80) return i < s.size() ? 1 : 0;
  if (in(c, 0xC2, 0xDF)) return in(at(1), 0x80, 0xBF) ? 2 : 0;
  if (in(c, 0xE0, 0xEF))
    return in(at(1), c == 0xE0 ? 0xA0 : 0x80, c == 0xED ? 0x9F : 0xBF) && in(at(2), 0x80, 0xBF) ? 3 : 0;
  if (in(c, 0xF0, 0xF4))
    return in(at(1), c == 0xF0 ? 0x90 : 0x80, c == 0xF4 ? 0x8F : 0xBF) && in(at(2), 0x80, 0xBF) &&
                   in(at(3), 0x80, 0xBF)
               ? 4
               : 0;
  return 0;
}

inline bool valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = char_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// s with each byte that does not start a well-formed character replaced by `bad` (U+FFFD unless
// told otherwise); the well-formed characters are kept as they are.
inline std::string repaired(std::string_view s, std::string_view bad = "\xEF\xBF\xBD") {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = char_len(s, i);
    out.append(n ? s.substr(i, n) : bad);
    i += n ? n : 1;
  }
  return out;
}

}  // namespace fh::utf8
