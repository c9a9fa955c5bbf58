// Scalar reference dequantize / quantize / dot for every supported type. Slow and obvious on
// purpose: the SIMD kernels are tested against these, and the GGUF writer quantizes with them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "providers/local/kernel/quant.hpp"

namespace fh::kernel::ref {
namespace {

int nearest_int(float f) { return int(std::lrintf(f)); }

// 6-bit scale and min of sub-block j (0..7) from the packed 12 bytes of Q4_K / Q5_K.
void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void pack_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

// --- dequantize ------------------------------------------------------------------------------

void deq_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * float((b[i].qs[j] & 0xF) - 8);
      y[j + 16] = d * float((b[i].qs[j] >> 4) - 8);
    }
  }
}

void deq_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < 32; ++j) y[j] = d * float(b[i].qs[j]);
  }
}

// Q4_K and Q5_K share the layout of scales; `qh` is null for Q4_K.
void deq_k45(uint16_t dh, uint16_t dminh, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
             float* y) {
  const float d = fp16_to_f32(dh), dmin = fp16_to_f32(dminh);
  for (int c = 0; c < 4; ++c) {  // chunk c: sub-blocks 2c (low nibbles) and 2c+1 (high nibbles)
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * c, scales, sc0, m0);
    scale_min_k4(2 * c + 1, scales, sc1, m1);
    for (int l = 0; l < 32; ++l) {
      int lo = qs[32 * c + l] & 0xF, hi = qs[32 * c + l] >> 4;
      if (qh) {
        lo |= ((qh[l] >> (2 * c)) & 1) << 4;
        hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
      }
      y[64 * c + l] = d * float(sc0) * float(lo) - dmin * float(m0);
      y[64 * c + 32 + l] = d * float(sc1) * float(hi) - dmin * float(m1);
    }
  }
}

// Q6_K: value of element e (0..255) of a block, before subtracting 32.
int q6_value(const BlockQ6_K& b, int e) {
  const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
  const uint8_t* ql = b.ql + 64 * half;
  const uint8_t* qh = b.qh + 32 * half;
  const int low = (k & 1) ? ql[l + 32] : ql[l];
  const int nib = (k < 2) ? (low & 0xF) : (low >> 4);
  return nib | (((qh[l] >> (2 * k)) & 3) << 4);
}
int q6_scale(const BlockQ6_K& b, int e) {
  const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
  return b.scales[8 * half + l / 16 + 2 * k];
}

void deq_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 256) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < 256; ++e) y[e] = d * float(q6_scale(b[i], e)) * float(q6_value(b[i], e) - 32);
  }
}

// --- quantize ----------------------------------------------------------------------------------

void quant_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    const float d = max / -8, id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, int(int8_t(x[j] * id + 8.5f)));
      const int hi = std::min(15, int(int8_t(x[j + 16] * id + 8.5f)));
      b[i].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

void quant_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < 32; ++j) b[i].qs[j] = int8_t(std::roundf(x[j] * id));
  }
}

void quant_q8_k(const float* x, BlockQ8_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float amax = 0, max = 0;
    for (int j = 0; j < 256; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    if (amax == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < 256; ++j) b[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += b[i].qs[16 * g + j];
      b[i].bsums[g] = int16_t(s);
    }
    b[i].d = 1 / iscale;
  }
}

