// Decode kernels and prompt tiles with 512-bit registers (AVX-512 F/BW/VL + VNNI) for the 8-row
// layouts: Q4_0 and Q4_K (decode and prompt), Q8_0 (prompt). One zmm holds two of a block's
// 32-byte registers (k and k + 1), each half multiplied by its own activation group, moved into
// place by one vpermd from the block's 32 activation bytes; the two halves are summed once per
// block (Q4_0, Q8_0) or super-block (Q4_K). Also decode over the 4-row layout for Q6_K (1.66x
// the AVX2 kernel on cached data: 53.6 vs 32.2 GB/s on one Zen 5 core) and Q5_K (1.45x: 30 vs
// 20.6 GB/s, the AVX2 one below the ~25 GB/s one thread streams from DRAM). Integer sums are exact and the float steps per
// block are those of the AVX2 and scalar kernels, in the same order, so a token's results are
// the same decoded alone or in a prompt tile. Measured on a Zen 5 core (docs/BENCHMARKS.md,
// session 11): prompt processing 1.16-1.27x the AVX-VNNI tiles; decode kernels 1.2-1.4x on
// cached data, while whole-model decode, which waits on memory, moved by 0-5 %.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (and AVX2/FMA/F16C); installed by
// fill_avx512_kernels() only when the CPU has all of them. Like the VNNI unit it includes no
// shared inline SIMD helpers with external linkage (their out-of-line copies could carry AVX-512
// into other units); q4_kx8_scales.hpp keeps its helpers in an unnamed namespace for that reason.
// GCC 12's 512-bit intrinsics (broadcast, extract, insert, permutexvar) start from
// _mm512_undefined_*() and trip -Wuninitialized at every use (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "providers/local/kernel/q4_kx8_scales.hpp"
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

// --- Q4_0 and Q8_0 by 8 rows (BlockQ4_0x8, BlockQ8_0x8) ---------------------------------------
// Both layouts hold, in 32-byte register k, the 8 rows' elements 4k..4k+3 (Q4_0: low nibbles
// 4k.., high nibbles 16 + 4k..; quant.hpp). A block becomes four zmm, w[q] = the 8 rows'
// elements 8q..8q+7 as unsigned bytes, two registers per zmm; vpdpbusd (unsigned weight x signed
// activation bytes, four products into each int32) against activation groups (2q, 2q+1) leaves
// in lane r of each half a part of row r's dot. The two halves are added once per block, and
// the weights' offset (Q4_0: -8, Q8_0 made unsigned: +128) comes off as one per-block term.
struct Block8 {
  __m512i w[4];
};

// The 8 rows' integer dots with one token's activation block, minus `excess` (exact, so any
// order gives the same sums); one vpermd places each pair of activation groups.
inline __m256i dot_x8(const Block8& w, const BlockQ8_0S& y, int32_t excess) {
  const __m512i a = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs)));
  __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.w[0], _mm512_permutexvar_epi32(groups(0, 1), a));
  __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.w[2], _mm512_permutexvar_epi32(groups(4, 5), a));
  s0 = _mm512_dpbusd_epi32(s0, w.w[1], _mm512_permutexvar_epi32(groups(2, 3), a));
  s1 = _mm512_dpbusd_epi32(s1, w.w[3], _mm512_permutexvar_epi32(groups(6, 7), a));
  return _mm256_sub_epi32(halves_sum(_mm512_add_epi32(s0, s1)), _mm256_set1_epi32(excess));
}

// Q4_0: the low nibbles of registers 0-3 are elements 0..15, their high nibbles 16..31; the -8
// offset is 8 * sum(y) = s8.
struct Q4_0x8 {
  using Block = BlockQ4_0x8;
  static Block8 unpack(const Block& b) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i p0 = _mm512_loadu_si512(b.qs), p1 = _mm512_loadu_si512(b.qs + 64);
    return {{_mm512_and_si512(p0, m4), _mm512_and_si512(p1, m4), _mm512_and_si512(_mm512_srli_epi16(p0, 4), m4),
             _mm512_and_si512(_mm512_srli_epi16(p1, 4), m4)}};
  }
  static int32_t excess(const BlockQ8_0S& y) { return y.s8; }
};

// Q8_0: signed weights made unsigned by + 128 (xor of the sign bit); the dot then carries
// 128 * sum(y) = 16 * s8 too much.
struct Q8_0x8 {
  using Block = BlockQ8_0x8;
  static Block8 unpack(const Block& b) {
    const __m512i bias = _mm512_set1_epi8(char(0x80));
    Block8 r;
    for (int q = 0; q < 4; ++q) r.w[q] = _mm512_xor_si512(_mm512_loadu_si512(b.qs + 64 * q), bias);
    return r;
  }
  static int32_t excess(const BlockQ8_0S& y) { return 16 * y.s8; }
};

