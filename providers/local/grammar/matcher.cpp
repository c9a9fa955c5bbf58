// Matcher: a set of persistent stacks advanced byte by byte; mask() walks the token trie
// depth-first, advancing the stacks along each edge and truncating the arena on the way back.
#include "providers/local/grammar/matcher.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace fh::grammar {
namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

constexpr int kExpandGuard = 4096;  // recursion through rules that consume nothing
constexpr int kExpandDedupAfter = 64;  // expand() calls before repeats are looked for

}  // namespace

Matcher::Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenIndex> index)
    : g_(std::move(grammar)), index_(std::move(index)) {
  FH_ASSERT(g_ && index_ && g_->root() >= 0);
  reset();
}

void Matcher::reset() {
  nodes_.clear();
  cur_.clear();
  complete_ = false, finished_ = false;
  for (int32_t a : g_->alt_starts(g_->root())) expand(a, -1, cur_, 0, complete_, 0);
}

int32_t Matcher::new_frame(int32_t pos, int32_t parent) const {
  Node n;
  n.pos = pos, n.parent = parent;
  const Node* p = parent >= 0 ? &nodes_[size_t(parent)] : nullptr;
  n.depth = p ? p->depth + 1 : 0;
  n.rest = g_->suffix_min(pos) + (p ? p->rest : 0);
  n.hash = mix(p ? p->hash : 0x51ED27, uint64_t(uint32_t(pos)));
  nodes_.push_back(n);
  return int32_t(nodes_.size() - 1);
}

bool Matcher::same_frames(int32_t a, int32_t b) const {
  while (a != b) {
    if (a < 0 || b < 0) return false;
    const Node &x = nodes_[size_t(a)], &y = nodes_[size_t(b)];
    if (x.hash != y.hash || x.pos != y.pos) return false;
    a = x.parent, b = y.parent;
  }
  return true;
}

size_t Matcher::cost(const Top& t) const {
  return g_->leaf(g_->flat()[size_t(t.pos)].id).min_rest(t.state) + g_->suffix_min(t.pos + 1) +
         (t.parent >= 0 ? nodes_[size_t(t.parent)].rest : 0);
}

void Matcher::push_top(Top t, std::vector<Top>& out, size_t out_begin) const {
  if (out.size() - out_begin >= kMaxStacks) return;
  for (size_t i = out_begin; i < out.size(); ++i)
    if (out[i].pos == t.pos && out[i].state == t.state && same_frames(out[i].parent, t.parent)) return;
  out.push_back(t);
}

void Matcher::expand(int32_t pos, int32_t parent, std::vector<Top>& out, size_t out_begin, bool& complete,
                     int guard) const {
  if (guard > kExpandGuard) return;
  // Alternatives that reach the same rule by several paths (anyOf of $refs of anyOf ...) would
  // expand it once per path, 2^depth times: past a few dozen calls, expand each (pos, frame) once.
  // Equal pairs expand to equal tops, so skipping repeats changes nothing.
  if (guard == 0) {
    expand_calls_ = 0;
    if (!expanded_.empty()) expanded_.clear();
  }
  if (++expand_calls_ > kExpandDedupAfter &&
      !expanded_.insert((uint64_t(uint32_t(pos)) << 32) | uint32_t(parent)).second)
    return;
  const auto& flat = g_->flat();
  const Elem e = flat[size_t(pos)];
  switch (e.kind) {
    case Elem::end:
      if (parent < 0) {
        complete = true;
      } else {
        const Node p = nodes_[size_t(parent)];
        expand(p.pos, p.parent, out, out_begin, complete, guard + 1);
      }
      return;
    case Elem::leaf:
      push_top({pos, parent, 0}, out, out_begin);
      return;
    case Elem::ref: {
      int32_t frame = parent;  // a reference in tail position needs no return frame
      if (flat[size_t(pos) + 1].kind != Elem::end) {
        if (parent >= 0 && nodes_[size_t(parent)].depth >= kMaxStackDepth) return;
        frame = new_frame(pos + 1, parent);
      }
      for (int32_t a : g_->alt_starts(e.id)) expand(a, frame, out, out_begin, complete, guard + 1);
      return;
    }
  }
}

