// Anthropic codec: every recorded Messages transcript decodes to the expected unified result,
// requests match the captured wire request (PROVIDERS.md §3), errors classify as §3.6 says.
#include <doctest/doctest.h>

#include "providers/anthropic/codec.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

using namespace fh;
using api::ErrorKind;
using api::FinishReason;
using fh::test::read_fixture;

namespace {
struct AnthropicExpect {
  const char* file;
  std::string model, text_prefix;
  size_t text_len;
  std::vector<std::tuple<std::string, std::string, json>> calls;
  FinishReason finish;
  std::string wire_finish;
  int64_t in, out;
};
}  // namespace

TEST_CASE("anthropic codec: every streamed transcript / whole and split / gives the expected result") {
  const std::vector<AnthropicExpect> cases = {
      {"anthropic_stream_structured_output_json.sse", "claude-sonnet-4-5-20250929", "[12345,67890]", 13, {},
       FinishReason::stop, "end_turn", 135, 10},
      {"anthropic_stream_text_after_tool_result.sse", "claude-haiku-4-5-20251001",
       "The weather in San Francisco, CA is currently:\n- **Temperature:** 68\xC2\xB0" "F", 118, {}, FinishReason::stop, "end_turn", 770, 38},
      {"anthropic_stream_text_basic.sse", "claude-3-opus-latest", "Hello there!", 12, {}, FinishReason::stop, "end_turn", 11, 6},
      {"anthropic_stream_text_then_tool_use.sse", "claude-sonnet-4-20250514", "I'll check the current weather in Paris for you.", 48,
       {{"toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {{"location", "Paris"}}}}, FinishReason::tool_calls, "tool_use", 377, 65},
      {"anthropic_stream_tool_use_only.sse", "claude-haiku-4-5-20251001", "", 0,
       {{"toolu_018acGYLtfR52q9yDbWaEdQZ", "get_weather", {{"location", "San Francisco, CA"}, {"units", "f"}}}},
       FinishReason::tool_calls, "tool_use", 656, 74},
  };
  for (const auto& e : cases) {
    std::string bytes = read_fixture(e.file);
    for (int size : {0, 1, -3, -64}) {
      INFO(std::string(e.file) << " split " << size);
      auto d = fh::test::decode_anthropic(bytes, size);
      CHECK(d.done);
      CHECK(!d.error);
      const auto& r = d.result;
      CHECK(r.model == e.model);
      CHECK(r.text.substr(0, e.text_prefix.size()) == e.text_prefix);
      CHECK(r.text.size() == e.text_len);
      REQUIRE(r.tool_calls.size() == e.calls.size());
      for (size_t i = 0; i < e.calls.size(); ++i) {
        CHECK(r.tool_calls[i].id == std::get<0>(e.calls[i]));
        CHECK(r.tool_calls[i].name == std::get<1>(e.calls[i]));
        CHECK(r.tool_calls[i].arguments == std::get<2>(e.calls[i]));
      }
      CHECK(r.finish_reason == e.finish);
      CHECK(r.provider_finish_reason == e.wire_finish);
      CHECK(r.usage.input_tokens == e.in);
      CHECK(r.usage.output_tokens == e.out);
    }
  }
}

TEST_CASE("anthropic codec: a stream cut by max_tokens inside tool JSON keeps the raw fragment") {
  auto d = fh::test::decode_anthropic(read_fixture("anthropic_stream_tool_use_truncated_max_tokens.sse"), -9);
  CHECK(d.done);
  CHECK(d.result.finish_reason == FinishReason::tool_calls);  // it carries a tool call
  CHECK(d.result.provider_finish_reason == "max_tokens");
  CHECK(d.result.text.size() == 135);
  REQUIRE(d.result.tool_calls.size() == 1);
  CHECK(d.result.tool_calls[0].name == "make_file");
  REQUIRE(d.result.tool_calls[0].arguments.is_string());  // invalid JSON is kept as the raw string
  CHECK(d.result.tool_calls[0].arguments.get<std::string>().rfind("{\"filename\": \"taxes.txt", 0) == 0);
  CHECK(d.result.usage.input_tokens == 450);
  CHECK(d.result.usage.output_tokens == 124);
  int ends = 0;
  for (const auto& e : d.events) ends += e.type == api::StreamEvent::Type::tool_call_end;
  CHECK(ends == 1);  // closed at message_delta although no content_block_stop came
}

TEST_CASE("anthropic codec: empty input_json_delta total is {} - cache tokens add to the input total") {
  std::string s =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":20,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think.\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"SIG==\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"now\",\"input\":{}}}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":42}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  auto d = fh::test::decode_anthropic(s, 1);
  CHECK(d.done);
  REQUIRE(d.result.tool_calls.size() == 1);
  CHECK(d.result.tool_calls[0].id == "toolu_1");
  CHECK(d.result.tool_calls[0].arguments == json::object());
  CHECK(d.result.reasoning == "Let me think.");
  CHECK(d.result.usage.input_tokens == 130);
  CHECK(d.result.usage.cached_input_tokens == 100);
  CHECK(d.result.usage.cache_write_tokens == 20);
  CHECK(d.result.usage.output_tokens == 42);
  // The thinking block (with its signature) goes back first when the turn is replayed.
  const json& blocks = d.result.provider_data["anthropic"]["thinking_blocks"];
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0] == json{{"type", "thinking"}, {"thinking", "Let me think."}, {"signature", "SIG=="}});
  api::ChatRequest req;
  req.model = "m";
  req.messages.push_back(api::Message::user("time?"));
  api::Message a;
  a.role = api::Role::assistant;
  a.tool_calls = d.result.tool_calls;
  a.provider_data = d.result.provider_data;
  req.messages.push_back(a);
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = "toolu_1";
  t.content.push_back({api::ContentPart::Kind::text, "noon", {}, {}, {}});
  req.messages.push_back(t);
  json body = provider_anthropic::build_request(req, {});
  CHECK(body["messages"][1]["content"][0] == blocks[0]);
  CHECK(body["messages"][1]["content"][1]["type"] == "tool_use");
  CHECK(body["messages"][1]["content"][1]["input"] == json::object());
}