// The float step of the scalar and AVX2 kernels, in their order: a token's 8 results are
// bit-identical whether it is decoded alone or in a prompt tile.
inline __m256 accumulate(__m256 acc, __m256 dx, const BlockQ8_0S& y, __m256i isum) {
  return _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(isum), acc);
}

template <class T>
void gemv_x8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const typename T::Block*>(group);
  const auto* y = static_cast<const BlockQ8_0S*>(act);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const char* pf = reinterpret_cast<const char*>(g + i) + 4608;  // ~4.5 KiB ahead, as the AVX2 kernels
    for (size_t b = 0; b < sizeof(typename T::Block); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    acc = accumulate(acc, dx, y[i], dot_x8(T::unpack(g[i]), y[i], T::excess(y[i])));
  }
  _mm256_storeu_ps(out, acc);
}

// 8 rows x gemm_x8_cols tokens: a block is unpacked once for every token.
template <class T>
void gemm_x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  const auto* g = static_cast<const typename T::Block*>(group);
  const char* ab = static_cast<const char*>(act);
  __m256 acc[gemm_x8_cols];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const Block8 w = T::unpack(g[i]);
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    for (int c = 0; c < gemm_x8_cols; ++c) {
      const BlockQ8_0S& b = reinterpret_cast<const BlockQ8_0S*>(ab + size_t(c) * a_stride)[i];
      acc[c] = accumulate(acc[c], dx, b, dot_x8(w, b, T::excess(b)));
    }
  }
  for (int c = 0; c < gemm_x8_cols; ++c) _mm256_storeu_ps(y + size_t(c) * ldy, acc[c]);
}

// --- Q4_K by 8 rows (BlockQ4_Kx8) ------------------------------------------------------------
// Sub-block j (32 elements) of the 8 rows is chunk j / 2's 8 registers (nibble j % 2), register m
// holding elements 4m..4m+3 of each row. zmm q = registers 2q, 2q+1 against activation groups
// (2q, 2q+1) of the sub-block: 4 maddubs whose int16 pair sums add up without overflow
// (4 * 2 * 15 * 128 < 32768), then one madd with the rows' 6-bit scales (lane r = (sc_r, sc_r),
// in both halves) to int32. The halves are added once per super-block. Mins and the float steps
// are those of the AVX2 kernel.
// NC tokens (1 for decode, gemm_x8_cols for prompt tiles) against one 8-row group; each
// sub-block's unpacked weights serve every token.
template <int NC>
void q4_kx8(int64_t n, const void* group, const char* ab, size_t a_stride, float* y, size_t ldy) {
  const auto* g = static_cast<const BlockQ4_Kx8*>(group);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i gq[4] = {groups(0, 1), groups(2, 3), groups(4, 5), groups(6, 7)};
  const __m256i dup[4] = {pair_ctl(0, 0), pair_ctl(1, 1), pair_ctl(2, 2), pair_ctl(3, 3)};
  const __m256i pairs[2] = {pair_ctl(0, 1), pair_ctl(2, 3)};
  __m256 acc[NC];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    if constexpr (NC == 1) {  // decode: prefetch the weight stream ~4.5 KiB ahead, as the AVX2 kernel
      const char* pf = reinterpret_cast<const char*>(g + i + 4);
      for (int b = 0; b < int(sizeof(BlockQ4_Kx8)); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    }
    const BlockQ8_K* yb[NC];
    for (int t = 0; t < NC; ++t) yb[t] = reinterpret_cast<const BlockQ8_K*>(ab + size_t(t) * a_stride) + i;
    const ScalesK4x8 sc = unpack_scales_k4x8(g[i].scales);
    __m512i isum[NC];
    for (auto& v : isum) v = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {  // chunk c: sub-blocks 2c (low nibbles) and 2c + 1 (high)
      __m512i p[4];
      for (int q = 0; q < 4; ++q) p[q] = _mm512_loadu_si512(g[i].qs + 256 * c + 64 * q);
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * c + h;
        __m512i w[4];
        for (int q = 0; q < 4; ++q) w[q] = h ? _mm512_and_si512(_mm512_srli_epi16(p[q], 4), m4) : _mm512_and_si512(p[q], m4);
        const __m512i scv = _mm512_broadcast_i64x4(_mm256_shuffle_epi8(j < 4 ? sc.sc_lo : sc.sc_hi, dup[j % 4]));
        for (int t = 0; t < NC; ++t) {
          const __m512i a = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb[t]->qs + 32 * j)));
          __m512i s16 = _mm512_maddubs_epi16(w[0], _mm512_permutexvar_epi32(gq[0], a));
          for (int q = 1; q < 4; ++q) s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(w[q], _mm512_permutexvar_epi32(gq[q], a)));
          isum[t] = _mm512_add_epi32(isum[t], _mm512_madd_epi16(s16, scv));
        }
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].dmin)));
    for (int t = 0; t < NC; ++t) {
      const __m256i msum = mins_k4x8(sc, *yb[t], pairs);
      const __m256 dy = _mm256_set1_ps(yb[t]->d);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(halves_sum(isum[t])), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dy), _mm256_cvtepi32_ps(msum), acc[t]);
    }
  }
  for (int t = 0; t < NC; ++t) _mm256_storeu_ps(y + size_t(t) * ldy, acc[t]);
}

