// A persistent fork-join worker pool for the kernel's compute: the caller is thread 0 and
// n-1 workers wait (briefly spinning, then sleeping on an atomic) for the next job. One run()
// costs one wake-up and one join; there is no queue and no allocation per job.
//
// run() must be called from one thread at a time (the Session that owns the pool). Cancellation
// is not the pool's business: the forward pass checks its abort flag between layers.
#pragma once

#include <atomic>
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

  // Calls fn(thread_index, n_threads) on every thread; returns when all have finished.
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

 private:
  void dispatch();
  void worker(int index);

  int n_ = 1;
  void* job_ = nullptr;
  void (*thunk_)(void*, int, int) = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace fh::kernel
