#include "providers/router/router.hpp"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "providers/http/pricing.hpp"

namespace asio = boost::asio;

namespace fh::provider_router {

using api::ErrorKind;
using api::ProviderError;
using api::StreamEvent;

bool SpendBudget::reserve(double usd, int64_t tokens) {
  std::lock_guard lock(mu_);
  if (limits_.usd && spent_usd_ + reserved_usd_ + usd > *limits_.usd + 1e-12) return false;
  if (limits_.tokens && spent_tokens_ + reserved_tokens_ + tokens > *limits_.tokens) return false;
  reserved_usd_ += usd;
  reserved_tokens_ += tokens;
  return true;
}
void SpendBudget::settle(double reserved_usd, int64_t reserved_tokens, double actual_usd, int64_t actual_tokens) {
  std::lock_guard lock(mu_);
  reserved_usd_ = std::max(0.0, reserved_usd_ - reserved_usd);
  reserved_tokens_ = std::max<int64_t>(0, reserved_tokens_ - reserved_tokens);
  spent_usd_ += actual_usd;
  spent_tokens_ += actual_tokens;
}
double SpendBudget::spent_usd() const {
  std::lock_guard lock(mu_);
  return spent_usd_;
}
int64_t SpendBudget::spent_tokens() const {
  std::lock_guard lock(mu_);
  return spent_tokens_;
}
double SpendBudget::reserved_usd() const {
  std::lock_guard lock(mu_);
  return reserved_usd_;
}

std::optional<double> worst_case_usd(std::string_view provider, std::string_view model, int64_t input_tokens,
                                     int64_t max_output_tokens) {
  if (provider == "local") return 0.0;  // the in-process model costs nothing per token
  api::Usage u;
  u.input_tokens = input_tokens;
  u.output_tokens = max_output_tokens;
  auto plain = http::cost_usd(provider, model, u);  // the shared table, not a copy of it per call
  if (!plain) return std::nullopt;
  u.reasoning_tokens = max_output_tokens;
  return std::max(*plain, http::cost_usd(provider, model, u).value_or(*plain));
}

std::chrono::milliseconds backoff_delay(const RouterOptions& o, int retry, double u,
                                        std::optional<int64_t> retry_after_ms) {
  if (retry_after_ms) return std::chrono::milliseconds(std::max<int64_t>(0, *retry_after_ms));
  int64_t cap = o.base_delay.count();
  for (int i = 0; i < retry && cap < o.max_delay.count(); ++i) cap *= 2;
  cap = std::min<int64_t>(cap, o.max_delay.count());
  return std::chrono::milliseconds(static_cast<int64_t>(u * static_cast<double>(cap)));
}

namespace {

class Router final : public api::Provider {
 public:
  Router(std::vector<api::ResolvedModel> chain, RouterOptions o)
      : chain_(std::move(chain)), opts_(std::move(o)),
        rng_(opts_.seed ? opts_.seed : std::random_device{}()) {
    if (!opts_.budget) opts_.budget = std::make_shared<RetryBudget>(10);
    name_ = chain_.empty() ? "router" : std::string(chain_.front().provider->name());
  }

  std::string_view name() const noexcept override { return name_; }

  asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest req, api::StreamSink sink) override {
    ProviderError last;
    last.kind = ErrorKind::invalid_request;
    last.message = "no provider to call";
    for (const auto& target : chain_) {
      for (int attempt = 0;; ++attempt) {
        // One attempt. Events go straight to the caller; error events wait for our verdict.
        bool delivered = false;
        api::StreamSink inner;
        if (sink) {
          inner = [&](const StreamEvent& ev) {
            if (ev.type == StreamEvent::Type::error) return;
            delivered = true;
            sink(ev);
          };
        }
        api::ChatRequest attempt_req = req;
        attempt_req.model = target.model;
        // Reserve the worst case before anything is sent.
        double res_usd = 0;
        int64_t res_tokens = 0;
        const bool reserving = static_cast<bool>(opts_.spend);
        if (reserving) {
          auto refused = reserve(target, attempt_req, res_usd, res_tokens);
          if (refused) {
            last = std::move(*refused);
            break;  // this provider cannot be afforded; a cheaper one later in the chain may be
          }
        }
        auto r = co_await target.provider->chat(std::move(attempt_req), std::move(inner));
        if (reserving) {
          double actual = r ? r->cost_usd.value_or(0.0) : 0.0;
          int64_t tokens = r ? r->usage.input_tokens + r->usage.output_tokens : 0;
          opts_.spend->settle(res_usd, res_tokens, actual, tokens);
        }
        if (r) co_return r;
        last = std::move(r.error());
        if (last.provider.empty()) last.provider = std::string(target.provider->name());
        // Tokens already reached the caller, or the caller cancelled: no silent second try.
        if (delivered || last.kind == ErrorKind::cancelled) co_return fail(sink, last);
        if (!last.retryable || attempt + 1 >= opts_.max_attempts) break;
        if (last.retry_after_ms && *last.retry_after_ms > opts_.max_retry_after.count()) break;
        if (!opts_.budget->take()) break;
        // Back off, then try the same provider again.
        auto delay = backoff_delay(opts_, attempt, draw(), last.retry_after_ms);
        auto timer_ex = co_await asio::this_coro::executor;  // a named local: GCC 12 double-destroys co_await temporaries in call arguments
        asio::steady_timer timer(timer_ex, delay);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) {
          ProviderError c;
          c.kind = ErrorKind::cancelled;
          c.message = "cancelled while waiting to retry";
          c.provider = last.provider;
          co_return fail(sink, c);
        }
      }
      // This provider gave up; fall back to the next one the user listed.
    }
    co_return fail(sink, last);
  }