void gemv_q4_kx8(int64_t n, const void* group, const void* act, float* out) {
  q4_kx8<1>(n, group, static_cast<const char*>(act), 0, out, 0);
}

void gemm_q4_kx8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  q4_kx8<gemm_x8_cols>(n, group, static_cast<const char*>(act), a_stride, y, ldy);
}


// --- Q6_K decode over 4 interleaved rows (the x4 layout: block i of the 4 rows in a row) -----
// A half h of a super-block is four 32-element chunks k (AVX2's for_q6_k_half). One zmm holds
// chunks k and k + 1: [0|1] takes ql's low nibbles, [2|3] the high ones, and each 256-bit half
// shifts qh by its own count (vpsllvw / vpsrlvw) before the 0x30 mask. Their activations are
// 64 contiguous bytes. Every 128-bit lane covers one 16-element sub-block, so its scale is one
// vpermw away. The zmm's halves are added before the float step, which leaves the 8 lanes of
// the AVX2 kernels' integer sums: the float steps and the final horizontal sum are theirs, in
// their order (a token's results equal the prompt tile's, row_q6_k_x4).

inline float hsum8(__m256 v) {  // avx2::hsum's order
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// vpermw indices: in row q, int16 lane j takes scale 4q + j / 8 (one scale per 128-bit lane).
struct ScaleIndex {
  alignas(64) int16_t idx[4][32];
  constexpr ScaleIndex() : idx{} {
    for (int q = 0; q < 4; ++q)
      for (int j = 0; j < 32; ++j) idx[q][j] = int16_t(4 * q + j / 8);
  }
};
constexpr ScaleIndex q6_scale_index;

void gemv_q6_k_x4(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ6_K*>(group);
  const auto* y = static_cast<const BlockQ8_K*>(act);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m512i shl_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);   // chunks 0 | 1
  const __m512i shr_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);  // chunks 2 | 3
  __m512i sidx[4];
  for (int q = 0; q < 4; ++q) sidx[q] = _mm512_load_si512(q6_scale_index.idx[q]);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / 256; ++i) {
    const char* pf = reinterpret_cast<const char*>(g + 4 * (i + 6));  // as the AVX2 kernel
    for (size_t b = 0; b < 4 * sizeof(BlockQ6_K); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
    const __m512i ya[2] = {_mm512_loadu_si512(y[i].qs), _mm512_loadu_si512(y[i].qs + 128)};
    const __m512i yb[2] = {_mm512_loadu_si512(y[i].qs + 64), _mm512_loadu_si512(y[i].qs + 192)};
    for (int r = 0; r < 4; ++r) {
      const BlockQ6_K& b = g[4 * i + r];
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
      const __m512i scz = _mm512_castsi256_si512(sc16);
      __m512i isum = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
        const __m512i lo = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl_lo), m30));
        const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                           _mm512_and_si512(_mm512_srlv_epi16(qh, shr_hi), m30));
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(_mm512_maddubs_epi16(lo, ya[h]), _mm512_permutexvar_epi16(sidx[2 * h], scz)));
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(_mm512_maddubs_epi16(hi, yb[h]), _mm512_permutexvar_epi16(sidx[2 * h + 1], scz)));
      }
      // q6 is stored +32: subtract 32 * sum_g sc_g * bsum_g.
      const __m256i sumi = _mm256_sub_epi32(halves_sum(isum), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * _cvtsh_ss(b.d)), _mm256_cvtepi32_ps(sumi), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum8(acc[r]);
}


// --- Q4_K / Q5_K decode over 4 interleaved rows (x4 layout) ------------------------------------
// Chunk k of a super-block (32 quant bytes: sub-block 2k in the low nibbles, 2k + 1 in the high)
// and chunk k + 1 share a zmm; their activations are two 32-byte loads per nibble half, and
// each 256-bit half takes its sub-block's scale (vpermw) and, for Q5_K, its own qh bit (vpsrlvw
// with per-half counts). The zmm halves are added before the AVX2 kernel's float step, and the
// mins are its scalar sum: the integer lanes and every float operation are gemv_k45_x4's.

