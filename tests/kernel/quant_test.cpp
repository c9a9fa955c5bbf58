// Every type's kernels against the scalar reference: quantize/dequantize round trips within the
// type's error bound, SIMD dot == reference dot on random data of odd sizes, multi-row kernels
// == single-row ones, SIMD activation quantization within one step of the reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "providers/local/kernel/quant.hpp"
#include "tests/kernel/test_support.hpp"

using namespace fh::kernel;
using fh::kernel::test::random_floats;

namespace {

const GgmlType all_types[] = {GgmlType::f32, GgmlType::f16, GgmlType::bf16, GgmlType::q8_0,
                              GgmlType::q4_0, GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k};

std::vector<uint8_t> quantize(GgmlType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_bytes(*type_traits(t), int64_t(x.size())));
  ref::quantize_row(t, x.data(), q.data(), int64_t(x.size()));
  return q;
}

// RMS error bound relative to the data's RMS, per type (loose: random data, simple quantizers).
double rms_bound(GgmlType t) {
  switch (t) {
    case GgmlType::f32: return 1e-7;
    case GgmlType::f16: return 1e-3;
    case GgmlType::bf16: return 8e-3;
    case GgmlType::q8_0: return 0.01;
    case GgmlType::q6_k: return 0.04;
    case GgmlType::q5_k: return 0.08;
    default: return 0.16;  // 4-bit
  }
}

}  // namespace

TEST_CASE("fp16 and bf16 conversion") {
  for (float f : {0.f, -0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f, 1e-9f})
    CHECK(std::fabs(fp16_to_f32(f32_to_fp16(f)) - f) <= std::fabs(f) * 1e-3f + 6e-8f);
  CHECK(std::isinf(fp16_to_f32(f32_to_fp16(1e6f))));
  CHECK(std::isnan(fp16_to_f32(f32_to_fp16(NAN))));
  // Every half value survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // nan payloads
    REQUIRE(f32_to_fp16(fp16_to_f32(uint16_t(h))) == h);
  }
  CHECK(bf16_to_f32(f32_to_bf16(1.5f)) == 1.5f);
  CHECK(std::fabs(bf16_to_f32(f32_to_bf16(3.14159f)) - 3.14159f) < 0.02f);
}

TEST_CASE("quantize / dequantize round trip stays within each type's error bound") {
  for (GgmlType t : all_types) {
    const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
    const int64_t n = 256 * 5;
    const auto x = random_floats(size_t(n), 11);
    const auto q = quantize(t, x);
    std::vector<float> y(static_cast<size_t>(n));
    ref::dequantize_row(t, q.data(), y.data(), n);
    double err = 0, ref_sq = 0;
    for (int64_t i = 0; i < n; ++i) err += (x[size_t(i)] - y[size_t(i)]) * (x[size_t(i)] - y[size_t(i)]), ref_sq += x[size_t(i)] * x[size_t(i)];
    CHECK(std::sqrt(err / ref_sq) < rms_bound(t));
  }
}

TEST_CASE("reference dot equals the float dot of dequantized rows (integer paths are exact)") {
  for (GgmlType t : all_types) {
    const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
    const int64_t n = 256 * 3;
    const auto w = quantize(t, random_floats(size_t(n), 3));
    const GgmlType at = type_traits(t)->vec_dot;
    const auto a = quantize(at, random_floats(size_t(n), 4));
    std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
    ref::dequantize_row(t, w.data(), wf.data(), n);
    ref::dequantize_row(at, a.data(), af.data(), n);
    double expect = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) expect += double(wf[size_t(i)]) * af[size_t(i)], mag += std::fabs(wf[size_t(i)] * af[size_t(i)]);
    CHECK(std::fabs(ref::vec_dot(t, n, w.data(), a.data()) - expect) <= 1e-4 * mag + 1e-6);
  }
}