TEST_CASE("anthropic codec: the non-streamed tool_use message") {
  auto r = provider_anthropic::decode_response(read_fixture("anthropic_message_tool_use.json"));
  REQUIRE(r.ok());
  CHECK(r->model == "claude-haiku-4-5-20251001");
  CHECK(r->text.empty());
  REQUIRE(r->tool_calls.size() == 1);
  CHECK(r->tool_calls[0].id == "toolu_01GHndag5wQmbzNihYmV2UBj");
  CHECK(r->tool_calls[0].name == "get_weather");
  CHECK(r->tool_calls[0].arguments == json{{"location", "San Francisco, CA"}, {"units", "c"}});
  CHECK(r->finish_reason == FinishReason::tool_calls);
  CHECK(r->provider_finish_reason == "tool_use");
  CHECK(r->usage.input_tokens == 659);
  CHECK(r->usage.output_tokens == 74);
}

TEST_CASE("anthropic codec: the request matches the captured tool round trip") {
  // The recorded request of anthropic_stream_text_after_tool_result (in its .source.txt).
  std::string src = read_fixture("anthropic_stream_text_after_tool_result.source.txt");
  auto open = src.find('{');
  auto close = src.find("\nnotes:");
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  json captured = json::parse(src.substr(open, close - open))["body"];
  // The SDK echoed the server's `caller` field back; we do not invent it.
  captured["messages"][1]["content"][0].erase("caller");

  api::ChatRequest req;
  req.model = "claude-haiku-4-5";
  req.max_tokens = 1024;
  req.messages.push_back(api::Message::user("What is the weather in SF?"));
  api::Message a;
  a.role = api::Role::assistant;
  a.tool_calls.push_back({"toolu_018acGYLtfR52q9yDbWaEdQZ", "get_weather", {{"location", "San Francisco, CA"}, {"units", "f"}}, nullptr});
  req.messages.push_back(a);
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = "toolu_018acGYLtfR52q9yDbWaEdQZ";
  t.content.push_back({api::ContentPart::Kind::text,
                       "{\"location\": \"San Francisco, CA\", \"temperature\": \"68\\u00b0F\", \"condition\": \"Sunny\"}", {}, {}, {}});
  req.messages.push_back(t);
  const json& tool = captured["tools"][0];
  req.tools.push_back({tool["name"], tool["description"], tool["input_schema"]});

  json body = provider_anthropic::build_request(req, {.stream = true});
  CHECK(body == captured);
}

