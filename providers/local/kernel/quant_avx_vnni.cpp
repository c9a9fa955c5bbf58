// The Q4_0 prompt tile (8 interleaved rows x 4 tokens) with AVX-VNNI: vpdpbusd multiplies
// unsigned by signed bytes and adds each lane's four products into its int32, one instruction
// for the AVX2 tile's maddubs + add + madd. The sums are exact in both, so the results are
// bit-identical. Compiled with -mavx2 -mfma -mf16c -mavxvnni; installed by
// fill_avx_vnni_kernels() only when the CPU has AVX-VNNI.
// It includes no shared inline SIMD helpers (avx2_common.hpp): their out-of-line copies, compiled
// here with -mavxvnni, could be the ones the linker keeps for the AVX2 units too.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::avx_vnni {
namespace {

// The 4-byte group k (0..7) of an activation block, broadcast to the 8 lanes.
inline __m256i bcast4(const int8_t* qs, int k) {
  int32_t v;
  std::memcpy(&v, qs + 4 * k, 4);
  return _mm256_set1_epi32(v);
}

void gemm_q4_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  const auto* g = static_cast<const BlockQ4_0x8*>(group);
  const char* ab = static_cast<const char*>(act);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[gemm_x8_cols];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i r[8];
    for (int k = 0; k < 4; ++k) {
      const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[i].qs + 32 * k));
      r[k] = _mm256_and_si256(p, m4);
      r[k + 4] = _mm256_and_si256(_mm256_srli_epi16(p, 4), m4);
    }
    const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[i].d)));
    for (int c = 0; c < gemm_x8_cols; ++c) {
      const BlockQ8_0S& b = reinterpret_cast<const BlockQ8_0S*>(ab + size_t(c) * a_stride)[i];
      // Two chains so the dpbusd latency overlaps; the -8 offset enters as -s8.
      __m256i s0 = _mm256_set1_epi32(-b.s8), s1 = _mm256_setzero_si256();
      for (int k = 0; k < 8; k += 2) {
        s0 = _mm256_dpbusd_avx_epi32(s0, r[k], bcast4(b.qs, k));
        s1 = _mm256_dpbusd_avx_epi32(s1, r[k + 1], bcast4(b.qs, k + 1));
      }
      const __m256i isum = _mm256_add_epi32(s0, s1);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(b.d)), _mm256_cvtepi32_ps(isum), acc[c]);
    }
  }
  for (int c = 0; c < gemm_x8_cols; ++c) _mm256_storeu_ps(y + size_t(c) * ldy, acc[c]);
}

}  // namespace
}  // namespace fh::kernel::avx_vnni

namespace fh::kernel {

bool fill_avx_vnni_kernels(Kernels& k) noexcept {
  k.isa = Isa::avx_vnni;
  k.gemm_x8[int(GgmlType::q4_0)] = k.gemm_q4_0x8 = avx_vnni::gemm_q4_0x8;
  return true;
}

}  // namespace fh::kernel
