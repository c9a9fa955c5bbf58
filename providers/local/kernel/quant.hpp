// Tensor element types, quantization blocks, and the dot-product kernels over them.
//
// Every type has a scalar reference (quant_ref.cpp) for dequantize, quantize and dot; SIMD
// versions (quant_avx2.cpp) are chosen once at run time from the CPU's features and tested
// against the reference. Weights of type W are multiplied with activations quantized on the fly
// to W's `vec_dot_type`: Q8_0 for Q4_0/Q8_0, Q8_K for the K-quants, F32 for the float types.
// Pure functions, no allocation, callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fh::kernel {

// ggml type codes as stored in GGUF tensor infos.
enum class GgmlType : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, bf16 = 30,
};

constexpr int qk_k = 256;  // super-block size of the K-quants

struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[256]; int16_t bsums[16]; };
// Four Q4_0 rows interleaved block by block (decode layout, made at load): one memory stream
// serves four rows, and their four scales convert in one instruction.
struct BlockQ4_0x4 { uint16_t d[4]; uint8_t qs[4][16]; };
struct BlockQ8_0x4 { uint16_t d[4]; int8_t qs[4][32]; };
// Eight Q4_0 rows interleaved block by block (made at load; decode AND prompt read it): the 8
// rows' scales, then 4 registers of 32 bytes. Byte 32k + 4r + j (k = 0..3, r = 0..7, j = 0..3)
// holds in its low nibble row r's element 4k + j and in its high nibble row r's element
// 16 + 4k + j, as stored (0..15). So `P_k & 15` / `(P_k >> 4) & 15` are, for k' = k / k + 4, the
// 8 rows' elements 4k'..4k'+3 in the 8 32-bit lanes: one maddubs against the activation's 4
// bytes 4k'..4k'+3 broadcast to every lane gives partial dots of all 8 rows, no horizontal sums.
struct BlockQ4_0x8 { uint16_t d[8]; uint8_t qs[128]; };
// Eight Q8_0 rows interleaved block by block, the same way (made at load; decode and prompt
// read it): byte 32k + 4r + j (k = 0..7) holds row r's element 4k + j.
struct BlockQ8_0x8 { uint16_t d[8]; int8_t qs[256]; };
// Eight Q4_K rows interleaved super-block by super-block (made at load; decode and prompt read
// it): the 8 rows' d and dmin; their 12 packed scale bytes as three 32-byte registers (byte
// 32w + 4r + b = row r's scales[4w + b], so each 32-bit lane unpacks one row's scales and mins);
// then for each 64-element chunk k the 8 rows' 32 quant bytes as 8 registers: byte
// 256k + 32m + 4r + j = row r's qs[32k + 4m + j] (low nibble: sub-block 2k element 4m + j; high
// nibble: sub-block 2k + 1, same element).
struct BlockQ4_Kx8 { uint16_t d[8]; uint16_t dmin[8]; uint8_t scales[96]; uint8_t qs[1024]; };
// The activation block the Q4_0x8 / Q8_0x8 kernels read: a Q8_0 block with its scale as float (the fp16
// value, widened) and 8 * the sum of its quants, the term that moves Q4_0's -8 offset out of the
// inner loop: sum (q - 8) * y = sum q * y - 8 * sum y.
struct BlockQ8_0S { float d; int32_t s8; int8_t qs[32]; };
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ4_0x4) == 72 && sizeof(BlockQ8_0x4) == 136);
static_assert(sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0) && sizeof(BlockQ8_0S) == 40);
static_assert(sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0) && sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K));
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

struct TypeTraits {
  const char* name;
  int block;           // elements per block
  int bytes;           // bytes per block
  GgmlType vec_dot;    // activation type the dot product wants
};

// nullptr when the kernel does not support `t` (or `t` is not a known ggml type).
const TypeTraits* type_traits(GgmlType t) noexcept;
const char* type_name(uint32_t code) noexcept;  // "Q4_0", ..., or "unknown"
// Bytes of a row of n elements (n must be a multiple of the block size).
inline size_t row_bytes(const TypeTraits& tt, int64_t n) { return size_t(n / tt.block) * size_t(tt.bytes); }

