#include "providers/local/text/pretokenize.hpp"

#include <algorithm>
#include <cstdint>

#include "providers/local/text/unicode.hpp"

namespace fh::local {
namespace {

namespace uc = fh::local::unicode;

// The text as code points with their class flags and byte offsets (off has n+1 entries).
struct Text {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> fl;
  std::vector<size_t> off;

  explicit Text(std::string_view s) {
    cp.reserve(s.size());
    fl.reserve(s.size());
    off.reserve(s.size() + 1);
    for (size_t i = 0; i < s.size();) {
      const uc::Decoded d = uc::decode_utf8(s, i);
      cp.push_back(d.cp);
      fl.push_back(uc::flags(d.cp));
      off.push_back(i);
      i += d.len;
    }
    off.push_back(s.size());
  }
  bool L(size_t i) const { return fl[i] & uc::letter; }
  bool N(size_t i) const { return fl[i] & uc::number; }
  bool P(size_t i) const { return fl[i] & uc::punct; }
  bool S(size_t i) const { return fl[i] & uc::space; }
  // [^\s\p{L}\p{N}]
  bool O(size_t i) const { return !(fl[i] & (uc::letter | uc::number | uc::space)); }
  bool crlf(size_t i) const { return cp[i] == '\r' || cp[i] == '\n'; }
  // What a pattern without \p classes sees (llama.cpp matches those with std::wregex over the
  // code points after turning every non-ASCII White_Space into \v).
  uint32_t plain(size_t i) const { return cp[i] > 0x7F && S(i) ? 0x0B : cp[i]; }

