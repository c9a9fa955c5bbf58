// AVX2 register-blocked tiles for prompt processing (a batch of tokens): each unpacked weight
// block is reused for 4 tokens; and the K-quant decode kernels over 4 interleaved rows. Compiled with -mavx2 -mfma -mf16c; installed by
// fill_avx2_kernels() only when the CPU has those features.
#include <cstring>
#include <type_traits>

#include "providers/local/kernel/avx2_common.hpp"
#include "providers/local/kernel/q4_0x8_tile.hpp"
#include "providers/local/kernel/q4_kx8_scales.hpp"

namespace fh::kernel::avx2 {
namespace {

// Prompt processing: 2 weight rows x 4 tokens per call, so each unpacked weight block serves 4
// tokens and each activation block 2 rows. Q4_0 makes the activation the unsigned side of
// maddubs (y + 128, by flipping the sign bit) and subtracts 128*w, exact in int16; Q8_0 moves
// the weight's sign onto the activation. y[c * ldy + r] = dot(row r, token c).
template <bool kQ4>
void gemm_2x4(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* y, size_t ldy) {
  const char* wb = static_cast<const char*>(w);
  const char* ab = static_cast<const char*>(a);
  const __m256i ones = _mm256_set1_epi16(1), k128 = _mm256_set1_epi8(-128), off = _mm256_set1_epi8(8);
  __m256 acc[2][4];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i wq[2], wc[2];
    float dw[2];
    for (int r = 0; r < 2; ++r) {
      if constexpr (kQ4) {
        const auto& b = reinterpret_cast<const BlockQ4_0*>(wb + r * w_stride)[i];
        wq[r] = _mm256_sub_epi8(nibbles32(b.qs), off);
        wc[r] = _mm256_maddubs_epi16(k128, wq[r]);  // 128 * (w0 + w1) per pair
        dw[r] = h2f(b.d);
      } else {
        const auto& b = reinterpret_cast<const BlockQ8_0*>(wb + r * w_stride)[i];
        wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
        wc[r] = _mm256_sign_epi8(wq[r], wq[r]);  // |w|
        dw[r] = h2f(b.d);
      }
    }
    for (int c = 0; c < 4; ++c) {
      const auto& ay = reinterpret_cast<const BlockQ8_0*>(ab + c * a_stride)[i];
      const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ay.qs));
      const float dy = h2f(ay.d);
      for (int r = 0; r < 2; ++r) {
        __m256i p;
        if constexpr (kQ4) {
          p = _mm256_sub_epi16(_mm256_maddubs_epi16(_mm256_xor_si256(yv, k128), wq[r]), wc[r]);
        } else {
          p = _mm256_maddubs_epi16(wc[r], _mm256_sign_epi8(yv, wq[r]));
        }
        const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dy), s, acc[r][c]);
      }
    }
  }
  for (int c = 0; c < 4; ++c)
    for (int r = 0; r < 2; ++r) y[size_t(c) * ldy + size_t(r)] = hsum(acc[r][c]);
}

// Prompt processing for K-quants: one weight row against 4 tokens per pass, so each unpacked
// 4/5/6-bit block and its scales serve 4 activation rows; called for both rows of the tile.
template <bool kQ5>
void row_k45_x4(int64_t n, const void* w, const char* ab, size_t a_stride, float* y, size_t ldy) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  float acc_m[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < n / 256; ++i) {
    const auto& b = static_cast<const std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>*>(w)[i];
    const ScalesK45 s = unpack_scales_k45(b.scales);
    const float d = h2f(b.d), dmin = h2f(b.dmin);
    const BlockQ8_K* yb[4];
    for (int c = 0; c < 4; ++c) {
      yb[c] = reinterpret_cast<const BlockQ8_K*>(ab + size_t(c) * a_stride) + i;
      const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[c]->bsums)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(yb[c]->bsums + 8)));
      acc_m[c] += yb[c]->d * dmin * float(k45_mins_dot(bs, s));
    }
    __m256i hbits = _mm256_setzero_si256();
    if constexpr (kQ5) hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
    __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int k = 0; k < 4; ++k) {
      __m256i lo, hi;
      k45_chunk<kQ5>(b.qs, hbits, k, lo, hi);
      const __m256i s0 = _mm256_set1_epi16(s.sc[2 * k]), s1 = _mm256_set1_epi16(s.sc[2 * k + 1]);
      for (int c = 0; c < 4; ++c) {
        const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb[c]->qs + 64 * k));
        const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb[c]->qs + 64 * k + 32));
        sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0),
                                                             _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1)));
      }
    }
    for (int c = 0; c < 4; ++c) acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(yb[c]->d * d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
  }
  for (int c = 0; c < 4; ++c) y[size_t(c) * ldy] = hsum(acc[c]) - acc_m[c];
}