TEST_CASE("SIMD dot products match the scalar reference on random data and odd sizes") {
  const Kernels& simd = kernels();
  if (simd.isa == Isa::scalar) {
    MESSAGE("no SIMD kernels on this CPU; nothing to compare");
    return;
  }
  for (GgmlType t : all_types) {
    const int block = type_traits(t)->block == 1 ? 1 : type_traits(t)->block;
    for (int blocks : {1, 3, 7, 13}) {
      // Float types also get sizes that are not multiples of the vector width.
      const int64_t n = block == 1 ? int64_t(blocks) * 37 : int64_t(blocks) * block;
      const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
      CAPTURE(n);
      const GgmlType at = type_traits(t)->vec_dot;
      for (uint32_t seed = 1; seed <= 4; ++seed) {
        const auto w = quantize(t, random_floats(size_t(n), seed, seed == 4 ? 100.f : 1.f));
        const auto a = quantize(at, random_floats(size_t(n), seed + 100));
        const float r = ref::vec_dot(t, n, w.data(), a.data());
        const float s = simd.dot[int(t)](n, w.data(), a.data());
        // Integer sums are exact; only the float accumulation order differs.
        double mag = 0;
        std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
        ref::dequantize_row(t, w.data(), wf.data(), n);
        ref::dequantize_row(at, a.data(), af.data(), n);
        for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(wf[size_t(i)]) * af[size_t(i)]);
        CHECK(std::fabs(r - s) <= 2e-5 * mag + 1e-6);
      }
    }
  }
}

TEST_CASE("multi-row SIMD kernels equal the single-row kernel") {
  const Kernels& k = kernels();
  for (GgmlType t : all_types) {
    if (!k.dot4[int(t)]) continue;
    const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
    const int64_t n = int64_t(type_traits(t)->block) * 9;
    std::vector<uint8_t> rows;
    for (int r = 0; r < 4; ++r) {
      const auto q = quantize(t, random_floats(size_t(n), 50 + uint32_t(r)));
      rows.insert(rows.end(), q.begin(), q.end());
    }
    const auto a = quantize(type_traits(t)->vec_dot, random_floats(size_t(n), 60));
    const size_t stride = row_bytes(*type_traits(t), n);
    float out[4];
    k.dot4[int(t)](n, rows.data(), stride, a.data(), out);
    for (int r = 0; r < 4; ++r) CHECK(out[r] == doctest::Approx(k.dot[int(t)](n, rows.data() + size_t(r) * stride, a.data())).epsilon(1e-5));
  }
}

TEST_CASE("SIMD activation quantization is within one step of the reference") {
  const Kernels& k = kernels();
  for (GgmlType at : {GgmlType::q8_0, GgmlType::q8_k}) {
    const std::string aname = type_traits(at)->name;
    CAPTURE(aname);
    for (int64_t n : {int64_t(256), int64_t(256 * 7)}) {
      auto x = random_floats(size_t(n), 77);
      x[5] = 0.5f;  // exact halves exercise the rounding mode
      const auto r = quantize(at, x);
      std::vector<uint8_t> s(r.size());
      k.quantize[int(at)](x.data(), s.data(), n);
      std::vector<float> rf(static_cast<size_t>(n)), sf(static_cast<size_t>(n));
      ref::dequantize_row(at, r.data(), rf.data(), n);
      ref::dequantize_row(at, s.data(), sf.data(), n);
      const int block = type_traits(at)->block;
      for (int64_t b = 0; b < n / block; ++b) {
        float amax = 0;
        for (int j = 0; j < block; ++j) amax = std::max(amax, std::fabs(x[size_t(b * block + j)]));
        const float step = amax / 127.f;
        for (int j = 0; j < block; ++j) REQUIRE(std::fabs(rf[size_t(b * block + j)] - sf[size_t(b * block + j)]) <= step * 1.01f + 1e-6f);
      }
      if (at == GgmlType::q8_k) {  // block sums must describe the SIMD quants exactly
        const auto* blocks = reinterpret_cast<const BlockQ8_K*>(s.data());
        for (int64_t b = 0; b < n / 256; ++b)
          for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += blocks[b].qs[16 * g + j];
            REQUIRE(blocks[b].bsums[g] == sum);
          }
      }
    }
  }
}

TEST_CASE("all-zero blocks quantize to zero without dividing by zero") {
  for (GgmlType t : all_types) {
    const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
    const std::vector<float> x(512, 0.f);
    const auto q = quantize(t, x);
    std::vector<float> y(512, 1.f);
    ref::dequantize_row(t, q.data(), y.data(), 512);
    for (float v : y) REQUIRE(v == 0.f);
  }
}

