// Fault injection against the mock server: each fault ends in the documented retry, fallback or a
// clear ProviderError, within the configured timeouts (no crash, no hang).
#include <doctest/doctest.h>

#include "providers/anthropic/client.hpp"
#include "providers/openai/client.hpp"
#include "providers/router/router.hpp"
#include "tests/providers/support/mock_server.hpp"
#include "tests/providers/support/run.hpp"

using namespace fh;
using api::ErrorKind;
using fh::test::MockRequest;
using fh::test::MockResponse;
using fh::test::MockServer;
using fh::test::read_fixture;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
const std::string kText = read_fixture("openai_chat_stream_text_basic.sse");

json fast_timeouts() { return {{"connect_ms", 2000}, {"first_byte_ms", 1500}, {"idle_ms", 300}, {"total_ms", 5000}}; }

std::shared_ptr<api::Provider> openai_at(const MockServer& s) {
  json cfg = {{"api_key", "sk-test"}, {"base_url", s.base_url() + "/v1"}, {"timeouts", fast_timeouts()}};
  return std::make_shared<provider_openai::OpenAiProvider>(provider_openai::config_from(cfg).value());
}
std::shared_ptr<api::Provider> anthropic_at(const MockServer& s) {
  json cfg = {{"api_key", "k"}, {"base_url", s.base_url()}, {"timeouts", fast_timeouts()}};
  return std::make_shared<provider_anthropic::AnthropicProvider>(provider_anthropic::config_from(cfg).value());
}
api::ChatRequest hello() {
  api::ChatRequest r;
  r.model = "m";
  r.messages.push_back(api::Message::user("hello"));
  return r;
}
provider_router::RouterOptions fast_router() {
  provider_router::RouterOptions o;
  o.base_delay = std::chrono::milliseconds(5);
  o.max_delay = std::chrono::milliseconds(20);
  o.seed = 7;
  return o;
}
MockResponse status(int code, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  MockResponse r;
  r.status = code;
  r.headers = {{"content-type", "application/json"}};
  for (auto& h : headers) r.headers.push_back(h);
  r.body = std::move(body);
  r.chunked = false;
  return r;
}
MockResponse ok_stream() {
  MockResponse r;
  r.body = kText;
  return r;
}
// A sink that records events.
struct Events {
  std::vector<api::StreamEvent> list;
  api::StreamSink sink() {
    return [this](const api::StreamEvent& e) { list.push_back(e); };
  }
  int errors() const {
    int n = 0;
    for (const auto& e : list) n += e.type == api::StreamEvent::Type::error;
    return n;
  }
};
}  // namespace

TEST_CASE("fault: 429 with retry-after is retried after the hinted delay / then succeeds") {
  asio::io_context ctx;
  int n = 0;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    return ++n == 1 ? status(429, read_fixture("openai_error_429_tokens_request_too_large.json"), {{"retry-after", "1"}})
                    : ok_stream();
  });
  auto router = provider_router::make_router({{openai_at(server), "gpt-4o"}}, fast_router());
  Events ev;
  auto t0 = Clock::now();
  auto r = fh::test::run_co(ctx, router->chat(hello(), ev.sink()));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(950));
  CHECK(n == 2);
  CHECK(ev.errors() == 0);  // the abandoned attempt's error never reached the caller
  CHECK(r->value().text.rfind("I'm unable", 0) == 0);
}

TEST_CASE("fault: 429 insufficient_quota and 401 are not retried") {
  asio::io_context ctx;
  MockResponse reply = status(429, read_fixture("openai_error_429_insufficient_quota.json"), {{"retry-after", "0"}});
  MockServer server(ctx.get_executor(), [&](const MockRequest&) { return reply; });
  auto router = provider_router::make_router({{openai_at(server), "gpt-4o"}}, fast_router());
  Events ev;
  auto r = fh::test::run_co(ctx, router->chat(hello(), ev.sink()));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::rate_limit);
  CHECK(!r->error().retryable);
  CHECK(server.requests().size() == 1);
  REQUIRE(ev.list.size() == 1);
  CHECK(ev.list.back().type == api::StreamEvent::Type::error);
  reply = status(401, read_fixture("openai_error_401_invalid_api_key.json"));
  auto r2 = fh::test::run_co(ctx, router->chat(hello()));
  REQUIRE(r2);
  CHECK(r2->error().kind == ErrorKind::auth);
  CHECK(server.requests().size() == 2);
}

