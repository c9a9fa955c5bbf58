// TokenIndex: the vocabulary as a byte trie whose children are contiguous (built breadth-first
// from the byte-sorted token list, without recursion).
#include <algorithm>
#include <deque>

#include "providers/local/grammar/matcher.hpp"

namespace fh::grammar {

TokenIndex::TokenIndex(std::vector<std::string> token_bytes, std::vector<int32_t> eog)
    : bytes_(std::move(token_bytes)) {
  eog_flag_.assign(bytes_.size(), 0);
  for (int32_t id : eog)
    if (id >= 0 && size_t(id) < bytes_.size() && !eog_flag_[size_t(id)]) eog_flag_[size_t(id)] = 1, eog_.push_back(id);

  std::vector<int32_t> sorted;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (eog_flag_[i] || bytes_[i].empty()) continue;  // EOG and control tokens are not text
    if (bytes_[i].size() > kMaxTrieDepth) long_.push_back(int32_t(i));
    else sorted.push_back(int32_t(i));
  }
  std::sort(sorted.begin(), sorted.end(), [&](int32_t a, int32_t b) { return bytes_[size_t(a)] < bytes_[size_t(b)]; });

  // Each queued node covers sorted[lo..hi), all sharing their first `depth` bytes.
  struct Pending { uint32_t node; size_t lo, hi, depth; };
  nodes_.emplace_back();
  std::deque<Pending> queue{{0, 0, sorted.size(), 0}};
  while (!queue.empty()) {
    const Pending p = queue.front();
    queue.pop_front();
    size_t i = p.lo;
    // Tokens exactly `depth` bytes long sort first within the range.
    nodes_[p.node].tok_begin = uint32_t(tokens_.size());
    for (; i < p.hi && bytes_[size_t(sorted[i])].size() == p.depth; ++i) tokens_.push_back(sorted[i]);
    nodes_[p.node].tok_end = uint32_t(tokens_.size());
    nodes_[p.node].child_begin = uint32_t(nodes_.size());
    while (i < p.hi) {
      const auto b = uint8_t(bytes_[size_t(sorted[i])][p.depth]);
      size_t j = i;
      while (j < p.hi && uint8_t(bytes_[size_t(sorted[j])][p.depth]) == b) ++j;
      Node child;
      child.byte = b;
      queue.push_back({uint32_t(nodes_.size()), i, j, p.depth + 1});
      nodes_.push_back(child);
      i = j;
    }
    nodes_[p.node].child_end = uint32_t(nodes_.size());
  }
}

TokenIndex TokenIndex::from_vocab(const fh::kernel::Vocab& vocab, const std::vector<int32_t>& extra_eog) {
  std::vector<std::string> bytes(vocab.tokens.size());
  std::vector<int32_t> eog = extra_eog;
  if (vocab.eos >= 0) eog.push_back(vocab.eos);
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const int type = i < vocab.types.size() ? vocab.types[i] : 1;
    const std::string& t = vocab.tokens[i];
    if (type == 3 || type == 4) {
      for (const char* end : {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>"})
        if (t == end) eog.push_back(int32_t(i));
    }
    if (type == 2 || type == 3 || type == 5) continue;  // unknown, control, unused: not text
    bytes[i] = vocab.piece(int32_t(i));
  }
  return TokenIndex(std::move(bytes), std::move(eog));
}

}  // namespace fh::grammar
