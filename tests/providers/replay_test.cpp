// End to end: the Beast mock server replays each recorded transcript byte for byte — whole, in
// 1-byte chunks and in random chunks — through fh::http + the provider clients; the unified
// results and events must equal what the codec gives for the same bytes.
#include <doctest/doctest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "providers/anthropic/client.hpp"
#include "providers/http/http.hpp"
#include "providers/openai/client.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"
#include "tests/providers/support/run.hpp"

using namespace fh;
using fh::test::MockRequest;
using fh::test::MockResponse;
using fh::test::MockServer;
using fh::test::read_fixture;
namespace asio = boost::asio;

namespace {
json comparable(const api::ChatResult& r) {
  json j = api::to_json(r);
  j.erase("latency_ms");
  j.erase("ttft_ms");
  j.erase("cost_usd");  // the client prices results; the bare codec does not
  if (j.contains("provider_data")) {  // time spent queued for the provider's rate limit
    j["provider_data"].erase("queue_wait_ms");
    if (j["provider_data"].empty()) j.erase("provider_data");
  }
  return j;
}
std::shared_ptr<api::Provider> openai_at(const MockServer& s, json extra = json::object()) {
  json cfg = {{"api_key", "sk-test-123"}, {"base_url", s.base_url() + "/v1"}};
  cfg.update(extra);
  return std::make_shared<provider_openai::OpenAiProvider>(provider_openai::config_from(cfg).value());
}
std::shared_ptr<api::Provider> anthropic_at(const MockServer& s) {
  json cfg = {{"api_key", "sk-ant-test"}, {"base_url", s.base_url()}};
  return std::make_shared<provider_anthropic::AnthropicProvider>(provider_anthropic::config_from(cfg).value());
}
// Answers every request with `body` (read at request time) as one JSON response.
auto json_reply(const std::string& body) {
  return [&body](const MockRequest&) {
    MockResponse r;
    r.headers = {{"content-type", "application/json"}};
    r.body = body;
    r.chunked = false;
    return r;
  };
}
api::ChatRequest hello() {
  api::ChatRequest r;
  r.model = "m";
  r.messages.push_back(api::Message::user("hello"));
  return r;
}
}  // namespace

TEST_CASE("replay: every OpenAI and Anthropic stream / whole / 1-byte / random chunks / equals the codec") {
  const char* files[] = {
      "openai_chat_stream_finish_length_max_tokens_1.sse", "openai_chat_stream_json_object.sse",
      "openai_chat_stream_json_schema.sse", "openai_chat_stream_logprobs.sse", "openai_chat_stream_refusal.sse",
      "openai_chat_stream_text_basic.sse", "openai_chat_stream_tool_call_nonstrict.sse",
      "openai_chat_stream_tool_call_single.sse", "openai_chat_stream_tool_call_strict_dict.sse",
      "openai_chat_stream_tool_calls_parallel.sse", "anthropic_stream_structured_output_json.sse",
      "anthropic_stream_text_after_tool_result.sse", "anthropic_stream_text_basic.sse",
      "anthropic_stream_text_then_tool_use.sse", "anthropic_stream_tool_use_only.sse",
      "anthropic_stream_tool_use_truncated_max_tokens.sse"};
  asio::io_context ctx;
  MockResponse reply;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) { return reply; });
  for (const char* f : files) {
    std::string bytes = read_fixture(f);
    bool is_openai = std::string(f).rfind("openai", 0) == 0;
    auto expected = is_openai ? fh::test::decode_openai(bytes) : fh::test::decode_anthropic(bytes);
    auto provider = is_openai ? openai_at(server) : anthropic_at(server);
    for (auto split : {MockResponse::Split::whole, MockResponse::Split::one_byte, MockResponse::Split::random}) {
      // One HTTP chunk per byte of a 47 KB transcript is slow under sanitizers: random cuts cover it.
      if (split == MockResponse::Split::one_byte && bytes.size() > 10'000) split = MockResponse::Split::random;
      INFO(std::string(f) << " split " << static_cast<int>(split));
      reply = MockResponse{};
      reply.body = bytes;
      reply.split = split;
      reply.seed = 42;
      std::vector<api::StreamEvent> events;
      auto r = fh::test::run_co(ctx, provider->chat(hello(), [&](const api::StreamEvent& e) { events.push_back(e); }));
      REQUIRE(r.has_value());
      REQUIRE(r->ok());
      CHECK(comparable(r->value()) == comparable(expected.result));
      REQUIRE(events.size() == expected.events.size());
      for (size_t i = 0; i < events.size(); ++i) CHECK(api::to_json(events[i]) == api::to_json(expected.events[i]));
      CHECK(r->value().provider == (is_openai ? "openai" : "anthropic"));
      CHECK(r->value().latency_ms >= r->value().ttft_ms);
    }
  }
  // The wire requests: right path, auth header, streaming flags.
  const auto& reqs = server.requests();
  REQUIRE(reqs.size() == std::size(files) * 3);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/v1/chat/completions");
  CHECK(reqs[0].headers.at("authorization") == "Bearer sk-test-123");
  json body0 = json::parse(reqs[0].body);
  CHECK(body0["stream"] == true);
  CHECK(body0["stream_options"]["include_usage"] == true);
  const auto& last = reqs.back();
  CHECK(last.target == "/v1/messages");
  CHECK(last.headers.at("x-api-key") == "sk-ant-test");
  CHECK(last.headers.at("anthropic-version") == "2023-06-01");
  CHECK(json::parse(last.body)["max_tokens"] == 4096);
  // Sequential requests reuse one keep-alive connection.
  CHECK(server.connections_accepted() == 1);
}

