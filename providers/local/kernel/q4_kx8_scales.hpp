// Scales and mins of K-quant super-blocks for the AVX2 and AVX-512 units: one Q4_K / Q5_K
// super-block's (unpack_scales_k45), and 8 interleaved Q4_K rows' (BlockQ4_Kx8) in 256-bit
// registers. Include only from units compiled with at least -mavx2.
// The helpers sit in an unnamed namespace: every unit has its own copy, compiled for its own
// instruction set, so an AVX-512 copy can never be the one an AVX2 unit calls.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {
namespace {

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block, from its 12 packed bytes: scales
// as bytes, mins as 8 int16 (for one madd against the activation's pair-summed bsums).
struct ScalesK45 {
  uint8_t sc[8];
  __m128i sc16, mins;  // the scales and the mins as 8 int16
};

inline ScalesK45 unpack_scales_k45(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  ScalesK45 r;
  std::memcpy(r.sc, &sc_lo, 4);
  std::memcpy(r.sc + 4, &sc_hi, 4);
  r.sc16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, int(sc_hi), int(sc_lo)));
  r.mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, int(m_hi), int(m_lo)));
  return r;
}

// sum_j min_j * bsum_j over the 8 sub-blocks (bs: the activation's 16 block sums added in
// pairs), the integer that multiplies dmin * d_y.
inline int k45_mins_dot(__m128i bs, const ScalesK45& s) {
  const __m128i pm = _mm_madd_epi16(bs, s.mins);
  __m128i t = _mm_add_epi32(pm, _mm_shuffle_epi32(pm, 0x4E));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
  return _mm_cvtsi128_si32(t);
}

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