// Q4_K / Q5_K: asymmetric per 32-element sub-block with `levels` = 15 or 31.
void quant_k45(const float* x, int levels, uint16_t& dh, uint16_t& dminh, uint8_t* scales, uint8_t* qs,
               uint8_t* qh) {
  float scale[8], mins[8];
  for (int j = 0; j < 8; ++j) {
    float lo = 0, hi = 0;  // min clamped to <= 0 so m >= 0
    for (int l = 0; l < 32; ++l) lo = std::min(lo, x[32 * j + l]), hi = std::max(hi, x[32 * j + l]);
    scale[j] = (hi - lo) / float(levels);
    mins[j] = -lo;
  }
  const float max_scale = *std::max_element(scale, scale + 8), max_min = *std::max_element(mins, mins + 8);
  dh = f32_to_fp16(max_scale / 63);
  dminh = f32_to_fp16(max_min / 63);
  const float d = fp16_to_f32(dh), dmin = fp16_to_f32(dminh);
  uint8_t sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = uint8_t(d > 0 ? std::clamp(nearest_int(scale[j] / d), 0, 63) : 0);
    m[j] = uint8_t(dmin > 0 ? std::clamp(nearest_int(mins[j] / dmin), 0, 63) : 0);
  }
  pack_scale_min_k4(sc, m, scales);
  if (qh) std::memset(qh, 0, 32);
  for (int j = 0; j < 8; ++j) {
    const float ds = d * float(sc[j]), dm = dmin * float(m[j]);
    for (int l = 0; l < 32; ++l) {
      const int q = ds > 0 ? std::clamp(nearest_int((x[32 * j + l] + dm) / ds), 0, levels) : 0;
      const int c = j / 2, idx = 32 * c + l;
      if (j % 2 == 0) qs[idx] = uint8_t(q & 0xF);
      else qs[idx] = uint8_t(qs[idx] | ((q & 0xF) << 4));
      if (qh) qh[l] = uint8_t(qh[l] | (((q >> 4) & 1) << j));
    }
  }
}

void quant_q6_k(const float* x, BlockQ6_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[16];
    for (int g = 0; g < 16; ++g) {
      float amax = 0;
      for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * g + l]));
      scale[g] = amax / 31;
    }
    const float max_scale = *std::max_element(scale, scale + 16);
    b[i].d = f32_to_fp16(max_scale / 127);
    const float d = fp16_to_f32(b[i].d);
    std::memset(b[i].ql, 0, sizeof b[i].ql);
    std::memset(b[i].qh, 0, sizeof b[i].qh);
    int8_t sc_of_group[16];
    for (int g = 0; g < 16; ++g) sc_of_group[g] = int8_t(d > 0 ? std::clamp(nearest_int(scale[g] / d), 0, 127) : 0);
    for (int e = 0; e < 256; ++e) {
      const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
      const int g = 8 * half + l / 16 + 2 * k;  // the scale index element e uses
      b[i].scales[g] = sc_of_group[g];
    }
    for (int e = 0; e < 256; ++e) {
      const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
      const float ds = d * float(q6_scale(b[i], e));
      const int q = ds > 0 ? std::clamp(nearest_int(x[e] / ds) + 32, 0, 63) : 32;
      uint8_t* ql = b[i].ql + 64 * half;
      uint8_t* qh = b[i].qh + 32 * half;
      uint8_t& low = (k & 1) ? ql[l + 32] : ql[l];
      low = uint8_t(low | ((k < 2) ? (q & 0xF) : ((q & 0xF) << 4)));
      qh[l] = uint8_t(qh[l] | (((q >> 4) & 3) << (2 * k)));
    }
  }
}

}  // namespace

void dequantize_row(GgmlType t, const void* src, float* y, int64_t n) {
  switch (t) {
    case GgmlType::f32: std::memcpy(y, src, size_t(n) * 4); break;
    case GgmlType::f16:
      for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(static_cast<const uint16_t*>(src)[i]);
      break;
    case GgmlType::bf16:
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
      break;
    case GgmlType::q4_0: deq_q4_0(static_cast<const BlockQ4_0*>(src), y, n / 32); break;
    case GgmlType::q8_0: deq_q8_0(static_cast<const BlockQ8_0*>(src), y, n / 32); break;
    case GgmlType::q4_k: {
      auto* b = static_cast<const BlockQ4_K*>(src);
      for (int64_t i = 0; i < n / 256; ++i) deq_k45(b[i].d, b[i].dmin, b[i].scales, b[i].qs, nullptr, y + 256 * i);
      break;
    }
    case GgmlType::q5_k: {
      auto* b = static_cast<const BlockQ5_K*>(src);
      for (int64_t i = 0; i < n / 256; ++i) deq_k45(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, y + 256 * i);
      break;
    }
    case GgmlType::q6_k: deq_q6_k(static_cast<const BlockQ6_K*>(src), y, n / 256); break;
    case GgmlType::q8_k: {
      auto* b = static_cast<const BlockQ8_K*>(src);
      for (int64_t i = 0; i < n; ++i) y[i] = b[i / 256].d * float(b[i / 256].qs[i % 256]);
      break;
    }
  }
}

