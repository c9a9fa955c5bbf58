// Grammar: leaf automata, composition, and the compiled layout the Matcher walks.
#include "providers/local/grammar/grammar.hpp"

#include <algorithm>
#include <limits>

namespace fh::grammar {
namespace {

constexpr size_t kInf = std::numeric_limits<size_t>::max();
size_t sat_add(size_t a, size_t b) { return (a == kInf || b == kInf || a > kInf - b) ? kInf : a + b; }

// JSON string leaf state: phase (3 bits), remaining bytes of an escape or UTF-8 sequence
// (3 bits), the range of the next UTF-8 continuation byte (3 bits), code points so far (<< 16).
enum StrPhase : unsigned { s_open = 0, s_body = 1, s_escape = 2, s_hex = 3, s_utf8 = 4, s_done = 5 };
struct Str {
  unsigned phase = s_open, rem = 0, cons = 0;
  uint64_t count = 0;
  static Str of(uint64_t s) { return {unsigned(s & 7), unsigned((s >> 3) & 7), unsigned((s >> 6) & 7), s >> 16}; }
  uint64_t pack() const { return phase | (uint64_t(rem) << 3) | (uint64_t(cons) << 6) | (count << 16); }
};
// First continuation byte ranges: any, after E0, after ED, after F0, after F4.
constexpr uint8_t kConsLo[5] = {0x80, 0xA0, 0x80, 0x90, 0x80};
constexpr uint8_t kConsHi[5] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};

bool is_hex(uint8_t b) { return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

bool string_step(const Leaf& l, uint64_t state, uint8_t b, uint64_t& out) {
  Str s = Str::of(state);
  switch (s.phase) {
    case s_open:
      if (b != '"') return false;
      s.phase = s_body;
      break;
    case s_body:
      if (b == '"') {
        if (int64_t(s.count) < l.min_len) return false;
        s.phase = s_done;
        break;
      }
      if (l.max_len >= 0 && int64_t(s.count) >= l.max_len) return false;
      if (b == '\\') {
        s.phase = s_escape;
      } else if (b >= 0x20 && b <= 0x7F) {
        ++s.count;
      } else if (b >= 0xC2 && b <= 0xDF) {
        s = {s_utf8, 1, 0, s.count + 1};
      } else if (b >= 0xE0 && b <= 0xEF) {
        s = {s_utf8, 2, b == 0xE0 ? 1u : b == 0xED ? 2u : 0u, s.count + 1};
      } else if (b >= 0xF0 && b <= 0xF4) {
        s = {s_utf8, 3, b == 0xF0 ? 3u : b == 0xF4 ? 4u : 0u, s.count + 1};
      } else {
        return false;  // control bytes, stray continuation bytes, C0/C1/F5..FF
      }
      break;
    case s_escape:
      if (b == 'u') {
        s.phase = s_hex, s.rem = 4;
      } else if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't') {
        s.phase = s_body, ++s.count;
      } else {
        return false;
      }
      break;
    case s_hex:
      if (!is_hex(b)) return false;
      if (s.rem == 4 && (b == 'd' || b == 'D')) return false;  // no surrogates (D800..DFFF)
      if (--s.rem == 0) s.phase = s_body, ++s.count;
      break;
    case s_utf8:
      if (b < kConsLo[s.cons] || b > kConsHi[s.cons]) return false;
      s.cons = 0;
      if (--s.rem == 0) s.phase = s_body;
      break;
    default:
      return false;
  }
  out = s.pack();
  return true;
}

size_t string_min_rest(const Leaf& l, uint64_t state) {
  const Str s = Str::of(state);
  auto pad = [&](uint64_t count) { return size_t(std::max<int64_t>(0, l.min_len - int64_t(count))); };
  switch (s.phase) {
    case s_open: return 2 + size_t(l.min_len);
    case s_body: return pad(s.count) + 1;
    case s_escape: return 1 + pad(s.count + 1) + 1;
    case s_hex: return s.rem + pad(s.count + 1) + 1;
    case s_utf8: return s.rem + pad(s.count) + 1;
    default: return 0;
  }
}

void string_shortest(const Leaf& l, uint64_t state, std::string& out) {
  Str s = Str::of(state);
  uint64_t count = s.count;
  switch (s.phase) {
    case s_open: out += '"'; break;
    case s_body: break;
    case s_escape: out += 'n', ++count; break;
    case s_hex: out.append(s.rem, '0'), ++count; break;
    case s_utf8:
      out += char(kConsLo[s.cons]);
      out.append(s.rem - 1, char(0x80));
      break;
    default: return;
  }
  if (int64_t(count) < l.min_len) out.append(size_t(l.min_len - int64_t(count)), 'a');
  out += '"';
}

// Number leaf state: phase * 64 + digit count. Phases: 0 start, 1 after '-', 2 a leading zero,
// 3 integer digits, 4 after '.', 5 fraction digits, 6 after 'e', 7 after the exponent sign,
// 8 exponent digits.
constexpr uint64_t kMaxIntDigits = 15, kMaxFracDigits = 15, kMaxExpDigits = 2;

bool number_step(bool real, uint64_t state, uint8_t b, uint64_t& out) {
  const uint64_t phase = state / 64, c = state % 64;
  auto to = [&](uint64_t p, uint64_t n) { out = p * 64 + n; return true; };
  const bool exp = real && (b == 'e' || b == 'E');
  switch (phase) {
    case 0:
      if (b == '-') return to(1, 0);
      [[fallthrough]];
    case 1:
      if (b == '0') return to(2, 0);
      if (b >= '1' && b <= '9') return to(3, 1);
      return false;
    case 2:
      if (real && b == '.') return to(4, 0);
      if (exp) return to(6, 0);
      return false;
    case 3:
      if (is_digit(b) && c < kMaxIntDigits) return to(3, c + 1);
      if (real && b == '.') return to(4, 0);
      if (exp) return to(6, 0);
      return false;
    case 4:
      return is_digit(b) ? to(5, 1) : false;
    case 5:
      if (is_digit(b) && c < kMaxFracDigits) return to(5, c + 1);
      if (exp) return to(6, 0);
      return false;
    case 6:
      if (b == '+' || b == '-') return to(7, 0);
      [[fallthrough]];
    case 7:
      return is_digit(b) ? to(8, 1) : false;
    case 8:
      return is_digit(b) && c < kMaxExpDigits ? to(8, c + 1) : false;
    default:
      return false;
  }
}

bool number_final(uint64_t state) {
  const uint64_t p = state / 64;
  return p == 2 || p == 3 || p == 5 || p == 8;
}

bool number_live(bool real, uint64_t state) {
  const uint64_t p = state / 64, c = state % 64;
  switch (p) {
    case 2: return real;
    case 3: return real || c < kMaxIntDigits;
    case 5: return true;
    case 8: return c < kMaxExpDigits;
    default: return true;
  }
}

}  // namespace

