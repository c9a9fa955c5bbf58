// Scalar references for the attention and activation kernels (see quant.hpp, "Attention"):
// plain loops in the obvious order; the SIMD versions (attention_avx2.cpp) are tested against
// them.
#include <algorithm>
#include <cmath>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::ref {

void attn_scores(int hd, int nq, const float* const* q, const uint16_t* kt, int n, float scale, float* s, size_t ld) {
  for (int i = 0; i < nq; ++i)
    for (int p = 0; p < n; ++p) {
      float acc = 0;
      for (int d = 0; d < hd; ++d) acc += q[i][d] * fp16_to_f32(kt[kt_index(hd, d, p)]);
      s[size_t(i) * ld + size_t(p)] = acc * scale;
    }
}

void attn_values(int hd, int nq, const float* s, size_t ld, const uint16_t* v, size_t v_stride, int n, float* const* out) {
  for (int i = 0; i < nq; ++i)
    for (int d = 0; d < hd; ++d) {
      float acc = 0;
      for (int p = 0; p < n; ++p) acc += s[size_t(i) * ld + size_t(p)] * fp16_to_f32(v[size_t(p) * v_stride + size_t(d)]);
      out[i][d] = acc;
    }
}

void softmax(float* s, int n) {
  float mx = -INFINITY;
  for (int p = 0; p < n; ++p) mx = std::max(mx, s[p]);
  double sum = 0;
  for (int p = 0; p < n; ++p) sum += (s[p] = std::exp(s[p] - mx));
  const float inv = float(1.0 / sum);
  for (int p = 0; p < n; ++p) s[p] *= inv;
}

void silu_mul(int64_t n, float* g, const float* u) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace fh::kernel::ref
