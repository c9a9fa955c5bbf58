// The merge loops: SentencePiece-style (highest score first, byte fallback) and byte-level BPE
// (lowest merge rank first). Both keep symbols as a linked list over one buffer and a heap of
// candidate pairs; a popped pair whose symbols changed since it was queued is stale and skipped.
#include <algorithm>

#include "providers/local/text/tokenizer.hpp"
#include "providers/local/text/unicode.hpp"

namespace fh::local {
namespace {

namespace uc = fh::local::unicode;

struct Symbol {
  int32_t prev, next;
  uint32_t start, n;  // bytes in the buffer; n == 0 once merged away
  int32_t id;         // BPE: token id of the symbol's text (-1 if none)
};

}  // namespace

void Tokenizer::encode_spm(std::string_view text, bool space_prefix, std::vector<int32_t>& out) const {
  // Spaces become "▁"; the leading-space rule adds one in front.
  std::string s;
  s.reserve(text.size() + text.size() / 2 + 3);
  if (space_prefix) s += "\xE2\x96\x81";
  for (char c : text) {
    if (c == ' ') s += "\xE2\x96\x81";
    else s += c;
  }
  if (s.empty()) return;

  // One symbol per UTF-8 character. An invalid byte is a symbol of its own (llama.cpp trusts the
  // lead byte and may swallow the next character's bytes; this keeps invalid input lossless).
  std::vector<Symbol> sym;
  sym.reserve(s.size());
  for (size_t off = 0; off < s.size();) {
    const size_t len = uc::decode_utf8(s, off).len;
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, off + len == s.size() ? -1 : idx + 1, uint32_t(off), uint32_t(len), -1});
    off += len;
  }

  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
  };
  // Highest score first; on ties the leftmost pair.
  auto lower_priority = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Bigram> heap;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const uint32_t size = sym[l].n + sym[r].n;
    const int32_t id = find(std::string_view(s).substr(sym[l].start, size));
    if (id < 0) return;
    heap.push_back({scores_[id], l, r, size});
    std::push_heap(heap.begin(), heap.end(), lower_priority);
  };
  for (int32_t i = 1; i < int32_t(sym.size()); ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    const std::string_view piece = std::string_view(s).substr(sym[i].start, sym[i].n);
    if (const int32_t id = find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {  // byte fallback
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0) out.push_back(id);
    }
  }
}

int32_t Tokenizer::rank(int32_t left, int32_t right) const {
  return ranks_.find(left, right);
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  std::string enc;
  for (const auto& [a, b] : pre_tokenize(pre_kind_, text)) {
    enc.clear();
    for (size_t i = a; i < b; ++i) uc::append_utf8(enc, uc::byte_to_cp(static_cast<uint8_t>(text[i])));
    bpe_word(enc, out);
  }
}

// Byte-level BPE over one pre-tokenized word, `enc` being its bytes mapped to code points.
void Tokenizer::bpe_word(std::string_view enc, std::vector<int32_t>& out) const {
  if (enc.empty()) return;
  if (ignore_merges_) {
    if (const int32_t id = find(enc); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(enc.size());
  for (size_t off = 0; off < enc.size();) {
    const size_t len = std::min(uc::utf8_len(static_cast<unsigned char>(enc[off])), enc.size() - off);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, off + len == enc.size() ? -1 : idx + 1, uint32_t(off), uint32_t(len),
                   find(enc.substr(off, len))});
    off += len;
  }

  if (sym.size() > 1) {
    struct Pair {
      int32_t rank, left;
      uint32_t left_n, right_n;
    };
    // Lowest rank first; on ties the leftmost pair.
    auto lower_priority = [](const Pair& a, const Pair& b) {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    };
    std::vector<Pair> heap;
    auto try_add = [&](int32_t l) {
      if (l < 0 || sym[l].next < 0) return;
      const Symbol& r = sym[sym[l].next];
      const int32_t rk = rank(sym[l].id, r.id);
      if (rk < 0) return;
      heap.push_back({rk, l, sym[l].n, r.n});
      std::push_heap(heap.begin(), heap.end(), lower_priority);
    };
    for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) try_add(i);

    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), lower_priority);
      const Pair p = heap.back();
      heap.pop_back();
      Symbol& l = sym[p.left];
      if (l.n != p.left_n || l.next < 0) continue;  // stale: the left symbol grew or was merged
      Symbol& r = sym[l.next];
      if (r.n != p.right_n) continue;               // stale: the right symbol grew
      l.n += r.n;
      l.id = find(enc.substr(l.start, l.n));
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = p.left;
      try_add(l.prev);
      try_add(p.left);
    }
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
      continue;
    }
    // Not a token (inconsistent merges): fall back to its single characters.
    const std::string_view piece = enc.substr(sym[i].start, sym[i].n);
    for (size_t k = 0; k < piece.size();) {
      const size_t len = std::min(uc::utf8_len(static_cast<unsigned char>(piece[k])), piece.size() - k);
      if (const int32_t id = find(piece.substr(k, len)); id >= 0) out.push_back(id);
      k += len;
    }
  }
}

}  // namespace fh::local