float fp16_to_f32(uint16_t h) noexcept;
uint16_t f32_to_fp16(float f) noexcept;
inline float bf16_to_f32(uint16_t h) noexcept {
  uint32_t u = uint32_t(h) << 16; float f; __builtin_memcpy(&f, &u, 4); return f;
}
uint16_t f32_to_bf16(float f) noexcept;

// Scalar references. n is a multiple of the type's block size.
namespace ref {
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);
// dot(weight row of type t, activation row already in type_traits(t)->vec_dot)
float vec_dot(GgmlType t, int64_t n, const void* w, const void* act);
// Interleaves 4 rows of n elements (row stride `stride` bytes): Q4_0 / Q8_0 into n/32
// BlockQ4_0x4 / BlockQ8_0x4, K-quants as the 4 rows' super-blocks side by side; returns false
// for other types.
bool repack_x4(GgmlType t, const void* rows, size_t stride, void* dst, int64_t n);
// The 4 dots of an interleaved group against one Q8_0 activation row.
void gemv_q4_0x4(int64_t n, const void* group, const void* act, float* out);
void gemv_q8_0x4(int64_t n, const void* group, const void* act, float* out);
void gemv_kx4(GgmlType t, int64_t n, const void* group, const void* act, float* out);  // Q8_K act
// Interleaves 8 Q4_0 rows of n elements (row stride `stride` bytes) into n/32 BlockQ4_0x8.
void repack_q4_0x8(const void* rows, size_t stride, void* dst, int64_t n);
// Activations for the Q4_0x8 kernels: n/32 BlockQ8_0S (same quants and rounding as Q8_0).
void quantize_q8_0s(const float* x, void* dst, int64_t n);
// The 8 dots of an interleaved group against one BlockQ8_0S row: out[0..7].
void gemv_q4_0x8(int64_t n, const void* group, const void* act, float* out);
// The group against 4 activation rows (a, a + a_stride, ...): y[c * ldy + r], r = 0..7.
void gemm_q4_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy);

// Q8_0 by 8 rows (BlockQ8_0x8), against BlockQ8_0S activations (s8 unused).
void repack_q8_0x8(const void* rows, size_t stride, void* dst, int64_t n);
void gemv_q8_0x8(int64_t n, const void* group, const void* act, float* out);
void gemm_q8_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy);
// Q4_K by 8 rows (BlockQ4_Kx8), against Q8_K activations.
void repack_q4_kx8(const void* rows, size_t stride, void* dst, int64_t n);
void gemv_q4_kx8(int64_t n, const void* group, const void* act, float* out);
void gemm_q4_kx8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy);
// Interleaves 8 rows of a type that has an 8-row layout (Q4_0, Q8_0, Q4_K); false for others.
bool repack_x8(GgmlType t, const void* rows, size_t stride, void* dst, int64_t n);

// Attention over an F16 cache (attention_ref.cpp). Keys are stored in blocks of kv_block
// positions, each block transposed: element d of key p is kt[kt_index(hd, d, p)], so a block is
// hd rows of kv_block values, and one head's keys are one contiguous stream. Scores of nq
// (1..attn_tile) queries against keys 0..n-1: s[i * ld + p] = scale * dot(q[i], key p). SIMD
// versions compute whole blocks (p up to n rounded up to kv_block): the last block must be
// readable and s rows writable that far.
void attn_scores(int hd, int nq, const float* const* q, const uint16_t* kt, int n, float scale, float* s, size_t ld);
// out[i][0..hd) = sum_{p < n} s[i * ld + p] * v[p * v_stride + 0..hd).
void attn_values(int hd, int nq, const float* s, size_t ld, const uint16_t* v, size_t v_stride, int n, float* const* out);
// In place: s[p] = exp(s[p] - max) / sum, p < n (n >= 1).
void softmax(float* s, int n);
// g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i].
void silu_mul(int64_t n, float* g, const float* u);
}  // namespace ref

// The kernels in use, chosen at run time. Function pointers so the matmul loop pays one
// indirect call per row, not a switch per block.
using DotFn = float (*)(int64_t n, const void* w, const void* act);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);
using DequantFn = void (*)(const void* src, float* dst, int64_t n);
// Four weight rows (w, w + stride, ...) against one activation row: out[0..3].
using Dot4Fn = void (*)(int64_t n, const void* w, size_t stride, const void* act, float* out);

