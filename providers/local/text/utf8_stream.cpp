// Utf8Stream: detokenized bytes out as whole UTF-8 characters.
#include "providers/local/text/tokenizer.hpp"
#include "providers/local/text/unicode.hpp"

namespace fh::local {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Could s[i..] (a truncated sequence) still become a valid character when more bytes arrive?
bool incomplete_prefix(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t need;
  if (b0 >= 0xC2 && b0 <= 0xDF) need = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF) need = 3;
  else if (b0 >= 0xF0 && b0 <= 0xF4) need = 4;
  else return false;
  const size_t have = s.size() - i;
  if (have >= need) return false;
  for (size_t k = 1; k < have; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return false;
    if (k == 1) {  // the second byte's range rules out overlongs, surrogates and > U+10FFFF
      if (b0 == 0xE0 && b < 0xA0) return false;
      if (b0 == 0xED && b > 0x9F) return false;
      if (b0 == 0xF0 && b < 0x90) return false;
      if (b0 == 0xF4 && b > 0x8F) return false;
    }
  }
  return true;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  out.reserve(pending_.size());
  size_t i = 0;
  while (i < pending_.size()) {
    const unicode::Decoded d = unicode::decode_utf8(pending_, i);
    if (d.valid) {
      out.append(pending_, i, d.len);
      i += d.len;
    } else if (incomplete_prefix(pending_, i)) {
      break;  // hold back until the rest arrives
    } else {
      out += kReplacement;
      i += 1;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  if (!pending_.empty()) out = kReplacement;
  pending_.clear();
  return out;
}

}  // namespace fh::local
