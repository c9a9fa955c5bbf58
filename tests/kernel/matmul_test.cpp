// matmul's split of weight rows over threads, as told to the pool ahead of time (matmul_hint),
// and the pool's read-ahead hints. The products themselves are tested through the forward pass
// (model_test.cpp: SIMD vs reference, threads vs one thread, every layout).
#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include "providers/local/kernel/matmul.hpp"

using namespace fh::kernel;

namespace {

Mat q4_0_matrix(const uint8_t* data, const uint8_t* packed, int64_t out) {
  Mat w;
  w.data = data, w.type = GgmlType::q4_0, w.in = 64, w.out = out;
  w.row_bytes = 2 * 18;  // two Q4_0 blocks of 32
  w.packed = packed, w.packed_rows = packed ? 8 : 0;
  return w;
}

}  // namespace

TEST_CASE("matmul_hint names where each thread starts reading, clamped to the matrix") {
  static uint8_t rows[100 * 36], copy[100 * 36];
  ThreadPool two(2), one(1);
  ThreadPool::Range r[ThreadPool::max_hint_ranges];
  float y[100];

  SUBCASE("decode from the mapped rows: chunks of 16 rows, run 1 starts at chunk 3 of 7") {
    const Mat w = q4_0_matrix(rows, nullptr, 100);
    const MatJob job{&w, y};
    REQUIRE(matmul_hint(two, &job, 1, 1, 32 << 10, r, ThreadPool::max_hint_ranges) == 2);
    CHECK(r[0].p == rows);
    CHECK(r[0].bytes == 100 * 36);  // the matrix is smaller than the budget
    CHECK(r[1].p == rows + 48 * 36);
    CHECK(r[1].bytes == (100 - 48) * 36);
    REQUIRE(matmul_hint(two, &job, 1, 1, 100, r, ThreadPool::max_hint_ranges) == 2);
    CHECK(r[1].bytes == 100);
  }
  SUBCASE("an interleaved copy is read instead, in chunks of 64 rows") {
    const Mat w = q4_0_matrix(rows, copy, 100);
    const MatJob job{&w, y};
    REQUIRE(matmul_hint(two, &job, 1, 1, 32 << 10, r, ThreadPool::max_hint_ranges) == 2);
    CHECK(r[0].p == copy);
    CHECK(r[1].p == copy + 64 * 36);
    CHECK(r[1].bytes == 36 * 36);
  }
  SUBCASE("several products in one call: a run may start in a later matrix") {
    static uint8_t q[64 * 36], k[32 * 36], v[32 * 36];
    const Mat wq = q4_0_matrix(q, nullptr, 64), wk = q4_0_matrix(k, nullptr, 32), wv = q4_0_matrix(v, nullptr, 32);
    const MatJob jobs[3] = {{&wq, y}, {&wk, y}, {&wv, y}};  // 4 + 2 + 2 chunks
    REQUIRE(matmul_hint(two, jobs, 3, 1, 32 << 10, r, ThreadPool::max_hint_ranges) == 2);
    CHECK(r[0].p == q);
    CHECK(r[1].p == k);
    CHECK(r[1].bytes == 32 * 36);
    REQUIRE(matmul_hint(one, jobs, 3, 1, 32 << 10, r, ThreadPool::max_hint_ranges) == 1);
    CHECK(r[0].p == q);
    CHECK(matmul_hint(two, jobs, 3, 1, 32 << 10, r, 1) == 1);  // never more than asked for
  }
}

TEST_CASE("thread pool: read-ahead hints, given now or on the next run, leave every job intact") {
  ThreadPool pool(3);
  std::vector<uint8_t> big(size_t(8) << 20);
  std::vector<std::atomic<int>> hits(512);
  for (int round = 0; round < 500; ++round) {
    // A fresh hint before every job, of 0 to 5 ranges (5 is clamped to max_hint_ranges),
    // given now or for the job to install once published (then read by the caller as it waits).
    ThreadPool::Range ranges[5];
    const int n = round % 6;
    for (int i = 0; i < n; ++i) ranges[i] = {big.data() + size_t(i) * (1 << 20), size_t(round % 3) << 19};
    if (round % 4 < 2) pool.hint(ranges, n);
    else pool.hint_on_next_run(ranges, n);
    const int64_t items = 1 + round % 512;
    pool.parallel_for(items, 3, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < items; ++i) REQUIRE(hits[size_t(i)].exchange(0) == 1);
  }
}
