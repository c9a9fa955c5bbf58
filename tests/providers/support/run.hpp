// Test helper: run one coroutine on an io_context (shared with a mock server) until it finishes or
// a time limit passes (a hang shows up as an empty result, not a stuck test).
#pragma once

#include <chrono>
#include <exception>
#include <optional>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fh::test {

template <class T>
std::optional<T> run_co(boost::asio::io_context& ctx, boost::asio::awaitable<T> aw,
                        std::chrono::milliseconds limit = std::chrono::seconds(20),
                        boost::asio::cancellation_signal* cancel = nullptr) {
  std::optional<T> out;
  std::exception_ptr failure;
  auto body = [&out, aw = std::move(aw)]() mutable -> boost::asio::awaitable<void> { out.emplace(co_await std::move(aw)); };
  auto done = [&](std::exception_ptr e) {
    failure = e;
    ctx.stop();
  };
  if (cancel)
    boost::asio::co_spawn(ctx, std::move(body), boost::asio::bind_cancellation_slot(cancel->slot(), done));
  else
    boost::asio::co_spawn(ctx, std::move(body), done);
  ctx.restart();
  ctx.run_for(limit);
  if (failure) std::rethrow_exception(failure);
  return out;
}

}  // namespace fh::test
