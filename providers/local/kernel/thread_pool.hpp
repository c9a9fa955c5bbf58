// A persistent fork-join worker pool for the kernel's compute: the caller is thread 0 and
// n-1 workers wait (briefly spinning, then sleeping on an atomic) for the next job. One run()
// costs one wake-up and one join; there is no queue and no allocation per job.
//
// Work is claimed, not assigned: a worker that has not started by the time the caller has
// finished is not waited for (the job is closed and it skips it), so a descheduled worker on a
// busy machine never stalls a layer. Callers therefore split work with parallel_for() (or
// their own atomic counter), never by thread index alone.
//
// run() must be called from one thread at a time (the Session that owns the pool). Cancellation
// is not the pool's business: the forward pass checks its abort flag between layers.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace fh::kernel {

class ThreadPool {
 public:
  // n_threads <= 0 means all hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_; }

  // Calls fn(thread_index, n_threads) on the caller (index 0) and on every worker that arrives
  // before the caller's own call has returned; returns when all participants have finished.
  template <class F>
  void run(F&& fn) {
    if (n_ == 1) {
      fn(0, 1);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    job_ = const_cast<void*>(static_cast<const void*>(&fn));
    thunk_ = [](void* f, int i, int n) { (*static_cast<Fn*>(f))(i, n); };
    dispatch();
  }

  // Memory the next job will read, for workers to pull in while they wait for it: a waiting
  // worker prefetches the ranges a cache line at a time, round-robin, instead of only
  // spinning. Decode gives each product's hint through hint_on_next_run() (below), so the
  // memory system keeps streaming the next matrix's weights while one thread finishes the
  // product or runs the serial steps after it (norm, rope, softmax...).
  // Replaces the previous hint; a hint never changes results, only what is in cache.
  struct Range {
    const void* p = nullptr;
    size_t bytes = 0;
  };
  static constexpr int max_hint_ranges = 4;
  // Called from the thread that calls run().
  void hint(const Range* ranges, int n);
  // The same, installed by the next run() once its job is published: a thread that finishes
  // its share early (a worker, or the caller waiting for the others) then pulls in what comes
  // after the job instead of only waiting for it.
  void hint_on_next_run(const Range* ranges, int n);

  // fn(begin, end, thread_index) over [0, n) in claimed ranges of `grain` items.
  template <class F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    std::atomic<int64_t> next{0};
    run([&](int ti, int) {
      for (;;) {
        const int64_t b = next.fetch_add(grain, std::memory_order_relaxed);
        if (b >= n) return;
        fn(b, std::min(n, b + grain), ti);
      }
    });
  }

 private:
  void dispatch();
  void worker(int index);
  struct HintCursor;  // one thread's walk through the current hint (thread_pool.cpp)

  int n_ = 1;
  void* job_ = nullptr;
  void (*thunk_)(void*, int, int) = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> closed_{0};  // generation whose job no longer accepts participants
  std::atomic<int> active_{0};       // workers inside the current job
  std::atomic<bool> stop_{false};
  // The current hint, published seqlock-style: odd while being written.
  std::atomic<uint32_t> hint_seq_{0};
  std::atomic<const char*> hint_p_[max_hint_ranges] = {};
  std::atomic<size_t> hint_bytes_[max_hint_ranges] = {};
  std::atomic<int> hint_n_{0};
  Range pending_[max_hint_ranges];  // hint_on_next_run(), caller thread only
  int pending_n_ = -1;              // -1: none
  std::vector<std::thread> threads_;
};

}  // namespace fh::kernel
