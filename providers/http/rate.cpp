#include "providers/http/rate.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "providers/http/wire_json.hpp"

namespace fh::http {

namespace {
constexpr std::chrono::milliseconds kPoll{5};
// Added to every advertised reset: headers round to whole units and clocks differ a little.
constexpr std::chrono::milliseconds kResetMargin{25};

std::optional<int64_t> int_header(const Headers& h, std::string_view name) {
  std::string_view v = header_value(h, name);
  if (v.empty() || v.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// A reset value: a Go duration (OpenAI) or an RFC 3339 timestamp (Anthropic), as a delay.
std::optional<int64_t> reset_delay(std::string_view v, std::chrono::system_clock::time_point now) {
  if (v.empty()) return std::nullopt;
  if (v.find('T') != std::string_view::npos) return rfc3339_delay_ms(v, now);
  return parse_go_duration_ms(v);
}
}  // namespace

std::chrono::milliseconds RateScheduler::try_take(int64_t tokens) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  auto until = [&](Clock::time_point t) { return std::max(milliseconds(1), duration_cast<milliseconds>(t - now)); };
  if (now < blocked_until_) return until(blocked_until_);
  if (!known_ && !unlimited_ && in_flight_ > 0) return kPoll;  // probing: one call at a time
  if (known_) {
    if (req_remaining_ >= 0 && req_remaining_ <= 0) {
      if (now < req_reset_) return until(req_reset_);
      // The window turned over: assume a full window, less what is still in flight.
      req_remaining_ = req_limit_ >= 0 ? req_limit_ - in_flight_ : 1;
      if (req_remaining_ <= 0) return kPoll;
    }
    if (tok_remaining_ >= 0 && tok_remaining_ < tokens) {
      if (now < tok_reset_) return until(tok_reset_);
      tok_remaining_ = tok_limit_;
    }
  }
  ++in_flight_;
  if (req_remaining_ > 0) --req_remaining_;
  if (tok_remaining_ >= 0) tok_remaining_ = std::max<int64_t>(0, tok_remaining_ - tokens);
  return milliseconds(0);
}

boost::asio::awaitable<std::optional<std::chrono::milliseconds>> RateScheduler::acquire(int64_t tokens) {
  auto t0 = Clock::now();
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  bool waited = false;
  for (;;) {
    auto wait = try_take(tokens);
    if (wait.count() == 0) break;
    waited = true;
    timer.expires_after(wait);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return std::nullopt;
  }
  // Only time spent paced counts: a slot granted at once reports zero even on a loaded loop.
  if (!waited) co_return std::chrono::milliseconds(0);
  co_return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

void RateScheduler::release(const Headers& h, int status, std::optional<int64_t> retry_after_ms,
                            std::chrono::system_clock::time_point wall_now) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  in_flight_ = std::max(0, in_flight_ - 1);
  bool any = false;
  auto read = [&](const char* limit, const char* remaining, const char* reset, int64_t& lim, int64_t& rem,
                  Clock::time_point& at) {
    auto l = int_header(h, limit);
    auto r = int_header(h, remaining);
    if (!r) return;
    any = true;
    if (l) lim = *l;
    // Calls still in flight may not be counted in this answer yet: assume they are not.
    rem = std::max<int64_t>(0, *r - in_flight_);
    if (auto d = reset_delay(header_value(h, reset), wall_now)) at = now + std::chrono::milliseconds(*d) + kResetMargin;
  };
  read("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", req_limit_,
       req_remaining_, req_reset_);
  read("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", tok_limit_, tok_remaining_,
       tok_reset_);
  read("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
       "anthropic-ratelimit-requests-reset", req_limit_, req_remaining_, req_reset_);
  read("anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
       tok_limit_, tok_remaining_, tok_reset_);
  if (any) {
    known_ = true;
    unlimited_ = false;
  } else if (!known_ && status != 429) {
    unlimited_ = true;  // nothing advertised: only 429s will pace this provider
  }
  if (status == 429) {
    auto ra = retry_after_ms ? retry_after_ms : http::retry_after_ms(h, wall_now);
    blocked_until_ = std::max(blocked_until_, now + std::chrono::milliseconds(ra.value_or(250)));
  }
}

void RateScheduler::release_without_response() {
  std::lock_guard lock(mu_);
  in_flight_ = std::max(0, in_flight_ - 1);
}

RateScheduler::Snapshot RateScheduler::snapshot() const {
  std::lock_guard lock(mu_);
  return {known_, unlimited_, in_flight_, req_remaining_, tok_remaining_, req_limit_, tok_limit_};
}

std::shared_ptr<RateScheduler> rate_scheduler(const std::string& key) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<RateScheduler>> all;
  std::lock_guard lock(mu);
  auto& s = all[key];
  if (!s) s = std::make_shared<RateScheduler>();
  return s;
}

std::string rate_key(std::string_view name, std::string_view base_url, std::string_view api_key) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(wire::fnv1a(api_key)));
  return std::string(name) + "|" + std::string(base_url) + "|" + buf;
}

}  // namespace fh::http