bool Matcher::advance(const std::vector<Top>& src, size_t begin, size_t end, uint8_t b, std::vector<Top>& out) const {
  bool complete = false;
  const size_t out_begin = out.size();
  const auto& flat = g_->flat();
  for (size_t i = begin; i < end; ++i) {
    const Top t = src[i];  // a copy: out may be src and grow below
    const Leaf& leaf = g_->leaf(flat[size_t(t.pos)].id);
    uint64_t next;
    const uint8_t f = leaf.feed(t.state, b, next);
    if (f & Leaf::kLive) push_top({t.pos, t.parent, next}, out, out_begin);
    if (f & Leaf::kFinal) expand(t.pos + 1, t.parent, out, out_begin, complete, 0);
  }
  return complete;
}

bool Matcher::fits(size_t need) const {
  // The rest must fit in budget - 1 tokens (one per byte at worst), the EOG token included.
  return budget_ == SIZE_MAX || (budget_ >= 2 && need <= budget_ - 2);
}

void Matcher::mark(uint32_t c) const {
  const auto& tn = index_->nodes()[c];
  const auto& toks = index_->tokens();
  for (uint32_t t = tn.tok_begin; t < tn.tok_end; ++t) allowed_[size_t(toks[t])] = 1;
}

// Child c of the trie, reached from the stacks scratch_[begin..end).
void Matcher::visit(uint32_t c, size_t begin, size_t end) const {
  const auto& tn = index_->nodes();
  const size_t arena = nodes_.size(), s0 = scratch_.size();
  const bool complete = advance(scratch_, begin, end, tn[c].byte, scratch_);
  const size_t s1 = scratch_.size();
  if ((s1 > s0 || complete) && tn[c].tok_begin < tn[c].tok_end) {
    size_t need = complete ? 0 : SIZE_MAX;
    if (budget_ != SIZE_MAX)
      for (size_t i = s0; i < s1 && need > 0; ++i) need = std::min(need, cost(scratch_[i]));
    if (fits(need)) mark(c);
  }
  if (s1 > s0 && tn[c].child_begin < tn[c].child_end) walk(c, s0, s1);
  scratch_.resize(s0);
  nodes_.resize(arena);
}

void Matcher::walk(uint32_t node, size_t begin, size_t end) const {
  const auto& tn = index_->nodes();
  if (end - begin == 1) return walk_one(node, scratch_[begin]);
  for (uint32_t c = tn[node].child_begin; c < tn[node].child_end; ++c) visit(c, begin, end);
}

// One stack: a byte that keeps its top leaf going (not final) needs no expansion, no arena node
// and no scratch entry: the common case inside strings, numbers and literals.
void Matcher::walk_one(uint32_t node, Top t) const {
  const auto& tn = index_->nodes();
  const Leaf& leaf = g_->leaf(g_->flat()[size_t(t.pos)].id);
  const size_t tail = budget_ == SIZE_MAX ? 0 : cost(t) - leaf.min_rest(t.state);
  for (uint32_t c = tn[node].child_begin; c < tn[node].child_end; ++c) {
    uint64_t next;
    const uint8_t f = leaf.feed(t.state, tn[c].byte, next);
    if (f & Leaf::kFinal) {  // the leaf may end here: the general path
      const size_t s0 = scratch_.size();
      scratch_.push_back(t);
      visit(c, s0, s0 + 1);
      scratch_.resize(s0);
      continue;
    }
    if (!(f & Leaf::kLive)) continue;
    if (tn[c].tok_begin < tn[c].tok_end && (budget_ == SIZE_MAX || fits(leaf.min_rest(next) + tail))) mark(c);
    if (tn[c].child_begin < tn[c].child_end) walk_one(c, {t.pos, t.parent, next});
  }
}