TEST_CASE("GEMM tiles equal single dot products") {
  const Kernels& k = kernels();
  for (GgmlType t : all_types) {
    if (!k.gemm[int(t)]) continue;
    const std::string name = type_traits(t)->name;
    CAPTURE(name);
    const int64_t n = int64_t(type_traits(t)->block) * 11;
    const size_t ws = row_bytes(*type_traits(t), n);
    const GgmlType at = type_traits(t)->vec_dot;
    const size_t as = row_bytes(*type_traits(at), n);
    std::vector<uint8_t> w, a;
    for (int r = 0; r < gemm_rows; ++r) {
      const auto q = quantize(t, random_floats(static_cast<size_t>(n), 200 + uint32_t(r), r == 1 ? 50.f : 1.f));
      w.insert(w.end(), q.begin(), q.end());
    }
    for (int c = 0; c < gemm_cols; ++c) {
      const auto q = quantize(at, random_floats(static_cast<size_t>(n), 300 + uint32_t(c)));
      a.insert(a.end(), q.begin(), q.end());
    }
    const size_t ldy = 7;
    std::vector<float> y(size_t(gemm_cols) * ldy, -1.f);
    k.gemm[int(t)](n, w.data(), ws, a.data(), as, y.data(), ldy);
    for (int c = 0; c < gemm_cols; ++c)
      for (int r = 0; r < gemm_rows; ++r) {
        // Tolerance relative to sum |w_i * a_i|: the integer sums are exact, float order differs.
        std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
        ref::dequantize_row(t, w.data() + size_t(r) * ws, wf.data(), n);
        ref::dequantize_row(at, a.data() + size_t(c) * as, af.data(), n);
        double mag = 0;
        for (size_t i = 0; i < wf.size(); ++i) mag += std::fabs(double(wf[i]) * af[i]);
        const float want = ref::vec_dot(t, n, w.data() + size_t(r) * ws, a.data() + size_t(c) * as);
        CHECK(std::fabs(y[size_t(c) * ldy + size_t(r)] - want) <= 2e-5 * mag + 1e-6);
      }
  }
}

TEST_CASE("interleaved Q4_0 / Q8_0 decode kernels equal four single-row dots") {
  for (GgmlType t : {GgmlType::q4_0, GgmlType::q8_0}) {
    const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
    const int64_t n = 32 * 13;
    std::vector<uint8_t> rows;
    for (int r = 0; r < 4; ++r) {
      const auto q = quantize(t, random_floats(static_cast<size_t>(n), 400 + uint32_t(r), r == 2 ? 30.f : 1.f));
      rows.insert(rows.end(), q.begin(), q.end());
    }
    const size_t stride = rows.size() / 4;
    std::vector<uint8_t> packed(rows.size());
    REQUIRE(ref::repack_x4(t, rows.data(), stride, packed.data(), n));
    const auto a = quantize(GgmlType::q8_0, random_floats(static_cast<size_t>(n), 500));
    float ref_out[4], simd_out[4];
    (t == GgmlType::q4_0 ? ref::gemv_q4_0x4 : ref::gemv_q8_0x4)(n, packed.data(), a.data(), ref_out);
    kernels().gemv_x4[int(t)](n, packed.data(), a.data(), simd_out);
    for (int r = 0; r < 4; ++r) {
      const float want = ref::vec_dot(t, n, rows.data() + size_t(r) * stride, a.data());
      CHECK(ref_out[r] == doctest::Approx(want).epsilon(1e-5));
      CHECK(simd_out[r] == doctest::Approx(want).epsilon(1e-4));
    }
  }
  CHECK(!ref::repack_x4(GgmlType::f16, nullptr, 0, nullptr, 256));
}

