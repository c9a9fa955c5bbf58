// Inline helpers shared by the AVX2 translation units (quant_avx2*.cpp). Include ONLY from
// files compiled with -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "providers/local/kernel/q4_kx8_scales.hpp"  // unpack_scales_k45
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

// Chunk k (0..3) of a Q4_K / Q5_K super-block: its 32 quant bytes hold sub-block 2k in the low
// nibbles and 2k + 1 in the high ones; Q5_K adds each one's fifth bit from qh (bits 2k, 2k + 1).
template <bool kQ5>
inline void k45_chunk(const uint8_t* qs, __m256i qh, int k, __m256i& lo, __m256i& hi) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * k));
  lo = _mm256_and_si256(q, m4);
  hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
  if constexpr (kQ5) {
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), one), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), one), 4));
  }
}

// Half h (0, 1) of a Q6_K super-block, decoded for maddubs: calls f(k, q, scale) for k = 0..3,
// where q holds elements 128h + 32k .. +31 as stored (0..63, i.e. +32) and scale the int16
// scales of their two 16-element sub-blocks (lanes 0-7: scales[8h + 2k], lanes 8-15:
// scales[8h + 2k + 1]), ready for madd. The low 4 bits come from ql, bits 4-5 from qh's 2-bit
// field k (the 16-bit shifts spill between bytes; the mask drops it). Each scale sits in both
// int16 halves of an int32 lane, so a pair is one lane permute. (A callback, not a returned
// array: GCC kept such an array in memory, 7 % slower.)
template <class F>
inline void for_q6_k_half(const BlockQ6_K& b, int h, F&& f) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
  const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
  const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
  // The half's 8 scales as int16 in both 128-bit lanes; pair(k) puts scale 2k in every int16 of
  // the low lane and 2k+1 in the high lane (one in-lane byte shuffle).
  const __m128i s16 = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales + 8 * h)));
  const __m256i s16x2 = _mm256_broadcastsi128_si256(s16);
  auto pair = [&](int k) {
    const char lo0 = char(4 * k), lo1 = char(4 * k + 1), hi0 = char(4 * k + 2), hi1 = char(4 * k + 3);
    return _mm256_shuffle_epi8(s16x2, _mm256_setr_epi8(lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1,
                                                       hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1));
  };
  f(0, _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)), pair(0));
  f(1, _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)), pair(1));
  f(2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)), pair(2));
  f(3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)), pair(3));
}

// Installs the prompt-processing tiles (quant_avx2_gemm.cpp).
void fill_gemm(Kernels& k) noexcept;
// Installs the attention and activation kernels (attention_avx2.cpp).
void fill_attention(Kernels& k) noexcept;

}  // namespace fh::kernel::avx2