TEST_CASE("fault: Anthropic 529 overloaded is retried") {
  asio::io_context ctx;
  int n = 0;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    if (++n <= 2) return status(529, read_fixture("anthropic_error_529_overloaded.json"), {{"x-should-retry", "true"}});
    MockResponse r;
    r.body = read_fixture("anthropic_stream_text_basic.sse");
    return r;
  });
  auto router = provider_router::make_router({{anthropic_at(server), "claude-haiku-4-5"}}, fast_router());
  auto r = fh::test::run_co(ctx, router->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(n == 3);
  CHECK(r->value().text == "Hello there!");
}

TEST_CASE("fault: 500 on every try exhausts retries / then falls back to the next listed provider") {
  asio::io_context ctx;
  MockServer bad(ctx.get_executor(), [](const MockRequest&) { return status(500, read_fixture("anthropic_error_500_api_error.json")); });
  MockServer good(ctx.get_executor(), [](const MockRequest&) { return ok_stream(); });
  MockServer unlisted(ctx.get_executor(), [](const MockRequest&) { return ok_stream(); });
  auto router = provider_router::make_router({{anthropic_at(bad), "claude"}, {openai_at(good), "gpt-4o"}}, fast_router());
  Events ev;
  auto r = fh::test::run_co(ctx, router->chat(hello(), ev.sink()));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(bad.requests().size() == 3);  // max_attempts
  CHECK(good.requests().size() == 1);
  CHECK(unlisted.requests().empty());
  CHECK(r->value().provider == "openai");
  CHECK(r->value().model == "gpt-4o-2024-08-06");
  CHECK(json::parse(good.requests()[0].body)["model"] == "gpt-4o");
  CHECK(ev.errors() == 0);
}

TEST_CASE("fault: 503 then success - retry budget caps retries across calls") {
  asio::io_context ctx;
  int n = 0;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) { return ++n % 2 ? status(503, "Slow Down") : ok_stream(); });
  auto opts = fast_router();
  opts.budget = std::make_shared<provider_router::RetryBudget>(1);
  auto router = provider_router::make_router({{openai_at(server), "gpt-4o"}}, opts);
  auto r1 = fh::test::run_co(ctx, router->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r1);
  CHECK(r1->ok());
  auto r2 = fh::test::run_co(ctx, router->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r2);
  REQUIRE(!r2->ok());  // budget spent: the 503 is returned
  CHECK(r2->error().kind == ErrorKind::overloaded);
  CHECK(r2->error().status == 503);
  CHECK(n == 3);
}

TEST_CASE("fault: reset before headers is retried - reset mid-stream after tokens is not") {
  asio::io_context ctx;
  int n = 0;
  MockResponse mid = ok_stream();
  mid.reset_after = 900;  // a few content deltas, then RST
  bool mid_stream = false;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    ++n;
    if (mid_stream) return mid;
    MockResponse r = ok_stream();
    r.reset_before_headers = n == 1;
    return r;
  });
  auto router = provider_router::make_router({{openai_at(server), "gpt-4o"}}, fast_router());
  auto r = fh::test::run_co(ctx, router->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(n == 2);

  mid_stream = true;
  n = 0;
  Events ev;
  auto r2 = fh::test::run_co(ctx, router->chat(hello(), ev.sink()));
  REQUIRE(r2);
  REQUIRE(!r2->ok());
  CHECK(r2->error().kind == ErrorKind::network);
  CHECK(n == 1);  // tokens were delivered: no silent retry
  REQUIRE(!ev.list.empty());
  CHECK(ev.list.front().type == api::StreamEvent::Type::text);
  CHECK(ev.list.back().type == api::StreamEvent::Type::error);
  CHECK(ev.errors() == 1);

  // Without a sink nothing was delivered, so the same fault is retried.
  n = 0;
  auto r3 = fh::test::run_co(ctx, router->chat(hello()));
  REQUIRE(r3);
  CHECK(!r3->ok());
  CHECK(n == 3);
}