TEST_CASE("interleaved K-quant decode kernels equal four single-row dots") {
  for (Isa isa : fh::kernel::test::supported_isas()) {  // every SIMD table, and scalar against itself
  CAPTURE(isa_name(isa));
  REQUIRE(force_isa(isa));
  for (GgmlType t : {GgmlType::q4_k, GgmlType::q5_k, GgmlType::q6_k}) {
  for (int blocks : {1, 2, 5}) {
    const std::string tname = type_traits(t)->name;
    CAPTURE(tname);
    CAPTURE(blocks);
    const int64_t n = 256 * int64_t(blocks);
    std::vector<uint8_t> rows;
    for (int r = 0; r < 4; ++r) {
      const auto q = quantize(t, random_floats(static_cast<size_t>(n), 600 + uint32_t(r), r == 1 ? 20.f : 1.f));
      rows.insert(rows.end(), q.begin(), q.end());
    }
    const size_t stride = rows.size() / 4;
    std::vector<uint8_t> packed(rows.size());
    REQUIRE(ref::repack_x4(t, rows.data(), stride, packed.data(), n));
    const auto a = quantize(GgmlType::q8_k, random_floats(static_cast<size_t>(n), 700));
    float ref_out[4], simd_out[4];
    ref::gemv_kx4(t, n, packed.data(), a.data(), ref_out);
    kernels().gemv_x4[int(t)](n, packed.data(), a.data(), simd_out);
    for (int r = 0; r < 4; ++r) {
      const float want = ref::vec_dot(t, n, rows.data() + size_t(r) * stride, a.data());
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      ref::dequantize_row(t, rows.data() + size_t(r) * stride, wf.data(), n);
      ref::dequantize_row(GgmlType::q8_k, a.data(), af.data(), n);
      double mag = 0;
      for (size_t i = 0; i < wf.size(); ++i) mag += std::fabs(double(wf[i]) * af[i]);
      CHECK(std::fabs(ref_out[r] - want) <= 2e-5 * mag + 1e-6);
      CHECK(std::fabs(simd_out[r] - want) <= 2e-5 * mag + 1e-6);
    }
  }
  }
  }
  force_isa(best_isa());
}

namespace {

// Q8_0 activations as the Q4_0x8 kernels read them: the same quants, d widened, 8 * sum.
std::vector<BlockQ8_0S> to_q8_0s(const std::vector<uint8_t>& q8) {
  const auto* b = reinterpret_cast<const BlockQ8_0*>(q8.data());
  std::vector<BlockQ8_0S> out(q8.size() / sizeof(BlockQ8_0));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].d = fp16_to_f32(b[i].d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += b[i].qs[j], out[i].qs[j] = b[i].qs[j];
    out[i].s8 = 8 * sum;
  }
  return out;
}

// sum |w_i * a_i| of a weight row (Q4_0 unless told) against a Q8_0 row: the scale of float
// rounding differences.
double dot_magnitude(const uint8_t* w, const uint8_t* a, int64_t n, GgmlType wt = GgmlType::q4_0) {
  std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
  ref::dequantize_row(wt, w, wf.data(), n);
  ref::dequantize_row(GgmlType::q8_0, a, af.data(), n);
  double mag = 0;
  for (size_t i = 0; i < wf.size(); ++i) mag += std::fabs(double(wf[i]) * af[i]);
  return mag;
}

}  // namespace

TEST_CASE("Q8_0S activations: the Q8_0 quants and scale, 8 * their sum; SIMD equals scalar") {
  for (int64_t n : {int64_t(32), int64_t(32 * 13)}) {
    auto x = random_floats(size_t(n), 91, 3.f);
    x[7] = 0.5f;
    if (n > 32) std::fill(x.begin() + 32, x.begin() + 64, 0.f);  // an all-zero block
    const auto want = to_q8_0s(quantize(GgmlType::q8_0, x));
    std::vector<BlockQ8_0S> r(want.size()), s(want.size());
    ref::quantize_q8_0s(x.data(), r.data(), n);
    kernels().quantize_q8_0s(x.data(), s.data(), n);
    for (size_t i = 0; i < want.size(); ++i) {
      REQUIRE(r[i].d == want[i].d);
      REQUIRE(r[i].s8 == want[i].s8);
      REQUIRE(std::equal(r[i].qs, r[i].qs + 32, want[i].qs));
      // The SIMD quantizer rounds halves to even (as the SIMD Q8_0 one does): within one step.
      int sum = 0;
      for (int j = 0; j < 32; ++j) {
        REQUIRE(std::abs(s[i].qs[j] - r[i].qs[j]) <= 1);
        sum += s[i].qs[j];
      }
      REQUIRE(s[i].d == r[i].d);
      REQUIRE(s[i].s8 == 8 * sum);
    }
    std::vector<uint8_t> q8(row_bytes(*type_traits(GgmlType::q8_0), n));
    kernels().quantize[int(GgmlType::q8_0)](x.data(), q8.data(), n);
    const auto from_simd_q8 = to_q8_0s(q8);
    for (size_t i = 0; i < want.size(); ++i) REQUIRE(std::equal(s[i].qs, s[i].qs + 32, from_simd_q8[i].qs));
  }
}

