// fh::provider_router — one Provider that wraps the providers a user listed ("a/m1,b/m2") and owns
// retries and fallback for all of them, once.
//  - Retries: exponential backoff with full jitter (uniform in [0, min(max, base * 2^n)]), or
//    exactly the provider's retry-after hint when it gave one; a hint longer than max_retry_after
//    moves on instead of waiting.
//  - Never retried: errors that cannot succeed by waiting (retryable == false: auth, permission,
//    invalid_request, context_length, 429 insufficient_quota, not_found) and cancellation.
//  - A run-level RetryBudget (shared across routers of one run) caps the total number of retries.
//  - Budgets (SpendBudget): each call's worst case is reserved before it is sent; a call that does
//    not fit is refused with a "budget_exceeded" error (its own ErrorKind, not retryable) and
//    the next provider in the chain is tried; the reservation settles to the real cost.
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
#include <mutex>
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

// A run's spending limit, shared by every router of the run. Before each call the router reserves
// the call's worst case (estimated input + max_tokens, priced at the target model's prices); a
// call whose reservation does not fit is refused before its request is sent; afterwards the
// reservation is settled to the real cost and tokens. Thread-safe.
class SpendBudget {
 public:
  struct Limits {
    std::optional<double> usd;                // budget_usd
    std::optional<int64_t> tokens;            // max_tokens_total (input + output)
    bool allow_unknown_prices = false;        // else an unpriced model counts as over budget
    int64_t default_max_tokens = 4096;        // reserved output when a request sets no max_tokens
  };
  explicit SpendBudget(Limits l) : limits_(l) {}
  const Limits& limits() const noexcept { return limits_; }
  // Reserves; false (nothing reserved) when it would exceed a limit.
  bool reserve(double usd, int64_t tokens);
  void settle(double reserved_usd, int64_t reserved_tokens, double actual_usd, int64_t actual_tokens);
  double spent_usd() const;
  int64_t spent_tokens() const;
  double reserved_usd() const;

 private:
  Limits limits_;
  mutable std::mutex mu_;
  double spent_usd_ = 0, reserved_usd_ = 0;
  int64_t spent_tokens_ = 0, reserved_tokens_ = 0;
};

struct RouterOptions {
  int max_attempts = 3;  // per provider, the first try included
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{8000};
  std::chrono::milliseconds max_retry_after{60000};
  std::shared_ptr<RetryBudget> budget;  // null: a private budget of 10 retries
  uint64_t seed = 0;                    // 0: seeded from std::random_device
  std::shared_ptr<SpendBudget> spend;   // null: no spending limit (see make_budget)
};

// The worst case of a call to provider/model: input estimate + max_tokens at the model's prices
// (reasoning at its own price when dearer); 0 for the local provider. nullopt when the price is
// unknown.
std::optional<double> worst_case_usd(std::string_view provider, std::string_view model, int64_t input_tokens,
                                     int64_t max_output_tokens);

// A registry budget (api::Budget) over `spend`: a single model gets a budget-only router (no
// retries), a chain the full router. The registry applies it once per resolved model, so a call
// is reserved once (never by nested routers).
std::shared_ptr<api::Budget> make_budget(std::shared_ptr<SpendBudget> spend);

// {"usd": 0.5, "max_tokens_total": 200000, "allow_unknown_prices": false} (every key optional;
// `usd_key` names the USD key: "usd" in the config's "budget", "budget_usd" in daemon run limits).
// Keys it does not know are left to the caller. Errors name the key and the allowed range.
Result<SpendBudget::Limits> limits_from_json(const json& j, std::string_view usd_key = "usd");

// A daemon run's budget from its limits (budget_usd, max_tokens_total, allow_unknown_prices):
// what the composition root installs as httpd::DaemonOptions::budget.
Result<std::shared_ptr<api::Budget>> budget_for_run(const json& limits);

// The chain must not be empty.
std::shared_ptr<api::Provider> make_router(std::vector<api::ResolvedModel> chain, RouterOptions o = {});

// "openai/gpt-4.1-mini,anthropic/claude-haiku-4-5" -> resolved models, in the user's order.
Result<std::vector<api::ResolvedModel>> resolve_chain(const api::ProviderRegistry& reg, std::string_view spec);

// The backoff before retry number `retry` (0-based), given a random draw u in [0, 1).
std::chrono::milliseconds backoff_delay(const RouterOptions& o, int retry, double u, std::optional<int64_t> retry_after_ms);

}  // namespace fh::provider_router
