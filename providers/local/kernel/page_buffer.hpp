// Zero-filled memory straight from the OS in one anonymous mapping, with transparent huge pages
// requested (a hint: without THP it works on 4 KiB pages). For the large buffers decode walks on
// every token (interleaved weight copies, the KV cache): with 4 KiB pages each new page costs a
// TLB miss, and the page-table lines it needs have been evicted by the weight stream.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fh::kernel {

class PageBuffer {
 public:
  PageBuffer() = default;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  ~PageBuffer();

  // Replaces the contents with `bytes` zero bytes (rounded up to 2 MiB); false when out of memory
  // (the buffer is then empty). `fault_in`: take the page faults (and the kernel's zeroing of each
  // page) now rather than on first use, so a later hot loop does not pay them.
  bool allocate(size_t bytes, bool fault_in = false);
  uint8_t* data() const { return base_; }
  size_t size() const { return size_; }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fh::kernel