void quantize_row(GgmlType t, const float* x, void* dst, int64_t n) {
  switch (t) {
    case GgmlType::f32: std::memcpy(dst, x, size_t(n) * 4); break;
    case GgmlType::f16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_fp16(x[i]);
      break;
    case GgmlType::bf16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(x[i]);
      break;
    case GgmlType::q4_0: quant_q4_0(x, static_cast<BlockQ4_0*>(dst), n / 32); break;
    case GgmlType::q8_0: quant_q8_0(x, static_cast<BlockQ8_0*>(dst), n / 32); break;
    case GgmlType::q4_k:
      for (int64_t i = 0; i < n / 256; ++i) {
        auto& b = static_cast<BlockQ4_K*>(dst)[i];
        quant_k45(x + 256 * i, 15, b.d, b.dmin, b.scales, b.qs, nullptr);
      }
      break;
    case GgmlType::q5_k:
      for (int64_t i = 0; i < n / 256; ++i) {
        auto& b = static_cast<BlockQ5_K*>(dst)[i];
        quant_k45(x + 256 * i, 31, b.d, b.dmin, b.scales, b.qs, b.qh);
      }
      break;
    case GgmlType::q6_k: quant_q6_k(x, static_cast<BlockQ6_K*>(dst), n / 256); break;
    case GgmlType::q8_k: quant_q8_k(x, static_cast<BlockQ8_K*>(dst), n / 256); break;
  }
}

float vec_dot(GgmlType t, int64_t n, const void* w, const void* act) {
  switch (t) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: {
      // Float weights against F32 activations: dequantize element by element.
      const float* a = static_cast<const float*>(act);
      float s = 0;
      for (int64_t i = 0; i < n; ++i) {
        float wi;
        dequantize_row(t, static_cast<const char*>(w) + i * (t == GgmlType::f32 ? 4 : 2), &wi, 1);
        s += wi * a[i];
      }
      return s;
    }
    case GgmlType::q4_0: case GgmlType::q8_0: {
      const auto* a = static_cast<const BlockQ8_0*>(act);
      float s = 0;
      for (int64_t i = 0; i < n / 32; ++i) {
        int sumi = 0;
        float dw;
        if (t == GgmlType::q4_0) {
          const auto& b = static_cast<const BlockQ4_0*>(w)[i];
          dw = fp16_to_f32(b.d);
          for (int j = 0; j < 16; ++j)
            sumi += ((b.qs[j] & 0xF) - 8) * a[i].qs[j] + ((b.qs[j] >> 4) - 8) * a[i].qs[j + 16];
        } else {
          const auto& b = static_cast<const BlockQ8_0*>(w)[i];
          dw = fp16_to_f32(b.d);
          for (int j = 0; j < 32; ++j) sumi += b.qs[j] * a[i].qs[j];
        }
        s += dw * fp16_to_f32(a[i].d) * float(sumi);
      }
      return s;
    }
    case GgmlType::q4_k: case GgmlType::q5_k: {
      const auto* a = static_cast<const BlockQ8_K*>(act);
      float s = 0;
      for (int64_t i = 0; i < n / 256; ++i) {
        const uint8_t *scales, *qs, *qh = nullptr;
        uint16_t dh, dminh;
        if (t == GgmlType::q4_k) {
          const auto& b = static_cast<const BlockQ4_K*>(w)[i];
          scales = b.scales, qs = b.qs, dh = b.d, dminh = b.dmin;
        } else {
          const auto& b = static_cast<const BlockQ5_K*>(w)[i];
          scales = b.scales, qs = b.qs, qh = b.qh, dh = b.d, dminh = b.dmin;
        }
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; ++j) {
          int sc, m;
          scale_min_k4(j, scales, sc, m);
          const int c = j / 2;
          int dot = 0;
          for (int l = 0; l < 32; ++l) {
            int q = (j % 2 == 0) ? (qs[32 * c + l] & 0xF) : (qs[32 * c + l] >> 4);
            if (qh) q |= ((qh[l] >> j) & 1) << 4;
            dot += q * a[i].qs[32 * j + l];
          }
          sumi += sc * dot;
          summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
        }
        s += a[i].d * (fp16_to_f32(dh) * float(sumi) - fp16_to_f32(dminh) * float(summ));
      }
      return s;
    }
    case GgmlType::q6_k: {
      const auto* a = static_cast<const BlockQ8_K*>(act);
      float s = 0;
      for (int64_t i = 0; i < n / 256; ++i) {
        const auto& b = static_cast<const BlockQ6_K*>(w)[i];
        int sumi = 0;
        for (int e = 0; e < 256; ++e) sumi += q6_scale(b, e) * (q6_value(b, e) - 32) * a[i].qs[e];
        s += a[i].d * fp16_to_f32(b.d) * float(sumi);
      }
      return s;
    }
    case GgmlType::q8_k: break;
  }
  return 0;
}