 private:
  static ProviderError fail(const api::StreamSink& sink, const ProviderError& e) {
    if (sink) {
      StreamEvent ev;
      ev.type = StreamEvent::Type::error;
      ev.error = e;
      sink(ev);
    }
    return e;
  }
  std::optional<ProviderError> reserve(const api::ResolvedModel& target, const api::ChatRequest& req, double& usd,
                                       int64_t& tokens) {
    const auto& lim = opts_.spend->limits();
    std::string provider(target.provider->name());
    int64_t input = http::estimate_input_tokens(req);
    int64_t output = req.max_tokens.value_or(lim.default_max_tokens);
    tokens = input + output;
    auto worst = worst_case_usd(provider, target.model, input, output);
    ProviderError e;
    e.kind = ErrorKind::budget_exceeded;
    e.retryable = false;
    e.provider = provider;
    if (!worst && lim.usd && !lim.allow_unknown_prices) {
      e.message = "budget_exceeded: no price known for " + provider + "/" + target.model +
                  " (unknown prices count as over budget unless allowed)";
      return e;
    }
    usd = worst.value_or(0.0);
    if (!opts_.spend->reserve(usd, tokens)) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "budget_exceeded: worst case of this call $%.6f (%lld tokens) does not fit; spent $%.6f of $%.6f",
                    usd, static_cast<long long>(tokens), opts_.spend->spent_usd(), lim.usd.value_or(0.0));
      e.message = buf;
      if (lim.tokens && !lim.usd)
        e.message = "budget_exceeded: " + std::to_string(tokens) + " more tokens would pass max_tokens_total " +
                    std::to_string(*lim.tokens) + " (spent " + std::to_string(opts_.spend->spent_tokens()) + ")";
      usd = 0;
      tokens = 0;
      return e;
    }
    return std::nullopt;
  }
  double draw() {
    std::lock_guard lock(mu_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  std::vector<api::ResolvedModel> chain_;
  RouterOptions opts_;
  std::string name_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

}  // namespace

namespace {
class RouterBudget final : public api::Budget {
 public:
  explicit RouterBudget(std::shared_ptr<SpendBudget> spend) : spend_(std::move(spend)) {}
  api::ResolvedModel hold(std::vector<api::ResolvedModel> chain) override {
    FH_ASSERT(!chain.empty());
    RouterOptions o;
    o.spend = spend_;
    if (chain.size() == 1) o.max_attempts = 1;  // a single model keeps its own (absent) retry policy
    std::string model = chain.front().model;
    return api::ResolvedModel{make_router(std::move(chain), std::move(o)), model};
  }

 private:
  std::shared_ptr<SpendBudget> spend_;
};
}  // namespace

std::shared_ptr<api::Budget> make_budget(std::shared_ptr<SpendBudget> spend) {
  return std::make_shared<RouterBudget>(std::move(spend));
}

Result<std::shared_ptr<api::Budget>> budget_for_run(const json& limits) {
  auto l = limits_from_json(limits, "budget_usd");
  if (!l) return l.error();
  return make_budget(std::make_shared<SpendBudget>(l.value()));
}

Result<SpendBudget::Limits> limits_from_json(const json& j, std::string_view usd_key) {
  SpendBudget::Limits l;
  if (!j.is_object()) return make_error(Errc::invalid_argument, "a budget must be an object");
  if (auto it = j.find(std::string(usd_key)); it != j.end()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1e9)
      return make_error(Errc::invalid_argument, std::string(usd_key) + " must be a number of USD, 0 or more");
    l.usd = it->get<double>();
  }
  if (auto it = j.find("max_tokens_total"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      return make_error(Errc::invalid_argument, "max_tokens_total must be a whole number, 0 or more");
    l.tokens = it->get<int64_t>();
  }
  if (auto it = j.find("allow_unknown_prices"); it != j.end()) {
    if (!it->is_boolean()) return make_error(Errc::invalid_argument, "allow_unknown_prices must be true or false");
    l.allow_unknown_prices = it->get<bool>();
  }
  return l;
}

std::shared_ptr<api::Provider> make_router(std::vector<api::ResolvedModel> chain, RouterOptions o) {
  FH_ASSERT(!chain.empty());
  return std::make_shared<Router>(std::move(chain), std::move(o));
}

Result<std::vector<api::ResolvedModel>> resolve_chain(const api::ProviderRegistry& reg, std::string_view spec) {
  std::vector<api::ResolvedModel> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string_view item = spec.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) return make_error(Errc::invalid_argument, "empty entry in model list '" + std::string(spec) + "'");
    auto r = reg.resolve(item);
    if (!r) return r.error();
    out.push_back(std::move(r.value()));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace fh::provider_router