void row_q6_k_x4(int64_t n, const void* w, const char* ab, size_t a_stride, float* y, size_t ldy) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / 256; ++i) {
    const BlockQ8_K* yb[4];
    for (int c = 0; c < 4; ++c) yb[c] = reinterpret_cast<const BlockQ8_K*>(ab + size_t(c) * a_stride) + i;
    // q6 is stored +32: subtract 32 * sum_g sc_g * bsum_g per token.
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
    __m256i sumi[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb[c]->bsums));
      sumi[c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
    }
    for (int h = 0; h < 2; ++h)
      for_q6_k_half(x[i], h, [&](int k, __m256i q, __m256i scale) {
        for (int c = 0; c < 4; ++c) {
          const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb[c]->qs + 128 * h + 32 * k));
          sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), scale));
        }
      });
    const float d = h2f(x[i].d);
    for (int c = 0; c < 4; ++c) acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(yb[c]->d * d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
  }
  for (int c = 0; c < 4; ++c) y[size_t(c) * ldy] = hsum(acc[c]);
}

template <void (*Row)(int64_t, const void*, const char*, size_t, float*, size_t)>
void gemm_rows_x4(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* y, size_t ldy) {
  for (int r = 0; r < gemm_rows; ++r)
    Row(n, static_cast<const char*>(w) + size_t(r) * w_stride, static_cast<const char*>(a), a_stride, y + r, ldy);
}

// Prefetches the 4 interleaved super-blocks `ahead` steps on (about 4-5 KiB): the weight stream
// of a decode step, as in the Q4_0 8-row kernel.
template <class Block>
inline void prefetch_group(const Block* next) {
  const char* p = reinterpret_cast<const char*>(next);
  for (size_t b = 0; b < 4 * sizeof(Block); b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

// Decode over 4 interleaved rows of Q4_K / Q5_K: the activation super-block (quants and block
// sums) is loaded once for the 4 rows; each row keeps its own accumulator chain.
template <bool kQ5>
void gemv_k45_x4(int64_t n, const void* group, const void* act, float* out) {
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;
  const auto* g = static_cast<const Block*>(group);
  const auto* y = static_cast<const BlockQ8_K*>(act);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  float acc_m[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < n / 256; ++i) {
    prefetch_group(g + 4 * (i + 8));
    const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums + 8)));
    for (int r = 0; r < 4; ++r) {
      const Block& b = g[4 * i + r];
      const ScalesK45 s = unpack_scales_k45(b.scales);
      acc_m[r] += y[i].d * h2f(b.dmin) * float(k45_mins_dot(bs, s));
      __m256i hbits = _mm256_setzero_si256();
      if constexpr (kQ5) hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
      __m256i sumi = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        __m256i lo, hi;
        k45_chunk<kQ5>(b.qs, hbits, k, lo, hi);
        const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 64 * k));
        const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 64 * k + 32));
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(s.sc[2 * k])),
                                                       _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(s.sc[2 * k + 1]))));
      }
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(b.d)), _mm256_cvtepi32_ps(sumi), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]) - acc_m[r];
}

void gemv_q6_k_x4(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ6_K*>(group);
  const auto* y = static_cast<const BlockQ8_K*>(act);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / 256; ++i) {
    prefetch_group(g + 4 * (i + 6));
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
    for (int r = 0; r < 4; ++r) {
      const BlockQ6_K& b = g[4 * i + r];
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
      __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
      for (int h = 0; h < 2; ++h)
        for_q6_k_half(b, h, [&](int k, __m256i q, __m256i scale) {
          const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 128 * h + 32 * k));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), scale));
        });
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(b.d)), _mm256_cvtepi32_ps(sumi), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]);
}

// --- Q4_0 over 8 interleaved rows (BlockQ4_0x8) -----------------------------------------------
// Unsigned nibbles x signed activation bytes in maddubs: no sign trick. Register k' of a block
// (k' = 0..7) holds the 8 rows' elements 4k'..4k'+3 in its 8 lanes; maddubs with the activation's
// bytes 4k'..4k'+3 broadcast to every lane gives int16 pair sums of at most 2 * 15 * 128 = 3840,
// so the 8 registers' products add up in int16 (8 * 3840 < 32768) and one madd with 1 leaves
// lane r = row r's dot. The -8 offset: sum (q - 8) y = sum q y - s8 (s8 = 8 * sum y, per block).

