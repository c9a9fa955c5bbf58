#include "providers/local/kernel/matmul.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#define FH_KERNEL_CHECK(c) \
  do { if (!(c)) { std::fprintf(stderr, "kernel check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); std::abort(); } } while (0)

namespace fh::kernel {
namespace {

constexpr int max_jobs = 8;

// Activation buffer a matrix reads: 0 Q8_0, 1 Q8_K, 2 Q8_0S (Q4_0 / Q8_0 by 8 rows), -1 the
// F32 input.
int act_slot(const Mat& w) {
  const GgmlType act = type_traits(w.type)->vec_dot;
  if (w.packed_rows == 8 && act == GgmlType::q8_0) return 2;
  return act == GgmlType::q8_0 ? 0 : act == GgmlType::q8_k ? 1 : -1;
}

// How matmul() splits its jobs. Rows per chunk: 64 for batches and for decode over
// interleaved copies (longer runs of one weight stream per thread prefetch better: +10-20 %
// decode at 2 threads vs 16), 16 for decode from the mapped rows.
//
// Every thread owns a contiguous run of chunks, so its weight stream stays sequential from one
// chunk to the next and the prefetch at a chunk's end feeds its own next chunk. (With one
// shared counter the threads alternated chunks and restarted their streams at every chunk;
// runs made decode 12 % faster on SmolLM Q4_0 / Q4_K_M and 4 % on TinyLlama Q4_0.) A thread
// that has finished its run takes what is left of the others', so a worker the OS has not
// scheduled yet still stalls nothing.
struct ChunkPlan {
  static constexpr int max_runs = 16;
  int64_t first_chunk[max_jobs + 1] = {0}, chunk_rows[max_jobs] = {0};
  int64_t n_chunks = 0;
  int n_runs = 0, n_jobs = 0;

  ChunkPlan(const MatJob* jobs, int count, int64_t T, int n_threads) {
    FH_KERNEL_CHECK(count >= 1 && count <= max_jobs);
    n_jobs = count;
    for (int j = 0; j < n_jobs; ++j) {
      chunk_rows[j] = T == 1 && !jobs[j].w->packed ? 16 : 64;
      first_chunk[j + 1] = first_chunk[j] + (jobs[j].w->out + chunk_rows[j] - 1) / chunk_rows[j];
    }
    n_chunks = first_chunk[n_jobs];
    n_runs = int(std::min<int64_t>({n_threads, n_chunks, max_runs}));
  }
  int64_t run_begin(int r) const { return n_chunks * r / n_runs; }
  // The job chunk c belongs to, and the chunk's first row in that job's matrix.
  int job_of(int64_t c) const { return int(std::upper_bound(first_chunk, first_chunk + n_jobs + 1, c) - first_chunk) - 1; }
  int64_t first_row(int64_t c, int j) const { return (c - first_chunk[j]) * chunk_rows[j]; }
};

}  // namespace

int matmul_hint(const ThreadPool& pool, const MatJob* jobs, int n_jobs, int64_t T, size_t bytes,
                ThreadPool::Range* out, int max_out) {
  const ChunkPlan plan(jobs, n_jobs, T, pool.size());
  int n = 0;
  for (int r = 0; r < plan.n_runs && n < max_out; ++r) {
    const int64_t c = plan.run_begin(r);
    const int j = plan.job_of(c);
    const Mat& w = *jobs[j].w;
    const int64_t row = plan.first_row(c, j);
    const uint8_t* base = w.packed ? w.packed : w.data;
    out[n++] = {base + size_t(row) * w.row_bytes, std::min(bytes, size_t(w.out - row) * w.row_bytes)};
  }
  return n;
}

void matmul(ThreadPool& pool, const MatJob* jobs, int n_jobs, const float* x, int64_t T, Scratch& scratch) {
  const Kernels& k = kernels();
  const int64_t in = jobs[0].w->in;

  // 1. Quantize the activations once per activation type needed, split over threads by token.
  bool need[3] = {false, false, false};
  size_t act_row[3] = {0, 0, 0};
  for (int j = 0; j < n_jobs; ++j) {
    const int s = act_slot(*jobs[j].w);
    if (s >= 0) need[s] = true;
  }
  const QuantizeFn quantize[3] = {k.quantize[int(GgmlType::q8_0)], k.quantize[int(GgmlType::q8_k)], k.quantize_q8_0s};
  act_row[0] = row_bytes(*type_traits(GgmlType::q8_0), in);
  act_row[1] = row_bytes(*type_traits(GgmlType::q8_k), in);
  act_row[2] = size_t(in / 32) * sizeof(BlockQ8_0S);
  for (int s = 0; s < 3; ++s)
    if (need[s] && scratch.act[s].size() < act_row[s] * size_t(T)) scratch.act[s].resize(act_row[s] * size_t(T));
  auto quantize_rows = [&](int64_t t0, int64_t t1, int) {
    for (int s = 0; s < 3; ++s)
      if (need[s])
        for (int64_t t = t0; t < t1; ++t) quantize[s](x + t * in, scratch.act[s].data() + size_t(t) * act_row[s], in);
  };
  if (T * in < (1 << 16)) quantize_rows(0, T, 0);
  else pool.parallel_for(T, 4, quantize_rows);

  // 2. Cut every job's output rows into chunks, and the chunks into one run per thread.
  const ChunkPlan plan(jobs, n_jobs, T, pool.size());
  const int64_t n_chunks = plan.n_chunks;
  const int n_runs = plan.n_runs;
  const int nt = pool.size();
  constexpr int64_t token_block = 16;
  struct alignas(64) Run {
    std::atomic<int64_t> next;
    int64_t end;
  };
  Run runs[ChunkPlan::max_runs];
  for (int r = 0; r < n_runs; ++r) {
    runs[r].next.store(plan.run_begin(r), std::memory_order_relaxed);
    runs[r].end = plan.run_begin(r + 1);
  }

  auto chunk = [&](int64_t c) {
    const int j = plan.job_of(c);
    const Mat& w = *jobs[j].w;
    float* y = jobs[j].y;
    const int64_t r0 = plan.first_row(c, j), r1 = std::min(w.out, r0 + plan.chunk_rows[j]);
    const int s = act_slot(w);
    const DotFn dot = k.dot[int(w.type)];
    // Decode streams rows: one row at a time prefetches better than four interleaved streams.
    const Dot4Fn dot4 = T > 1 ? k.dot4[int(w.type)] : nullptr;
    const GemmFn gemm = T >= gemm_cols ? k.gemm[int(w.type)] : nullptr;
    auto act = [&](int64_t t) {
      return s >= 0 ? static_cast<const void*>(scratch.act[s].data() + size_t(t) * act_row[s])
                    : static_cast<const void*>(x + t * in);
    };
    if (w.packed_rows == 8) {  // 8-row layout: 8 x 4 tiles, then single tokens (r0 % 8 == 0)
      const auto gemm_x8 = k.gemm_x8[int(w.type)];
      const auto gemv_x8 = k.gemv_x8[int(w.type)];
      for (int64_t t0 = 0; t0 < T; t0 += token_block) {
        const int64_t t1 = std::min(T, t0 + token_block);
        for (int64_t r = r0; r < r1; r += 8) {
          const uint8_t* g = w.packed + size_t(r) * w.row_bytes;
          int64_t t = t0;
          for (; t + gemm_x8_cols <= t1; t += gemm_x8_cols)
            gemm_x8(in, g, act(t), act_row[s], y + t * w.out + r, size_t(w.out));
          for (; t < t1; ++t) gemv_x8(in, g, act(t), y + t * w.out + r);
        }
      }
      return;
    }
    if (T == 1 && w.packed_rows == 4 && k.gemv_x4[int(w.type)]) {  // decode over interleaved rows (r0 % 4 == 0)
      for (int64_t r = r0; r < r1; r += 4)
        k.gemv_x4[int(w.type)](in, w.packed + size_t(r / 4) * 4 * w.row_bytes, act(0), y + r);
      return;
    }
    for (int64_t t0 = 0; t0 < T; t0 += token_block) {
      const int64_t t1 = std::min(T, t0 + token_block);
      int64_t r = r0;
      // Register-blocked tiles first, then what is left of rows and tokens.
      for (; gemm && r + gemm_rows <= r1; r += gemm_rows) {
        const uint8_t* wr = w.data + size_t(r) * w.row_bytes;
        int64_t t = t0;
        for (; t + gemm_cols <= t1; t += gemm_cols)
          gemm(in, wr, w.row_bytes, act(t), act_row[s], y + t * w.out + r, size_t(w.out));
        for (; t < t1; ++t)
          for (int64_t rr = 0; rr < gemm_rows; ++rr) y[t * w.out + r + rr] = dot(in, wr + size_t(rr) * w.row_bytes, act(t));
      }
      for (; dot4 && r + 4 <= r1; r += 4) {
        const uint8_t* wr = w.data + size_t(r) * w.row_bytes;
        for (int64_t t = t0; t < t1; ++t) dot4(in, wr, w.row_bytes, act(t), y + t * w.out + r);
      }
      for (; r < r1; ++r) {
        const uint8_t* wr = w.data + size_t(r) * w.row_bytes;
        for (int64_t t = t0; t < t1; ++t) y[t * w.out + r] = dot(in, wr, act(t));
      }
    }
  };
  auto work = [&](int ti, int) {
    for (int k = 0; k < n_runs; ++k) {
      Run& run = runs[(ti + k) % n_runs];
      for (int64_t c; (c = run.next.fetch_add(1, std::memory_order_relaxed)) < run.end;) chunk(c);
    }
  };
  // Small products are not worth a fork-join (a wake-up costs about as much as ~100K MACs).
  int64_t macs = 0;
  for (int j = 0; j < n_jobs; ++j) macs += jobs[j].w->out * in * T;
  if (n_chunks == 1 || nt == 1 || macs < (1 << 18)) work(0, 1);
  else pool.run(work);
}

}  // namespace fh::kernel