// A register-blocked tile for prompt processing: gemm_rows weight rows x gemm_cols activation
// rows; y[c * ldy + r] = dot(w + r * w_stride, a + c * a_stride).
using GemmFn = void (*)(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* y,
                        size_t ldy);
constexpr int gemm_rows = 2, gemm_cols = 4;
constexpr int gemm_x8_cols = 4;
constexpr int attn_tile = 4;  // queries per attention kernel call
constexpr int kv_block = 16;  // key positions per transposed block of the K cache
inline size_t kt_index(int hd, int d, int p) {
  return (size_t(p / kv_block) * size_t(hd) + size_t(d)) * kv_block + size_t(p % kv_block);
}

// Kernel tables, each a superset of the one before it. avx_vnni = avx2 with AVX-VNNI's vpdpbusd in
// the Q4_0 prompt tile (the compute-bound one; in decode it did not pay). avx512 = avx_vnni (or
// avx2 on a CPU without AVX-VNNI) with 512-bit Q4_0, Q8_0 and Q4_K prompt tiles and Q4_0 and Q4_K
// decode kernels.
enum class Isa { scalar, avx2, avx_vnni, avx512 };

struct Kernels {
  Isa isa = Isa::scalar;
  DotFn dot[32] = {};            // indexed by GgmlType code
  Dot4Fn dot4[32] = {};          // optional multi-row kernels (nullptr: use dot)
  GemmFn gemm[32] = {};          // optional tiles for batches (nullptr: use dot4 / dot)
  void (*axpy)(int64_t n, float a, const float* x, float* y) = nullptr;  // y += a * x
  // Decode over 4 interleaved rows (see repack_x4), indexed by GgmlType code; nullptr: none.
  void (*gemv_x4[32])(int64_t n, const void* group, const void* act, float* out) = {};
  // Q4_0 over 8 interleaved rows (ref::repack_q4_0x8) with BlockQ8_0S activations: decode (one
  // token) and prompt tiles of 8 rows x gemm_x8_cols tokens. Always set.
  void (*gemv_q4_0x8)(int64_t n, const void* group, const void* act, float* out) = nullptr;
  void (*gemm_q4_0x8)(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) = nullptr;
  QuantizeFn quantize_q8_0s = nullptr;
  // The same pair for every type with an 8-row layout (ref::repack_x8), indexed by GgmlType
  // code; nullptr: no 8-row layout. Q4_0 and Q8_0 read BlockQ8_0S activations, Q4_K Q8_K.
  void (*gemv_x8[32])(int64_t n, const void* group, const void* act, float* out) = {};
  void (*gemm_x8[32])(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) = {};
  QuantizeFn quantize[32] = {};  // for activation types (F32 copy, Q8_0, Q8_K) and the F16 KV cache
  // Attention and the FFN activation (see the ref:: declarations); always set.
  void (*attn_scores)(int hd, int nq, const float* const* q, const uint16_t* kt, int n, float scale, float* s,
                      size_t ld) = nullptr;
  void (*attn_values)(int hd, int nq, const float* s, size_t ld, const uint16_t* v, size_t v_stride, int n,
                      float* const* out) = nullptr;
  void (*softmax)(float* s, int n) = nullptr;
  void (*silu_mul)(int64_t n, float* g, const float* u) = nullptr;
  DequantFn dequantize[32] = {};
};

const Kernels& kernels() noexcept;
// The best table this CPU runs; FH_KERNEL_ISA=scalar|avx2|avx_vnni|avx512 in the environment caps it (benchmarks).
Isa best_isa() noexcept;
// Tests: switch every later kernels() call to `isa` (must be supported; returns false if not).
bool force_isa(Isa isa) noexcept;
const char* isa_name(Isa isa) noexcept;

// Filled by quant_avx2.cpp (compiled with -mavx2 -mfma -mf16c); false if not compiled in.
bool fill_avx2_kernels(Kernels& k) noexcept;
// Filled by quant_avx_vnni.cpp (-mavxvnni): replaces the Q4_0 prompt tile of an AVX2 table.
bool fill_avx_vnni_kernels(Kernels& k) noexcept;
// Filled by quant_avx512.cpp (-mavx512f/bw/vl/vnni): replaces the 8-row prompt tiles (Q4_0, Q8_0,
// Q4_K) and decode kernels (Q4_0, Q4_K).
bool fill_avx512_kernels(Kernels& k) noexcept;

}  // namespace fh::kernel
