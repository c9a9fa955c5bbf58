// Inline helpers shared by the AVX2 translation units (quant_avx2*.cpp). Include ONLY from
// files compiled with -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::avx2 {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}


// 32 nibbles of a Q4_0 block: bytes 0..15 = low nibbles (elements 0..15), 16..31 = high.
inline __m256i nibbles32(const uint8_t* p) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// Signed int8 x int8 dot of 32 pairs, as 8 int32 partial sums.
inline __m256i dot_i8(__m256i x, __m256i y) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// Installs the prompt-processing tiles (quant_avx2_gemm.cpp).
void fill_gemm(Kernels& k) noexcept;
// Installs the attention and activation kernels (attention_avx2.cpp).
void fill_attention(Kernels& k) noexcept;

}  // namespace fh::kernel::avx2
