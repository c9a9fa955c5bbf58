// End to end for Gemini: the Beast mock server replays each recorded Gemini body byte for byte —
// whole, in 1-byte chunks and in random chunks — through fh::http + the Gemini client; results and
// events equal what the codec gives for the same bytes; the wire request has Gemini's shape.
#include <doctest/doctest.h>

#include "providers/gemini/client.hpp"
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
std::shared_ptr<api::Provider> gemini_at(const MockServer& s) {
  json cfg = {{"api_key", "g-key"}, {"base_url", s.base_url() + "/v1beta"}};
  return std::make_shared<provider_gemini::GeminiProvider>(provider_gemini::config_from(cfg).value());
}
api::ChatRequest hello(std::string model = "gemini-2.0-flash") {
  api::ChatRequest r;
  r.model = std::move(model);
  r.messages.push_back(api::Message::user("hello"));
  return r;
}
}  // namespace

TEST_CASE("replay: every Gemini stream / whole / 1-byte / random chunks / equals the codec") {
  std::vector<std::string> bodies = {read_fixture("gemini_stream_text_basic.sse"),
                                     read_fixture("gemini_afc_function_response_stream.turn0.reconstructed.sse"),
                                     read_fixture("gemini_afc_function_response_stream.turn1.reconstructed.sse"),
                                     read_fixture("gemini_chat_function_calling_stream.turn0.reconstructed.sse"),
                                     read_fixture("gemini_chat_function_calling_stream.turn1.reconstructed.sse")};
  std::string vertex = read_fixture("gemini_vertex_stream_function_call_partial_args.recording.json");
  bodies.push_back(fh::test::recording_body(vertex, 0));
  bodies.push_back(fh::test::recording_body(vertex, 1));
  asio::io_context ctx;
  MockResponse reply;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) { return reply; });
  auto provider = gemini_at(server);
  for (size_t i = 0; i < bodies.size(); ++i) {
    auto expected = fh::test::decode_gemini(bodies[i]);
    REQUIRE(expected.done);
    for (auto split : {MockResponse::Split::whole, MockResponse::Split::one_byte, MockResponse::Split::random}) {
      INFO("body " << i << " split " << static_cast<int>(split));
      reply = MockResponse{};
      reply.headers = {{"content-type", "text/event-stream"}};
      reply.body = bodies[i];
      reply.split = split;
      reply.seed = 7;
      std::vector<api::StreamEvent> events;
      auto r = fh::test::run_co(ctx, provider->chat(hello(), [&](const api::StreamEvent& e) { events.push_back(e); }));
      REQUIRE(r.has_value());
      REQUIRE(r->ok());
      CHECK(comparable(r->value()) == comparable(expected.result));
      REQUIRE(events.size() == expected.events.size());
      for (size_t k = 0; k < events.size(); ++k) CHECK(api::to_json(events[k]) == api::to_json(expected.events[k]));
    }
  }
  const auto& q = server.requests().at(0);
  CHECK(q.target == "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
  CHECK(q.headers.at("x-goog-api-key") == "g-key");
  CHECK(q.headers.count("authorization") == 0);
  json body = json::parse(q.body);
  CHECK(body["contents"][0] == json{{"role", "user"}, {"parts", {{{"text", "hello"}}}}});
}

TEST_CASE("replay: Gemini non-streamed bodies and HTTP errors through the client") {
  asio::io_context ctx;
  MockResponse reply;
  MockServer server(ctx.get_executor(), [&](const MockRequest&) { return reply; });
  auto provider = gemini_at(server);
  std::string rec = read_fixture("gemini_generate_content_system_instruction.recording.json");
  for (const std::string& body : {read_fixture("gemini_response_function_call_nonstream.json"), fh::test::recording_body(rec, 0),
                                  fh::test::recording_body(read_fixture("gemini_thinking_thought_part_max_tokens.recording.json"), 0)}) {
    reply = MockResponse{};
    reply.headers = {{"content-type", "application/json; charset=UTF-8"}};
    reply.body = body;
    reply.chunked = false;
    auto r = fh::test::run_co(ctx, provider->chat(hello("gemini-2.5-flash")));
    REQUIRE(r);
    REQUIRE(r->ok());
    CHECK(comparable(r->value()) == comparable(provider_gemini::decode_response(body).value()));
  }
  CHECK(server.requests().back().target == "/v1beta/models/gemini-2.5-flash:generateContent");
  // A 404 to a streaming request, as recorded, and a 429 with RetryInfo.
  reply = MockResponse{};
  reply.status = 404;
  reply.headers = {{"content-type", "text/event-stream"}};
  reply.body = fh::test::recording_body(read_fixture("gemini_error_404_not_found_stream.recording.json"), 0);
  std::vector<api::StreamEvent> events;
  auto r404 = fh::test::run_co(ctx, provider->chat(hello("custom-gemini-2.0-flash"), [&](const api::StreamEvent& e) { events.push_back(e); }));
  REQUIRE(r404);
  REQUIRE(!r404->ok());
  CHECK(r404->error().kind == api::ErrorKind::not_found);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == api::StreamEvent::Type::error);
  reply.status = 429;
  reply.headers = {{"content-type", "application/json; charset=UTF-8"}};
  reply.body = read_fixture("gemini_error_429_resource_exhausted.json");
  auto r429 = fh::test::run_co(ctx, provider->chat(hello()));
  REQUIRE(r429);
  REQUIRE(!r429->ok());
  CHECK(r429->error().kind == api::ErrorKind::rate_limit);
  CHECK(r429->error().retry_after_ms.value_or(0) == 26000);
  CHECK(r429->error().provider == "gemini");
}
