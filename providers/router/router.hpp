// fh::provider_router — one Provider that wraps the providers a user listed ("a/m1,b/m2") and owns
// retries and fallback for all of them, once.
//  - Retries: exponential backoff with full jitter (uniform in [0, min(max, base * 2^n)]), or
//    exactly the provider's retry-after hint when it gave one; a hint longer than max_retry_after
//    moves on instead of waiting.
//  - Never retried: errors that cannot succeed by waiting (retryable == false: auth, permission,
//    invalid_request, context_length, 429 insufficient_quota, not_found) and cancellation.
//  - A run-level RetryBudget (shared across routers of one run) caps the total number of retries.
//  - Fallback: after a provider gives up, the next one in the list; never a provider not listed.
//  - A stream that already delivered events to the sink is never retried or moved: its error is
//    returned. Error events of abandoned attempts are swallowed; a failed call ends with exactly
//    one error event.
// Runs on the caller's executor; cancellation (the awaiting coroutine's slot) reaches the wrapped
// provider's transfer and the backoff timer.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/api/provider.hpp"

namespace fh::provider_router {

class RetryBudget {
 public:
  explicit RetryBudget(int retries) : left_(retries) {}
  bool take() noexcept {
    int n = left_.load();
    while (n > 0)
      if (left_.compare_exchange_weak(n, n - 1)) return true;
    return false;
  }
  int left() const noexcept { return left_.load(); }

 private:
  std::atomic<int> left_;
};

struct RouterOptions {
  int max_attempts = 3;  // per provider, the first try included
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{8000};
  std::chrono::milliseconds max_retry_after{60000};
  std::shared_ptr<RetryBudget> budget;  // null: a private budget of 10 retries
  uint64_t seed = 0;                    // 0: seeded from std::random_device
};

// The chain must not be empty.
std::shared_ptr<api::Provider> make_router(std::vector<api::ResolvedModel> chain, RouterOptions o = {});

// "openai/gpt-4.1-mini,anthropic/claude-haiku-4-5" -> resolved models, in the user's order.
Result<std::vector<api::ResolvedModel>> resolve_chain(const api::ProviderRegistry& reg, std::string_view spec);

// The backoff before retry number `retry` (0-based), given a random draw u in [0, 1).
std::chrono::milliseconds backoff_delay(const RouterOptions& o, int retry, double u, std::optional<int64_t> retry_after_ms);

}  // namespace fh::provider_router