TEST_CASE("fault: a stream that ends without its terminator is an error") {
  asio::io_context ctx;
  std::string body = kText.substr(0, kText.find("data: [DONE]"));
  std::string anth = read_fixture("anthropic_stream_text_then_tool_use.sse");
  anth = anth.substr(0, anth.find("event: message_delta"));
  bool use_anth = false;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    MockResponse r;
    r.body = use_anth ? anth : body;
    return r;
  });
  Events ev;
  auto r = fh::test::run_co(ctx, openai_at(server)->chat(hello(), ev.sink()));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::network);
  CHECK(r->error().message.find("[DONE]") != std::string::npos);
  CHECK(ev.list.back().type == api::StreamEvent::Type::error);
  use_anth = true;
  auto r2 = fh::test::run_co(ctx, anthropic_at(server)->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r2);
  REQUIRE(!r2->ok());
  CHECK(r2->error().message.find("message_stop") != std::string::npos);
}

TEST_CASE("fault: a 1-byte-per-second drip hits the idle timeout") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest&) {
    MockResponse r = ok_stream();
    r.split = MockResponse::Split::one_byte;
    r.gap = std::chrono::milliseconds(1000);
    return r;
  });
  auto t0 = Clock::now();
  auto r = fh::test::run_co(ctx, openai_at(server)->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::timeout);
  CHECK(r->error().retryable);
  CHECK(r->error().message.find("idle") != std::string::npos);
  CHECK(Clock::now() - t0 < std::chrono::milliseconds(1500));
}

TEST_CASE("fault: no response at all hits the first-byte timeout") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest&) {
    MockResponse r;
    r.hang = true;
    return r;
  });
  auto t0 = Clock::now();
  auto r = fh::test::run_co(ctx, anthropic_at(server)->chat(hello()));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::timeout);
  CHECK(r->error().message.find("first_byte") != std::string::npos);
  CHECK(Clock::now() - t0 < std::chrono::milliseconds(3000));
}

TEST_CASE("fault: a malformed JSON chunk mid-stream ends the call with a clear error") {
  asio::io_context ctx;
  std::string body = kText.substr(0, kText.find("\n\n", 1200) + 2) + "data: {\"choices\": [{\"delta\": \n\n" +
                     kText.substr(kText.find("\n\n", 1200) + 2);
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    MockResponse r;
    r.body = body;
    r.split = MockResponse::Split::random;
    return r;
  });
  Events ev;
  auto r = fh::test::run_co(ctx, openai_at(server)->chat(hello(), ev.sink()));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::server);
  CHECK(r->error().message.find("not JSON") != std::string::npos);
  CHECK(ev.errors() == 1);
  CHECK(ev.list.back().type == api::StreamEvent::Type::error);
}

TEST_CASE("fault: an error event inside a 200 Anthropic stream") {
  asio::io_context ctx;
  std::string s = read_fixture("anthropic_stream_text_then_tool_use.sse");
  s = s.substr(0, s.find("event: content_block_stop")) +
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    MockResponse r;
    r.body = s;
    return r;
  });
  auto r = fh::test::run_co(ctx, anthropic_at(server)->chat(hello(), [](const api::StreamEvent&) {}));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::overloaded);
  CHECK(r->error().provider == "anthropic");
}

TEST_CASE("fault: connection refused is a retryable network error") {
  asio::io_context ctx;
  std::string url;
  {
    MockServer gone(ctx.get_executor(), {});
    url = gone.base_url();
  }
  json cfg = {{"base_url", url + "/v1"}, {"timeouts", fast_timeouts()}};
  auto p = std::make_shared<provider_openai::OpenAiProvider>(provider_openai::config_from(cfg).value());
  auto r = fh::test::run_co(ctx, p->chat(hello()));
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == ErrorKind::network);
  CHECK(r->error().retryable);
}