TEST_CASE("anthropic codec: system / merged turns / images / tool_choice / output format") {
  api::ChatRequest req;
  req.model = "claude-haiku-4-5";
  req.system = "Be terse.";
  api::Message sys;
  sys.role = api::Role::system;
  sys.content.push_back({api::ContentPart::Kind::text, "Answer in French.", {}, {}, {}});
  req.messages.push_back(sys);
  req.messages.push_back(api::Message::user("one"));
  api::Message u2 = api::Message::user("two");
  u2.content.push_back({api::ContentPart::Kind::image, {}, "https://example.com/a.png", {}, {}});
  req.messages.push_back(u2);
  req.tool_choice = "required";
  req.response_schema = {{"type", "object"}};
  req.stop = {"END"};
  json body = provider_anthropic::build_request(req, {});
  CHECK(body["system"] == "Be terse.\n\nAnswer in French.");
  CHECK(body["max_tokens"] == 4096);
  REQUIRE(body["messages"].size() == 1);  // consecutive user turns merge
  const json& c = body["messages"][0]["content"];
  REQUIRE(c.size() == 3);
  CHECK(c[0] == json{{"type", "text"}, {"text", "one"}});
  CHECK(c[2] == json{{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://example.com/a.png"}}}});
  CHECK(body["tool_choice"] == json{{"type", "any"}});
  CHECK(body["output_config"]["format"]["type"] == "json_schema");
  CHECK(body["stop_sequences"] == json{"END"});
  CHECK(!body.contains("stream"));
}

TEST_CASE("anthropic codec: errors classify / 529 and x-should-retry / reset timestamps") {
  using namespace std::chrono;
  http::Headers none;
  auto over = provider_anthropic::decode_error(529, read_fixture("anthropic_error_529_overloaded.json"), none);
  CHECK(over.kind == ErrorKind::overloaded);
  CHECK(over.retryable);
  CHECK(over.message == "Overloaded");
  auto api500 = provider_anthropic::decode_error(500, read_fixture("anthropic_error_500_api_error.json"), none);
  CHECK(api500.kind == ErrorKind::server);
  CHECK(api500.retryable);
  auto bad = provider_anthropic::decode_error(400, read_fixture("anthropic_error_400_tool_result_without_tool_use.json"),
                                              {{"x-should-retry", "false"}});
  CHECK(bad.kind == ErrorKind::invalid_request);
  CHECK(!bad.retryable);
  auto effort = provider_anthropic::decode_error(400, read_fixture("anthropic_error_400_invalid_request_effort.json"), none);
  CHECK(effort.kind == ErrorKind::invalid_request);
  auto now = system_clock::from_time_t(1755780000);  // 2025-08-21T12:40:00Z
  auto rl = provider_anthropic::decode_error(429, read_fixture("anthropic_error_429_rate_limit.json"),
                                             {{"anthropic-ratelimit-requests-reset", "2025-08-21T12:40:59Z"},
                                              {"anthropic-ratelimit-tokens-reset", "2025-08-21T12:40:30Z"}},
                                             now);
  CHECK(rl.kind == ErrorKind::rate_limit);
  CHECK(rl.retryable);
  REQUIRE(rl.retry_after_ms);
  CHECK(*rl.retry_after_ms == 30'000);
  auto ra = provider_anthropic::decode_error(429, read_fixture("anthropic_error_429_rate_limit.json"), {{"retry-after", "3"}}, now);
  CHECK(*ra.retry_after_ms == 3000);
}

TEST_CASE("anthropic codec: an error event after a 200 ends the stream with that error") {
  std::string s = read_fixture("anthropic_stream_text_then_tool_use.sse");
  std::string head = s.substr(0, s.find("event: content_block_stop"));
  auto d = fh::test::decode_anthropic(head + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", 1);
  REQUIRE(d.error);
  CHECK(d.error->kind == ErrorKind::overloaded);
  CHECK(d.error->retryable);
  CHECK(!d.done);
  CHECK(d.result.text == "I'll check the current weather in Paris for you.");
}

TEST_CASE("anthropic codec: parallel_tool_calls false becomes disable_parallel_tool_use") {
  api::ChatRequest req;
  req.model = "m";
  req.messages.push_back(api::Message::user("x"));
  req.tools.push_back({"f", "", {{"type", "object"}}});
  req.extra = {{"parallel_tool_calls", false}, {"top_k", 5}};
  json body = provider_anthropic::build_request(req, {});
  CHECK(body["tool_choice"] == json{{"type", "auto"}, {"disable_parallel_tool_use", true}});
  CHECK(body["top_k"] == 5);
  CHECK(!body.contains("parallel_tool_calls"));
}
