// Type traits, half-precision conversion, and the run-time choice of kernels.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {
namespace {

constexpr TypeTraits traits_f32{"F32", 1, 4, GgmlType::f32};
constexpr TypeTraits traits_f16{"F16", 1, 2, GgmlType::f32};
constexpr TypeTraits traits_bf16{"BF16", 1, 2, GgmlType::f32};
constexpr TypeTraits traits_q4_0{"Q4_0", 32, 18, GgmlType::q8_0};
constexpr TypeTraits traits_q8_0{"Q8_0", 32, 34, GgmlType::q8_0};
constexpr TypeTraits traits_q4_k{"Q4_K", 256, 144, GgmlType::q8_k};
constexpr TypeTraits traits_q5_k{"Q5_K", 256, 176, GgmlType::q8_k};
constexpr TypeTraits traits_q6_k{"Q6_K", 256, 210, GgmlType::q8_k};
constexpr TypeTraits traits_q8_k{"Q8_K", 256, 292, GgmlType::q8_k};

template <GgmlType T>
void ref_gemv_kx4(int64_t n, const void* g, const void* a, float* out) { ref::gemv_kx4(T, n, g, a, out); }
template <GgmlType T>
float ref_dot(int64_t n, const void* w, const void* a) { return ref::vec_dot(T, n, w, a); }
template <GgmlType T>
void ref_quant(const float* x, void* y, int64_t n) { ref::quantize_row(T, x, y, n); }
template <GgmlType T>
void ref_deq(const void* x, float* y, int64_t n) { ref::dequantize_row(T, x, y, n); }

// Scalar F32 dot without the per-element dispatch of ref::vec_dot (still plain C++).
float dot_f32_scalar(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

void axpy_scalar(int64_t n, float a, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

Kernels make_scalar() {
  Kernels k;
  k.isa = Isa::scalar;
#define FH_REF(T)                                      \
  k.dot[int(GgmlType::T)] = ref_dot<GgmlType::T>;      \
  k.quantize[int(GgmlType::T)] = ref_quant<GgmlType::T>; \
  k.dequantize[int(GgmlType::T)] = ref_deq<GgmlType::T>;
  FH_REF(f32) FH_REF(f16) FH_REF(bf16) FH_REF(q4_0) FH_REF(q8_0) FH_REF(q4_k) FH_REF(q5_k) FH_REF(q6_k)
  FH_REF(q8_k)
#undef FH_REF
  k.dot[int(GgmlType::f32)] = dot_f32_scalar;
  k.dot[int(GgmlType::q8_k)] = nullptr;
  k.axpy = axpy_scalar;
  k.gemv_x4[int(GgmlType::q4_0)] = ref::gemv_q4_0x4;
  k.gemv_q4_0x8 = ref::gemv_q4_0x8;
  k.gemm_q4_0x8 = ref::gemm_q4_0x8;
  k.gemv_x8[int(GgmlType::q4_0)] = ref::gemv_q4_0x8;
  k.gemm_x8[int(GgmlType::q4_0)] = ref::gemm_q4_0x8;
  k.gemv_x8[int(GgmlType::q8_0)] = ref::gemv_q8_0x8;
  k.gemm_x8[int(GgmlType::q8_0)] = ref::gemm_q8_0x8;
  k.gemv_x8[int(GgmlType::q4_k)] = ref::gemv_q4_kx8;
  k.gemm_x8[int(GgmlType::q4_k)] = ref::gemm_q4_kx8;
  k.quantize_q8_0s = ref::quantize_q8_0s;
  k.attn_scores = ref::attn_scores;
  k.attn_values = ref::attn_values;
  k.softmax = ref::softmax;
  k.silu_mul = ref::silu_mul;
  k.gemv_x4[int(GgmlType::q8_0)] = ref::gemv_q8_0x4;
  k.gemv_x4[int(GgmlType::q4_k)] = ref_gemv_kx4<GgmlType::q4_k>;
  k.gemv_x4[int(GgmlType::q5_k)] = ref_gemv_kx4<GgmlType::q5_k>;
  k.gemv_x4[int(GgmlType::q6_k)] = ref_gemv_kx4<GgmlType::q6_k>;
  return k;
}

struct Tables {
  Kernels scalar = make_scalar();
  Kernels avx2 = scalar;
  Kernels vnni = scalar;
  Kernels avx512 = scalar;
  bool have_avx2 = false;
  bool have_vnni = false;
  bool have_avx512 = false;
  Tables() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
      have_avx2 = fill_avx2_kernels(avx2);
    if (have_avx2 && __builtin_cpu_supports("avxvnni")) {
      vnni = avx2;
      have_vnni = fill_avx_vnni_kernels(vnni);
    }
    if (have_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
      avx512 = have_vnni ? vnni : avx2;
      have_avx512 = fill_avx512_kernels(avx512);
    }
#endif
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

std::atomic<int> forced{-1};

}  // namespace

const TypeTraits* type_traits(GgmlType t) noexcept {
  switch (t) {
    case GgmlType::f32: return &traits_f32;
    case GgmlType::f16: return &traits_f16;
    case GgmlType::bf16: return &traits_bf16;
    case GgmlType::q4_0: return &traits_q4_0;
    case GgmlType::q8_0: return &traits_q8_0;
    case GgmlType::q4_k: return &traits_q4_k;
    case GgmlType::q5_k: return &traits_q5_k;
    case GgmlType::q6_k: return &traits_q6_k;
    case GgmlType::q8_k: return &traits_q8_k;
  }
  return nullptr;
}

const char* type_name(uint32_t code) noexcept {
  static const char* const names[] = {"F32", "F16", "Q4_0", "Q4_1", "(removed 4)", "(removed 5)", "Q5_0",
                                      "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                                      "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
                                      "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
                                      "(removed 31)", "(removed 32)", "(removed 33)", "TQ1_0", "TQ2_0"};
  return code < sizeof names / sizeof names[0] ? names[code] : "unknown";
}

float fp16_to_f32(uint16_t h) noexcept {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: value = mant * 2^-24
      float f = float(mant) * (1.0f / 16777216.0f);
      std::memcpy(&u, &f, 4);
      u |= sign;
    }
  } else if (exp == 31) {
    u = sign | 0x7F800000u | (mant << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_fp16(float f) noexcept {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000;
  const uint32_t abs = u & 0x7FFFFFFF;
  if (abs >= 0x7F800000) return uint16_t(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));  // inf/nan
  if (abs >= 0x477FF000) return uint16_t(sign | 0x7C00);  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000) {  // below the smallest normal half: subnormal, round to nearest even
    float a;
    std::memcpy(&a, &abs, 4);
    const float scaled = a * 16777216.0f;  // in units of 2^-24
    return uint16_t(sign | uint32_t(__builtin_rintf(scaled)));
  }
  // Normal: rebias exponent, round mantissa to nearest even on the 13 dropped bits.
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rest = abs & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return uint16_t(sign | h);
}

uint16_t f32_to_bf16(float f) noexcept {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFF) > 0x7F800000) return uint16_t((u >> 16) | 64);  // quiet nan
  return uint16_t((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

namespace {
bool supported(Isa isa) noexcept {
  const Tables& t = tables();
  return isa == Isa::scalar || (isa == Isa::avx2 && t.have_avx2) || (isa == Isa::avx_vnni && t.have_vnni) ||
         (isa == Isa::avx512 && t.have_avx512);
}
}  // namespace

Isa best_isa() noexcept {
  static const Isa best = [] {
    Isa b = Isa::scalar;
    for (Isa i : {Isa::avx2, Isa::avx_vnni, Isa::avx512})
      if (supported(i)) b = i;
    if (const char* cap = std::getenv("FH_KERNEL_ISA"))
      for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx_vnni, Isa::avx512})
        if (std::strcmp(cap, isa_name(i)) == 0 && int(i) < int(b)) b = i;
    return b;
  }();
  return best;
}

bool force_isa(Isa isa) noexcept {
  if (!supported(isa)) return false;
  forced.store(int(isa), std::memory_order_relaxed);
  return true;
}

const Kernels& kernels() noexcept {
  const Tables& t = tables();
  const int f = forced.load(std::memory_order_relaxed);
  switch (f >= 0 ? Isa(f) : best_isa()) {
    case Isa::avx512: return t.avx512;
    case Isa::avx_vnni: return t.vnni;
    case Isa::avx2: return t.avx2;
    case Isa::scalar: break;
  }
  return t.scalar;
}

const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx_vnni: return "avx_vnni";
    case Isa::avx2: return "avx2";
    case Isa::scalar: break;
  }
  return "scalar";
}

#if !defined(FH_KERNEL_HAVE_AVX2)
bool fill_avx2_kernels(Kernels&) noexcept { return false; }
bool fill_avx_vnni_kernels(Kernels&) noexcept { return false; }
bool fill_avx512_kernels(Kernels&) noexcept { return false; }
#endif

}  // namespace fh::kernel