// The 4-byte group k' (0..7) of an activation block, broadcast to the 8 lanes (a load, no shuffle).
inline __m256i bcast4(const int8_t* qs, int k) {
  int32_t v;
  std::memcpy(&v, qs + 4 * k, 4);
  return _mm256_set1_epi32(v);
}

void gemv_q4_0x8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_0x8*>(group);
  const auto* y = static_cast<const BlockQ8_0S*>(act);
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  // One FMA chain, in the tile's order: a token gives bit-identical results alone or in a tile.
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    // Software prefetch 32 blocks (4.5 KiB) ahead, the 3 cache lines a 144-byte block can
    // touch: with the hardware prefetcher alone, decode stalled on the weight stream (~25 %
    // slower on one thread). Past the end of the matrix it is harmless.
    const char* pf = reinterpret_cast<const char*>(g + i + 32);
    _mm_prefetch(pf, _MM_HINT_T0);
    _mm_prefetch(pf + 64, _MM_HINT_T0);
    _mm_prefetch(pf + 128, _MM_HINT_T0);
    const uint8_t* q = g[i].qs;
    const int8_t* yq = y[i].qs;
    __m256i s16 = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * k));
      const __m256i lo = _mm256_and_si256(p, m4), hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), m4);
      s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(lo, bcast4(yq, k)));
      s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(hi, bcast4(yq, k + 4)));
    }
    const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s16, ones), _mm256_set1_epi32(y[i].s8));
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(y[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  _mm256_storeu_ps(out, acc);
}

// 8 rows x 4 tokens (q4_0x8_tile.hpp): a block's 8 products per row sum in int16, one madd.
void gemm_q4_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  const __m256i ones = _mm256_set1_epi16(1);
  gemm_q4_0x8_tile(n, group, act, a_stride, y, ldy, [&](const __m256i* r, const BlockQ8_0S& b) {
    __m256i s16 = _mm256_maddubs_epi16(r[0], bcast4(b.qs, 0));
    for (int k = 1; k < 8; ++k) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(r[k], bcast4(b.qs, k)));
    return _mm256_sub_epi32(_mm256_madd_epi16(s16, ones), _mm256_set1_epi32(b.s8));
  });
}

// --- Q8_0 over 8 interleaved rows (BlockQ8_0x8) -----------------------------------------------
// Register k (0..7) of a block holds the 8 rows' elements 4k..4k+3. Signed weights: |w| is the
// unsigned side of maddubs and w's sign moves onto the broadcast activation bytes; a pair sum is
// at most 2 * 128 * 127 < 32768, but two registers' sums could overflow int16, so every product
// goes to int32 (madd with 1) before it is added.
inline __m256i dot8_q8(__m256i aw, __m256i w, const int8_t* yq, int k, __m256i ones) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast4(yq, k), w)), ones);
}

void gemv_q8_0x8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ8_0x8*>(group);
  const auto* y = static_cast<const BlockQ8_0S*>(act);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const char* pf = reinterpret_cast<const char*>(g + i + 16);  // ~4.3 KiB ahead
    for (int b = 0; b < 320; b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    __m256i isum = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[i].qs + 32 * k));
      isum = _mm256_add_epi32(isum, dot8_q8(_mm256_sign_epi8(w, w), w, y[i].qs, k, ones));
    }
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(y[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  _mm256_storeu_ps(out, acc);
}

// 8 rows x 4 tokens: each weight register (and its absolute value) serves the 4 tokens.
void gemm_q8_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  const auto* g = static_cast<const BlockQ8_0x8*>(group);
  const char* ab = static_cast<const char*>(act);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[gemm_x8_cols];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const BlockQ8_0S* b[gemm_x8_cols];
    for (int c = 0; c < gemm_x8_cols; ++c) b[c] = reinterpret_cast<const BlockQ8_0S*>(ab + size_t(c) * a_stride) + i;
    __m256i isum[gemm_x8_cols];
    for (auto& v : isum) v = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[i].qs + 32 * k));
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int c = 0; c < gemm_x8_cols; ++c) isum[c] = _mm256_add_epi32(isum[c], dot8_q8(aw, w, b[c]->qs, k, ones));
    }
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    for (int c = 0; c < gemm_x8_cols; ++c)
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(b[c]->d)), _mm256_cvtepi32_ps(isum[c]), acc[c]);
  }
  for (int c = 0; c < gemm_x8_cols; ++c) _mm256_storeu_ps(y + size_t(c) * ldy, acc[c]);
}

