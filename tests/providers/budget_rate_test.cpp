// Budgets and rate scheduling through the real OpenAI client and the router against the Beast mock
// server: a call over budget is refused before its request is sent; reservations settle to the
// real cost; 50 runs sharing one provider key that advertises a 10-request window get no 429.
#include <doctest/doctest.h>

#include <boost/asio/detached.hpp>

#include "apps/freehold/register_remote.hpp"
#include "providers/http/pricing.hpp"
#include "providers/http/rate.hpp"
#include "providers/openai/client.hpp"
#include "providers/router/router.hpp"
#include "tests/providers/support/mock_server.hpp"
#include "tests/providers/support/run.hpp"

using namespace fh;
using fh::test::MockRequest;
using fh::test::MockResponse;
using fh::test::MockServer;
using fh::test::read_fixture;
namespace asio = boost::asio;

namespace {
MockResponse body_of(const std::string& name) {
  MockResponse r;
  r.headers = {{"content-type", "application/json"}};
  r.body = read_fixture(name);
  r.chunked = false;
  return r;
}
std::shared_ptr<api::Provider> openai_at(const MockServer& s) {
  return std::make_shared<provider_openai::OpenAiProvider>(
      provider_openai::config_from({{"api_key", "sk-b"}, {"base_url", s.base_url() + "/v1"}}).value());
}
api::ChatRequest ask(std::string model, std::optional<int64_t> max_tokens) {
  api::ChatRequest r;
  r.model = std::move(model);
  r.messages.push_back(api::Message::user("What's the weather like in San Francisco?"));
  r.max_tokens = max_tokens;
  return r;
}
}  // namespace

TEST_CASE("budget: over-budget call refused before sending / settles to the real cost / unknown prices") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest&) { return body_of("openai_chat_response_text_basic.json"); });
  auto provider = openai_at(server);
  provider_router::SpendBudget::Limits lim;
  lim.usd = 0.001;
  auto spend = std::make_shared<provider_router::SpendBudget>(lim);
  provider_router::RouterOptions o;
  o.spend = spend;
  auto router = provider_router::make_router({{provider, "gpt-4o"}}, o);
  // Worst case of max_tokens 1000 on gpt-4o: >= 1000 * $10/1M = $0.01 > $0.001: refused, nothing sent.
  auto r1 = fh::test::run_co(ctx, router->chat(ask("gpt-4o", 1000)));
  REQUIRE(r1);
  REQUIRE(!r1->ok());
  CHECK(r1->error().kind == api::ErrorKind::budget_exceeded);
  CHECK(r1->error().message.rfind("budget_exceeded", 0) == 0);
  CHECK(!r1->error().retryable);
  CHECK(server.requests().empty());
  // max_tokens 50: worst (estimated input * 2.5 + 50 * 10) / 1M fits; it settles to the real cost:
  // the recorded usage 14 prompt + 37 completion on gpt-4o = (14 * 2.5 + 37 * 10) / 1M = $0.000405.
  auto r2 = fh::test::run_co(ctx, router->chat(ask("gpt-4o", 50)));
  REQUIRE(r2);
  REQUIRE(r2->ok());
  REQUIRE(r2->value().cost_usd);
  CHECK(*r2->value().cost_usd == doctest::Approx(0.000405));
  CHECK(spend->spent_usd() == doctest::Approx(0.000405));
  CHECK(spend->spent_tokens() == 51);
  CHECK(spend->reserved_usd() == doctest::Approx(0.0));
  CHECK(server.requests().size() == 1);
  // Another $0.0006 of worst case no longer fits the remaining $0.000595.
  auto r3 = fh::test::run_co(ctx, router->chat(ask("gpt-4o", 58)));
  REQUIRE(r3);
  CHECK(!r3->ok());
  CHECK(server.requests().size() == 1);
  // An unpriced model counts as over budget unless allowed.
  auto unknown = provider_router::make_router({{provider, "my-finetune"}}, o);
  auto r4 = fh::test::run_co(ctx, unknown->chat(ask("my-finetune", 10)));
  REQUIRE(r4);
  REQUIRE(!r4->ok());
  CHECK(r4->error().message.find("no price known") != std::string::npos);
  lim.allow_unknown_prices = true;
  provider_router::RouterOptions o2;
  o2.spend = std::make_shared<provider_router::SpendBudget>(lim);
  auto allowed = provider_router::make_router({{provider, "my-finetune"}}, o2);
  auto r5 = fh::test::run_co(ctx, allowed->chat(ask("my-finetune", 10)));
  REQUIRE(r5);
  CHECK(r5->ok());
  // A token limit alone (max_tokens_total).
  provider_router::SpendBudget::Limits tl;
  tl.tokens = 100;
  provider_router::RouterOptions o3;
  o3.spend = std::make_shared<provider_router::SpendBudget>(tl);
  auto tokrouter = provider_router::make_router({{provider, "gpt-4o"}}, o3);
  auto r6 = fh::test::run_co(ctx, tokrouter->chat(ask("gpt-4o", 200)));
  REQUIRE(r6);
  CHECK(!r6->ok());
  CHECK(r6->error().message.find("max_tokens_total") != std::string::npos);
  // A cheaper model later in the chain is used when the first cannot be afforded.
  auto chain = provider_router::make_router({{provider, "gpt-5.6-sol"}, {provider, "gpt-4o-mini"}}, o);
  auto r7 = fh::test::run_co(ctx, chain->chat(ask("x", 20)));
  REQUIRE(r7);
  CHECK(r7->ok());
  CHECK(json::parse(server.requests().back().body)["model"] == "gpt-4o-mini");
}