TEST_CASE("replay: non-streamed JSON bodies through the client equal the codec") {
  asio::io_context ctx;
  std::string body;
  MockServer server(ctx.get_executor(), json_reply(body));
  for (const char* f : {"openai_chat_response_tool_calls_parallel.json", "openai_chat_response_refusal.json",
                        "openai_chat_response_text_basic.json"}) {
    body = read_fixture(f);
    auto r = fh::test::run_co(ctx, openai_at(server)->chat(hello()));
    REQUIRE(r);
    REQUIRE(r->ok());
    CHECK(comparable(r->value()) == comparable(provider_openai::decode_response(body).value()));
  }
  body = read_fixture("anthropic_message_tool_use.json");
  auto r = fh::test::run_co(ctx, anthropic_at(server)->chat(hello()));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->value().tool_calls.at(0).arguments == json{{"location", "San Francisco, CA"}, {"units", "c"}});
  CHECK(json::parse(server.requests().back().body).contains("stream") == false);
}

TEST_CASE("replay: GET /v1/models") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest& q) {
    MockResponse r;
    r.headers = {{"content-type", "application/json"}};
    r.body = q.target == "/v1/models"
                 ? R"({"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"system"},{"id":"gpt-4.1","object":"model","created":2,"owned_by":"system"}]})"
                 : "{}";
    return r;
  });
  auto cfg = provider_openai::config_from({{"base_url", server.base_url() + "/v1/"}, {"api_key", "k"}}).value();
  auto r = fh::test::run_co(ctx, provider_openai::list_models(cfg));
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->value() == std::vector<std::string>{"gpt-4o-mini", "gpt-4.1"});
  CHECK(server.requests().at(0).method == "GET");
}

TEST_CASE("replay: cancelling the awaiting coroutine aborts the transfer promptly") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest&) {
    MockResponse r;
    r.hang = true;
    return r;
  });
  asio::cancellation_signal cancel;
  asio::steady_timer t(ctx, std::chrono::milliseconds(100));
  t.async_wait([&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  auto t0 = std::chrono::steady_clock::now();
  auto r = fh::test::run_co(ctx, openai_at(server)->chat(hello(), [](const api::StreamEvent&) {}),
                            std::chrono::seconds(10), &cancel);
  REQUIRE(r);
  REQUIRE(!r->ok());
  CHECK(r->error().kind == api::ErrorKind::cancelled);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
}

TEST_CASE("http: address guard refuses / body limit / protocol restriction / proxy off") {
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest&) {
    MockResponse r;
    r.body = std::string(10'000, 'x');
    r.chunked = false;
    return r;
  });
  http::Request q;
  q.url = server.base_url() + "/x";
  q.proxy_off = true;
  q.address_guard = [](const sockaddr*) { return false; };
  auto r1 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r1);
  REQUIRE(!r1->ok());
  CHECK(r1->error().code == Errc::permission_denied);
  CHECK(server.requests().empty());
  q.address_guard = [](const sockaddr* a) { return a->sa_family == AF_INET; };
  q.max_body_bytes = 1000;
  auto r2 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r2);
  REQUIRE(!r2->ok());
  CHECK(r2->error().code == Errc::limit_exceeded);
  q.max_body_bytes.reset();
  auto r3 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r3);
  REQUIRE(r3->ok());
  CHECK(r3->value().status == 200);
  CHECK(r3->value().body.size() == 10'000);
  q.url = "file:///etc/passwd";
  auto r4 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r4);
  REQUIRE(!r4->ok());
  CHECK(r4->error().code == Errc::invalid_argument);
}