TEST_CASE("Q4_0 and Q8_0 by 8 rows: decode and prompt kernels equal eight single-row dots") {
  for (Isa isa : fh::kernel::test::supported_isas()) {  // every SIMD table, and scalar against itself
  CAPTURE(isa_name(isa));
  REQUIRE(force_isa(isa));
  for (GgmlType t : {GgmlType::q4_0, GgmlType::q8_0}) {
  for (int blocks : {1, 2, 3, 13}) {
    CAPTURE(type_traits(t)->name);
    CAPTURE(blocks);
    const int64_t n = 32 * int64_t(blocks);
    std::vector<uint8_t> rows;
    for (int r = 0; r < 8; ++r) {
      const auto q = quantize(t, random_floats(size_t(n), 800 + uint32_t(r), r == 5 ? 40.f : 1.f));
      rows.insert(rows.end(), q.begin(), q.end());
    }
    const size_t stride = rows.size() / 8;
    std::vector<uint8_t> packed(rows.size());
    REQUIRE(ref::repack_x8(t, rows.data(), stride, packed.data(), n));
    const auto ref_gemv = t == GgmlType::q4_0 ? ref::gemv_q4_0x8 : ref::gemv_q8_0x8;
    const auto ref_gemm = t == GgmlType::q4_0 ? ref::gemm_q4_0x8 : ref::gemm_q8_0x8;
    std::vector<std::vector<uint8_t>> q8;
    std::vector<BlockQ8_0S> acts;  // gemm_x8_cols rows back to back
    for (int c = 0; c < gemm_x8_cols; ++c) {
      q8.push_back(quantize(GgmlType::q8_0, random_floats(size_t(n), 900 + uint32_t(c), c == 2 ? 9.f : 1.f)));
      const auto a = to_q8_0s(q8.back());
      acts.insert(acts.end(), a.begin(), a.end());
    }
    const size_t a_stride = size_t(blocks) * sizeof(BlockQ8_0S);
    const size_t ldy = 11;
    std::vector<float> ref_y(gemm_x8_cols * ldy, -1.f), simd_y(gemm_x8_cols * ldy, -1.f);
    ref_gemm(n, packed.data(), acts.data(), a_stride, ref_y.data(), ldy);
    kernels().gemm_x8[int(t)](n, packed.data(), acts.data(), a_stride, simd_y.data(), ldy);
    for (int c = 0; c < gemm_x8_cols; ++c) {
      float ref_v[8], simd_v[8];
      ref_gemv(n, packed.data(), acts.data() + size_t(c) * size_t(blocks), ref_v);
      kernels().gemv_x8[int(t)](n, packed.data(), acts.data() + size_t(c) * size_t(blocks), simd_v);
      for (int r = 0; r < 8; ++r) {
        CAPTURE(c);
        CAPTURE(r);
        const uint8_t* w = rows.data() + size_t(r) * stride;
        const float want = ref::vec_dot(t, n, w, q8[size_t(c)].data());
        const double tol = 2e-5 * dot_magnitude(w, q8[size_t(c)].data(), n, t) + 1e-6;
        if (t == GgmlType::q4_0) {
          CHECK(ref_v[r] == want);  // same integer sums, same float order
          CHECK(ref_y[size_t(c) * ldy + size_t(r)] == want);
        } else {  // the reference Q8_0 dot rounds the two scales' product differently
          CHECK(std::fabs(ref_v[r] - want) <= tol);
          CHECK(std::fabs(ref_y[size_t(c) * ldy + size_t(r)] - want) <= tol);
        }
        CHECK(std::fabs(simd_v[r] - want) <= tol);
        CHECK(std::fabs(simd_y[size_t(c) * ldy + size_t(r)] - want) <= tol);
      }
      CHECK(simd_y[size_t(c) * ldy + 8] == -1.f);  // nothing written past the 8 rows
    }
  }
  }
  }
  force_isa(best_isa());
  CHECK(!ref::repack_x8(GgmlType::q6_k, nullptr, 0, nullptr, 256));
}

