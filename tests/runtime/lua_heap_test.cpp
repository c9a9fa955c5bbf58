// fh::lua::SlabHeap: Lua's allocator contract (sizes given back on free and resize), contents kept
// across moves between classes and to malloc, alignment, and reuse of freed blocks.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/lua/heap.hpp"

using fh::lua::SlabHeap;

namespace {
struct Block {
  void* p;
  size_t n;
  uint8_t tag;
};
void fill(const Block& b) { std::memset(b.p, b.tag, b.n); }
bool intact(const Block& b, size_t n) {
  const auto* c = static_cast<const uint8_t*>(b.p);
  for (size_t i = 0; i < n; ++i)
    if (c[i] != b.tag) return false;
  return true;
}
}  // namespace

TEST_CASE("slab heap: random allocate / resize / free keeps every live block's bytes and alignment") {
  SlabHeap h;
  std::mt19937 rng(7);
  std::vector<Block> live;
  auto size = [&] {  // mostly small, some at the class edges, some large
    switch (rng() % 6) {
      case 0: return size_t(SlabHeap::kMaxSmall - 1 + rng() % 3);
      case 1: return size_t(SlabHeap::kMaxSmall + 1 + rng() % 4000);
      default: return size_t(1 + rng() % 200);
    }
  };
  for (int step = 0; step < 60000; ++step) {
    const unsigned op = rng() % 3;
    if (op == 0 || live.empty()) {
      Block b{nullptr, size(), uint8_t(rng())};
      b.p = h.resize(nullptr, 0, b.n);
      REQUIRE(b.p != nullptr);
      CHECK(reinterpret_cast<uintptr_t>(b.p) % SlabHeap::kGrain == 0);
      fill(b);
      live.push_back(b);
    } else if (op == 1) {
      Block& b = live[rng() % live.size()];
      const size_t n = size();
      void* q = h.resize(b.p, b.n, n);
      REQUIRE(q != nullptr);
      b.p = q;
      REQUIRE(intact(b, std::min(b.n, n)));
      b.n = n;
      fill(b);
    } else {
      const size_t i = rng() % live.size();
      REQUIRE(intact(live[i], live[i].n));
      h.release(live[i].p, live[i].n);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (const auto& b : live) {
    CHECK(intact(b, b.n));
    h.release(b.p, b.n);
  }
}

TEST_CASE("slab heap: a freed small block is reused by its class; a resize within the class stays put") {
  SlabHeap h;
  void* a = h.resize(nullptr, 0, 40);
  CHECK(h.resize(a, 40, 48) == a);  // 33..48 is one class
  h.release(a, 48);
  CHECK(h.resize(nullptr, 0, 33) == a);
  void* b = h.resize(nullptr, 0, 100);
  CHECK(b != a);
  const size_t slabs = h.slab_bytes();
  for (int i = 0; i < 1000; ++i) h.release(h.resize(nullptr, 0, 64), 64);
  CHECK(h.slab_bytes() == slabs);  // alloc-free cycles take no new memory
  CHECK(h.resize(nullptr, 0, 0) != nullptr);  // zero-size requests are never made by Lua, but hold
}