bool repack_x4(GgmlType t, const void* rows, size_t stride, void* dst, int64_t n) {
  const char* src = static_cast<const char*>(rows);
  if (t == GgmlType::q4_0) {
    auto* out = static_cast<BlockQ4_0x4*>(dst);
    for (int64_t i = 0; i < n / 32; ++i)
      for (int r = 0; r < 4; ++r) {
        const auto& b = reinterpret_cast<const BlockQ4_0*>(src + size_t(r) * stride)[i];
        out[i].d[r] = b.d;
        std::memcpy(out[i].qs[r], b.qs, 16);
      }
    return true;
  }
  if (t == GgmlType::q8_0) {
    auto* out = static_cast<BlockQ8_0x4*>(dst);
    for (int64_t i = 0; i < n / 32; ++i)
      for (int r = 0; r < 4; ++r) {
        const auto& b = reinterpret_cast<const BlockQ8_0*>(src + size_t(r) * stride)[i];
        out[i].d[r] = b.d;
        std::memcpy(out[i].qs[r], b.qs, 32);
      }
    return true;
  }
  if (t == GgmlType::q4_k || t == GgmlType::q5_k || t == GgmlType::q6_k) {
    // Super-blocks of the 4 rows side by side: group block i = [row0 i, row1 i, row2 i, row3 i].
    const size_t bs = size_t(type_traits(t)->bytes);
    char* out = static_cast<char*>(dst);
    for (int64_t i = 0; i < n / 256; ++i)
      for (int r = 0; r < 4; ++r) std::memcpy(out + (size_t(i) * 4 + size_t(r)) * bs, src + size_t(r) * stride + size_t(i) * bs, bs);
    return true;
  }
  return false;
}

void gemv_kx4(GgmlType t, int64_t n, const void* group, const void* act, float* out) {
  const size_t bs = size_t(type_traits(t)->bytes);
  const char* g = static_cast<const char*>(group);
  for (int r = 0; r < 4; ++r) {
    float s = 0;
    for (int64_t i = 0; i < n / 256; ++i)
      s += vec_dot(t, 256, g + (size_t(i) * 4 + size_t(r)) * bs, static_cast<const BlockQ8_K*>(act) + i);
    out[r] = s;
  }
}

