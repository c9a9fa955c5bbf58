#include "providers/local/kernel/page_buffer.hpp"

#include <sys/mman.h>

namespace fh::kernel {

PageBuffer::~PageBuffer() {
  if (base_) ::munmap(base_, size_);
}

bool PageBuffer::allocate(size_t bytes, bool fault_in) {
  if (base_) ::munmap(base_, size_);
  base_ = nullptr, size_ = 0;
  constexpr size_t huge = size_t(2) << 20;
  if (bytes == 0) return true;
  if (bytes > SIZE_MAX - huge) return false;
  const size_t size = (bytes + huge - 1) / huge * huge;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  base_ = static_cast<uint8_t*>(p), size_ = size;
#ifdef MADV_HUGEPAGE
  ::madvise(base_, size_, MADV_HUGEPAGE);
#endif
  if (fault_in)
    for (size_t o = 0; o < size_; o += 4096) reinterpret_cast<volatile uint8_t*>(base_)[o] = 0;
  return true;
}

}  // namespace fh::kernel
