// Shared helpers of the kernel tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::test {

// `n` normally distributed floats (mean 0, sd `scale`), the same for the same seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Every kernel table this CPU runs, scalar first; leaves the best one selected.
inline std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx_vnni, Isa::avx512})
    if (force_isa(i)) v.push_back(i);
  force_isa(best_isa());
  return v;
}

}  // namespace fh::kernel::test
