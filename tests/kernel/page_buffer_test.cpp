// PageBuffer: the zero-filled, huge-page-hinted buffer behind the interleaved weight copies and
// the KV cache.
#include <doctest/doctest.h>

#include <cstdint>

#include "providers/local/kernel/page_buffer.hpp"

using fh::kernel::PageBuffer;

TEST_CASE("PageBuffer hands out zeroed, writable memory in whole 2 MiB units") {
  PageBuffer b;
  CHECK(b.data() == nullptr);
  CHECK(b.size() == 0);
  REQUIRE(b.allocate(5));
  CHECK(b.size() == (size_t(2) << 20));
  for (size_t i = 0; i < b.size(); i += 4093) CHECK(b.data()[i] == 0);
  b.data()[0] = 7, b.data()[b.size() - 1] = 9;
  REQUIRE(b.allocate((size_t(2) << 20) + 1));  // replaces the old contents
  CHECK(b.size() == (size_t(4) << 20));
  CHECK(b.data()[0] == 0);
  CHECK(b.data()[b.size() - 1] == 0);
  REQUIRE(b.allocate(3 << 20, true));  // faulted in up front: the same zeroed memory
  CHECK(b.size() == (size_t(4) << 20));
  for (size_t i = 0; i < b.size(); i += 4093) CHECK(b.data()[i] == 0);
}

TEST_CASE("PageBuffer refuses an impossible size and is then empty") {
  PageBuffer b;
  REQUIRE(b.allocate(100));
  CHECK_FALSE(b.allocate(SIZE_MAX));
  CHECK(b.data() == nullptr);
  CHECK(b.size() == 0);
  CHECK(b.allocate(0));
  CHECK(b.size() == 0);
}