void gemv_q8_0x4(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ8_0x4*>(group);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  for (int r = 0; r < 4; ++r) {
    float s = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
      int sumi = 0;
      for (int j = 0; j < 32; ++j) sumi += g[i].qs[r][j] * a[i].qs[j];
      s += fp16_to_f32(g[i].d[r]) * fp16_to_f32(a[i].d) * float(sumi);
    }
    out[r] = s;
  }
}

void gemv_q4_0x4(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_0x4*>(group);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  for (int r = 0; r < 4; ++r) {
    float s = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
      int sumi = 0;
      for (int j = 0; j < 16; ++j)
        sumi += ((g[i].qs[r][j] & 0xF) - 8) * a[i].qs[j] + ((g[i].qs[r][j] >> 4) - 8) * a[i].qs[j + 16];
      s += fp16_to_f32(g[i].d[r]) * fp16_to_f32(a[i].d) * float(sumi);
    }
    out[r] = s;
  }
}

void repack_q4_0x8(const void* rows, size_t stride, void* dst, int64_t n) {
  const char* src = static_cast<const char*>(rows);
  auto* out = static_cast<BlockQ4_0x8*>(dst);
  for (int64_t i = 0; i < n / 32; ++i)
    for (int r = 0; r < 8; ++r) {
      const auto& b = reinterpret_cast<const BlockQ4_0*>(src + size_t(r) * stride)[i];
      out[i].d[r] = b.d;
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 4; ++j) {
          // Element e sits in byte e % 16 (low nibble for e < 16) of the row-major block.
          const int lo = b.qs[4 * k + j] & 0xF, hi = b.qs[4 * k + j] >> 4;  // elements 4k+j, 16+4k+j
          out[i].qs[32 * k + 4 * r + j] = uint8_t(lo | (hi << 4));
        }
    }
}

void quantize_q8_0s(const float* x, void* dst, int64_t n) {
  auto* out = static_cast<BlockQ8_0S*>(dst);
  for (int64_t i = 0; i < n / 32; ++i) {
    BlockQ8_0 b;
    quant_q8_0(x + 32 * i, &b, 1);
    out[i].d = fp16_to_f32(b.d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += b.qs[j], out[i].qs[j] = b.qs[j];
    out[i].s8 = 8 * sum;
  }
}

// Element e (0..31) of row r in an interleaved block, as stored (0..15).
static int q4_0x8_value(const BlockQ4_0x8& b, int r, int e) {
  const int k = (e % 16) / 4, j = e % 4;
  const uint8_t byte = b.qs[32 * k + 4 * r + j];
  return e < 16 ? byte & 0xF : byte >> 4;
}

void gemv_q4_0x8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_0x8*>(group);
  const auto* a = static_cast<const BlockQ8_0S*>(act);
  for (int r = 0; r < 8; ++r) {
    float s = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
      int sumi = 0;
      for (int e = 0; e < 32; ++e) sumi += (q4_0x8_value(g[i], r, e) - 8) * a[i].qs[e];
      s += fp16_to_f32(g[i].d[r]) * a[i].d * float(sumi);
    }
    out[r] = s;
  }
}

void gemm_q4_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  for (int c = 0; c < gemm_x8_cols; ++c)
    gemv_q4_0x8(n, group, static_cast<const char*>(act) + size_t(c) * a_stride, y + size_t(c) * ldy);
}

void repack_q8_0x8(const void* rows, size_t stride, void* dst, int64_t n) {
  const char* src = static_cast<const char*>(rows);
  auto* out = static_cast<BlockQ8_0x8*>(dst);
  for (int64_t i = 0; i < n / 32; ++i)
    for (int r = 0; r < 8; ++r) {
      const auto& b = reinterpret_cast<const BlockQ8_0*>(src + size_t(r) * stride)[i];
      out[i].d[r] = b.d;
      for (int e = 0; e < 32; ++e) out[i].qs[32 * (e / 4) + 4 * r + e % 4] = b.qs[e];
    }
}

