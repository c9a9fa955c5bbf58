// OpenAI codec: every recorded Chat Completions transcript decodes to the expected unified result,
// requests match the wire format of PROVIDERS.md §1, errors classify as §1.10 says.
#include <doctest/doctest.h>

#include "providers/openai/codec.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

using namespace fh;
using api::FinishReason;
using api::ErrorKind;
using fh::test::read_fixture;

namespace {
struct Call { std::string id, name; json args; };
struct Expect {
  const char* file;
  std::string text_prefix;
  size_t text_len;
  std::vector<Call> calls;
  FinishReason finish;
  std::string wire_finish;
  int64_t in, out;
};

void check_result(const api::ChatResult& r, const Expect& e) {
  INFO(std::string(e.file));
  CHECK(r.model == "gpt-4o-2024-08-06");
  CHECK(r.text.substr(0, e.text_prefix.size()) == e.text_prefix);
  CHECK(r.text.size() == e.text_len);
  REQUIRE(r.tool_calls.size() == e.calls.size());
  for (size_t i = 0; i < e.calls.size(); ++i) {
    CHECK(r.tool_calls[i].id == e.calls[i].id);
    CHECK(r.tool_calls[i].name == e.calls[i].name);
    CHECK(r.tool_calls[i].arguments == e.calls[i].args);
  }
  CHECK(r.finish_reason == e.finish);
  CHECK(r.provider_finish_reason == e.wire_finish);
  CHECK(r.usage.input_tokens == e.in);
  CHECK(r.usage.output_tokens == e.out);
  CHECK(r.usage.reasoning_tokens == 0);
}
}  // namespace

TEST_CASE("openai codec: every streamed transcript / whole and split / gives the expected result") {
  const std::vector<Expect> cases = {
      {"openai_chat_stream_finish_length_max_tokens_1.sse", "{\"", 2, {}, FinishReason::length, "length", 79, 1},
      {"openai_chat_stream_json_object.sse", "\n  {\n    \"location\": \"San Francisco, CA\"", 615, {}, FinishReason::stop, "stop", 19, 177},
      {"openai_chat_stream_json_schema.sse", "{\"city\":\"San Francisco\",\"temperature\":61,\"units\":\"f\"}", 53, {}, FinishReason::stop, "stop", 79, 14},
      {"openai_chat_stream_logprobs.sse", "Foo!", 4, {}, FinishReason::stop, "stop", 9, 2},
      {"openai_chat_stream_refusal.sse", "I'm sorry, I can't assist with that request.", 44, {}, FinishReason::refusal, "stop", 79, 11},
      {"openai_chat_stream_text_basic.sse", "I'm unable to provide real-time weather updates.", 159, {}, FinishReason::stop, "stop", 14, 30},
      {"openai_chat_stream_tool_call_nonstrict.sse", "", 0,
       {{"call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", {{"city", "New York City"}}}}, FinishReason::tool_calls, "tool_calls", 44, 16},
      {"openai_chat_stream_tool_call_single.sse", "", 0,
       {{"call_c91SqDXlYFuETYv8mUHzz6pp", "GetWeatherArgs", {{"city", "Edinburgh"}, {"country", "UK"}, {"units", "c"}}}},
       FinishReason::tool_calls, "tool_calls", 76, 24},
      {"openai_chat_stream_tool_call_strict_dict.sse", "", 0,
       {{"call_CTf1nWJLqSeRgDqaCG27xZ74", "get_weather", {{"city", "San Francisco"}, {"state", "CA"}}}},
       FinishReason::tool_calls, "tool_calls", 48, 19},
      {"openai_chat_stream_tool_calls_parallel.sse", "", 0,
       {{"call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", {{"city", "Edinburgh"}, {"country", "GB"}, {"units", "c"}}},
        {"call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", {{"ticker", "AAPL"}, {"exchange", "NASDAQ"}}}},
       FinishReason::tool_calls, "tool_calls", 149, 60},
  };
  for (const auto& e : cases) {
    std::string bytes = read_fixture(e.file);
    for (int size : {0, 1, -5, -77}) {
      auto d = fh::test::decode_openai(bytes, size);
      CHECK(d.done);
      CHECK(!d.error);
      check_result(d.result, e);
    }
  }
}

TEST_CASE("openai codec: tool-call events open once per index and close before finish") {
  auto d = fh::test::decode_openai(read_fixture("openai_chat_stream_tool_calls_parallel.sse"));
  using T = api::StreamEvent::Type;
  int starts = 0, ends = 0;
  size_t finish_at = 0, last_end = 0;
  for (size_t i = 0; i < d.events.size(); ++i) {
    if (d.events[i].type == T::tool_call_start) ++starts;
    if (d.events[i].type == T::tool_call_end) { ++ends; last_end = i; }
    if (d.events[i].type == T::finish) finish_at = i;
  }
  CHECK(starts == 2);
  CHECK(ends == 2);
  CHECK(last_end < finish_at);
  CHECK(d.events.back().type == T::usage);  // the choices: [] chunk comes last
}