// vpermw indices over the 8 scales: lanes 0-15 take scale a, lanes 16-31 scale b.
struct PairIndex {
  alignas(64) int16_t idx[4][32];  // [k / 2 * 2 + half]: (2k, 2k + 2) low nibbles, (2k + 1, 2k + 3) high
  constexpr PairIndex() : idx{} {
    for (int q = 0; q < 4; ++q) {
      const int k = (q / 2) * 2, hi = q % 2;
      for (int j = 0; j < 32; ++j) idx[q][j] = int16_t(j < 16 ? 2 * k + hi : 2 * k + 2 + hi);
    }
  }
};
constexpr PairIndex k45_pair_index;

template <bool kQ5>
void gemv_k45_x4(int64_t n, const void* group, const void* act, float* out) {
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;
  const auto* g = static_cast<const Block*>(group);
  const auto* y = static_cast<const BlockQ8_K*>(act);
  const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
  __m512i pidx[4];
  for (int q = 0; q < 4; ++q) pidx[q] = _mm512_load_si512(k45_pair_index.idx[q]);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  float acc_m[4] = {0, 0, 0, 0};
  auto two = [](const int8_t* a, const int8_t* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
  };
  for (int64_t i = 0; i < n / 256; ++i) {
    const char* pf = reinterpret_cast<const char*>(g + 4 * (i + 8));  // as the AVX2 kernel
    for (size_t b = 0; b < 4 * sizeof(Block); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums + 8)));
    // Activations of chunks (0, 1) and (2, 3): low-nibble and high-nibble sub-blocks.
    const __m512i ylo[2] = {two(y[i].qs, y[i].qs + 64), two(y[i].qs + 128, y[i].qs + 192)};
    const __m512i yhi[2] = {two(y[i].qs + 32, y[i].qs + 96), two(y[i].qs + 160, y[i].qs + 224)};
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const Block& b = g[4 * i + r];
      const ScalesK45 s = unpack_scales_k45(b.scales);
      acc_m[r] += y[i].d * _cvtsh_ss(b.dmin) * float(k45_mins_dot(bs, s));
      const __m512i sc = _mm512_castsi128_si512(s.sc16);
      __m512i qh = _mm512_setzero_si512();
      if constexpr (kQ5) qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh)));
      __m512i isum = _mm512_setzero_si512();
      for (int p = 0; p < 2; ++p) {  // chunks 2p and 2p + 1
        const __m512i q = _mm512_loadu_si512(b.qs + 64 * p);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if constexpr (kQ5) {
          // qh bit 2k (low nibbles) and 2k + 1 (high) of chunk k = 2p, 2p + 1 in each half.
          const __m512i c_lo = _mm512_inserti64x4(_mm512_set1_epi16(short(4 * p)), _mm256_set1_epi16(short(4 * p + 2)), 1);
          const __m512i c_hi = _mm512_add_epi16(c_lo, _mm512_set1_epi16(1));
          lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, c_lo), one), 4));
          hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, c_hi), one), 4));
        }
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(_mm512_maddubs_epi16(lo, ylo[p]), _mm512_permutexvar_epi16(pidx[2 * p], sc)));
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(_mm512_maddubs_epi16(hi, yhi[p]), _mm512_permutexvar_epi16(pidx[2 * p + 1], sc)));
      }
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * _cvtsh_ss(b.d)), _mm256_cvtepi32_ps(halves_sum(isum)), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum8(acc[r]) - acc_m[r];
}

}  // namespace
}  // namespace fh::kernel::avx512

namespace fh::kernel {

bool fill_avx512_kernels(Kernels& k) noexcept {
  k.isa = Isa::avx512;
  k.gemv_x8[int(GgmlType::q4_0)] = k.gemv_q4_0x8 = avx512::gemv_x8<avx512::Q4_0x8>;
  k.gemm_x8[int(GgmlType::q4_0)] = k.gemm_q4_0x8 = avx512::gemm_x8<avx512::Q4_0x8>;
  // Q8_0 decode keeps the AVX2 kernel: this one measured 0.95-0.99x on TinyLlama (memory-bound).
  k.gemm_x8[int(GgmlType::q8_0)] = avx512::gemm_x8<avx512::Q8_0x8>;
  k.gemv_x8[int(GgmlType::q4_k)] = avx512::gemv_q4_kx8;
  k.gemm_x8[int(GgmlType::q4_k)] = avx512::gemm_q4_kx8;
  k.gemv_x4[int(GgmlType::q6_k)] = avx512::gemv_q6_k_x4;
  k.gemv_x4[int(GgmlType::q4_k)] = avx512::gemv_k45_x4<false>;
  k.gemv_x4[int(GgmlType::q5_k)] = avx512::gemv_k45_x4<true>;
  return true;
}

}  // namespace fh::kernel