TEST_CASE("rate: 50 runs sharing one provider key with a 10-request window get no 429") {
  using Clock = std::chrono::steady_clock;
  constexpr int kLimit = 10;
  const auto window = std::chrono::milliseconds(300);
  asio::io_context ctx;
  Clock::time_point window_start{};
  int in_window = 0, served = 0, refused = 0;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    auto now = Clock::now();
    if (now - window_start >= window) {
      window_start = now;
      in_window = 0;
    }
    auto reset = std::chrono::duration_cast<std::chrono::milliseconds>(window_start + window - now).count();
    if (in_window >= kLimit) {
      ++refused;
      MockResponse r;
      r.status = 429;
      r.headers = {{"content-type", "application/json"}, {"retry-after-ms", std::to_string(reset)}};
      r.body = R"({"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}})";
      r.chunked = false;
      return r;
    }
    ++in_window;
    ++served;
    MockResponse r = body_of("openai_chat_response_text_basic.json");
    r.headers.emplace_back("x-ratelimit-limit-requests", std::to_string(kLimit));
    r.headers.emplace_back("x-ratelimit-remaining-requests", std::to_string(kLimit - in_window));
    r.headers.emplace_back("x-ratelimit-reset-requests", std::to_string(reset) + "ms");
    return r;
  });
  const int runs = 50;
  int ok = 0, finished = 0, waited = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < runs; ++i) {
    // Every run builds its own provider object: the scheduler is shared through the key.
    asio::co_spawn(ctx, [&, p = openai_at(server)]() -> asio::awaitable<void> {
      auto r = co_await p->chat(ask("gpt-4o", 20));
      ++finished;
      if (r.ok()) {
        ++ok;
        if (r->provider_data.contains("queue_wait_ms")) ++waited;
      }
      if (finished == runs) ctx.stop();
    }, asio::detached);
  }
  ctx.run_for(std::chrono::seconds(30));
  auto elapsed = Clock::now() - t0;
  CHECK(finished == runs);
  CHECK(ok == runs);
  CHECK(refused == 0);
  CHECK(served == runs);
  CHECK(waited > 0);  // queue wait shows in the results
  // 50 requests at 10 per 300 ms cannot finish in under 4 windows.
  CHECK(elapsed >= 4 * window);
  MESSAGE("50 runs in " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms, "
                        << waited << " queued");
}