int ByteSet::lowest() const {
  for (int i = 0; i < 4; ++i)
    if (w[size_t(i)]) return i * 64 + __builtin_ctzll(w[size_t(i)]);
  return -1;
}

bool Leaf::step(uint64_t state, uint8_t b, uint64_t& out) const {
  switch (kind) {
    case LeafKind::bytes:
      if (state >= sets.size() || !sets[state].test(b)) return false;
      out = state + 1;
      return true;
    case LeafKind::literals: {
      const auto& nx = trie[state].next;
      auto it = std::lower_bound(nx.begin(), nx.end(), b, [](const auto& e, uint8_t v) { return e.first < v; });
      if (it == nx.end() || it->first != b) return false;
      out = uint64_t(it->second);
      return true;
    }
    case LeafKind::string: return string_step(*this, state, b, out);
    case LeafKind::integer: return number_step(false, state, b, out);
    case LeafKind::number: return number_step(true, state, b, out);
  }
  return false;
}

uint8_t Leaf::feed(uint64_t state, uint8_t b, uint64_t& out) const {
  switch (kind) {
    case LeafKind::bytes:
      if (state >= sets.size() || !sets[state].test(b)) return 0;
      out = state + 1;
      return out == sets.size() ? kOk | kFinal : kOk | kLive;
    case LeafKind::string:
      if (!string_step(*this, state, b, out)) return 0;
      return (out & 7) == s_done ? kOk | kFinal : kOk | kLive;
    default:
      if (!step(state, b, out)) return 0;
      return uint8_t(kOk | (is_final(out) ? kFinal : 0) | (is_live(out) ? kLive : 0));
  }
}

