// fh::lua::SlabHeap — where a plan's Lua objects live.
// Lua tells its allocator the size of every block it frees or resizes, so small blocks need no
// header: they are carved from 64 KiB slabs in 16-byte classes and recycled through one free
// list per class. Against malloc this saves the 8-16 bytes of chunk header and rounding on each
// of the many small objects a run holds (tables, nodes, strings, closures), and the bin searches
// malloc does when thousands of runs allocate and free in turn. Blocks above kMaxSmall go to
// malloc. Slabs are returned when the heap (the run's engine) goes away. Not thread-safe: one
// per Lua state, used on the thread that runs it.
#pragma once

#include <cstddef>
#include <vector>

namespace fh::lua {

class SlabHeap {
 public:
  static constexpr size_t kGrain = 16;       // class width; also the blocks' alignment
  static constexpr size_t kMaxSmall = 512;   // larger blocks come from malloc
  static constexpr size_t kSlabBytes = size_t(64) << 10;

  SlabHeap() = default;
  SlabHeap(const SlabHeap&) = delete;
  SlabHeap& operator=(const SlabHeap&) = delete;
  ~SlabHeap();

  // Lua's allocator contract: `old` is the block's current size (0 for a new block); returns
  // nullptr only when memory is exhausted, with `p` untouched.
  void* resize(void* p, size_t old, size_t size);
  void release(void* p, size_t size);

  size_t slab_bytes() const noexcept { return slabs_.size() * kSlabBytes; }

 private:
  struct FreeBlock { FreeBlock* next; };
  static constexpr size_t kClasses = kMaxSmall / kGrain;
  static size_t class_of(size_t n) noexcept { return n ? (n - 1) / kGrain : 0; }
  void* take(size_t cls);

  FreeBlock* free_[kClasses] = {};
  char* cur_ = nullptr;  // the unused tail of the newest slab
  char* end_ = nullptr;
  std::vector<void*> slabs_;
};

}  // namespace fh::lua
