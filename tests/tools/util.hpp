// Helpers shared by the tool tests.
#pragma once

#include <optional>

#include <boost/asio/awaitable.hpp>

#include "runtime/core/result.hpp"

namespace tools_test {

// Result<T> has no default constructor, so completion goes through a void wrapper coroutine.
inline boost::asio::awaitable<void> store(boost::asio::awaitable<fh::Result<fh::json>> op,
                                          std::optional<fh::Result<fh::json>>& out) {
  auto r = co_await std::move(op);
  out.emplace(std::move(r));
}

inline fh::Errc code_of(const fh::Result<fh::json>& r) { return r.ok() ? fh::Errc::internal : r.error().code; }

}  // namespace tools_test