TEST_CASE("Q4_0 by 8 rows: extreme quants do not overflow the int16 sums") {
  // Every weight nibble 15 against every activation quant -128 or 127: the largest pair sums.
  for (Isa isa : fh::kernel::test::supported_isas())
  for (int yq : {127, -128, -127}) {
    CAPTURE(isa_name(isa));
    REQUIRE(force_isa(isa));
    CAPTURE(yq);
    const int64_t n = 32 * 3;
    std::vector<BlockQ4_0> rows(8 * 3);
    for (auto& b : rows) b.d = f32_to_fp16(0.5f), std::fill(b.qs, b.qs + 16, uint8_t(0xFF));
    std::vector<BlockQ4_0x8> packed(3);
    ref::repack_q4_0x8(rows.data(), 3 * sizeof(BlockQ4_0), packed.data(), n);
    std::vector<BlockQ8_0S> act(3 * gemm_x8_cols);
    for (auto& a : act) a.d = 0.25f, std::fill(a.qs, a.qs + 32, int8_t(yq)), a.s8 = 8 * 32 * yq;
    const float want = 3 * 0.5f * 0.25f * float(32 * 7 * yq);
    float v[8];
    kernels().gemv_q4_0x8(n, packed.data(), act.data(), v);
    for (float x : v) CHECK(x == want);
    std::vector<float> y(8 * gemm_x8_cols);
    kernels().gemm_q4_0x8(n, packed.data(), act.data(), 3 * sizeof(BlockQ8_0S), y.data(), 8);
    for (float x : y) CHECK(x == want);
  }
  force_isa(best_isa());
}

TEST_CASE("Q8_0 by 8 rows: extreme quants (-128, 127) give exact sums") {
  for (Isa isa : fh::kernel::test::supported_isas())
  for (int wq : {127, -127, -128}) {
    for (int yq : {127, -127}) {
      CAPTURE(isa_name(isa));
      REQUIRE(force_isa(isa));
      CAPTURE(wq);
      CAPTURE(yq);
      const int64_t n = 32 * 3;
      std::vector<BlockQ8_0> rows(8 * 3);
      for (auto& b : rows) b.d = f32_to_fp16(0.5f), std::fill(b.qs, b.qs + 32, int8_t(wq));
      std::vector<BlockQ8_0x8> packed(3);
      REQUIRE(ref::repack_x8(GgmlType::q8_0, rows.data(), 3 * sizeof(BlockQ8_0), packed.data(), n));
      std::vector<BlockQ8_0S> act(3 * gemm_x8_cols);
      for (auto& a : act) a.d = 0.25f, std::fill(a.qs, a.qs + 32, int8_t(yq)), a.s8 = 8 * 32 * yq;
      const float want = 3 * 0.5f * 0.25f * float(32 * wq * yq);
      float v[8];
      kernels().gemv_x8[int(GgmlType::q8_0)](n, packed.data(), act.data(), v);
      for (float x : v) CHECK(x == want);
      std::vector<float> y(8 * gemm_x8_cols);
      kernels().gemm_x8[int(GgmlType::q8_0)](n, packed.data(), act.data(), 3 * sizeof(BlockQ8_0S), y.data(), 8);
      for (float x : y) CHECK(x == want);
    }
  }
  force_isa(best_isa());
}