TEST_CASE("openai codec: every non-streamed response gives the expected result") {
  const std::vector<Expect> cases = {
      {"openai_chat_response_finish_length.json", "{\"", 2, {}, FinishReason::length, "length", 79, 1},
      {"openai_chat_response_json_schema.json", "{\"city\":\"San Francisco\",\"temperature\":65,\"units\":\"f\"}", 53, {}, FinishReason::stop, "stop", 79, 14},
      {"openai_chat_response_json_schema_n3.json", "{\"city\":\"San Francisco\",\"temperature\":64,\"units\":\"f\"}", 53, {}, FinishReason::stop, "stop", 79, 44},
      {"openai_chat_response_refusal.json", "I'm very sorry, but I can't assist with that.", 45, {}, FinishReason::refusal, "stop", 79, 12},
      {"openai_chat_response_text_basic.json", "I'm unable to provide real-time weather updates. To get the ", 0, {}, FinishReason::stop, "stop", 14, 37},
      {"openai_chat_response_tool_call_single.json", "", 0,
       {{"call_Y6qJ7ofLgOrBnMD5WbVAeiRV", "GetWeatherArgs", {{"city", "Edinburgh"}, {"country", "UK"}, {"units", "c"}}}},
       FinishReason::tool_calls, "tool_calls", 76, 24},
      {"openai_chat_response_tool_call_strict.json", "", 0,
       {{"call_CUdUoJpsWWVdxXntucvnol1M", "get_weather", {{"city", "San Francisco"}, {"state", "CA"}}}},
       FinishReason::tool_calls, "tool_calls", 48, 19},
      {"openai_chat_response_tool_calls_parallel.json", "", 0,
       {{"call_fdNz3vOBKYgOIpMdWotB9MjY", "GetWeatherArgs", {{"city", "Edinburgh"}, {"country", "GB"}, {"units", "c"}}},
        {"call_h1DWI1POMJLb0KwIyQHWXD4p", "get_stock_price", {{"ticker", "AAPL"}, {"exchange", "NASDAQ"}}}},
       FinishReason::tool_calls, "tool_calls", 149, 60},
  };
  for (auto e : cases) {
    auto r = provider_openai::decode_response(read_fixture(e.file));
    REQUIRE(r.ok());
    if (e.text_len == 0 && !e.text_prefix.empty()) e.text_len = r->text.size();  // long text: prefix only
    check_result(r.value(), e);
  }
}

TEST_CASE("openai codec: request body follows the Chat Completions wire format") {
  api::ChatRequest req;
  req.model = "gpt-4o-mini";
  req.system = "Be terse.";
  req.messages.push_back(api::Message::user("What's the capital of the UK?"));
  api::Message img = api::Message::user("What is in this image?");
  img.content.push_back({api::ContentPart::Kind::image, {}, {}, "image/png", "iVBORw0KGgo="});
  req.messages.push_back(img);
  api::Message a;
  a.role = api::Role::assistant;
  a.tool_calls.push_back({"call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", {{"country", "UK"}}, nullptr});
  req.messages.push_back(a);
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = "call_ZR5UUuTt3pf61kjwAJIYdVMj";
  t.content.push_back({api::ContentPart::Kind::text, "London", {}, {}, {}});
  req.messages.push_back(t);
  req.tools.push_back({"get_capital", "Capital of a country",
                       {{"type", "object"}, {"properties", {{"country", {{"type", "string"}}}}}, {"required", {"country"}}}});
  req.tool_choice = json{{"name", "get_capital"}};
  req.response_schema = {{"title", "Answer"}, {"type", "object"}};
  req.max_tokens = 100;
  req.temperature = 0.0;
  req.extra = {{"parallel_tool_calls", false}};

  json body = provider_openai::build_request(req, {.stream = true});
  CHECK(body["model"] == "gpt-4o-mini");
  CHECK(body["stream"] == true);
  CHECK(body["stream_options"] == json{{"include_usage", true}});
  CHECK(body["max_completion_tokens"] == 100);
  CHECK(body["temperature"] == 0.0);
  CHECK(body["parallel_tool_calls"] == false);
  const json& m = body["messages"];
  REQUIRE(m.size() == 5);
  CHECK(m[0] == json{{"role", "system"}, {"content", "Be terse."}});
  CHECK(m[1] == json{{"role", "user"}, {"content", "What's the capital of the UK?"}});
  CHECK(m[2]["content"][1] == json{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}});
  CHECK(m[3]["content"].is_null());
  CHECK(m[3]["tool_calls"][0] == json{{"id", "call_ZR5UUuTt3pf61kjwAJIYdVMj"}, {"type", "function"},
                                      {"function", {{"name", "get_capital"}, {"arguments", "{\"country\":\"UK\"}"}}}});
  CHECK(m[4] == json{{"role", "tool"}, {"tool_call_id", "call_ZR5UUuTt3pf61kjwAJIYdVMj"}, {"content", "London"}});
  CHECK(body["tools"][0]["type"] == "function");
  CHECK(body["tools"][0]["function"]["name"] == "get_capital");
  CHECK(body["tools"][0]["function"]["parameters"]["required"] == json{"country"});
  CHECK(body["tool_choice"] == json{{"type", "function"}, {"function", {{"name", "get_capital"}}}});
  CHECK(body["response_format"]["type"] == "json_schema");
  CHECK(body["response_format"]["json_schema"]["name"] == "Answer");

  json plain = provider_openai::build_request(req, {.stream = false, .system_role = "developer", .max_tokens_field = "max_tokens"});
  CHECK(!plain.contains("stream"));
  CHECK(!plain.contains("stream_options"));
  CHECK(plain["messages"][0]["role"] == "developer");
  CHECK(plain["max_tokens"] == 100);
}

