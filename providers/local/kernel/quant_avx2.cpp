// AVX2 + FMA + F16C kernels. This translation unit alone is compiled with -mavx2 -mfma -mf16c;
// nothing here runs unless quant_dispatch.cpp found those features at run time.
//
// Integer dots use the unsigned x signed `maddubs` instruction: the weight side is made
// non-negative (4/5/6-bit quants are 0..N already; Q4_0/Q8_0 use |w| and move the sign onto the
// activation), pairs are summed to int16, then `madd` with the block scale (or 1) gives int32.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "providers/local/kernel/avx2_common.hpp"
#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {
using namespace avx2;
namespace {

float dot_f32(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

float dot_f16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    const __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 8)));
    s0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(y + i + 8), s1);
  }
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += h2f(x[i]) * y[i];
  return s;
}

float dot_bf16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(u, 16)), _mm256_loadu_ps(y + i), s0);
  }
  float s = hsum(s0);
  for (; i < n; ++i) s += bf16_to_f32(x[i]) * y[i];
  return s;
}

// Two blocks per step with two accumulators: one FMA chain would bound the loop by FMA latency.
// The four fp16 scales of a step are converted together: lanes (dx0, dy0, dx1, dy1).
inline __m128 pair_scales(uint16_t dx0, uint16_t dy0, uint16_t dx1, uint16_t dy1) {
  const __m128 d = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, short(dy1), short(dx1), short(dy0), short(dx0)));
  return _mm_mul_ps(d, _mm_movehdup_ps(d));  // lane 0: dx0*dy0, lane 2: dx1*dy1
}

template <bool kQ4>
float dot_x_q8_0(int64_t n, const void* w, const void* a) {
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / 32;
  auto load_w = [&](int64_t i, uint16_t& d) {
    if constexpr (kQ4) {
      const auto& b = static_cast<const BlockQ4_0*>(w)[i];
      d = b.d;
      return _mm256_sub_epi8(nibbles32(b.qs), _mm256_set1_epi8(8));
    } else {
      const auto& b = static_cast<const BlockQ8_0*>(w)[i];
      d = b.d;
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    }
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    uint16_t d0, d1;
    const __m256i q0 = load_w(i, d0), q1 = load_w(i + 1, d1);
    const __m256i p0 = dot_i8(q0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    const __m256i p1 = dot_i8(q1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i + 1].qs)));
    const __m128 dd = pair_scales(d0, y[i].d, d1, y[i + 1].d);
    acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(dd, dd)), _mm256_cvtepi32_ps(p1), acc1);
  }
  if (i < nb) {
    uint16_t d0;
    const __m256i q0 = load_w(i, d0);
    const __m256i p0 = dot_i8(q0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(d0) * h2f(y[i].d)), _mm256_cvtepi32_ps(p0), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

// Shared Q4_K / Q5_K body; Q5 adds a fifth bit from qh. The 12 scale bytes unpack with 32-bit
// masks into 8 six-bit scales (sc) and 8 mins (m); the min term comes from the activation's
// per-16 sums: dmin * dy * sum_j m_j * (bsum[2j] + bsum[2j+1]).
template <bool kQ5>
float dot_k45(int64_t n, const void* w, const void* a) {
  const auto* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const auto& b = static_cast<const std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>*>(w)[i];
    const ScalesK45 s = unpack_scales_k45(b.scales);
    // sum_j m_j * (bsum[2j] + bsum[2j+1]) with int16 pair sums and one madd.
    const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].bsums + 8)));
    const __m128i pm = _mm_madd_epi16(bs, s.mins);
    __m256i hbits = _mm256_setzero_si256();
    if constexpr (kQ5) hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      k45_chunk<kQ5>(b.qs, hbits, c, lo, hi);
      const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 64 * c));
      const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 64 * c + 32));
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(s.sc[2 * c]));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(s.sc[2 * c + 1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    const float dy = y[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * h2f(b.d)), _mm256_cvtepi32_ps(sumi), acc);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dy * h2f(b.dmin)), _mm_cvtepi32_ps(pm), acc_m);
  }
  acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
  return hsum(acc) - _mm_cvtss_f32(acc_m);
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    // q6 is stored +32: sum (q-32)*y*sc = sum q*y*sc - 32 * sum_g sc_g * bsum_g.
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
    for (int h = 0; h < 2; ++h)
      for_q6_k_half(x[i], h, [&](int k, __m256i q, __m256i scale) {
        const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 128 * h + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), scale));
      });
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