  template <class Pred>
  size_t run(size_t i, size_t e, Pred pred) const {
    while (i < e && pred(i)) ++i;
    return i;
  }
};

using Range = std::pair<size_t, size_t>;  // code-point indices

// A matcher returns the length of the preferred match at i (0: none). On failure it may raise
// `skip` to the next position worth trying (positions before it cannot match either).
using Matcher = size_t (*)(const Text&, size_t i, size_t e, size_t& skip);

// One pass: every range splits into matches and the gaps between them.
void split_pass(const Text& t, Matcher m, const std::vector<Range>& in, std::vector<Range>& out) {
  out.clear();
  for (const auto& [a, b] : in) {
    size_t gap = a, i = a;
    while (i < b) {
      size_t skip = i + 1;
      const size_t n = m(t, i, b, skip);
      if (n > 0) {
        if (gap < i) out.emplace_back(gap, i);
        out.emplace_back(i, i + n);
        i += n;
        gap = i;
      } else {
        i = std::min(std::max(skip, i + 1), b);
      }
    }
    if (gap < b) out.emplace_back(gap, b);
  }
}

// 's|'t|'re|'ve|'m|'ll|'d (optionally ASCII case-insensitive).
size_t contraction(const Text& t, size_t i, size_t e, bool icase) {
  if (t.cp[i] != '\'' || i + 1 >= e) return 0;
  auto lower = [&](size_t k) {
    uint32_t c = t.cp[k];
    return icase && c >= 'A' && c <= 'Z' ? c + 32 : c;
  };
  const uint32_t c1 = lower(i + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (i + 2 < e) {
    const uint32_t c2 = lower(i + 2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  }
  return 0;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
size_t match_gpt2(const Text& t, size_t i, size_t e, size_t&) {
  if (size_t n = contraction(t, i, e, false)) return n;
  const size_t j = (t.cp[i] == ' ' && i + 1 < e) ? i + 1 : i;
  if (t.L(j)) return t.run(j, e, [&](size_t k) { return t.L(k); }) - i;
  if (t.N(j)) return t.run(j, e, [&](size_t k) { return t.N(k); }) - i;
  if (t.O(j)) return t.run(j, e, [&](size_t k) { return t.O(k); }) - i;
  if (t.S(i)) {
    const size_t r = t.run(i, e, [&](size_t k) { return t.S(k); });
    if (r == e) return r - i;
    if (r - i >= 2) return r - 1 - i;  // leave the last space to the next word
  }
  return 0;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
template <size_t MaxDigits>
size_t match_llama3(const Text& t, size_t i, size_t e, size_t&) {
  if (size_t n = contraction(t, i, e, true)) return n;
  auto letters = [&](size_t k) { return t.L(k); };
  if (!t.crlf(i) && !t.L(i) && !t.N(i) && i + 1 < e && t.L(i + 1)) return t.run(i + 1, e, letters) - i;
  if (t.L(i)) return t.run(i, e, letters) - i;
  if (t.N(i)) return std::min(MaxDigits, t.run(i, e, [&](size_t k) { return t.N(k); }) - i);
  const size_t j = (t.cp[i] == ' ' && i + 1 < e && t.O(i + 1)) ? i + 1 : i;
  if (t.O(j)) {
    size_t k = t.run(j, e, [&](size_t x) { return t.O(x); });
    return t.run(k, e, [&](size_t x) { return t.crlf(x); }) - i;
  }
  if (t.S(i)) {
    const size_t r = t.run(i, e, [&](size_t k) { return t.S(k); });
    for (size_t k = r; k > i; --k) {
      if (t.crlf(k - 1)) return k - i;  // \s*[\r\n]+ ends after the run's last newline
    }
    if (r == e || r - i == 1) return r - i;
    return r - 1 - i;
  }
  return 0;
}

// [^\r\n\p{L}\p{N}]?U*W+C? | [^\r\n\p{L}\p{N}]?U+W*C? | \p{N}{1,D} | ?[^\s\p{L}\p{N}]+[\r\n/]* |
// \s*[\r\n]+ | \s+(?!\S) | \s+ with U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]
// and C an optional (?i:'s|'t|'re|'ve|'m|'ll|'d) suffix (gpt-4o) or nothing (tekken).
template <size_t MaxDigits, bool Suffix>
size_t match_cased(const Text& t, size_t i, size_t e, size_t&) {
  auto U = [&](size_t k) {
    return (t.L(k) && !(t.fl[k] & uc::lower)) || (t.fl[k] & uc::mark);
  };
  auto W = [&](size_t k) {
    return (t.L(k) && !(t.fl[k] & uc::upper)) || (t.fl[k] & uc::mark);
  };
  auto suffix = [&](size_t end) { return Suffix && end < e ? end + contraction(t, end, e, true) : end; };
  const bool prefix = !t.crlf(i) && !t.L(i) && !t.N(i);
  // U*W+ : the greedy U run, then W+ after it, or else ending at the run's last W.
  auto upper_lower = [&](size_t j) -> size_t {
    const size_t r = t.run(j, e, U);
    if (r < e && W(r)) return t.run(r, e, W);
    for (size_t p = r; p > j; --p) {
      if (W(p - 1)) return p;
    }
    return 0;
  };
  for (size_t j : {i + 1, i}) {
    if (j == i + 1 && (!prefix || j >= e)) continue;
    if (size_t end = upper_lower(j)) return suffix(end) - i;
  }
  for (size_t j : {i + 1, i}) {  // U+W*
    if (j == i + 1 && (!prefix || j >= e)) continue;
    const size_t r = t.run(j, e, U);
    if (r > j) return suffix(t.run(r, e, W)) - i;
  }
  if (t.N(i)) return std::min(MaxDigits, t.run(i, e, [&](size_t k) { return t.N(k); }) - i);
  const size_t j = (t.cp[i] == ' ' && i + 1 < e && t.O(i + 1)) ? i + 1 : i;
  if (t.O(j)) {
    size_t k = t.run(j, e, [&](size_t x) { return t.O(x); });
    return t.run(k, e, [&](size_t x) { return t.crlf(x) || t.cp[x] == '/'; }) - i;
  }
  if (t.S(i)) {
    const size_t r = t.run(i, e, [&](size_t k) { return t.S(k); });
    for (size_t k = r; k > i; --k) {
      if (t.crlf(k - 1)) return k - i;
    }
    if (r == e || r - i == 1) return r - i;
    return r - 1 - i;
  }
  return 0;
}

size_t match_crlf(const Text& t, size_t i, size_t, size_t&) { return t.crlf(i) ? 1 : 0; }

// \s?X+ for a class X.
template <class Pred>
size_t space_opt_run(const Text& t, size_t i, size_t e, Pred x) {
  if (t.S(i) && i + 1 < e && x(i + 1)) return t.run(i + 1, e, x) - i;
  if (x(i)) return t.run(i, e, x) - i;
  return 0;
}

size_t match_deepseek_letters(const Text& t, size_t i, size_t e, size_t&) {
  return space_opt_run(t, i, e, [&](size_t k) { return uc::is_deepseek_letter(t.plain(k)); });
}

// \s?[!-/:-~！-／：-～‘-‟　-。]+
size_t match_deepseek_punct(const Text& t, size_t i, size_t e, size_t&) {
  return space_opt_run(t, i, e, [&](size_t k) {
    const uint32_t c = t.plain(k);
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x7E) || (c >= 0xFF01 && c <= 0xFF0F) ||
           (c >= 0xFF1A && c <= 0xFF5E) || (c >= 0x2018 && c <= 0x201F) || (c >= 0x3000 && c <= 0x3002);
  });
}

// \s+$
size_t match_trailing_space(const Text& t, size_t i, size_t e, size_t& skip) {
  if (!t.S(i)) return 0;
  const size_t r = t.run(i, e, [&](size_t k) { return t.S(k); });
  if (r == e) return r - i;
  skip = r;
  return 0;
}

// [一-龥ࠀ-一가-퟿]+
size_t match_cjk(const Text& t, size_t i, size_t e, size_t&) {
  auto cjk = [&](size_t k) {
    const uint32_t c = t.plain(k);
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) || (c >= 0xAC00 && c <= 0xD7FF);
  };
  return t.run(i, e, cjk) - i;
}

size_t match_numbers(const Text& t, size_t i, size_t e, size_t&) {
  return t.run(i, e, [&](size_t k) { return t.N(k); }) - i;
}

size_t match_digit(const Text& t, size_t i, size_t, size_t&) { return t.N(i) ? 1 : 0; }

size_t match_letters_sp(const Text& t, size_t i, size_t e, size_t&) {
  return space_opt_run(t, i, e, [&](size_t k) { return t.L(k); });
}

size_t match_punct_sp(const Text& t, size_t i, size_t e, size_t&) {
  return space_opt_run(t, i, e, [&](size_t k) { return t.P(k); });
}

// [\p{P}\$\+<=>\^~\|`]+ (falcon) and the same without the backtick (default).
template <bool Backtick>
size_t match_punct_run(const Text& t, size_t i, size_t e, size_t&) {
  auto p = [&](size_t k) {
    const uint32_t c = t.cp[k];
    return t.P(k) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
           c == '~' || c == '|' || (Backtick && c == '`');
  };
  return t.run(i, e, p) - i;
}

// [0-9][0-9][0-9]
size_t match_three_digits(const Text& t, size_t i, size_t e, size_t&) {
  auto d = [&](size_t k) { return t.cp[k] >= '0' && t.cp[k] <= '9'; };
  return i + 3 <= e && d(i) && d(i + 1) && d(i + 2) ? 3 : 0;
}

std::vector<Matcher> passes(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::gpt2: return {match_gpt2};
    case PreTokenizer::llama3: return {match_llama3<3>};
    case PreTokenizer::qwen2: return {match_llama3<1>};
    case PreTokenizer::deepseek_llm:
      return {match_crlf, match_deepseek_letters, match_deepseek_punct, match_trailing_space,
              match_cjk, match_numbers};
    case PreTokenizer::deepseek_coder:
      return {match_crlf, match_letters_sp, match_punct_sp, match_cjk, match_digit};
    case PreTokenizer::falcon: return {match_punct_run<true>, match_gpt2, match_three_digits};
    case PreTokenizer::starcoder: return {match_digit, match_gpt2};
    case PreTokenizer::bpe_default:
      return {match_punct_run<false>, match_gpt2, match_numbers, match_three_digits};
    case PreTokenizer::tekken: return {match_cased<1, false>};
    case PreTokenizer::gpt4o: return {match_cased<3, true>};
  }
  return {match_gpt2};
}

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  struct Alias {
    std::string_view name;
    PreTokenizer kind;
  };
  static constexpr Alias aliases[] = {
      {"default", PreTokenizer::bpe_default}, {"", PreTokenizer::bpe_default},
      {"llama3", PreTokenizer::llama3}, {"llama-v3", PreTokenizer::llama3},
      {"llama-bpe", PreTokenizer::llama3}, {"falcon3", PreTokenizer::llama3},
      {"dbrx", PreTokenizer::llama3}, {"smaug-bpe", PreTokenizer::llama3},
      {"chatglm-bpe", PreTokenizer::llama3},
      {"qwen2", PreTokenizer::qwen2}, {"deepseek-r1-qwen", PreTokenizer::qwen2},
      {"stablelm2", PreTokenizer::qwen2}, {"hunyuan", PreTokenizer::qwen2},
      {"megrez", PreTokenizer::qwen2}, {"grok-2", PreTokenizer::qwen2},
      {"deepseek-llm", PreTokenizer::deepseek_llm}, {"deepseek-coder", PreTokenizer::deepseek_coder},
      {"falcon", PreTokenizer::falcon},
      {"starcoder", PreTokenizer::starcoder}, {"refact", PreTokenizer::starcoder},
      {"command-r", PreTokenizer::starcoder}, {"smollm", PreTokenizer::starcoder},
      {"codeshell", PreTokenizer::starcoder}, {"exaone", PreTokenizer::starcoder},
      {"minerva-7b", PreTokenizer::starcoder},
      {"gpt-2", PreTokenizer::gpt2}, {"phi-2", PreTokenizer::gpt2}, {"jina-es", PreTokenizer::gpt2},
      {"jina-de", PreTokenizer::gpt2}, {"jina-v1-en", PreTokenizer::gpt2},
      {"jina-v2-es", PreTokenizer::gpt2}, {"jina-v2-de", PreTokenizer::gpt2},
      {"jina-v2-code", PreTokenizer::gpt2}, {"roberta-bpe", PreTokenizer::gpt2},
      {"gigachat", PreTokenizer::gpt2}, {"mpt", PreTokenizer::gpt2}, {"olmo", PreTokenizer::gpt2},
      {"jais", PreTokenizer::gpt2}, {"trillion", PreTokenizer::gpt2},
      {"tekken", PreTokenizer::tekken}, {"gpt-4o", PreTokenizer::gpt4o},
  };
  for (const auto& a : aliases) {
    if (a.name == name) return a.kind;
  }
  return std::nullopt;
}

std::vector<std::pair<size_t, size_t>> pre_tokenize(PreTokenizer kind, std::string_view text) {
  std::vector<std::pair<size_t, size_t>> words;
  if (text.empty()) return words;
  const Text t(text);
  std::vector<Range> cur{{0, t.cp.size()}}, next;
  for (Matcher m : passes(kind)) {
    split_pass(t, m, cur, next);
    cur.swap(next);
  }
  words.reserve(cur.size());
  for (const auto& [a, b] : cur) words.emplace_back(t.off[a], t.off[b]);
  return words;
}

}  // namespace fh::local