TEST_CASE("Q4_K by 8 rows: decode and prompt kernels equal eight single-row dots") {
  for (Isa isa : fh::kernel::test::supported_isas())
  for (int blocks : {1, 2, 5}) {
    CAPTURE(isa_name(isa));
    REQUIRE(force_isa(isa));
    CAPTURE(blocks);
    const int64_t n = 256 * int64_t(blocks);
    std::vector<uint8_t> rows;
    for (int r = 0; r < 8; ++r) {
      const auto q = quantize(GgmlType::q4_k, random_floats(size_t(n), 1800 + uint32_t(r), r == 3 ? 30.f : 1.f));
      rows.insert(rows.end(), q.begin(), q.end());
    }
    const size_t stride = rows.size() / 8;
    std::vector<uint8_t> packed(rows.size());
    REQUIRE(ref::repack_x8(GgmlType::q4_k, rows.data(), stride, packed.data(), n));
    std::vector<std::vector<uint8_t>> acts;
    std::vector<uint8_t> act_rows;  // gemm_x8_cols Q8_K rows back to back
    for (int c = 0; c < gemm_x8_cols; ++c) {
      acts.push_back(quantize(GgmlType::q8_k, random_floats(size_t(n), 1900 + uint32_t(c), c == 1 ? 7.f : 1.f)));
      act_rows.insert(act_rows.end(), acts.back().begin(), acts.back().end());
    }
    const size_t a_stride = acts[0].size(), ldy = 9;
    std::vector<float> ref_y(gemm_x8_cols * ldy, -1.f), simd_y(gemm_x8_cols * ldy, -1.f);
    ref::gemm_q4_kx8(n, packed.data(), act_rows.data(), a_stride, ref_y.data(), ldy);
    kernels().gemm_x8[int(GgmlType::q4_k)](n, packed.data(), act_rows.data(), a_stride, simd_y.data(), ldy);
    for (int c = 0; c < gemm_x8_cols; ++c) {
      float ref_v[8], simd_v[8];
      ref::gemv_q4_kx8(n, packed.data(), acts[size_t(c)].data(), ref_v);
      kernels().gemv_x8[int(GgmlType::q4_k)](n, packed.data(), acts[size_t(c)].data(), simd_v);
      for (int r = 0; r < 8; ++r) {
        CAPTURE(c);
        CAPTURE(r);
        const uint8_t* w = rows.data() + size_t(r) * stride;
        const float want = ref::vec_dot(GgmlType::q4_k, n, w, acts[size_t(c)].data());
        // Float rounding relative to the size of the terms: sum |w| |a| over the row.
        std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
        ref::dequantize_row(GgmlType::q4_k, w, wf.data(), n);
        ref::dequantize_row(GgmlType::q8_k, acts[size_t(c)].data(), af.data(), n);
        double mag = 0;
        for (size_t e = 0; e < wf.size(); ++e) mag += std::fabs(double(wf[e]) * af[e]);
        const double tol = 3e-5 * mag + 1e-6;
        CHECK(std::fabs(ref_v[r] - want) <= tol);
        CHECK(ref_y[size_t(c) * ldy + size_t(r)] == ref_v[r]);
        CHECK(std::fabs(simd_v[r] - want) <= tol);
        CHECK(std::fabs(simd_y[size_t(c) * ldy + size_t(r)] - want) <= tol);
      }
      CHECK(simd_y[size_t(c) * ldy + 8] == -1.f);  // nothing written past the 8 rows
    }
  }
  force_isa(best_isa());
}

TEST_CASE("Q4_K by 8 rows: largest nibbles, scales and mins do not overflow") {
  for (Isa isa : fh::kernel::test::supported_isas())
  for (int yq : {127, -127}) {
    CAPTURE(isa_name(isa));
    REQUIRE(force_isa(isa));
    CAPTURE(yq);
    const int64_t n = 512;
    std::vector<BlockQ4_K> rows(8 * 2);
    for (auto& b : rows) {
      b.d = f32_to_fp16(0.5f), b.dmin = f32_to_fp16(0.25f);
      std::fill(b.scales, b.scales + 12, uint8_t(0xFF));  // every scale and min 63
      std::fill(b.qs, b.qs + 128, uint8_t(0xFF));          // every quant 15
    }
    std::vector<uint8_t> packed(rows.size() * sizeof(BlockQ4_K));
    REQUIRE(ref::repack_x8(GgmlType::q4_k, rows.data(), 2 * sizeof(BlockQ4_K), packed.data(), n));
    std::vector<BlockQ8_K> act(2 * gemm_x8_cols);
    for (auto& a : act) {
      a.d = 0.125f;
      std::fill(a.qs, a.qs + 256, int8_t(yq));
      std::fill(a.bsums, a.bsums + 16, int16_t(16 * yq));
    }
    // Per super-block: d * dy * 63 * 15 * 256 * yq - dmin * dy * 63 * 256 * yq.
    const float want = 2 * (0.5f * 0.125f * float(63 * 15 * 256 * yq) - 0.25f * 0.125f * float(63 * 256 * yq));
    float v[8], rv[8];
    ref::gemv_q4_kx8(n, packed.data(), act.data(), rv);
    kernels().gemv_x8[int(GgmlType::q4_k)](n, packed.data(), act.data(), v);
    for (int r = 0; r < 8; ++r) {
      CHECK(rv[r] == want);
      CHECK(v[r] == want);
    }
    std::vector<float> y(8 * gemm_x8_cols);
    kernels().gemm_x8[int(GgmlType::q4_k)](n, packed.data(), act.data(), 2 * sizeof(BlockQ8_K), y.data(), 8);
    for (float x : y) CHECK(x == want);
  }
  force_isa(best_isa());
}