// --- Q4_K over 8 interleaved rows (BlockQ4_Kx8) -----------------------------------------------
// Per sub-block of 32 elements: 8 registers of 8 rows x 4 nibbles, maddubs against broadcast
// activation bytes, int16 sums (at most 8 * 2 * 15 * 128 = 30720), then one madd with the 8
// rows' 6-bit scales (lane r = (sc_r, sc_r)) to int32. Mins: lane r = sum_j m_rj * bsum_j in 4
// madds of (m_rj, m_rj+1) pairs against broadcast (bsum_j, bsum_j+1) pairs.
// NC tokens (1 for decode, gemm_x8_cols for prompt tiles) against one 8-row group.
template <int NC>
void q4_kx8(int64_t n, const void* group, const char* ab, size_t a_stride, float* y, size_t ldy) {
  const auto* g = static_cast<const BlockQ4_Kx8*>(group);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i dup[4] = {pair_ctl(0, 0), pair_ctl(1, 1), pair_ctl(2, 2), pair_ctl(3, 3)};
  const __m256i pairs[2] = {pair_ctl(0, 1), pair_ctl(2, 3)};
  __m256 acc[NC];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    if constexpr (NC == 1) {  // decode: prefetch the weight stream ~4.5 KiB ahead
      const char* pf = reinterpret_cast<const char*>(g + i + 4);
      for (int b = 0; b < int(sizeof(BlockQ4_Kx8)); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
    }
    const BlockQ8_K* yb[NC];
    for (int c = 0; c < NC; ++c) yb[c] = reinterpret_cast<const BlockQ8_K*>(ab + size_t(c) * a_stride) + i;
    const ScalesK4x8 sc = unpack_scales_k4x8(g[i].scales);
    __m256i isum[NC];
    for (auto& v : isum) v = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = g[i].qs + 256 * (j / 2);
      __m256i s16[NC];
      for (auto& v : s16) v = _mm256_setzero_si256();
      for (int m = 0; m < 8; ++m) {
        const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * m));
        const __m256i w = j % 2 ? _mm256_and_si256(_mm256_srli_epi16(p, 4), m4) : _mm256_and_si256(p, m4);
        for (int c = 0; c < NC; ++c) s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(w, bcast4(yb[c]->qs + 32 * j, m)));
      }
      const __m256i scv = _mm256_shuffle_epi8(j < 4 ? sc.sc_lo : sc.sc_hi, dup[j % 4]);
      for (int c = 0; c < NC; ++c) isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16[c], scv));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].dmin)));
    for (int c = 0; c < NC; ++c) {
      const __m256 dy = _mm256_set1_ps(yb[c]->d);
      const __m256i msum = mins_k4x8(sc, *yb[c], pairs);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(isum[c]), acc[c]);
      acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dy), _mm256_cvtepi32_ps(msum), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(y + size_t(c) * ldy, acc[c]);
}

void gemv_q4_kx8(int64_t n, const void* group, const void* act, float* out) {
  q4_kx8<1>(n, group, static_cast<const char*>(act), 0, out, 0);
}

void gemm_q4_kx8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  q4_kx8<gemm_x8_cols>(n, group, static_cast<const char*>(act), a_stride, y, ldy);
}

}  // namespace

void fill_gemm(Kernels& k) noexcept {
  k.gemv_x8[int(GgmlType::q4_k)] = gemv_q4_kx8;
  k.gemm_x8[int(GgmlType::q4_k)] = gemm_q4_kx8;
  k.gemv_x8[int(GgmlType::q4_0)] = gemv_q4_0x8;
  k.gemm_x8[int(GgmlType::q4_0)] = gemm_q4_0x8;
  k.gemv_x8[int(GgmlType::q8_0)] = gemv_q8_0x8;
  k.gemm_x8[int(GgmlType::q8_0)] = gemm_q8_0x8;
  k.gemv_q4_0x8 = gemv_q4_0x8;
  k.gemm_q4_0x8 = gemm_q4_0x8;
  k.gemv_x4[int(GgmlType::q4_k)] = gemv_k45_x4<false>;
  k.gemv_x4[int(GgmlType::q5_k)] = gemv_k45_x4<true>;
  k.gemv_x4[int(GgmlType::q6_k)] = gemv_q6_k_x4;
  k.gemm[int(GgmlType::q4_0)] = gemm_2x4<true>;
  k.gemm[int(GgmlType::q8_0)] = gemm_2x4<false>;
  k.gemm[int(GgmlType::q4_k)] = gemm_rows_x4<row_k45_x4<false>>;
  k.gemm[int(GgmlType::q5_k)] = gemm_rows_x4<row_k45_x4<true>>;
  k.gemm[int(GgmlType::q6_k)] = gemm_rows_x4<row_q6_k_x4>;
}

}  // namespace fh::kernel::avx2
