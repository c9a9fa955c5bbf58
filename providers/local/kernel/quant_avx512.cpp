// Decode kernels with 512-bit registers (AVX-512 F/BW/VL + VNNI) for the 8-row layouts. A
// decode product reads each weight byte once, so on a core whose memory keeps up (52-55 GB/s on
// 2 Zen 5 vCPUs) the AVX2 kernels ran out of vector instructions first: Q4_0 and Q4_K streamed
// at 65-75 % of the read probe. One zmm holds two of a block's 32-byte registers (k and k + 1),
// each half multiplied by its own activation group, moved into place by one vpermd from the
// block's 32 activation bytes; the two halves are summed once per block (Q4_0) or super-block
// (Q4_K). Integer sums are exact and the float steps per block are those of the AVX2 and scalar
// kernels, in the same order, so results are bit-identical to them.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (and AVX2/FMA/F16C); installed by
// fill_avx512_kernels() only when the CPU has all of them. Like the VNNI unit it includes no
// shared inline SIMD helpers (their out-of-line copies could carry AVX-512 into other units).
// GCC 12's 512-bit intrinsics (broadcast, extract, insert, permutexvar) start from
// _mm512_undefined_*() and trip -Wuninitialized at every use (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::avx512 {
namespace {

// vpermd indices putting activation group a in the low 256 bits and b in the high 256 bits.
inline __m512i groups(int a, int b) {
  return _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
}

inline __m256i halves_sum(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// --- Q4_0 by 8 rows (BlockQ4_0x8) ------------------------------------------------------------
// Register k of a block (bytes 32k..32k+31) holds the 8 rows' elements 4k..4k+3 in its low
// nibbles and 16+4k..16+4k+3 in its high ones (quant.hpp). zmm j (j = 0, 1) = registers 2j, 2j+1:
// low nibbles pair with activation groups (2j, 2j+1), high nibbles with (2j+4, 2j+5). vpdpbusd
// (unsigned weight nibbles x signed activation bytes, four products into each int32) leaves lane
// r of each half = part of row r's dot; the -8 offset enters as -s8 after the halves are added.
void gemv_q4_0x8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_0x8*>(group);
  const auto* y = static_cast<const BlockQ8_0S*>(act);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i g01 = groups(0, 1), g23 = groups(2, 3), g45 = groups(4, 5), g67 = groups(6, 7);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const char* pf = reinterpret_cast<const char*>(g + i + 32);  // as the AVX2 kernel: ~4.5 KiB ahead
    _mm_prefetch(pf, _MM_HINT_T0);
    _mm_prefetch(pf + 64, _MM_HINT_T0);
    _mm_prefetch(pf + 128, _MM_HINT_T0);
    const __m512i a = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    const __m512i p0 = _mm512_loadu_si512(g[i].qs), p1 = _mm512_loadu_si512(g[i].qs + 64);
    __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(p0, m4), _mm512_permutexvar_epi32(g01, a));
    __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(p0, 4), m4),
                                     _mm512_permutexvar_epi32(g45, a));
    s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(p1, m4), _mm512_permutexvar_epi32(g23, a));
    s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(p1, 4), m4), _mm512_permutexvar_epi32(g67, a));
    const __m256i isum = _mm256_sub_epi32(halves_sum(_mm512_add_epi32(s0, s1)), _mm256_set1_epi32(y[i].s8));
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(y[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  _mm256_storeu_ps(out, acc);
}

// --- Q4_K by 8 rows (BlockQ4_Kx8) ------------------------------------------------------------
// Sub-block j (32 elements) of the 8 rows is chunk j / 2's 8 registers (nibble j % 2), register m
// holding elements 4m..4m+3 of each row. zmm q = registers 2q, 2q+1 against activation groups
// (2q, 2q+1) of the sub-block: 4 maddubs whose int16 pair sums add up without overflow
// (4 * 2 * 15 * 128 < 32768), then one madd with the rows' 6-bit scales (lane r = (sc_r, sc_r),
// in both halves) to int32. The halves are added once per super-block. Mins and the float steps
// are those of the AVX2 kernel.
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

// The pshufb control giving each 32-bit lane the int16 pair (byte a, byte b) of that lane.
inline __m256i pair_idx(int a, int b) {
  alignas(32) uint8_t idx[32];
  for (int r = 0; r < 8; ++r) {
    const int base = 4 * (r % 4);  // pshufb indexes within a 128-bit half
    idx[4 * r] = uint8_t(base + a), idx[4 * r + 1] = 0x80, idx[4 * r + 2] = uint8_t(base + b), idx[4 * r + 3] = 0x80;
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
}

void gemv_q4_kx8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_Kx8*>(group);
  const auto* yb = static_cast<const BlockQ8_K*>(act);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i gq[4] = {groups(0, 1), groups(2, 3), groups(4, 5), groups(6, 7)};
  const __m256i dup[4] = {pair_idx(0, 0), pair_idx(1, 1), pair_idx(2, 2), pair_idx(3, 3)};
  const __m256i pairs[2] = {pair_idx(0, 1), pair_idx(2, 3)};
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const char* pf = reinterpret_cast<const char*>(g + i + 4);  // ~4.5 KiB ahead, as the AVX2 kernel
    for (int b = 0; b < int(sizeof(BlockQ4_Kx8)); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    const BlockQ8_K& y = yb[i];
    const ScalesK4x8 sc = unpack_scales_k4x8(g[i].scales);
    __m512i isum = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {  // chunk c: sub-blocks 2c (low nibbles) and 2c + 1 (high)
      __m512i p[4];
      for (int q = 0; q < 4; ++q) p[q] = _mm512_loadu_si512(g[i].qs + 256 * c + 64 * q);
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * c + h;
        const __m512i a = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + 32 * j)));
        __m512i s16 = _mm512_setzero_si512();
        for (int q = 0; q < 4; ++q) {
          const __m512i w = h ? _mm512_and_si512(_mm512_srli_epi16(p[q], 4), m4) : _mm512_and_si512(p[q], m4);
          s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(w, _mm512_permutexvar_epi32(gq[q], a)));
        }
        const __m256i scv = _mm256_shuffle_epi8(j < 4 ? sc.sc_lo : sc.sc_hi, dup[j % 4]);
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(s16, _mm512_broadcast_i64x4(scv)));
      }
    }
    // Lane r = sum_j m_rj * bsum_j (bsums summed in pairs: 16-element blocks -> 32-element ones).
    const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y.bsums)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(y.bsums + 8)));
    const __m256i b2 = _mm256_broadcastsi128_si256(bs);
    __m256i msum = _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_lo, pairs[0]), _mm256_shuffle_epi32(b2, 0x00));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_lo, pairs[1]), _mm256_shuffle_epi32(b2, 0x55)));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_hi, pairs[0]), _mm256_shuffle_epi32(b2, 0xAA)));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(_mm256_shuffle_epi8(sc.m_hi, pairs[1]), _mm256_shuffle_epi32(b2, 0xFF)));
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].dmin)));
    const __m256 dy = _mm256_set1_ps(y.d);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(halves_sum(isum)), acc);
    acc = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dy), _mm256_cvtepi32_ps(msum), acc);
  }
  _mm256_storeu_ps(out, acc);
}

}  // namespace
}  // namespace fh::kernel::avx512

namespace fh::kernel {

bool fill_avx512_kernels(Kernels& k) noexcept {
  k.isa = Isa::avx512;
  k.gemv_x8[int(GgmlType::q4_0)] = k.gemv_q4_0x8 = avx512::gemv_q4_0x8;
  k.gemv_x8[int(GgmlType::q4_k)] = avx512::gemv_q4_kx8;
  return true;
}

}  // namespace fh::kernel
