// Deterministic randomness for the mutation-fuzz tests: a 64-bit LCG (Knuth's MMIX constants),
// high bits out. A fixed seed gives the same inputs on every run, so a failure reproduces.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fh::test {

struct Lcg {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(s >> 33);
  }
  size_t below(size_t n) { return n ? next() % n : 0; }
};

}  // namespace fh::test
