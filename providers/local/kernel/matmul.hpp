// Matrix multiplication of a weight tensor by a batch of activation rows, spread over the
// thread pool by output rows. Activations are quantized once per call to the type the weight's
// dot product wants (Q8_0 / Q8_K), then every thread walks its chunks of weight rows across all
// tokens, so each weight byte is read from memory once per call.
//
// Runs on the calling thread plus the pool's workers; no allocation once `Scratch` has grown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "providers/local/kernel/quant.hpp"
#include "providers/local/kernel/thread_pool.hpp"

namespace fh::kernel {

// A weight matrix W[out, in] (ggml ne = [in, out]): `out` rows of `in` elements each.
struct Mat {
  const uint8_t* data = nullptr;
  GgmlType type = GgmlType::f32;
  int64_t in = 0, out = 0;
  size_t row_bytes = 0;
  // An interleaved copy made at load: Q4_0 / Q8_0 / Q4_K with out % 8 == 0 in groups of 8 rows
  // (ref::repack_x8), read for decode AND prompt; other quantized types (and those with
  // out % 8 == 4) in groups of 4 (ref::repack_x4), read for decode only.
  const uint8_t* packed = nullptr;
  int packed_rows = 0;  // 8, 4, or 0 (no copy)
};

// One product of a batched call: y[t * w.out + o] = dot(W row o, x row t).
struct MatJob {
  const Mat* w;
  float* y;
};

struct Scratch {
  std::vector<uint8_t> act[3];  // quantized activations: [0] Q8_0, [1] Q8_K, [2] Q8_0S
};

// All jobs share the same input x[T, in]. Several jobs in one call share one fork-join.
void matmul(ThreadPool& pool, const MatJob* jobs, int n_jobs, const float* x, int64_t T, Scratch& scratch);

// Where matmul(pool, jobs, n_jobs, x, T) will start reading: up to `bytes` from the first row
// of each thread's run, as hint ranges for ThreadPool::hint. Returns the number written.
int matmul_hint(const ThreadPool& pool, const MatJob* jobs, int n_jobs, int64_t T, size_t bytes,
                ThreadPool::Range* out, int max_out);

inline void matmul(ThreadPool& pool, const Mat& w, const float* x, int64_t T, float* y, Scratch& scratch) {
  MatJob job{&w, y};
  matmul(pool, &job, 1, x, T, scratch);
}

}  // namespace fh::kernel