TEST_CASE("rate: headers teach the scheduler - Anthropic timestamps - a 429 pauses the key") {
  auto s = http::rate_scheduler("test|anthropic-headers");
  asio::io_context ctx;
  auto w = fh::test::run_co(ctx, s->acquire(10));
  REQUIRE(w);
  REQUIRE(*w);
  auto now = std::chrono::system_clock::now();
  // The captured Anthropic header set, with its reset one second ahead.
  std::time_t t = std::chrono::system_clock::to_time_t(now + std::chrono::seconds(1));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  s->release({{"anthropic-ratelimit-requests-limit", "1000"}, {"anthropic-ratelimit-requests-remaining", "0"},
              {"anthropic-ratelimit-requests-reset", ts}, {"anthropic-ratelimit-tokens-limit", "96000"},
              {"anthropic-ratelimit-tokens-remaining", "96000"}, {"anthropic-ratelimit-tokens-reset", ts}},
             200, std::nullopt, now);
  auto snap = s->snapshot();
  CHECK(snap.known);
  CHECK(snap.requests_limit == 1000);
  CHECK(snap.requests_remaining == 0);
  CHECK(snap.tokens_remaining == 96000);
  auto t0 = std::chrono::steady_clock::now();
  auto w2 = fh::test::run_co(ctx, s->acquire(10));
  REQUIRE(w2);
  REQUIRE(*w2);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(1));  // queued until the reset
  s->release({}, 429, 200, now);
  auto t1 = std::chrono::steady_clock::now();
  auto w3 = fh::test::run_co(ctx, s->acquire(10));
  REQUIRE(w3);
  CHECK(std::chrono::steady_clock::now() - t1 >= std::chrono::milliseconds(190));
  s->release_without_response();
  CHECK(http::rate_key("openai", "https://x", "secret").find("secret") == std::string::npos);
}

TEST_CASE("budget: a registry budget (freehold run --budget-usd) holds single models and chains once") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest&) { return body_of("openai_chat_response_text_basic.json"); });
  api::ProviderRegistry reg;
  fh::app::register_remote_providers(reg);
  reg.set_chain_factory([](std::vector<api::ResolvedModel> chain) -> Result<api::ResolvedModel> {
    std::string model = chain.front().model;
    return api::ResolvedModel{provider_router::make_router(std::move(chain)), model};
  });
  reg.set_config({{"providers", {{"openai", {{"api_key", "sk-p"}, {"base_url", server.base_url() + "/v1"}}}}}});
  provider_router::SpendBudget::Limits lim;
  lim.usd = 0.001;
  auto spend = std::make_shared<provider_router::SpendBudget>(lim);
  reg.set_budget(provider_router::make_budget(spend));
  auto single = reg.resolve("openai/gpt-4o");
  REQUIRE(single.ok());
  auto over = fh::test::run_co(ctx, single->provider->chat(ask("gpt-4o", 1000)));
  REQUIRE(over);
  CHECK(!over->ok());
  CHECK(over->error().kind == api::ErrorKind::budget_exceeded);
  CHECK(server.requests().empty());
  // The chain's first model does not fit; the cheaper second one does and is sent.
  auto chain = reg.resolve("openai/gpt-4o,openai/gpt-4o-mini");
  REQUIRE(chain.ok());
  auto r = fh::test::run_co(ctx, chain->provider->chat(ask("gpt-4o", 1000)));
  REQUIRE(r);
  if (!r->ok()) FAIL(r->error().message);
  CHECK(server.requests().size() == 1);
  CHECK(spend->spent_usd() > 0);  // counted once, not per router layer
  CHECK(spend->spent_usd() < 0.001);
  CHECK(spend->reserved_usd() == doctest::Approx(0.0));
  // A registry without a budget sends the same call.
  reg.set_budget(nullptr);
  auto unbudgeted = reg.resolve("openai/gpt-4o");
  auto r2 = fh::test::run_co(ctx, unbudgeted->provider->chat(ask("gpt-4o", 1000)));
  REQUIRE(r2);
  CHECK(r2->ok());
}