bool Leaf::is_final(uint64_t state) const {
  switch (kind) {
    case LeafKind::bytes: return state == sets.size();
    case LeafKind::literals: return trie[state].final;
    case LeafKind::string: return Str::of(state).phase == s_done;
    case LeafKind::integer:
    case LeafKind::number: return number_final(state);
  }
  return false;
}

bool Leaf::is_live(uint64_t state) const {
  switch (kind) {
    case LeafKind::bytes: return state < sets.size();
    case LeafKind::literals: return !trie[state].next.empty();
    case LeafKind::string: return Str::of(state).phase != s_done;
    case LeafKind::integer: return number_live(false, state);
    case LeafKind::number: return number_live(true, state);
  }
  return false;
}

size_t Leaf::min_rest(uint64_t state) const {
  switch (kind) {
    case LeafKind::bytes: return sets.size() - size_t(state);
    case LeafKind::literals: return size_t(trie[state].min_rest);
    case LeafKind::string: return string_min_rest(*this, state);
    case LeafKind::integer:
    case LeafKind::number: return number_final(state) ? 0 : 1;
  }
  return 0;
}

void Leaf::shortest_rest(uint64_t state, std::string& out) const {
  switch (kind) {
    case LeafKind::bytes:
      for (size_t i = size_t(state); i < sets.size(); ++i) out += char(sets[i].lowest());
      return;
    case LeafKind::literals:
      for (auto n = size_t(state); !trie[n].final;) {
        const auto& e = trie[n].next[size_t(trie[n].best)];
        out += char(e.first);
        n = size_t(e.second);
      }
      return;
    case LeafKind::string: string_shortest(*this, state, out); return;
    case LeafKind::integer:
    case LeafKind::number:
      if (!number_final(state)) out += '0';
      return;
  }
}

Leaf literal_leaf(std::string_view bytes) {
  Leaf l;
  l.kind = LeafKind::bytes;
  for (char c : bytes) {
    ByteSet s;
    s.set(uint8_t(c));
    l.sets.push_back(s);
  }
  return l;
}

Leaf literals_leaf(const std::vector<std::string>& options) {
  Leaf l;
  l.kind = LeafKind::literals;
  l.trie.emplace_back();
  for (const std::string& o : options) {
    size_t n = 0;
    for (char ch : o) {
      const auto b = uint8_t(ch);
      auto& nx = l.trie[n].next;
      auto it = std::lower_bound(nx.begin(), nx.end(), b, [](const auto& e, uint8_t v) { return e.first < v; });
      if (it != nx.end() && it->first == b) {
        n = size_t(it->second);
      } else {
        const auto child = int32_t(l.trie.size());
        nx.insert(it, {b, child});
        l.trie.emplace_back();
        n = size_t(child);
      }
    }
    l.trie[n].final = true;
  }
  // Children always have larger indices than their parent: fill shortest paths bottom-up.
  for (size_t i = l.trie.size(); i-- > 0;) {
    TrieNode& t = l.trie[i];
    if (t.final) {
      t.min_rest = 0, t.best = -1;
      continue;
    }
    t.min_rest = std::numeric_limits<int32_t>::max();
    for (size_t k = 0; k < t.next.size(); ++k) {
      const int32_t m = l.trie[size_t(t.next[k].second)].min_rest + 1;
      if (m < t.min_rest) t.min_rest = m, t.best = int16_t(k);
    }
  }
  return l;
}

