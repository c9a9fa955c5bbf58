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
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::dispatch() {
  const uint32_t g = generation_.fetch_add(1) + 1;  // publishes job_/thunk_ (seq_cst)
  generation_.notify_all();
  thunk_(job_, 0, n_);
  // Close the job, then wait only for workers that entered it. With both sides seq_cst, a
  // worker either sees `closed_` and skips, or is counted in `active_` here (Dekker).
  closed_.store(g);
  for (int spin = 0;; ++spin) {
    const int a = active_.load();
    if (a == 0) break;
    if (spin < spin_iterations) FH_CPU_RELAX();
    else active_.wait(a);
  }
}

void ThreadPool::hint(const Range* ranges, int n) {
  n = std::clamp(n, 0, max_hint_ranges);
  const uint32_t s = hint_seq_.load(std::memory_order_relaxed);
  hint_seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (int i = 0; i < n; ++i) {
    hint_p_[i].store(static_cast<const char*>(ranges[i].p), std::memory_order_relaxed);
    hint_bytes_[i].store(ranges[i].bytes, std::memory_order_relaxed);
  }
  hint_n_.store(n, std::memory_order_relaxed);
  hint_seq_.store(s + 2, std::memory_order_release);
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0, hint_seen = 0;
  // The hint being prefetched: range starts and lengths, and the offset of the next line.
  const char* hp[max_hint_ranges] = {};
  size_t hb[max_hint_ranges] = {};
  int hn = 0;
  size_t off = 0;
  auto read_hint = [&] {
    const uint32_t s = hint_seq_.load(std::memory_order_acquire);
    if (s == hint_seen || (s & 1)) return;
    const int n = hint_n_.load(std::memory_order_relaxed);
    const char* p[max_hint_ranges];
    size_t b[max_hint_ranges];
    for (int i = 0; i < n; ++i) {
      p[i] = hint_p_[i].load(std::memory_order_relaxed);
      b[i] = hint_bytes_[i].load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (hint_seq_.load(std::memory_order_relaxed) != s) return;  // torn: try on the next spin
    hint_seen = s, hn = n, off = 0;
    for (int i = 0; i < n; ++i) hp[i] = p[i], hb[i] = b[i];
  };
  // One line of each range; false once every range is done.
  auto prefetch_step = [&] {
    bool any = false;
    for (int i = 0; i < hn; ++i)
      if (off < hb[i]) __builtin_prefetch(hp[i] + off, 0, 2), any = true;
    off += 64;
    return any;
  };
  for (;;) {
    // Wait for a new generation: spin first (jobs come in quick succession), then sleep.
    // While spinning, pull in what the caller said the next job reads.
    uint32_t g;
    for (int spin = 0;; ++spin) {
      g = generation_.load(std::memory_order_acquire);
      if (g != seen) break;
      read_hint();
      if (hn > 0 && prefetch_step()) continue;
      hn = 0;
      if (spin < spin_iterations) FH_CPU_RELAX();
      else generation_.wait(seen, std::memory_order_acquire);
    }
    if (stop_.load()) return;
    // Enter, then look at the newest job: if it is still open, the caller's wait on active_
    // is guaranteed to see us (seq_cst on both sides), so job_ stays valid until we leave.
    active_.fetch_add(1);
    const uint32_t cur = generation_.load();
    if (closed_.load() != cur) thunk_(job_, index, n_);
    seen = std::max(g, cur);
    if (active_.fetch_sub(1) == 1) active_.notify_one();
  }
}

}  // namespace fh::kernel
