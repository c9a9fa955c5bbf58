// fh::http rate scheduling — one scheduler per provider key (provider name + base URL + a hash of
// the API key), shared by every run in the process. It learns the limits from response headers
// (OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with Go-duration resets,
// Anthropic `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` with RFC 3339 resets)
// and from 429s (retry-after, Gemini RetryInfo), and queues calls instead of provoking 429s:
//  - before anything is known, one call at a time (the first answer tells the limits);
//  - a provider that advertises nothing is not limited (only a 429 pauses it);
//  - otherwise a call waits while the remaining requests (or tokens) of the window, minus the
//    calls already in flight, are used up, until the advertised reset.
// Waiting is a timer on the caller's executor (cancellable); state is guarded by a mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "providers/http/headers.hpp"

namespace fh::http {

class RateScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  // Waits for a slot; returns the time spent queued, or nullopt when cancelled while waiting.
  boost::asio::awaitable<std::optional<std::chrono::milliseconds>> acquire(int64_t tokens);
  // Ends a call: what the response said (headers, status, a retry delay from the body).
  void release(const Headers& headers, int status, std::optional<int64_t> retry_after_ms,
               std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // Ends a call that never got a response.
  void release_without_response();

  struct Snapshot {
    bool known = false, unlimited = false;
    int in_flight = 0;
    int64_t requests_remaining = -1, tokens_remaining = -1;
    int64_t requests_limit = -1, tokens_limit = -1;
  };
  Snapshot snapshot() const;

 private:
  // How long the next call must wait right now (0: it may go, and the slot is taken).
  std::chrono::milliseconds try_take(int64_t tokens);
  mutable std::mutex mu_;
  bool known_ = false, unlimited_ = false;
  int in_flight_ = 0;
  int64_t req_limit_ = -1, req_remaining_ = -1, tok_limit_ = -1, tok_remaining_ = -1;
  Clock::time_point req_reset_{}, tok_reset_{}, blocked_until_{};
};

// The process-wide scheduler for a key (created on first use).
std::shared_ptr<RateScheduler> rate_scheduler(const std::string& key);
// "name|base_url|<hash of api key>" — never the key itself.
std::string rate_key(std::string_view name, std::string_view base_url, std::string_view api_key);

}  // namespace fh::http
