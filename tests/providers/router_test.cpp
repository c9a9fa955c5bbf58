// The router's rules with scripted in-memory providers: backoff shape, which errors retry, the
// budget, fallback order, streams that already delivered tokens, cancellation during backoff.
#include <doctest/doctest.h>

#include <deque>

#include <boost/asio/steady_timer.hpp>

#include "providers/router/router.hpp"
#include "tests/providers/support/run.hpp"

using namespace fh;
using api::ErrorKind;
namespace asio = boost::asio;

namespace {
// Replies from a script: each entry is an error, or success (optionally streaming text first).
struct Step {
  std::optional<api::ProviderError> error;
  bool stream_text_first = false;
};
class Scripted final : public api::Provider {
 public:
  Scripted(std::string name, std::deque<Step> steps) : name_(std::move(name)), steps_(std::move(steps)) {}
  std::string_view name() const noexcept override { return name_; }
  asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest req, api::StreamSink sink) override {
    ++calls;
    models.push_back(req.model);
    Step s = steps_.empty() ? Step{} : steps_.front();
    if (!steps_.empty()) steps_.pop_front();
    if (s.stream_text_first && sink) {
      api::StreamEvent ev;
      ev.text = "partial";
      sink(ev);
    }
    if (s.error) {
      if (sink) {
        api::StreamEvent ev;
        ev.type = api::StreamEvent::Type::error;
        ev.error = *s.error;
        sink(ev);
      }
      co_return *s.error;
    }
    api::ChatResult r;
    r.provider = name_;
    r.model = req.model;
    r.text = "ok";
    co_return r;
  }
  int calls = 0;
  std::vector<std::string> models;

 private:
  std::string name_;
  std::deque<Step> steps_;
};

api::ProviderError err(ErrorKind k, bool retryable, std::optional<int64_t> after = {}) {
  api::ProviderError e;
  e.kind = k;
  e.retryable = retryable;
  e.retry_after_ms = after;
  e.message = std::string(api::error_kind_name(k));
  return e;
}
provider_router::RouterOptions fast() {
  provider_router::RouterOptions o;
  o.base_delay = std::chrono::milliseconds(2);
  o.max_delay = std::chrono::milliseconds(10);
  o.seed = 3;
  return o;
}
api::ChatRequest req() {
  api::ChatRequest r;
  r.messages.push_back(api::Message::user("x"));
  return r;
}
}  // namespace

TEST_CASE("router: full-jitter backoff stays within min(max / base * 2^n) - retry-after is honoured") {
  provider_router::RouterOptions o;
  o.base_delay = std::chrono::milliseconds(500);
  o.max_delay = std::chrono::milliseconds(8000);
  CHECK(provider_router::backoff_delay(o, 0, 0.999, {}).count() <= 500);
  CHECK(provider_router::backoff_delay(o, 3, 0.999, {}).count() <= 4000);
  CHECK(provider_router::backoff_delay(o, 3, 0.999, {}).count() > 3900);
  CHECK(provider_router::backoff_delay(o, 10, 0.999, {}).count() <= 8000);
  CHECK(provider_router::backoff_delay(o, 10, 0.0, {}).count() == 0);
  CHECK(provider_router::backoff_delay(o, 0, 0.5, 1234).count() == 1234);
}

TEST_CASE("router: retryable errors retry up to max_attempts - hopeless ones fall back at once") {
  asio::io_context ctx;
  auto a = std::make_shared<Scripted>("a", std::deque<Step>{{err(ErrorKind::server, true)}, {err(ErrorKind::rate_limit, true, 5)}, {}});
  auto router = provider_router::make_router({{a, "m1"}}, fast());
  auto r = fh::test::run_co(ctx, router->chat(req(), {}));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(a->calls == 3);
  CHECK(a->models == std::vector<std::string>{"m1", "m1", "m1"});

  for (auto k : {ErrorKind::auth, ErrorKind::invalid_request, ErrorKind::context_length, ErrorKind::rate_limit}) {
    auto p = std::make_shared<Scripted>("p", std::deque<Step>{{err(k, false)}});
    auto q = std::make_shared<Scripted>("q", std::deque<Step>{{}});
    auto rr = fh::test::run_co(ctx, provider_router::make_router({{p, "m1"}, {q, "m2"}}, fast())->chat(req(), {}));
    REQUIRE(rr);
    REQUIRE(rr->ok());
    CHECK(p->calls == 1);
    CHECK(q->calls == 1);
    CHECK(rr->value().provider == "q");
    CHECK(rr->value().model == "m2");
  }
}

