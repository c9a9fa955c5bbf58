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

// A thread's walk through the published hint: it re-reads the hint when it changes, then
// prefetches one line of every range per step.
struct ThreadPool::HintCursor {
  uint32_t seen = 0;
  const char* p[max_hint_ranges] = {};
  size_t bytes[max_hint_ranges] = {};
  int n = 0;
  size_t off = 0;

  void refresh(const ThreadPool& pool) {
    const uint32_t s = pool.hint_seq_.load(std::memory_order_acquire);
    if (s == seen || (s & 1)) return;
    const int m = pool.hint_n_.load(std::memory_order_relaxed);
    const char* np[max_hint_ranges];
    size_t nb[max_hint_ranges];
    for (int i = 0; i < m; ++i) {
      np[i] = pool.hint_p_[i].load(std::memory_order_relaxed);
      nb[i] = pool.hint_bytes_[i].load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (pool.hint_seq_.load(std::memory_order_relaxed) != s) return;  // torn: try on the next spin
    seen = s, n = m, off = 0;
    for (int i = 0; i < m; ++i) p[i] = np[i], bytes[i] = nb[i];
  }
  // One line of each range; false once every range is done.
  bool step() {
    bool any = false;
    for (int i = 0; i < n; ++i)
      if (off < bytes[i]) __builtin_prefetch(p[i] + off, 0, 2), any = true;
    off += 64;
    if (!any) n = 0;
    return any;
  }
};

void ThreadPool::dispatch() {
  const uint32_t g = generation_.fetch_add(1) + 1;  // publishes job_/thunk_ (seq_cst)
  generation_.notify_all();
  if (pending_n_ >= 0) hint(pending_, pending_n_), pending_n_ = -1;
  thunk_(job_, 0, n_);
  // Close the job, then wait only for workers that entered it. With both sides seq_cst, a
  // worker either sees `closed_` and skips, or is counted in `active_` here (Dekker).
  closed_.store(g);
  HintCursor cursor;
  cursor.seen = hint_seq_.load(std::memory_order_relaxed) - 2;  // any hint now is new to the caller
  for (int spin = 0;; ++spin) {
    const int a = active_.load();
    if (a == 0) break;
    cursor.refresh(*this);
    if (cursor.step()) continue;
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

void ThreadPool::hint_on_next_run(const Range* ranges, int n) {
  pending_n_ = std::clamp(n, 0, max_hint_ranges);
  for (int i = 0; i < pending_n_; ++i) pending_[i] = ranges[i];
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  HintCursor cursor;
  for (;;) {
    // Wait for a new generation: spin first (jobs come in quick succession), then sleep.
    // While spinning, pull in what the caller said the next job reads.
    uint32_t g;
    for (int spin = 0;; ++spin) {
      g = generation_.load(std::memory_order_acquire);
      if (g != seen) break;
      cursor.refresh(*this);
      if (cursor.step()) continue;
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