TEST_CASE("http: a finished transfer's handle serves the next request with nothing carried over") {
  // Handles are reset and reused: a POST's body, headers and token, or a HEAD's "no body",
  // must not leak into the request after it.
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [](const MockRequest& m) {
    MockResponse r;
    r.headers = {{"content-type", "text/plain"}};
    r.body = m.method + " " + m.target + " " + m.body;
    r.chunked = false;
    return r;
  });
  http::Request post;
  post.url = server.base_url() + "/a";
  post.method = "POST";
  post.body = "first";
  post.headers = {{"x-one", "1"}};
  post.bearer_token = "tok";
  auto r1 = fh::test::run_co(ctx, http::fetch(post));
  REQUIRE(r1);
  REQUIRE(r1->ok());
  CHECK(r1->value().body == "POST /a first");
  http::Request head;
  head.url = server.base_url() + "/b";
  head.method = "HEAD";
  auto r2 = fh::test::run_co(ctx, http::fetch(head));
  REQUIRE(r2);
  REQUIRE(r2->ok());
  CHECK(r2->value().body.empty());
  http::Request get;
  get.url = server.base_url() + "/c";
  auto r3 = fh::test::run_co(ctx, http::fetch(get));
  REQUIRE(r3);
  REQUIRE(r3->ok());
  CHECK(r3->value().body == "GET /c ");
  REQUIRE(server.requests().size() == 3);
  CHECK(server.requests()[0].headers.count("x-one") == 1);
  CHECK(server.requests()[0].headers.count("authorization") == 1);
  for (size_t i = 1; i < 3; ++i) {
    CHECK(server.requests()[i].headers.count("x-one") == 0);
    CHECK(server.requests()[i].headers.count("authorization") == 0);
    CHECK(server.requests()[i].body.empty());
  }
  CHECK(server.requests()[1].method == "HEAD");
  CHECK(server.requests()[2].method == "GET");
}

TEST_CASE("replay: 300 concurrent streams on one loop thread all complete with the same result") {
  // Guards the edge-triggered wake-up path: a lost readiness edge stalls a stream forever.
  asio::io_context ctx;
  std::string bytes = read_fixture("openai_chat_stream_tool_calls_parallel.sse");
  MockServer server(ctx.get_executor(), [&](const MockRequest&) {
    MockResponse r;
    r.body = bytes;
    r.split = MockResponse::Split::random;
    return r;
  });
  auto provider = openai_at(server);
  json expected = comparable(fh::test::decode_openai(bytes).result);
  int ok = 0, same = 0, finished = 0;
  const int n = 300;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
      auto r = co_await provider->chat(hello(), [](const api::StreamEvent&) {});
      ++finished;
      if (r.ok()) {
        ++ok;
        same += comparable(r.value()) == expected;
      }
      if (finished == n) ctx.stop();
    }, asio::detached);
  }
  ctx.run_for(std::chrono::seconds(60));
  CHECK(finished == n);
  CHECK(ok == n);
  CHECK(same == n);
  auto st = fh::test::run_co(ctx, http::stats());
  REQUIRE(st);
  CHECK(st->running == 0);
  CHECK(st->started >= static_cast<uint64_t>(n));
}

