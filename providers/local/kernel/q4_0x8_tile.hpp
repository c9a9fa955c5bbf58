// The Q4_0 prompt tile over 8 interleaved rows (BlockQ4_0x8) x gemm_x8_cols tokens, shared by the
// AVX2 and AVX-VNNI units: the 8 unpacked weight registers of a block serve every token. Only
// the integer dot of one block differs between them: `block_dot(r, b)` returns the 8 rows' sums
// (the -8 offset included) from the registers r[8] (r[k]: the 8 rows' nibbles 4k..4k+3) and one
// token's activation block b. Each unit passes a lambda, so each instantiation is its own
// (internal linkage) and keeps that unit's instruction set. Include only from those units.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {

template <class BlockDot>
inline void gemm_q4_0x8_tile(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy,
                             BlockDot block_dot) {
  const auto* g = static_cast<const BlockQ4_0x8*>(group);
  const char* ab = static_cast<const char*>(act);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[gemm_x8_cols];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i r[8];
    for (int k = 0; k < 4; ++k) {
      const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[i].qs + 32 * k));
      r[k] = _mm256_and_si256(p, m4);
      r[k + 4] = _mm256_and_si256(_mm256_srli_epi16(p, 4), m4);
    }
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    for (int c = 0; c < gemm_x8_cols; ++c) {
      const BlockQ8_0S& b = reinterpret_cast<const BlockQ8_0S*>(ab + size_t(c) * a_stride)[i];
      const __m256i isum = block_dot(r, b);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(b.d)), _mm256_cvtepi32_ps(isum), acc[c]);
    }
  }
  for (int c = 0; c < gemm_x8_cols; ++c) _mm256_storeu_ps(y + size_t(c) * ldy, acc[c]);
}

}  // namespace fh::kernel