TEST_CASE("openai codec: error bodies classify into kind / retryable and retry-after") {
  using std::chrono::system_clock;
  http::Headers none;
  auto e401 = provider_openai::decode_error(401, read_fixture("openai_error_401_invalid_api_key.json"), none);
  CHECK(e401.kind == ErrorKind::auth);
  CHECK(!e401.retryable);
  CHECK(e401.message.find("Incorrect API key") != std::string::npos);
  auto e403 = provider_openai::decode_error(403, read_fixture("openai_error_403_unsupported_country.json"), none);
  CHECK(e403.kind == ErrorKind::permission);
  auto quota = provider_openai::decode_error(429, read_fixture("openai_error_429_insufficient_quota.json"),
                                             {{"retry-after", "1"}});
  CHECK(quota.kind == ErrorKind::rate_limit);
  CHECK(!quota.retryable);
  CHECK(!quota.retry_after_ms);
  auto tokens = provider_openai::decode_error(429, read_fixture("openai_error_429_tokens_request_too_large.json"), none);
  CHECK(tokens.kind == ErrorKind::rate_limit);
  CHECK(tokens.retryable);
  auto with_header = provider_openai::decode_error(429, R"({"error":{"message":"Rate limit reached. Please try again in 644ms.","type":"requests","param":null,"code":"rate_limit_exceeded"}})", none);
  REQUIRE(with_header.retry_after_ms);
  CHECK(*with_header.retry_after_ms == 644);
  auto hdr = provider_openai::decode_error(429, "{}", {{"retry-after", "2"}});
  REQUIRE(hdr.retry_after_ms);
  CHECK(*hdr.retry_after_ms == 2000);
  auto ms = provider_openai::decode_error(503, "not json", {{"retry-after-ms", "250"}});
  CHECK(ms.kind == ErrorKind::overloaded);
  CHECK(ms.retryable);
  CHECK(*ms.retry_after_ms == 250);
  auto e400 = provider_openai::decode_error(400, read_fixture("openai_chat_error_400_param_code_null.json"), none);
  CHECK(e400.kind == ErrorKind::invalid_request);
  CHECK(!e400.retryable);
  auto ctx = provider_openai::decode_error(400, R"({"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})", none);
  CHECK(ctx.kind == ErrorKind::context_length);
  auto e500 = provider_openai::decode_error(500, "", {{"x-should-retry", "false"}});
  CHECK(e500.kind == ErrorKind::server);
  CHECK(!e500.retryable);
}

TEST_CASE("openai codec: an error object inside a 200 stream and a malformed chunk end the stream") {
  std::string s = read_fixture("openai_chat_stream_text_basic.sse");
  std::string cut = s.substr(0, s.find("\n\n", 600) + 2);
  auto d = fh::test::decode_openai(cut + "data: {\"error\": {\"message\": \"The server had an error\", \"type\": \"server_error\", \"param\": null, \"code\": null}}\n\n");
  REQUIRE(d.error);
  CHECK(d.error->kind == ErrorKind::server);
  CHECK(d.error->retryable);
  CHECK(!d.done);
  auto m = fh::test::decode_openai(cut + "data: {\"id\": \"x\", \"choices\": [\n\n");
  REQUIRE(m.error);
  CHECK(m.error->message.find("not JSON") != std::string::npos);
  CHECK(!m.result.text.empty());  // what arrived before stays assembled
}

TEST_CASE("openai codec: servers that repeat the tool name or send whole calls still assemble once") {
  std::string s =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\":1}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n"
      "data: [DONE]\n\n";
  auto d = fh::test::decode_openai(s, 1);
  REQUIRE(d.result.tool_calls.size() == 1);
  CHECK(d.result.tool_calls[0].name == "f");
  CHECK(d.result.tool_calls[0].arguments == json{{"a", 1}});
  CHECK(d.result.finish_reason == FinishReason::tool_calls);  // the contract's rule
  CHECK(d.result.provider_finish_reason == "stop");
  CHECK(d.result.usage.cached_input_tokens == 2);
  CHECK(d.result.usage.reasoning_tokens == 1);
}

TEST_CASE("openai codec: models list") {
  auto ids = provider_openai::decode_models(R"({"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"}]})");
  REQUIRE(ids.ok());
  CHECK(ids.value() == std::vector<std::string>{"gpt-4o-mini"});
  CHECK(!provider_openai::decode_models("[]").ok());
}