void gemv_q8_0x8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ8_0x8*>(group);
  const auto* a = static_cast<const BlockQ8_0S*>(act);
  for (int r = 0; r < 8; ++r) {
    float s = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
      int sumi = 0;
      for (int e = 0; e < 32; ++e) sumi += g[i].qs[32 * (e / 4) + 4 * r + e % 4] * a[i].qs[e];
      s += fp16_to_f32(g[i].d[r]) * a[i].d * float(sumi);
    }
    out[r] = s;
  }
}

void gemm_q8_0x8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  for (int c = 0; c < gemm_x8_cols; ++c)
    gemv_q8_0x8(n, group, static_cast<const char*>(act) + size_t(c) * a_stride, y + size_t(c) * ldy);
}

void repack_q4_kx8(const void* rows, size_t stride, void* dst, int64_t n) {
  const char* src = static_cast<const char*>(rows);
  auto* out = static_cast<BlockQ4_Kx8*>(dst);
  for (int64_t i = 0; i < n / 256; ++i)
    for (int r = 0; r < 8; ++r) {
      const auto& b = reinterpret_cast<const BlockQ4_K*>(src + size_t(r) * stride)[i];
      out[i].d[r] = b.d;
      out[i].dmin[r] = b.dmin;
      for (int e = 0; e < 12; ++e) out[i].scales[32 * (e / 4) + 4 * r + e % 4] = b.scales[e];
      for (int e = 0; e < 128; ++e) out[i].qs[256 * (e / 32) + 32 * (e % 32 / 4) + 4 * r + e % 4] = b.qs[e];
    }
}

void gemv_q4_kx8(int64_t n, const void* group, const void* act, float* out) {
  const auto* g = static_cast<const BlockQ4_Kx8*>(group);
  const auto* a = static_cast<const BlockQ8_K*>(act);
  for (int r = 0; r < 8; ++r) {
    float s = 0;
    for (int64_t i = 0; i < n / 256; ++i) {
      uint8_t sc12[12];
      for (int e = 0; e < 12; ++e) sc12[e] = g[i].scales[32 * (e / 4) + 4 * r + e % 4];
      int sumi = 0, summ = 0;
      for (int j = 0; j < 8; ++j) {  // sub-block j: elements 32j..32j+31
        int sc, m;
        scale_min_k4(j, sc12, sc, m);
        int dot = 0;
        for (int e = 0; e < 32; ++e) {
          const uint8_t byte = g[i].qs[256 * (j / 2) + 32 * (e / 4) + 4 * r + e % 4];
          dot += ((j % 2 ? byte >> 4 : byte & 0xF)) * a[i].qs[32 * j + e];
        }
        sumi += sc * dot;
        summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
      }
      s += fp16_to_f32(g[i].d[r]) * a[i].d * float(sumi) - fp16_to_f32(g[i].dmin[r]) * a[i].d * float(summ);
    }
    out[r] = s;
  }
}

void gemm_q4_kx8(int64_t n, const void* group, const void* act, size_t a_stride, float* y, size_t ldy) {
  for (int c = 0; c < gemm_x8_cols; ++c)
    gemv_q4_kx8(n, group, static_cast<const char*>(act) + size_t(c) * a_stride, y + size_t(c) * ldy);
}

bool repack_x8(GgmlType t, const void* rows, size_t stride, void* dst, int64_t n) {
  switch (t) {
    case GgmlType::q4_k: repack_q4_kx8(rows, stride, dst, n); return true;
    case GgmlType::q4_0: repack_q4_0x8(rows, stride, dst, n); return true;
    case GgmlType::q8_0: repack_q8_0x8(rows, stride, dst, n); return true;
    default: return false;
  }
}

}  // namespace fh::kernel::ref
