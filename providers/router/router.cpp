#include "providers/router/router.hpp"

#include <algorithm>
#include <mutex>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace fh::provider_router {

using api::ErrorKind;
using api::ProviderError;
using api::StreamEvent;

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
        auto r = co_await target.provider->chat(std::move(attempt_req), std::move(inner));
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
        asio::steady_timer timer(co_await asio::this_coro::executor, delay);
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