// One activation block to Q8_0: d = amax/127 (as fp16), q = round-to-nearest-even(x/d).
inline __m256i q8_0_block(const float* x, uint16_t& dh) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float max = _mm_cvtss_f32(m);
  dh = _cvtss_sh(max / 127.f, 0);
  const __m256 id = _mm256_set1_ps(max != 0 ? 127.f / max : 0.f);
  __m256i q[4];
  for (int k = 0; k < 4; ++k)
    q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  // Pack 32 int32 -> 32 int8; packs interleave 128-bit lanes, the permute restores order.
  const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
  const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
  const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
  return _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Activations to Q8_0.
void quantize_q8_0(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / 32; ++i, x += 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), q8_0_block(x, b[i].d));
}

// Activations for the Q4_0x8 kernels: the same quants, the scale widened, and 8 * their sum.
void quantize_q8_0s(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0S*>(dst);
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    uint16_t dh;
    const __m256i q = q8_0_block(x, dh);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), q);
    b[i].d = h2f(dh);
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    b[i].s8 = 8 * _mm_cvtsi128_si32(t);
  }
}

// Activations to Q8_K: per 256 values, iscale = -127 / (the value of largest magnitude),
// q = round-to-nearest-even(iscale * x) (what lrintf does), and the 16 sums of 16 quants.
void quantize_q8_k(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / 256; ++i, x += 256) {
    __m256 vmax = _mm256_set1_ps(-INFINITY), vmin = _mm256_set1_ps(INFINITY);
    for (int k = 0; k < 32; ++k) {
      const __m256 v = _mm256_loadu_ps(x + 8 * k);
      vmax = _mm256_max_ps(vmax, v);
      vmin = _mm256_min_ps(vmin, v);
    }
    float hi[8], lo[8];
    _mm256_storeu_ps(hi, vmax);
    _mm256_storeu_ps(lo, vmin);
    float mx = hi[0], mn = lo[0];
    for (int k = 1; k < 8; ++k) mx = std::max(mx, hi[k]), mn = std::min(mn, lo[k]);
    const float max = -mn > mx ? mn : mx;  // the signed value of largest magnitude
    if (max == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.f / max;
    const __m256 is = _mm256_set1_ps(iscale);
    const __m256i lim = _mm256_set1_epi32(127);
    for (int k = 0; k < 8; ++k) {  // 32 values per step
      __m256i q[4];
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_min_epi32(lim, _mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(x + 32 * k + 8 * j))));
      const __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + 32 * k),
                          _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    // Group sums: flip to unsigned (q + 128), sum 8 bytes with sad, take the 128s off again.
    for (int g = 0; g < 16; ++g) {
      const __m128i u = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + 16 * g)), _mm_set1_epi8(-128));
      const __m128i sad = _mm_sad_epu8(u, _mm_setzero_si128());
      b[i].bsums[g] = int16_t(_mm_cvtsi128_si32(sad) + _mm_extract_epi16(sad, 4) - 16 * 128);
    }
    b[i].d = 1 / iscale;
  }
}

// Four Q4_0 rows against one Q8_0 activation row: the activation block is loaded once.
void dot4_q4_0(int64_t n, const void* w, size_t stride, const void* a, float* out) {
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const char* base = static_cast<const char*>(w);
  const BlockQ4_0* x[4];
  for (int r = 0; r < 4; ++r) x[r] = reinterpret_cast<const BlockQ4_0*>(base + r * stride);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const __m256i off = _mm256_set1_epi8(8);
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const float dy = h2f(y[i].d);
    for (int r = 0; r < 4; ++r) {
      const __m256i qx = _mm256_sub_epi8(nibbles32(x[r][i].qs), off);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[r][i].d) * dy), _mm256_cvtepi32_ps(dot_i8(qx, qy)), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]);
}