Leaf string_leaf(int64_t min_len, int64_t max_len) {
  Leaf l;
  l.kind = LeafKind::string;
  l.min_len = min_len;
  l.max_len = max_len;
  return l;
}

int32_t Grammar::add_rule(Rule r) {
  rules_.push_back(std::move(r));
  return int32_t(rules_.size() - 1);
}

int32_t Grammar::add_leaf(Leaf l) {
  leaves_.push_back(std::move(l));
  return int32_t(leaves_.size() - 1);
}

int32_t Grammar::import(const Grammar& g) {
  const auto rule_base = int32_t(rules_.size()), leaf_base = int32_t(leaves_.size());
  leaves_.insert(leaves_.end(), g.leaves_.begin(), g.leaves_.end());
  for (Rule r : g.rules_) {
    for (auto& alt : r.alts)
      for (Elem& e : alt) e.id += e.kind == Elem::leaf ? leaf_base : rule_base;
    rules_.push_back(std::move(r));
  }
  return g.root_ + rule_base;
}

Grammar Grammar::literal(std::string_view text) {
  Grammar g;
  Rule r{{{}}, "literal"};
  if (!text.empty()) r.alts[0].push_back({Elem::leaf, g.add_leaf(literal_leaf(text))});
  g.root_ = g.add_rule(std::move(r));
  (void)g.finalize();
  return g;
}

Grammar Grammar::sequence(const std::vector<Grammar>& parts) {
  Grammar g;
  Rule r{{{}}, "sequence"};
  for (const Grammar& p : parts) r.alts[0].push_back({Elem::ref, g.import(p)});
  g.root_ = g.add_rule(std::move(r));
  (void)g.finalize();
  return g;
}

Grammar Grammar::choice(const std::vector<Grammar>& parts) {
  Grammar g;
  Rule r{{}, "choice"};
  for (const Grammar& p : parts) r.alts.push_back({{Elem::ref, g.import(p)}});
  g.root_ = g.add_rule(std::move(r));
  (void)g.finalize();  // an empty choice has no instance: the matcher starts dead
  return g;
}

