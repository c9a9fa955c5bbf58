// AVX2 + FMA attention and activation kernels (declared in quant.hpp next to their scalar
// references in attention_ref.cpp). Compiled with -mavx2 -mfma -mf16c; installed by
// fill_avx2_kernels() only when the CPU has those features.
//
// Scores: keys are stored in transposed blocks of 16 positions (one row of 16 per head
// dimension), so a block is two loads per dimension and each query's score is an FMA chain per
// lane: no horizontal sums, and up to 4 queries share every key load. A head's blocks follow
// each other, so the keys are read as one sequential stream. Values (one head's rows contiguous):
// each row chunk is loaded once for all the tile's queries, in chunks as wide as the registers
// allow (64 dimensions for one query, 32 for two, 16 for three or four).
#include <cmath>

#include "providers/local/kernel/avx2_common.hpp"

namespace fh::kernel::avx2 {
namespace {

// e^x for x in [-88, 88] (clamped): x = n ln2 + r, |r| <= ln2 / 2, e^r by its degree-6 Taylor
// polynomial (truncation error < 1.3e-7 relative), times 2^n built in the exponent bits.
inline __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.f)), _mm256_set1_ps(88.f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2 in two steps (ln2 split into a part exact in float and the rest).
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  // n in [-127, 127]: 2^n = (n + 127) << 23 (n = -127 gives 0, close enough below 1e-38).
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

template <int NQ>
void scores(int hd, const float* const* q, const uint16_t* kt, int n, float scale, float* s, size_t ld) {
  static_assert(kv_block == 16);
  const __m256 sc = _mm256_set1_ps(scale);
  for (int p = 0; p < n; p += 16) {
    __m256 acc[NQ][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
    const uint16_t* k = kt + size_t(p) * size_t(hd);  // block p / 16: hd rows of 16
    for (int d = 0; d < hd; ++d, k += 16) {
      // Decode reads the cache from DRAM: ask for the same row of the block after next (4 KiB on
      // for hd 64); every other row starts a new cache line.
      if (d % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(k + 32 * hd), _MM_HINT_T0);
      const __m256 k0 = load_f16(k), k1 = load_f16(k + 8);
      for (int i = 0; i < NQ; ++i) {
        const __m256 b = _mm256_broadcast_ss(q[i] + d);
        acc[i][0] = _mm256_fmadd_ps(b, k0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(b, k1, acc[i][1]);
      }
    }
    for (int i = 0; i < NQ; ++i) {
      _mm256_storeu_ps(s + size_t(i) * ld + size_t(p), _mm256_mul_ps(acc[i][0], sc));
      _mm256_storeu_ps(s + size_t(i) * ld + size_t(p) + 8, _mm256_mul_ps(acc[i][1], sc));
    }
  }
}

void attn_scores(int hd, int nq, const float* const* q, const uint16_t* kt, int n, float scale, float* s, size_t ld) {
  switch (nq) {
    case 1: return scores<1>(hd, q, kt, n, scale, s, ld);
    case 2: return scores<2>(hd, q, kt, n, scale, s, ld);
    case 3: return scores<3>(hd, q, kt, n, scale, s, ld);
    default: return scores<4>(hd, q, kt, n, scale, s, ld);
  }
}

template <int NQ, int W>  // W registers of 8 dimensions per query
void values_block(int d0, const float* s, size_t ld, const uint16_t* v, size_t vs, int n, float* const* out) {
  __m256 acc[NQ][W];
  for (auto& a : acc)
    for (auto& x : a) x = _mm256_setzero_ps();
  for (int p = 0; p < n; ++p) {
    const uint16_t* vp = v + size_t(p) * vs + size_t(d0);
    for (int j = 0; j < (W + 3) / 4; ++j)  // 8 positions ahead, each 64 bytes of the row's chunk
      _mm_prefetch(reinterpret_cast<const char*>(vp + 8 * vs + 32 * size_t(j)), _MM_HINT_T0);
    __m256 vv[W];
    for (int j = 0; j < W; ++j) vv[j] = load_f16(vp + 8 * j);
    for (int i = 0; i < NQ; ++i) {
      const __m256 b = _mm256_broadcast_ss(s + size_t(i) * ld + size_t(p));
      for (int j = 0; j < W; ++j) acc[i][j] = _mm256_fmadd_ps(b, vv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < NQ; ++i)
    for (int j = 0; j < W; ++j) _mm256_storeu_ps(out[i] + d0 + 8 * j, acc[i][j]);
}

// As many dimensions per pass over the values as the registers hold (NQ x W accumulators plus
// W loaded rows within 16): a decode query takes a 64-dimension head in one pass.
template <int NQ>
void values(int hd, const float* s, size_t ld, const uint16_t* v, size_t vs, int n, float* const* out) {
  constexpr int W = NQ == 1 ? 8 : NQ == 2 ? 4 : 2;
  int d0 = 0;
  for (; d0 + 8 * W <= hd; d0 += 8 * W) values_block<NQ, W>(d0, s, ld, v, vs, n, out);
  for (; d0 + 8 <= hd; d0 += 8) values_block<NQ, 1>(d0, s, ld, v, vs, n, out);
  for (; d0 < hd; ++d0)
    for (int i = 0; i < NQ; ++i) {
      float acc = 0;
      for (int p = 0; p < n; ++p) acc += s[size_t(i) * ld + size_t(p)] * fp16_to_f32(v[size_t(p) * vs + size_t(d0)]);
      out[i][d0] = acc;
    }
}

void attn_values(int hd, int nq, const float* s, size_t ld, const uint16_t* v, size_t vs, int n, float* const* out) {
  switch (nq) {
    case 1: return values<1>(hd, s, ld, v, vs, n, out);
    case 2: return values<2>(hd, s, ld, v, vs, n, out);
    case 3: return values<3>(hd, s, ld, v, vs, n, out);
    default: return values<4>(hd, s, ld, v, vs, n, out);
  }
}

void softmax(float* s, int n) {
  __m256 mx8 = _mm256_set1_ps(-INFINITY);
  int p = 0;
  for (; p + 8 <= n; p += 8) mx8 = _mm256_max_ps(mx8, _mm256_loadu_ps(s + p));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx8), _mm256_extractf128_ps(mx8, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  float mx = _mm_cvtss_f32(m);
  for (int t = p; t < n; ++t) mx = s[t] > mx ? s[t] : mx;
  const __m256 mv = _mm256_set1_ps(mx);
  __m256 sum8 = _mm256_setzero_ps();
  for (p = 0; p + 8 <= n; p += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + p), mv));
    _mm256_storeu_ps(s + p, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  float sum = hsum(sum8);
  for (int t = p; t < n; ++t) sum += (s[t] = std::exp(s[t] - mx));
  const __m256 inv = _mm256_set1_ps(1.f / sum);
  for (p = 0; p + 8 <= n; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), inv));
  for (int t = p; t < n; ++t) s[t] *= 1.f / sum;
}

void silu_mul(int64_t n, float* g, const float* u) {
  const __m256 one = _mm256_set1_ps(1.f), neg = _mm256_set1_ps(-0.f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 e = exp_ps(_mm256_xor_ps(x, neg));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace

void fill_attention(Kernels& k) noexcept {
  k.attn_scores = attn_scores;
  k.attn_values = attn_values;
  k.softmax = softmax;
  k.silu_mul = silu_mul;
}

}  // namespace fh::kernel::avx2
