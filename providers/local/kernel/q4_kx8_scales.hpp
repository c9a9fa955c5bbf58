// The scales and mins of 8 interleaved Q4_K rows (BlockQ4_Kx8) in 256-bit registers, for the
// AVX2 and AVX-512 units' Q4_K kernels. Include only from units compiled with at least -mavx2.
// The helpers sit in an unnamed namespace: every unit has its own copy, compiled for its own
// instruction set, so an AVX-512 copy can never be the one an AVX2 unit calls.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {
namespace {

struct ScalesK4x8 {
  __m256i sc_lo, sc_hi, m_lo, m_hi;  // lane r: bytes sc0..3 / sc4..7 / m0..3 / m4..7 of row r
};

inline ScalesK4x8 unpack_scales_k4x8(const uint8_t* s) {
  const __m256i u0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
  const __m256i u1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32));
  const __m256i u2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 64));
  const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f), m4 = _mm256_set1_epi32(0x0f0f0f0f), m2 = _mm256_set1_epi32(0x03030303);
  ScalesK4x8 r;
  r.sc_lo = _mm256_and_si256(u0, m6);
  r.m_lo = _mm256_and_si256(u1, m6);
  r.sc_hi = _mm256_or_si256(_mm256_and_si256(u2, m4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m2), 4));
  r.m_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m2), 4));
  return r;
}

// pshufb control giving each 32-bit lane the int16 pair (byte a, byte b) of that lane.
inline __m256i pair_ctl(int a, int b) {
  const uint64_t lo = 0x80008000u | uint64_t(a) | uint64_t(b) << 16;
  const uint64_t q0 = lo | (lo + 0x40004) << 32;
  const uint64_t q1 = (lo + 0x80008) | (lo + 0xC000C) << 32;
  return _mm256_set_epi64x(int64_t(q1), int64_t(q0), int64_t(q1), int64_t(q0));
}

// Lane r = sum_j m_rj * bsum_j for one Q8_K activation block.
inline __m256i mins_k4x8(const ScalesK4x8& sc, const BlockQ8_K& y, const __m256i* ctl) {
  const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y.bsums)),
                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(y.bsums + 8)));
  const __m256i b2 = _mm256_broadcastsi128_si256(bs);  // int32 lane q = (bsum_2q, bsum_2q+1)
  __m256i acc = _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_lo, ctl[0]), _mm256_shuffle_epi32(b2, 0x00));
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_lo, ctl[1]), _mm256_shuffle_epi32(b2, 0x55)));
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_hi, ctl[0]), _mm256_shuffle_epi32(b2, 0xAA)));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_hi, ctl[1]), _mm256_shuffle_epi32(b2, 0xFF)));
}

}  // namespace
}  // namespace fh::kernel