bool Matcher::simulate(std::string_view bytes) const {
  const size_t arena = nodes_.size();
  std::vector<Top> a = cur_, b;
  bool ok = !bytes.empty(), complete = false;
  for (size_t i = 0; i < bytes.size() && ok; ++i) {
    b.clear();
    complete = advance(a, 0, a.size(), uint8_t(bytes[i]), b);
    ok = !b.empty() || (complete && i + 1 == bytes.size());
    a.swap(b);
  }
  if (ok && budget_ != SIZE_MAX) {
    size_t need = complete ? 0 : SIZE_MAX;
    for (const Top& t : a) need = std::min(need, cost(t));
    ok = budget_ >= 2 && need <= budget_ - 2;
  }
  nodes_.resize(arena);
  return ok;
}

void Matcher::apply(std::span<float> logits) const {
  if (complete_ && !finished_)
    for (int32_t id : index_->eog()) allowed_[size_t(id)] = 1;
  for (size_t i = 0; i < logits.size(); ++i)
    if (i >= allowed_.size() || !allowed_[i]) logits[i] = -INFINITY;
}

void Matcher::mask(std::span<float> logits, size_t budget) const {
  allowed_.assign(index_->size(), 0);
  budget_ = budget;
  if (can_continue()) {
    scratch_.assign(cur_.begin(), cur_.end());
    walk(0, 0, scratch_.size());
    scratch_.clear();
    for (int32_t id : index_->long_tokens())
      if (simulate(index_->bytes(id))) allowed_[size_t(id)] = 1;
  }
  budget_ = SIZE_MAX;
  apply(logits);
}

bool Matcher::accept(int32_t token) {
  if (finished_ || token < 0 || size_t(token) >= index_->size()) return false;
  if (index_->is_eog(token)) {
    if (!complete_) return false;
    finished_ = true;
    return true;
  }
  return accept_bytes(index_->bytes(token));
}

bool Matcher::accept_bytes(std::string_view bytes) {
  if (finished_ || bytes.empty()) return false;
  const size_t arena = nodes_.size();
  std::vector<Top> a = cur_, b;
  bool complete = complete_;
  for (size_t i = 0; i < bytes.size(); ++i) {
    b.clear();
    complete = advance(a, 0, a.size(), uint8_t(bytes[i]), b);
    if (b.empty() && !(complete && i + 1 == bytes.size())) {
      nodes_.resize(arena);
      return false;
    }
    a.swap(b);
  }
  cur_ = std::move(a);
  complete_ = complete;
  if (nodes_.size() > 4096 && nodes_.size() > 64 * (cur_.size() + 1)) compact();
  return true;
}

// Copies the frames of the live stacks into a fresh arena (accepted bytes leave dead frames).
void Matcher::compact() {
  std::vector<Node> fresh;
  std::unordered_map<int32_t, int32_t> moved;
  std::vector<int32_t> chain;
  for (Top& top : cur_) {
    chain.clear();
    for (int32_t n = top.parent; n >= 0 && !moved.count(n); n = nodes_[size_t(n)].parent) chain.push_back(n);
    for (size_t i = chain.size(); i-- > 0;) {
      Node n = nodes_[size_t(chain[i])];
      if (n.parent >= 0) n.parent = moved.at(n.parent);
      fresh.push_back(n);
      moved[chain[i]] = int32_t(fresh.size() - 1);
    }
    if (top.parent >= 0) top.parent = moved.at(top.parent);
  }
  nodes_ = std::move(fresh);
}

std::string Matcher::shortest_completion() const {
  std::string out;
  if (complete_ || cur_.empty()) return out;
  size_t best_cost = SIZE_MAX;
  const Top* best = nullptr;
  for (const Top& t : cur_)
    if (const size_t c = cost(t); c < best_cost) best_cost = c, best = &t;
  if (!best) return out;
  g_->leaf(g_->flat()[size_t(best->pos)].id).shortest_rest(best->state, out);
  g_->shortest_suffix(best->pos + 1, out);
  for (int32_t f = best->parent; f >= 0; f = nodes_[size_t(f)].parent) g_->shortest_suffix(nodes_[size_t(f)].pos, out);
  return out;
}

}  // namespace fh::grammar
