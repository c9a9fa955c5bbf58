// The attention and activation kernels (scores against a transposed key cache, softmax, the
// weighted sum of values, silu * up) against their scalar references, on random data with odd
// head sizes, position counts that are not a multiple of the SIMD width, and 1..4 queries.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "providers/local/kernel/quant.hpp"
#include "tests/kernel/test_support.hpp"

using namespace fh::kernel;
using fh::kernel::test::random_floats;

namespace {

const Kernels& simd() {
  force_isa(best_isa());
  return kernels();
}

// The cache holds F16: random values rounded to it.
std::vector<uint16_t> random_f16(size_t n, uint32_t seed) {
  std::vector<uint16_t> out;
  for (float f : random_floats(n, seed)) out.push_back(f32_to_fp16(f));
  return out;
}

}  // namespace

TEST_CASE("attention scores and values: SIMD equals the reference for 1..4 queries, odd sizes") {
  const Kernels& k = simd();
  for (int hd : {64, 40, 8, 6, 128}) {
    for (int n : {1, 7, 16, 33, 100}) {
      for (int nq = 1; nq <= attn_tile; ++nq) {
        CAPTURE(hd);
        CAPTURE(n);
        CAPTURE(nq);
        const size_t kts = size_t(n + kv_block - 1) / kv_block * kv_block;  // score row length, as the Session's
        const auto kt = random_f16(size_t(hd) * kts, uint32_t(hd * 1000 + n));  // whole blocks
        const auto qv = random_floats(size_t(nq) * size_t(hd), uint32_t(nq + 7));
        const float* q[attn_tile];
        for (int i = 0; i < nq; ++i) q[i] = qv.data() + size_t(i) * size_t(hd);
        std::vector<float> s_ref(size_t(attn_tile) * kts, -1.f), s_simd(s_ref.size(), -1.f);
        ref::attn_scores(hd, nq, q, kt.data(), n, 0.125f, s_ref.data(), kts);
        k.attn_scores(hd, nq, q, kt.data(), n, 0.125f, s_simd.data(), kts);
        for (int i = 0; i < nq; ++i)
          for (int p = 0; p < n; ++p) {
            const float a = s_ref[size_t(i) * kts + size_t(p)], b = s_simd[size_t(i) * kts + size_t(p)];
            REQUIRE(std::fabs(a - b) <= 1e-5f * (1 + std::fabs(a)) * float(hd));
          }
        // Values weighted by a softmax row (so the sums are of typical magnitude).
        const size_t vs = size_t(hd) + 3;  // a row stride that is not the head size
        const auto v = random_f16(size_t(n) * vs, uint32_t(n * 3 + hd));
        for (int i = 0; i < nq; ++i) ref::softmax(s_ref.data() + size_t(i) * kts, n);
        std::vector<float> o_ref(size_t(nq) * size_t(hd)), o_simd(o_ref.size(), 5.f);
        float *out_ref[attn_tile], *out_simd[attn_tile];
        for (int i = 0; i < nq; ++i) out_ref[i] = &o_ref[size_t(i) * size_t(hd)], out_simd[i] = &o_simd[size_t(i) * size_t(hd)];
        ref::attn_values(hd, nq, s_ref.data(), kts, v.data(), vs, n, out_ref);
        k.attn_values(hd, nq, s_ref.data(), kts, v.data(), vs, n, out_simd);
        for (size_t j = 0; j < o_ref.size(); ++j) REQUIRE(std::fabs(o_ref[j] - o_simd[j]) <= 1e-5f * (1 + std::fabs(o_ref[j])));
      }
    }
  }
}