void dot4_q8_0(int64_t n, const void* w, size_t stride, const void* a, float* out) {
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const char* base = static_cast<const char*>(w);
  const BlockQ8_0* x[4];
  for (int r = 0; r < 4; ++r) x[r] = reinterpret_cast<const BlockQ8_0*>(base + r * stride);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const float dy = h2f(y[i].d);
    for (int r = 0; r < 4; ++r) {
      const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r][i].qs));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[r][i].d) * dy), _mm256_cvtepi32_ps(dot_i8(qx, qy)), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]);
}

// Decode over 4 interleaved Q4_0 rows: one activation load and one scale conversion per 4 rows,
// four independent FMA chains.
void gemv_q4_0x4(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_0x4*>(group);
  const auto* y = static_cast<const BlockQ8_0*>(act);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const __m256i off = _mm256_set1_epi8(8);
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m128 d4 = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g[i].d))),
                                 _mm_set1_ps(h2f(y[i].d)));
    const __m256 d8 = _mm256_castps128_ps256(d4);
    for (int r = 0; r < 4; ++r) {
      const __m256i qx = _mm256_sub_epi8(nibbles32(g[i].qs[r]), off);
      const __m256 dr = _mm256_permutevar8x32_ps(d8, _mm256_set1_epi32(r));
      acc[r] = _mm256_fmadd_ps(dr, _mm256_cvtepi32_ps(dot_i8(qx, qy)), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]);
}

void gemv_q8_0x4(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ8_0x4*>(group);
  const auto* y = static_cast<const BlockQ8_0*>(act);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m128 d4 = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g[i].d))),
                                 _mm_set1_ps(h2f(y[i].d)));
    const __m256 d8 = _mm256_castps128_ps256(d4);
    for (int r = 0; r < 4; ++r) {
      const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[i].qs[r]));
      const __m256 dr = _mm256_permutevar8x32_ps(d8, _mm256_set1_epi32(r));
      acc[r] = _mm256_fmadd_ps(dr, _mm256_cvtepi32_ps(dot_i8(qx, qy)), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]);
}

void axpy(int64_t n, float a, const float* x, float* y) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

namespace {
// F32 -> F16 rows for the KV cache (round to nearest even, as f32_to_fp16).
void quantize_f16(const float* x, void* y, int64_t n) {
  auto* o = static_cast<uint16_t*>(y);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) o[i] = f32_to_fp16(x[i]);
}
}  // namespace

bool fill_avx2_kernels(Kernels& k) noexcept {
  k.axpy = axpy;
  k.gemv_x4[int(GgmlType::q4_0)] = gemv_q4_0x4;
  k.gemv_x4[int(GgmlType::q8_0)] = gemv_q8_0x4;
  avx2::fill_gemm(k);
  avx2::fill_attention(k);
  k.isa = Isa::avx2;
  k.dot[int(GgmlType::f32)] = dot_f32;
  k.dot[int(GgmlType::f16)] = dot_f16;
  k.dot[int(GgmlType::bf16)] = dot_bf16;
  k.dot[int(GgmlType::q4_0)] = dot_x_q8_0<true>;
  k.dot[int(GgmlType::q8_0)] = dot_x_q8_0<false>;
  k.dot[int(GgmlType::q4_k)] = dot_k45<false>;
  k.dot[int(GgmlType::q5_k)] = dot_k45<true>;
  k.dot[int(GgmlType::q6_k)] = dot_q6_k;
  k.dot4[int(GgmlType::q4_0)] = dot4_q4_0;
  k.dot4[int(GgmlType::q8_0)] = dot4_q8_0;
  k.quantize[int(GgmlType::f16)] = quantize_f16;
  k.quantize[int(GgmlType::q8_0)] = quantize_q8_0;
  k.quantize[int(GgmlType::q8_k)] = quantize_q8_k;
  k.quantize_q8_0s = quantize_q8_0s;
  return true;
}

}  // namespace fh::kernel
