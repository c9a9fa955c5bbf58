// fh::grammar — byte-level grammars for constrained decoding of the local model.
//
// A Grammar is a context-free grammar over bytes whose terminals are small "leaf" automata
// (a literal, a set of literals, a JSON string, a JSON integer or number). It is built from a
// JSON Schema (json_schema) or composed from literals and other grammars (sequence, choice), so
// the provider can force a tool call in the model's own format, e.g.
//   choice({sequence({literal("<tool_call>\n"), *json_schema(call_schema), literal("\n</tool_call>")})})
// The Matcher (matcher.hpp) runs it against a model's vocabulary.
//
// JSON produced under a schema grammar is compact: no whitespace anywhere, strings escaped and
// valid UTF-8 (\u escapes limited to non-surrogates), integers of at most 15 digits, numbers with
// at most 15 fraction digits and 2 exponent digits. Object properties come in a fixed order: the
// names of `required` in that array's order, then the other declared properties in key order
// (fh::json objects do not keep declaration order). Only declared properties are generated, so
// `additionalProperties` (absent, true, false or a schema) never adds keys.
//
// Depends on fh::core (fh::json, Result). Immutable after construction: share one Grammar
// between threads and matchers through std::shared_ptr<const Grammar>.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.hpp"

namespace fh::grammar {

// A set of bytes.
struct ByteSet {
  std::array<uint64_t, 4> w{};
  bool test(uint8_t b) const { return (w[b >> 6] >> (b & 63)) & 1u; }
  void set(uint8_t b) { w[b >> 6] |= uint64_t(1) << (b & 63); }
  void set_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) set(uint8_t(b));
  }
  int lowest() const;  // -1 when empty
};

enum class LeafKind : uint8_t {
  bytes,     // a fixed sequence of byte sets (a literal when every set holds one byte)
  literals,  // any one of a set of byte strings (a byte trie: enums of any size stay deterministic)
  string,    // a JSON string with its quotes, min_len..max_len code points
  integer,   // -?(0|[1-9][0-9]{0,14})
  number,    // integer, then optional .[0-9]{1,15} and [eE][+-]?[0-9]{1,2}
};

struct TrieNode {
  std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte
  bool final = false;
  int32_t min_rest = 0;        // bytes to the nearest final node
  int16_t best = -1;           // index into `next` on that shortest path (-1 when final)
};

// A leaf automaton. Its state is a uint64 (0: nothing consumed yet); every leaf consumes at
// least one byte before it can be final.
struct Leaf {
  LeafKind kind = LeafKind::bytes;
  std::vector<ByteSet> sets;    // bytes
  std::vector<TrieNode> trie;   // literals (node 0 is the root)
  int64_t min_len = 0, max_len = -1;  // string, in code points (-1: unbounded)

  // The state after byte b, or false when b is not allowed.
  bool step(uint64_t state, uint8_t b, uint64_t& out) const;
  // step(), is_final() and is_live() in one call: 0 when b is rejected, else a kOk|kFinal|kLive mask.
  static constexpr uint8_t kOk = 1, kFinal = 2, kLive = 4;
  uint8_t feed(uint64_t state, uint8_t b, uint64_t& out) const;
  bool is_final(uint64_t state) const;  // the leaf may end here
  bool is_live(uint64_t state) const;   // some byte may still follow
  size_t min_rest(uint64_t state) const;          // bytes to the nearest final state
  void shortest_rest(uint64_t state, std::string& out) const;  // appends those bytes
};

struct Elem {
  enum Kind : uint8_t { leaf, ref, end } kind = end;
  int32_t id = -1;  // leaf index or rule index
};

struct Rule {
  std::vector<std::vector<Elem>> alts;  // alternatives, each a sequence (no `end` inside)
  std::string name;                      // for error messages and dumps
};

class Grammar {
 public:
  // Exactly the bytes of `text` (an empty text matches the empty string).
  static Grammar literal(std::string_view text);
  // JSON values valid under `schema` (see the header comment for the supported subset). An
  // unsupported keyword, a $ref that does not resolve, a schema without a finite instance,
  // nesting deeper than 64 levels or a grammar past the size limits is an invalid_argument
  // error naming the keyword and its JSON pointer.
  static Result<Grammar> json_schema(const json& schema);
  // Each part in turn / any one of them (an empty choice matches nothing).
  static Grammar sequence(std::initializer_list<Grammar> parts) { return sequence(std::vector<Grammar>(parts)); }
  static Grammar sequence(const std::vector<Grammar>& parts);
  static Grammar choice(std::initializer_list<Grammar> parts) { return choice(std::vector<Grammar>(parts)); }
  static Grammar choice(const std::vector<Grammar>& parts);

  // Compiled form used by the Matcher: every alternative laid out in `flat`, closed by `end`.
  const std::vector<Elem>& flat() const { return flat_; }
  const std::vector<int32_t>& alt_starts(int32_t rule) const { return alt_starts_[size_t(rule)]; }
  const Leaf& leaf(int32_t id) const { return leaves_[size_t(id)]; }
  int32_t root() const { return root_; }
  // Fewest bytes from flat position p to the end of its alternative (SIZE_MAX: none).
  size_t suffix_min(int32_t p) const { return suffix_min_[size_t(p)]; }
  // Appends the shortest bytes from flat position p to the end of its alternative.
  void shortest_suffix(int32_t p, std::string& out) const;
  size_t min_length() const { return rule_min_[size_t(root_)]; }  // SIZE_MAX: matches nothing
  size_t rule_count() const { return rules_.size(); }
  size_t leaf_count() const { return leaves_.size(); }
  static constexpr size_t kMaxShortest = size_t(1) << 20;  // bytes of any rule's shortest instance

  // Internal construction (used by the schema compiler).
  int32_t add_rule(Rule r);
  int32_t add_leaf(Leaf l);
  Rule& rule(int32_t id) { return rules_[size_t(id)]; }
  void set_root(int32_t r) { root_ = r; }
  // Lays out `flat`, computes shortest lengths and rejects left recursion / no finite instance /
  // a rule whose shortest instance is longer than kMaxShortest bytes (no generation could end).
  Result<Ok> finalize();

 private:
  int32_t import(const Grammar& g);  // copies g's rules and leaves; returns g's root here
  void shortest_rule(int32_t rule, std::string& out, int depth) const;

  std::vector<Rule> rules_;
  std::vector<Leaf> leaves_;
  int32_t root_ = -1;
  std::vector<Elem> flat_;
  std::vector<std::vector<int32_t>> alt_starts_;
  std::vector<size_t> rule_min_, suffix_min_;
  std::vector<int32_t> best_alt_;
};

// Leaf factories.
Leaf literal_leaf(std::string_view bytes);
Leaf literals_leaf(const std::vector<std::string>& options);  // options non-empty, none empty
Leaf string_leaf(int64_t min_len, int64_t max_len);

}  // namespace fh::grammar
