#include "providers/http/pricing.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>

#include "providers/http/wire_json.hpp"
#include "runtime/core/json_text.hpp"

namespace fh::http {

extern const char* const kBuiltinPrices;  // generated from providers/router/prices.json

namespace {

Result<double> price(const json& row, const char* key, bool required) {
  const json* v = wire::find(row, key);
  if (!v) {
    if (required) return make_error(Errc::invalid_argument, std::string("price row without '") + key + "'");
    return -1.0;
  }
  if (!v->is_number() || v->get<double>() < 0)
    return make_error(Errc::invalid_argument, std::string("price '") + key + "' must be a number >= 0");
  return v->get<double>();
}

Result<PriceRow::Tier> tier(const json& j, const PriceRow::Tier* fallback) {
  PriceRow::Tier t;
  auto in = price(j, "input", fallback == nullptr), out = price(j, "output", fallback == nullptr);
  auto cached = price(j, "cached_input", false), write = price(j, "cache_write", false), reason = price(j, "reasoning", false);
  for (auto* r : {&in, &out, &cached, &write, &reason})
    if (!*r) return r->error();
  t.input = *in >= 0 ? *in : fallback->input;
  t.output = *out >= 0 ? *out : fallback->output;
  if (*cached >= 0) t.cached_input = *cached;
  else if (fallback) t.cached_input = fallback->cached_input;
  if (*write >= 0) t.cache_write = *write;
  else if (fallback) t.cache_write = fallback->cache_write;
  if (*reason >= 0) t.reasoning = *reason;
  else if (fallback) t.reasoning = fallback->reasoning;
  return t;
}

struct Global {
  std::mutex mu;
  std::shared_ptr<const PriceTable> table;
};
Global& global() {
  static Global g;
  return g;
}
std::shared_ptr<const PriceTable> current() {
  auto& g = global();
  std::lock_guard lock(g.mu);
  if (!g.table) {
    auto parsed = PriceTable::parse(json::parse(kBuiltinPrices, nullptr, false));
    g.table = std::make_shared<PriceTable>(parsed ? std::move(parsed.value()) : PriceTable{});
  }
  return g.table;
}

}  // namespace

Result<PriceTable> PriceTable::parse(const json& j, std::string_view provider) {
  const json* rows = j.is_array() ? &j : wire::find(j, "rows");
  if (!rows || !rows->is_array()) return make_error(Errc::invalid_argument, "price table: expected an array of rows");
  PriceTable t;
  for (const auto& r : *rows) {
    if (!r.is_object()) return make_error(Errc::invalid_argument, "price table: each row must be an object");
    PriceRow row;
    row.provider = wire::str(r, "provider");
    if (row.provider.empty()) row.provider = std::string(provider);
    const json* model = wire::find(r, "model");
    if (!model || !model->is_string()) return make_error(Errc::invalid_argument, "price row without a model prefix");
    row.model = model->get<std::string>();
    row.effective_from = wire::str(r, "effective_from");
    auto base = tier(r, nullptr);
    if (!base) return make_error(Errc::invalid_argument, "price row '" + row.model + "': " + base.error().message);
    row.base = base.value();
    if (const json* lc = wire::find(r, "long_context"); lc && lc->is_object()) {
      row.long_above = wire::num(*lc, "above_input_tokens");
      auto lt = tier(*lc, &row.base);
      if (!lt) return make_error(Errc::invalid_argument, "price row '" + row.model + "': " + lt.error().message);
      row.long_tier = lt.value();
    }
    row.checked = wire::str(r, "checked");
    row.source = wire::str(r, "source");
    t.rows_.push_back(std::move(row));
  }
  return t;
}

void PriceTable::merge(const PriceTable& o) {
  for (const auto& r : o.rows_) {
    std::erase_if(rows_, [&](const PriceRow& x) {
      return x.provider == r.provider && x.model == r.model && x.effective_from == r.effective_from;
    });
  }
  rows_.insert(rows_.begin(), o.rows_.begin(), o.rows_.end());
}

const PriceRow* PriceTable::find(std::string_view provider, std::string_view model, std::string_view today) const {
  if (model.rfind("models/", 0) == 0) model.remove_prefix(7);
  std::string day = today.empty() ? today_utc() : std::string(today);
  const PriceRow* best = nullptr;
  for (const auto& r : rows_) {
    if (r.provider != provider || model.substr(0, r.model.size()) != r.model) continue;
    if (!r.effective_from.empty() && r.effective_from > day) continue;
    if (!best || r.model.size() > best->model.size() ||
        (r.model.size() == best->model.size() && r.effective_from > best->effective_from))
      best = &r;
  }
  return best;
}

double cost_of(const PriceRow& row, const api::Usage& u) {
  const PriceRow::Tier& t = row.long_above && u.input_tokens > *row.long_above ? row.long_tier : row.base;
  auto d = [](int64_t n) { return static_cast<double>(std::max<int64_t>(0, n)); };
  double fresh = d(u.input_tokens - u.cached_input_tokens - u.cache_write_tokens);
  double visible = d(u.output_tokens - u.reasoning_tokens);
  double usd = fresh * t.input + d(u.cached_input_tokens) * t.cached_input.value_or(t.input) +
               d(u.cache_write_tokens) * t.cache_write.value_or(t.input) + visible * t.output +
               d(u.reasoning_tokens) * t.reasoning.value_or(t.output);
  return usd / 1e6;
}

std::optional<double> PriceTable::cost(std::string_view provider, std::string_view model, const api::Usage& u) const {
  const PriceRow* r = find(provider, model);
  if (!r) return std::nullopt;
  return cost_of(*r, u);
}

PriceTable prices() { return *current(); }

Result<Ok> add_price_overrides(const json& rows, std::string_view provider) {
  auto parsed = PriceTable::parse(rows, provider);
  if (!parsed) return parsed.error();
  auto base = current();
  auto next = std::make_shared<PriceTable>(*base);
  next->merge(parsed.value());
  auto& g = global();
  std::lock_guard lock(g.mu);
  g.table = std::move(next);
  return Ok{};
}

std::optional<double> cost_usd(std::string_view provider, std::string_view model, const api::Usage& u) {
  return current()->cost(provider, model, u);
}

int64_t estimate_input_tokens(const api::ChatRequest& req) {
  size_t chars = req.system.size();
  int64_t overhead = 8;
  for (const auto& m : req.messages) {
    overhead += 4;
    for (const auto& p : m.content) chars += p.kind == api::ContentPart::Kind::text ? p.text.size() : 1024 * 4;
    chars += m.reasoning.size();
    for (const auto& c : m.tool_calls) chars += c.name.size() + json_text(c.arguments).size();
  }
  for (const auto& t : req.tools) chars += t.name.size() + t.description.size() + json_text(t.parameters).size();
  return static_cast<int64_t>(chars / 4) + overhead;
}

std::string today_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace fh::http
