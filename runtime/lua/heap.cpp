#include "runtime/lua/heap.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// Free and not-yet-carved blocks are poisoned, so a C++ use of a Lua block (a userdata, a
// string) after Lua freed it still trips AddressSanitizer.
#define FH_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define FH_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define FH_POISON(p, n) ((void)(p), (void)(n))
#define FH_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace fh::lua {

SlabHeap::~SlabHeap() {
  for (void* s : slabs_) {
    FH_UNPOISON(s, kSlabBytes);
    std::free(s);
  }
}

void* SlabHeap::take(size_t cls) {
  const size_t bytes = (cls + 1) * kGrain;
  if (FreeBlock* b = free_[cls]) {
    FH_UNPOISON(b, bytes);
    free_[cls] = b->next;
    return b;
  }
  if (size_t(end_ - cur_) < bytes) {
    // The old slab's tail (under 512 bytes) feeds the free lists rather than being lost.
    while (size_t(end_ - cur_) >= kGrain) {
      const size_t c = class_of(std::min(size_t(end_ - cur_), kMaxSmall));
      FH_UNPOISON(cur_, kGrain);
      auto* b = reinterpret_cast<FreeBlock*>(cur_);
      b->next = free_[c];
      free_[c] = b;
      FH_POISON(cur_, (c + 1) * kGrain);
      cur_ += (c + 1) * kGrain;
    }
    try {
      slabs_.push_back(nullptr);  // room first: nothing may throw into Lua
    } catch (...) {
      return nullptr;
    }
    void* s = std::aligned_alloc(kGrain, kSlabBytes);
    if (!s) {
      slabs_.pop_back();
      return nullptr;
    }
    slabs_.back() = s;
    FH_POISON(s, kSlabBytes);
    cur_ = static_cast<char*>(s);
    end_ = cur_ + kSlabBytes;
  }
  FH_UNPOISON(cur_, bytes);
  void* p = cur_;
  cur_ += bytes;
  return p;
}

void SlabHeap::release(void* p, size_t size) {
  if (!p) return;
  if (size > kMaxSmall) {
    std::free(p);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  const size_t c = class_of(size);
  b->next = free_[c];
  free_[c] = b;
  FH_POISON(b, (c + 1) * kGrain);
}

void* SlabHeap::resize(void* p, size_t old, size_t size) {
  if (!p) old = 0;
  const bool small_old = old > 0 && old <= kMaxSmall, small_new = size <= kMaxSmall;
  if (!small_old && !small_new && old > 0) return std::realloc(p, size);  // large to large
  if (small_old && small_new && class_of(old) == class_of(size)) return p;
  void* q = small_new ? take(class_of(size)) : std::malloc(size);
  if (!q) return nullptr;
  if (old > 0) {
    std::memcpy(q, p, std::min(old, size));
    release(p, old);
  }
  return q;
}

}  // namespace fh::lua
