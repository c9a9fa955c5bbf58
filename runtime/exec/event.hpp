// fh::exec — a one-shot-or-rearmable wake-up for coroutines on one executor.
// Not thread-safe: notify() and wait() must run on the same strand. A waiter wakes on notify()
// or when its own cancellation slot fires; it never throws.
#pragma once

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fh::exec {

class Event {
 public:
  explicit Event(const boost::asio::any_io_executor& ex) : timer_(ex, std::chrono::steady_clock::time_point::max()) {}

  bool is_set() const noexcept { return set_; }

  // Wakes every current waiter; later waits return at once until reset().
  void notify() {
    set_ = true;
    timer_.cancel();
  }
  void reset() {
    set_ = false;
    timer_.expires_at(std::chrono::steady_clock::time_point::max());
  }

  boost::asio::awaitable<void> wait() {
    if (set_) co_return;
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

 private:
  boost::asio::steady_timer timer_;
  bool set_ = false;
};

}  // namespace fh::exec