Result<Ok> Grammar::finalize() {
  FH_ASSERT(root_ >= 0 && size_t(root_) < rules_.size());
  const size_t R = rules_.size();
  // Shortest length of every rule (fixpoint; an alternative is taken only when strictly shorter,
  // so the chosen alternatives never form a cycle).
  rule_min_.assign(R, kInf);
  best_alt_.assign(R, -1);
  auto elem_min = [&](const Elem& e) {
    return e.kind == Elem::leaf ? leaves_[size_t(e.id)].min_rest(0) : rule_min_[size_t(e.id)];
  };
  auto alt_min = [&](const std::vector<Elem>& alt) {
    size_t s = 0;
    for (const Elem& e : alt) s = sat_add(s, elem_min(e));
    return s;
  };
  // Passes alternate direction: rule chains (array tails, object rests) settle in a few passes.
  for (bool changed = true, down = true; changed; down = !down) {
    changed = false;
    for (size_t i = 0; i < R; ++i)
      for (size_t r = down ? R - 1 - i : i, a = 0; a < rules_[r].alts.size(); ++a)
        if (const size_t m = alt_min(rules_[r].alts[a]); m < rule_min_[r]) {
          rule_min_[r] = m, best_alt_[r] = int32_t(a), changed = true;
        }
  }
  // Left recursion (a rule reaching itself before consuming a byte) would make expansion loop.
  std::vector<std::vector<int32_t>> left(R);
  for (size_t r = 0; r < R; ++r)
    for (const auto& alt : rules_[r].alts)
      for (const Elem& e : alt) {
        if (e.kind == Elem::ref) left[r].push_back(e.id);
        if (elem_min(e) != 0) break;
      }
  std::vector<uint8_t> color(R, 0);  // 0 new, 1 on the path, 2 done
  for (size_t start = 0; start < R; ++start) {
    if (color[start]) continue;
    std::vector<std::pair<int32_t, size_t>> st{{int32_t(start), 0}};
    color[start] = 1;
    while (!st.empty()) {
      auto& [r, i] = st.back();
      if (i == left[size_t(r)].size()) {
        color[size_t(r)] = 2;
        st.pop_back();
        continue;
      }
      const int32_t n = left[size_t(r)][i++];
      if (color[size_t(n)] == 1)
        return make_error(Errc::invalid_argument,
                          "grammar: left recursion through '" + rules_[size_t(n)].name +
                              "' (a recursive $ref that consumes nothing first)");
      if (color[size_t(n)] == 0) color[size_t(n)] = 1, st.push_back({n, 0});
    }
  }
  // Drop alternatives without a finite instance: the matcher must never walk into a dead end.
  for (size_t r = 0; r < R; ++r) {
    auto& alts = rules_[r].alts;
    std::vector<std::vector<Elem>> kept;
    int32_t best = -1;
    for (size_t a = 0; a < alts.size(); ++a) {
      if (alt_min(alts[a]) == kInf) continue;
      if (int32_t(a) == best_alt_[r]) best = int32_t(kept.size());
      kept.push_back(std::move(alts[a]));
    }
    alts = std::move(kept);
    best_alt_[r] = best;
  }
  // Layout.
  flat_.clear();
  alt_starts_.assign(R, {});
  for (size_t r = 0; r < R; ++r)
    for (const auto& alt : rules_[r].alts) {
      alt_starts_[r].push_back(int32_t(flat_.size()));
      flat_.insert(flat_.end(), alt.begin(), alt.end());
      flat_.push_back({Elem::end, -1});
    }
  suffix_min_.assign(flat_.size(), 0);
  for (size_t p = flat_.size(); p-- > 0;)
    suffix_min_[p] = flat_[p].kind == Elem::end ? 0 : sat_add(elem_min(flat_[p]), suffix_min_[p + 1]);
  if (rule_min_[size_t(root_)] == kInf)
    return make_error(Errc::invalid_argument, "grammar: the schema has no finite instance");
  // Nested minItems / minLength multiply: [[[...]]] with minItems 4096 at three levels needs
  // 4096^3 items. shortest_completion() would build that; no generation budget could hold it.
  for (size_t r = 0; r < R; ++r)
    if (rule_min_[r] != kInf && rule_min_[r] > kMaxShortest)
      return make_error(Errc::invalid_argument,
                        "grammar: '" + rules_[r].name + "' needs at least " + std::to_string(rule_min_[r]) +
                            " bytes (limit " + std::to_string(kMaxShortest) + ")");
  return Ok{};
}

void Grammar::shortest_rule(int32_t rule, std::string& out, int depth) const {
  const int32_t a = best_alt_[size_t(rule)];
  if (a < 0 || depth > 100000) return;  // unreachable for finalized grammars
  for (const Elem& e : rules_[size_t(rule)].alts[size_t(a)]) {
    if (e.kind == Elem::leaf) leaves_[size_t(e.id)].shortest_rest(0, out);
    else shortest_rule(e.id, out, depth + 1);
  }
}

void Grammar::shortest_suffix(int32_t p, std::string& out) const {
  for (auto q = size_t(p); flat_[q].kind != Elem::end; ++q) {
    if (flat_[q].kind == Elem::leaf) leaves_[size_t(flat_[q].id)].shortest_rest(0, out);
    else shortest_rule(flat_[q].id, out, 0);
  }
}

}  // namespace fh::grammar