TEST_CASE("router: a retry-after longer than the cap moves on instead of waiting") {
  asio::io_context ctx;
  auto a = std::make_shared<Scripted>("a", std::deque<Step>{{err(ErrorKind::rate_limit, true, 3'600'000)}});
  auto b = std::make_shared<Scripted>("b", std::deque<Step>{{}});
  auto t0 = std::chrono::steady_clock::now();
  auto r = fh::test::run_co(ctx, provider_router::make_router({{a, "x"}, {b, "y"}}, fast())->chat(req(), {}));
  REQUIRE(r);
  CHECK(r->ok());
  CHECK(a->calls == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("router: a stream that delivered tokens is neither retried nor moved - one error event ends it") {
  asio::io_context ctx;
  auto a = std::make_shared<Scripted>("a", std::deque<Step>{{err(ErrorKind::network, true), true}});
  auto b = std::make_shared<Scripted>("b", std::deque<Step>{{}});
  std::vector<api::StreamEvent> seen;
  auto r = fh::test::run_co(ctx, provider_router::make_router({{a, "x"}, {b, "y"}}, fast())
                                     ->chat(req(), [&](const api::StreamEvent& e) { seen.push_back(e); }));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(a->calls == 1);
  CHECK(b->calls == 0);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].type == api::StreamEvent::Type::text);
  CHECK(seen[1].type == api::StreamEvent::Type::error);
  CHECK(seen[1].error.provider == "a");
}

TEST_CASE("router: all listed providers failing gives the last error / one error event") {
  asio::io_context ctx;
  auto a = std::make_shared<Scripted>("a", std::deque<Step>{{err(ErrorKind::auth, false)}});
  auto b = std::make_shared<Scripted>("b", std::deque<Step>{{err(ErrorKind::not_found, false)}});
  int errors = 0;
  auto r = fh::test::run_co(ctx, provider_router::make_router({{a, "x"}, {b, "y"}}, fast())
                                     ->chat(req(), [&](const api::StreamEvent& e) { errors += e.type == api::StreamEvent::Type::error; }));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::not_found);
  CHECK(r->error().provider == "b");
  CHECK(errors == 1);
}

TEST_CASE("router: cancellation during backoff ends the call at once") {
  asio::io_context ctx;
  auto a = std::make_shared<Scripted>("a", std::deque<Step>{{err(ErrorKind::overloaded, true, 30'000)}, {}});
  asio::cancellation_signal cancel;
  asio::steady_timer t(ctx, std::chrono::milliseconds(50));
  t.async_wait([&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  auto t0 = std::chrono::steady_clock::now();
  auto r = fh::test::run_co(ctx, provider_router::make_router({{a, "x"}}, fast())->chat(req(), {}),
                            std::chrono::seconds(10), &cancel);
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::cancelled);
  CHECK(a->calls == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE("router: resolve_chain keeps the user's order and rejects unknown or empty entries") {
  api::ProviderRegistry reg;
  auto make = [](std::string n) {
    return [n](std::string_view rest, const json&) -> Result<api::ResolvedModel> {
      return api::ResolvedModel{std::make_shared<Scripted>(n, std::deque<Step>{}), std::string(rest)};
    };
  };
  reg.add("openai", make("openai"));
  reg.add("anthropic", make("anthropic"));
  auto c = provider_router::resolve_chain(reg, "openai/gpt-4.1-mini, anthropic/claude-haiku-4-5");
  REQUIRE(c.ok());
  REQUIRE(c->size() == 2);
  CHECK(c.value()[0].provider->name() == "openai");
  CHECK(c.value()[0].model == "gpt-4.1-mini");
  CHECK(c.value()[1].model == "claude-haiku-4-5");
  CHECK(!provider_router::resolve_chain(reg, "openai/a,,anthropic/b").ok());
  CHECK(!provider_router::resolve_chain(reg, "gemini/x").ok());
}
