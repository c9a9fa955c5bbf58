// Unicode helpers for the tokenizers: UTF-8 decoding that never fails (an invalid byte decodes as
// itself, one byte long, flagged invalid), code-point class flags from a generated table
// (unicode_data.inc, made by gen_unicode.py), and GPT-2's byte <-> code point mapping.
//
// Std-only; pure functions and immutable tables, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fh::local::unicode {

enum Flag : uint8_t {
  letter = 1, number = 2, punct = 4, space = 8, symbol = 16, mark = 32,
  upper = 64,   // Lu, Lt
  lower = 128,  // Ll
};

// Class flags of a code point (0 for "other", unassigned, or out of range).
uint8_t flags(uint32_t cp);
inline bool is_letter(uint32_t cp) { return flags(cp) & letter; }
inline bool is_number(uint32_t cp) { return flags(cp) & number; }
inline bool is_punct(uint32_t cp) { return flags(cp) & punct; }
inline bool is_space(uint32_t cp) { return flags(cp) & space; }
// The explicit letter class of the deepseek-llm pre-tokenizer.
bool is_deepseek_letter(uint32_t cp);

// Length of the UTF-8 sequence a lead byte announces (1 for continuation bytes, like llama.cpp).
inline size_t utf8_len(unsigned char lead) {
  static constexpr uint8_t lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lut[lead >> 4];
}

struct Decoded {
  uint32_t cp = 0;
  uint8_t len = 1;     // bytes consumed (>= 1)
  bool valid = true;   // false: an invalid or truncated sequence; cp is then 0xFFFD, len 1
};
// Decodes the code point at s[i] (i < s.size()). Rejects overlong forms, surrogates and > 10FFFF.
Decoded decode_utf8(std::string_view s, size_t i);
void append_utf8(std::string& out, uint32_t cp);

// GPT-2 byte-level BPE: each byte maps to one printable code point (space -> U+0120 "Ġ").
uint32_t byte_to_cp(uint8_t b);
// The byte a code point stands for, or -1 if it is not one of the 256 mapped code points.
int cp_to_byte(uint32_t cp);

}  // namespace fh::local::unicode
