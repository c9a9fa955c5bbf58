// fh::http pricing — the price table (providers/router/prices.json, built in) and the cost of a
// call. Pure and thread-safe. Prices are USD per 1M tokens, matched by provider name and model-id
// prefix (longest prefix; among rows with the same prefix the latest effective_from that is not in
// the future). Cost from unified usage (input includes cached and cache-write tokens; output
// includes reasoning):
//   (input - cached - write) * P_in + cached * P_cached + write * P_write
//   + (output - reasoning) * P_out + reasoning * P_reasoning
// with P_cached / P_write falling back to P_in and P_reasoning to P_out when a row leaves them null,
// and a row's long_context prices used when the input exceeds its threshold. Unknown model: no cost
// (std::nullopt), never a guess.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/api/chat.hpp"

namespace fh::http {

struct PriceRow {
  struct Tier {
    double input = 0, output = 0;
    std::optional<double> cached_input, cache_write, reasoning;
  };
  std::string provider, model;  // model: an id prefix ("" = every model of the provider)
  std::string effective_from;   // YYYY-MM-DD or empty
  Tier base;
  std::optional<int64_t> long_above;  // input tokens above which `long_tier` applies
  Tier long_tier;
  std::string checked, source;
};

class PriceTable {
 public:
  // {"rows": [...]} or a bare array of rows; `provider` fills rows that name none.
  static Result<PriceTable> parse(const json& j, std::string_view provider = {});
  // Rows of `overrides` take precedence over rows of this table with the same provider and model.
  void merge(const PriceTable& overrides);
  const PriceRow* find(std::string_view provider, std::string_view model, std::string_view today = {}) const;
  std::optional<double> cost(std::string_view provider, std::string_view model, const api::Usage& u) const;
  const std::vector<PriceRow>& rows() const noexcept { return rows_; }

 private:
  std::vector<PriceRow> rows_;
};

double cost_of(const PriceRow& row, const api::Usage& u);

// The process-wide table: the built-in prices.json plus overrides added at run time.
PriceTable prices();
// Adds override rows (from a provider's config section "prices"); returns an error for bad rows.
Result<Ok> add_price_overrides(const json& rows, std::string_view provider);
// Shorthand: the process table's cost for a result's provider, model and usage.
std::optional<double> cost_usd(std::string_view provider, std::string_view model, const api::Usage& u);

// Rough input-token estimate of a request (characters / 4 plus per-message overhead; an image
// counts 1024) — for context warnings and budget reservations, never for billing.
int64_t estimate_input_tokens(const api::ChatRequest& req);

// Today's UTC date as YYYY-MM-DD.
std::string today_utc();

}  // namespace fh::http
