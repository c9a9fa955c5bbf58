#include "providers/local/kernel/thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FH_CPU_RELAX() _mm_pause()
#else
#define FH_CPU_RELAX() ((void)0)
#endif

namespace fh::kernel {
namespace {
constexpr int spin_iterations = 1 << 14;  // ~50-100 us of spinning before sleeping
}

ThreadPool::ThreadPool(int n_threads) {
  n_ = n_threads > 0 ? n_threads : int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::dispatch() {
  pending_.store(n_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);  // publishes job_/thunk_
  generation_.notify_all();
  thunk_(job_, 0, n_);
  // Join: spin, then sleep on pending_ until every worker has reported.
  for (int spin = 0;; ++spin) {
    const int left = pending_.load(std::memory_order_acquire);
    if (left == 0) break;
    if (spin < spin_iterations) FH_CPU_RELAX();
    else pending_.wait(left, std::memory_order_acquire);
  }
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    // Wait for a new generation: spin first (jobs come in quick succession), then sleep.
    uint32_t g;
    for (int spin = 0;; ++spin) {
      g = generation_.load(std::memory_order_acquire);
      if (g != seen) break;
      if (spin < spin_iterations) FH_CPU_RELAX();
      else generation_.wait(seen, std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    thunk_(job_, index, n_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

}  // namespace fh::kernel