TEST_CASE("attention scores read the blocked key layout: element d of key p at kt_index(hd, d, p)") {
  // Key p = (p, p + 1/4, ...) placed by kt_index; a one-hot query on dimension d reads back
  // element d of every key, across block boundaries (block = kv_block positions).
  const Kernels& k = simd();
  const int hd = 8, n = 2 * kv_block + 5;
  const size_t pad = size_t(n + kv_block - 1) / kv_block * kv_block;
  std::vector<uint16_t> kt(size_t(hd) * pad, f32_to_fp16(-1000.f));
  for (int p = 0; p < n; ++p)
    for (int d = 0; d < hd; ++d) kt[kt_index(hd, d, p)] = f32_to_fp16(float(p) + 0.25f * float(d));
  CHECK(kt_index(hd, 3, kv_block + 2) == (size_t(hd) + 3) * kv_block + 2);
  for (int d : {0, 5, 7}) {
    std::vector<float> onehot(size_t(hd), 0.f);
    onehot[size_t(d)] = 1.f;
    const float* q[1] = {onehot.data()};
    std::vector<float> s_ref(pad, 0.f), s_simd(pad, 0.f);
    ref::attn_scores(hd, 1, q, kt.data(), n, 1.f, s_ref.data(), pad);
    k.attn_scores(hd, 1, q, kt.data(), n, 1.f, s_simd.data(), pad);
    for (int p = 0; p < n; ++p) {
      CHECK(s_ref[size_t(p)] == float(p) + 0.25f * float(d));
      CHECK(s_simd[size_t(p)] == float(p) + 0.25f * float(d));
    }
  }
}

TEST_CASE("softmax: SIMD equals the reference, sums to one, survives large ranges") {
  const Kernels& k = simd();
  for (int n : {1, 3, 8, 9, 31, 64, 257}) {
    for (float scale : {0.1f, 3.f, 40.f}) {
      CAPTURE(n);
      CAPTURE(scale);
      auto a = random_floats(size_t(n), uint32_t(n), scale);
      if (n > 2) a[1] = -1e30f, a[2] = -INFINITY;  // masked and hugely negative scores give 0
      auto b = a;
      ref::softmax(a.data(), n);
      k.softmax(b.data(), n);
      double sum = 0;
      for (int p = 0; p < n; ++p) {
        REQUIRE(std::fabs(a[size_t(p)] - b[size_t(p)]) <= 2e-6f + 2e-6f * a[size_t(p)]);
        sum += b[size_t(p)];
      }
      CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
      if (n > 2) CHECK(b[2] == 0.f);
    }
  }
}

TEST_CASE("silu * up: SIMD equals the reference, including saturated inputs") {
  const Kernels& k = simd();
  for (int64_t n : {1, 7, 8, 100, 1536}) {
    CAPTURE(n);
    auto g = random_floats(size_t(n), uint32_t(n), 4.f);
    const auto u = random_floats(size_t(n), uint32_t(n + 1));
    if (n > 3) g[0] = 200.f, g[1] = -200.f, g[2] = 0.f, g[3] = -88.5f;
    auto g2 = g;
    ref::silu_mul(n, g.data(), u.data());
    k.silu_mul(n, g2.data(), u.data());
    for (size_t i = 0; i < size_t(n); ++i) {
      REQUIRE(std::isfinite(g2[i]));
      REQUIRE(std::fabs(g[i] - g2[i]) <= 1e-6f + 1e-6f * std::fabs(g[i]));
    }
  }
}

TEST_CASE("F32 -> F16 rows for the KV cache: SIMD equals the scalar rounding bit for bit") {
  const Kernels& k = simd();
  for (int n : {1, 7, 8, 9, 64, 203}) {
    CAPTURE(n);
    auto x = random_floats(size_t(n), uint32_t(n));
    for (size_t i = 0; i < x.size(); ++i) x[i] *= (i % 3 == 0) ? 1e-6f : (i % 3 == 1 ? 3e4f : 1.f);  // subnormal, large
    if (n > 8) x[1] = 1e9f, x[2] = -1e9f, x[3] = 0.f, x[4] = -0.f;  // beyond F16's range: +-inf
    std::vector<uint16_t> simd_out(size_t(n), 0xFFFF);
    k.quantize[int(GgmlType::f16)](x.data(), simd_out.data(), n);
    for (int i = 0; i < n; ++i) {
      CAPTURE(x[size_t(i)]);
      REQUIRE(simd_out[size_t(i)] == f32_to_fp16(x[size_t(i)]));
    }
  }
}