TEST_CASE("http: sequential calls share one connection, before and after 400 calls at once") {
  // Past 128 transfers in flight the client spreads them over more curl multi handles; a caller
  // making one call at a time must still land on the first and reuse its connection.
  asio::io_context ctx;
  std::string body = read_fixture("openai_chat_response_text_basic.json");
  MockServer server(ctx.get_executor(), json_reply(body));
  auto provider = openai_at(server);
  auto sequential = [&] {
    for (int i = 0; i < 4; ++i) {
      auto r = fh::test::run_co(ctx, provider->chat(hello()));
      REQUIRE(r);
      REQUIRE(r->ok());
    }
  };
  sequential();
  CHECK(server.connections_accepted() == 1);
  const int n = 400;
  int ok = 0, finished = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
      auto r = co_await provider->chat(hello());
      ++finished;
      ok += r.ok();
      if (finished == n) ctx.stop();
    }, asio::detached);
  }
  ctx.restart();
  ctx.run_for(std::chrono::seconds(60));
  CHECK(finished == n);
  CHECK(ok == n);
  CHECK(server.connections_accepted() > 128);  // they did run side by side
  const size_t after_burst = server.connections_accepted();
  ctx.restart();
  sequential();
  CHECK(server.connections_accepted() == after_burst);
  auto st = fh::test::run_co(ctx, http::stats());
  REQUIRE(st);
  CHECK(st->running == 0);
  CHECK(st->multi_handles >= 4);  // 400 in flight, at most 128 per multi handle
}

TEST_CASE("http: proxy variables are honoured unless proxy_off - NO_PROXY bypasses") {
  asio::io_context ctx;
  MockServer proxy(ctx.get_executor(), [](const MockRequest&) {
    MockResponse r;
    r.headers = {{"content-type", "text/plain"}};
    r.body = "via proxy";
    r.chunked = false;
    return r;
  });
  ::setenv("http_proxy", proxy.base_url().c_str(), 1);
  ::unsetenv("no_proxy");
  ::unsetenv("NO_PROXY");
  http::Request q;
  q.url = "http://provider.invalid/v1/models";
  q.timeouts.connect = std::chrono::milliseconds(2000);
  auto r1 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r1);
  REQUIRE(r1->ok());
  CHECK(r1->value().body == "via proxy");
  REQUIRE(proxy.requests().size() == 1);
  CHECK(proxy.requests()[0].target == "http://provider.invalid/v1/models");  // absolute form: a proxy request
  ::setenv("NO_PROXY", "provider.invalid", 1);
  auto r2 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r2);
  CHECK(!r2->ok());  // went direct: the .invalid name does not resolve
  ::unsetenv("NO_PROXY");
  q.proxy_off = true;
  auto r3 = fh::test::run_co(ctx, http::fetch(q));
  REQUIRE(r3);
  CHECK(!r3->ok());
  CHECK(proxy.requests().size() == 1);
  ::unsetenv("http_proxy");
}

TEST_CASE("replay: text that is not UTF-8 goes out with U+FFFD, not an exception (OpenAI, Anthropic)") {
  // A Lua string is any bytes; the plan that sends "\xff" to mock/echo must also work here.
  asio::io_context ctx;
  std::string body;
  MockServer server(ctx.get_executor(), json_reply(body));
  api::ChatRequest req = hello();
  req.system = "sys \xfe";
  req.messages.push_back(api::Message::user("bad \xff byte"));
  api::ToolSpec t;
  t.name = "echo";
  t.parameters = {{"type", "object"}, {"description", "x\xc3"}};  // a truncated two-byte sequence
  req.tools.push_back(t);
  body = read_fixture("openai_chat_response_text_basic.json");
  auto r = fh::test::run_co(ctx, openai_at(server)->chat(req));
  REQUIRE(r);
  CHECK(r->ok());
  json sent = json::parse(server.requests().back().body);
  CHECK(sent["messages"][0]["content"] == "sys \xEF\xBF\xBD");
  CHECK(sent["messages"][2]["content"] == "bad \xEF\xBF\xBD byte");
  CHECK(sent["tools"][0]["function"]["parameters"]["description"] == "x\xEF\xBF\xBD");
  body = read_fixture("anthropic_message_tool_use.json");
  auto a = fh::test::run_co(ctx, anthropic_at(server)->chat(req));
  REQUIRE(a);
  CHECK(a->ok());
  CHECK(json::parse(server.requests().back().body)["system"].dump().find("sys \xEF\xBF\xBD") != std::string::npos);
}
