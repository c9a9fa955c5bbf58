// The Q4_0 prompt tile (8 interleaved rows x 4 tokens) with AVX-VNNI: vpdpbusd multiplies
// unsigned by signed bytes and adds each lane's four products into its int32, one instruction
// for the AVX2 tile's maddubs + add + madd. The sums are exact in both, so the results are
// bit-identical. Compiled with -mavx2 -mfma -mf16c -mavxvnni; installed by
// fill_avx_vnni_kernels() only when the CPU has AVX-VNNI.
// It includes no shared inline SIMD helpers (avx2_common.hpp): their out-of-line copies, compiled
// here with -mavxvnni, could be the ones the linker keeps for the AVX2 units too. The tile itself
// (q4_0x8_tile.hpp) is a template instantiated with this unit's own lambda.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "providers/local/kernel/q4_0x8_tile.hpp"
#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::avx_vnni {
namespace {

// The 4-byte group k (0..7) of an activation block, broadcast to the 8 lanes.
inline __m256i bcast4(const int8_t* qs, int k) {
  int32_t v;
  std::memcpy(&v, qs + 4 * k, 4);
  return _mm256_set1_epi32(v);
}

// The tile of q4_0x8_tile.hpp; two dpbusd chains so their latency overlaps, the -8 offset
// entering as -s8.
void gemm_q4_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  gemm_q4_0x8_tile(n, group, act, a_stride, y, ldy, [](const __m256i* r, const BlockQ8_0S& b) {
    __m256i s0 = _mm256_set1_epi32(-b.s8), s1 = _mm256_setzero_si256();
    for (int k = 0; k < 8; k += 2) {
      s0 = _mm256_dpbusd_avx_epi32(s0, r[k], bcast4(b.qs, k));
      s1 = _mm256_dpbusd_avx_epi32(s1, r[k + 1], bcast4(b.qs, k + 1));
    }
    return _mm256_add_epi32(s0, s1);
  });
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
