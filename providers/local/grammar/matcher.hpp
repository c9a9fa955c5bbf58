// fh::grammar::TokenIndex and Matcher — constrained decoding against a model's vocabulary.
//
// TokenIndex is built once per model from every token's raw bytes (SentencePiece "▁" already
// turned into a space, <0xNN> into its byte, byte-level BPE mapped back) and the
// end-of-generation ids. It holds the vocabulary as a byte trie, so masking walks each shared
// prefix once. Immutable; share it between threads.
//
// A Matcher follows one generation: mask() sets -INFINITY on every token whose bytes cannot
// continue the grammar (end-of-generation tokens stay allowed only when the text so far is
// complete), accept() advances by the sampled token. The state is a set of stacks (a pushdown
// automaton with the grammar's leaf automata on top); stacks are persistent nodes in an arena,
// so a mask walk allocates nothing after warm-up and undoes itself by truncation.
//
// Budget: mask(logits, budget) also removes every token after which the shortest completion
// (counted as one token per byte, plus the EOG token) would no longer fit in `budget` tokens.
// Called with the tokens left before a cap, generation always ends in a complete value, provided
// the vocabulary has a token for every single byte (SentencePiece byte fallback and byte-level
// BPE vocabularies do) and the cap was at least shortest_completion().size() + 1 at the start.
//
// A Matcher is single-threaded (mask() is const but uses internal scratch space).
#pragma once

#include <cstdint>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "providers/local/grammar/grammar.hpp"
#include "providers/local/kernel/model.hpp"

namespace fh::grammar {

class TokenIndex {
 public:
  // token_bytes[id]: the bytes the token stands for ("" for control tokens: never allowed unless
  // listed in eog). eog: ids that end generation.
  TokenIndex(std::vector<std::string> token_bytes, std::vector<int32_t> eog);

  size_t size() const { return bytes_.size(); }
  const std::string& bytes(int32_t id) const { return bytes_[size_t(id)]; }
  bool is_eog(int32_t id) const { return id >= 0 && size_t(id) < eog_flag_.size() && eog_flag_[size_t(id)]; }
  const std::vector<int32_t>& eog() const { return eog_; }

  // The trie: node 0 is the root; children of a node are contiguous.
  struct Node {
    uint32_t child_begin = 0, child_end = 0;  // indices into nodes
    uint32_t tok_begin = 0, tok_end = 0;      // token ids ending here: tokens()[tok_begin..tok_end)
    uint8_t byte = 0;                         // the byte leading into this node
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Tokens longer than the trie depth limit are checked one by one.
  const std::vector<int32_t>& long_tokens() const { return long_; }

  static constexpr size_t kMaxTrieDepth = 128;

  // From a loaded model's vocabulary: Vocab::piece() bytes for normal, user-defined and byte
  // tokens, "" for control/unknown/unused ones; EOG = the EOS id, the control tokens named like
  // an end of turn (<|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>, <|endoftext|>, </s>), and `extra_eog`.
  static TokenIndex from_vocab(const fh::kernel::Vocab& vocab, const std::vector<int32_t>& extra_eog = {});

 private:
  std::vector<std::string> bytes_;
  std::vector<int32_t> eog_;
  std::vector<uint8_t> eog_flag_;
  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_, long_;
};

class Matcher {
 public:
  Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenIndex> index);

  // Sets -INFINITY on every token that cannot come next (ids past the vocabulary too), and on
  // tokens that would leave no way to finish within `budget` more tokens (this one included).
  void mask(std::span<float> logits, size_t budget = SIZE_MAX) const;
  // Advances by one token; false (state unchanged) when the token is not allowed here.
  bool accept(int32_t token);
  bool accept_bytes(std::string_view bytes);
  // The text so far is a complete instance of the grammar (EOG allowed).
  bool complete() const { return complete_; }
  // More bytes can follow (false after an EOG token, or when the grammar is exhausted).
  bool can_continue() const { return !finished_ && !cur_.empty(); }
  bool finished() const { return finished_; }  // an EOG token was accepted
  // The fewest bytes that make the text complete ("" when complete).
  std::string shortest_completion() const;
  void reset();

  // Stacks currently alive (a measure of ambiguity, for tests and diagnostics).
  size_t stack_count() const { return cur_.size(); }

  static constexpr uint32_t kMaxStackDepth = 512;  // nesting frames (recursive schemas)
  static constexpr size_t kMaxStacks = 1024;         // ambiguity cap: extra parses are dropped

 private:
  // A return frame in the arena: where to continue when the rule above it ends.
  struct Node {
    int32_t pos = 0;       // flat position to continue at
    int32_t parent = -1;
    uint32_t depth = 0;
    uint64_t hash = 0;     // of the whole frame chain, for deduplication
    size_t rest = 0;       // fewest bytes from here to the end of the grammar
  };
  // The top of a stack: a leaf in some state, over a frame chain. Tops are values (not arena
  // nodes), so advancing inside a leaf allocates nothing.
  struct Top {
    int32_t pos = 0;       // flat position of the leaf
    int32_t parent = -1;   // frame
    uint64_t state = 0;
  };

  int32_t new_frame(int32_t pos, int32_t parent) const;
  bool same_frames(int32_t a, int32_t b) const;
  size_t cost(const Top& t) const;  // fewest bytes to complete along this stack
  void push_top(Top t, std::vector<Top>& out, size_t out_begin) const;
  void expand(int32_t pos, int32_t parent, std::vector<Top>& out, size_t out_begin, bool& complete, int guard) const;
  // Advances the stacks src[begin..end) by byte b, appending the results to out (which may be
  // src). Returns whether the grammar is complete after b.
  bool advance(const std::vector<Top>& src, size_t begin, size_t end, uint8_t b, std::vector<Top>& out) const;
  void walk(uint32_t node, size_t begin, size_t end) const;
  void walk_one(uint32_t node, Top t) const;
  void visit(uint32_t child, size_t begin, size_t end) const;
  void mark(uint32_t child) const;
  bool fits(size_t need) const;
  bool simulate(std::string_view bytes) const;  // would these bytes be accepted? (no state change)
  void apply(std::span<float> logits) const;
  void compact();

  std::shared_ptr<const Grammar> g_;
  std::shared_ptr<const TokenIndex> index_;
  std::vector<Top> cur_;
  bool complete_ = false, finished_ = false;
  mutable std::vector<Node> nodes_;
  mutable std::vector<Top> scratch_;
  mutable std::vector<uint8_t> allowed_;
  // One expansion (expand() from guard 0): calls so far, and the (pos, frame) pairs already
  // expanded once it grows past a few dozen calls.
  mutable int expand_calls_ = 0;
  mutable std::unordered_set<uint64_t> expanded_;
  mutable size_t budget_ = SIZE_MAX;
};

}  // namespace fh::grammar
