// Mistral dialect and OpenAI-compatible presets: fixtures decode to the unified result written out
// by hand; requests get Mistral's rules (9-character ids, "any", random_seed, max_tokens); a
// finishing chunk carries usage; thinking chunks become reasoning.
#include <doctest/doctest.h>

#include "providers/mistral/codec.hpp"
#include "providers/openai/compat.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

using namespace fh;
using fh::test::read_fixture;

TEST_CASE("mistral: tool-call response fixture decodes") {
  auto r = provider_openai::decode_response(provider_mistral::adapt_payload(read_fixture("mistral_chat_response_tool_call.json")));
  REQUIRE(r.ok());
  REQUIRE(r->tool_calls.size() == 1);
  CHECK(r->tool_calls[0].id == "FI5qQGzDE");
  CHECK(r->tool_calls[0].name == "get_image");
  CHECK(r->tool_calls[0].arguments == json::object());
  CHECK(r->finish_reason == api::FinishReason::tool_calls);
  CHECK(r->usage.input_tokens == 65);
  CHECK(r->usage.output_tokens == 16);
  CHECK(r->model == "pixtral-12b-latest");
  CHECK(r->text.empty());
}

TEST_CASE("mistral: flat error bodies (2024 and 2026) and 422 detail") {
  for (const char* f : {"mistral_error_400_tool_call_id_2024.json", "mistral_error_400_tool_call_id_2026.json"}) {
    auto e = provider_openai::decode_error(400, provider_mistral::adapt_payload(read_fixture(f)), {});
    CHECK(e.kind == api::ErrorKind::invalid_request);
    CHECK(!e.retryable);
    CHECK(e.message.find("must be a-z, A-Z, 0-9, with a length of 9") != std::string::npos);
  }
  auto v = provider_openai::decode_error(
      422, provider_mistral::adapt_payload(R"({"detail":[{"loc":["body","model"],"msg":"Field required","type":"missing"}]})"), {});
  CHECK(v.kind == api::ErrorKind::invalid_request);
  CHECK(v.message == "Field required");
  auto rl = provider_openai::decode_error(429, provider_mistral::adapt_payload(R"({"object":"error","message":"Requests rate limit exceeded","type":"rate_limited","param":null,"code":"1300"})"), {});
  CHECK(rl.kind == api::ErrorKind::rate_limit);
  CHECK(rl.retryable);
}

TEST_CASE("mistral: stream with thinking chunks / whole tool call / usage on the finishing chunk") {
  // The documented chunk shapes (PROVIDERS.md §5), one per event.
  std::string sse =
      "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"model\":\"magistral-medium-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":\"Okay\"}]}]},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"model\":\"magistral-medium-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"model\":\"magistral-medium-latest\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"D681PevKs\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\": 1}\"},\"index\":0}]},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"model\":\"magistral-medium-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":10,\"total_tokens\":242,\"completion_tokens\":232}}\n\n"
      "data: [DONE]\n\n";
  for (int split : {0, 1, -5}) {
    provider_openai::StreamDecoder dec;
    auto d = fh::test::decode_with(sse, split, dec, [](auto& c, const http::SseEvent& e, const auto& emit) {
      c.on_data(e.data == "[DONE]" ? e.data : provider_mistral::adapt_payload(e.data), emit);
    });
    CHECK(d.done);
    CHECK(d.result.reasoning == "Okay");
    CHECK(d.result.text == "Hi");
    REQUIRE(d.result.tool_calls.size() == 1);
    CHECK(d.result.tool_calls[0].id == "D681PevKs");
    CHECK(d.result.tool_calls[0].arguments == json{{"x", 1}});
    CHECK(d.result.usage.input_tokens == 10);
    CHECK(d.result.usage.output_tokens == 232);
  }
}

TEST_CASE("mistral: ids remapped stably to 9 letters/digits - request rules") {
  CHECK(provider_mistral::tool_call_id("FI5qQGzDE") == "FI5qQGzDE");
  for (const char* foreign : {"call_fdNz3vOBKYgOIpMdWotB9MjY", "toolu_01VpEm654HvfMoRcrE3Hgdc6", "call_0123456789ab", "abc123", ""}) {
    std::string id = provider_mistral::tool_call_id(foreign);
    CHECK(provider_mistral::valid_tool_call_id(id));
    CHECK(id == provider_mistral::tool_call_id(foreign));
  }
  CHECK(provider_mistral::tool_call_id("call_a") != provider_mistral::tool_call_id("call_b"));
  api::ChatRequest req;
  req.model = "mistral-large-latest";
  req.messages.push_back(api::Message::user("x"));
  api::Message a;
  a.role = api::Role::assistant;
  a.tool_calls.push_back({"toolu_01VpEm654HvfMoRcrE3Hgdc6", "f", json{{"q", 1}}, nullptr});
  req.messages.push_back(a);
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = "toolu_01VpEm654HvfMoRcrE3Hgdc6";
  t.content.push_back({api::ContentPart::Kind::text, "ok", "", "", ""});
  req.messages.push_back(t);
  req.tool_choice = "required";
  req.seed = 7;
  req.max_tokens = 50;
  provider_openai::WireOptions w;
  w.stream = true;
  json body = provider_openai::build_request(req, w);
  provider_mistral::adapt_request(body, req);
  std::string id = body["messages"][1]["tool_calls"][0]["id"];
  CHECK(provider_mistral::valid_tool_call_id(id));
  CHECK(body["messages"][2]["tool_call_id"] == id);
  CHECK(body["messages"][2]["name"] == "f");
  CHECK(body["tool_choice"] == "any");
  CHECK(body["random_seed"] == 7);
  CHECK(!body.contains("seed"));
  CHECK(body["max_tokens"] == 50);
  CHECK(!body.contains("max_completion_tokens"));
  CHECK(!body.contains("stream_options"));
  auto cfg = provider_mistral::config_from(json{{"api_key", "m"}}).value();
  CHECK(cfg.name == "mistral");
  CHECK(cfg.base_url == "https://api.mistral.ai/v1");
}

TEST_CASE("compat: ollama fixture decodes - presets - context warning - remote images refused") {
  auto r = provider_openai::decode_response(read_fixture("ollama_openai_compat_response_json_schema.json"));
  REQUIRE(r.ok());
  CHECK(r->text == "{ \"city\": \"Paris\", \"country\": \"France\" }");
  CHECK(json::parse(r->text) == json{{"city", "Paris"}, {"country", "France"}});
  CHECK(r->reasoning.rfind("Okay, the user is asking for the capital of France.", 0) == 0);
  CHECK(r->usage.input_tokens == 136);
  CHECK(r->usage.output_tokens == 15);
  CHECK(r->model == "qwen3:0.6b");
  CHECK(r->finish_reason == api::FinishReason::stop);

  ::setenv("OPENAI_API_KEY", "sk-must-not-leak", 1);
  auto o = provider_openai::compat_config("ollama", json{{"context_tokens", 100}});
  REQUIRE(o.ok());
  CHECK(o->api_key.empty());
  CHECK(o->wire.max_tokens_field == "max_tokens");
  CHECK(o->base_url.find("/v1") != std::string::npos);
  CHECK(provider_openai::compat_config("llamacpp", nullptr)->base_url == "http://127.0.0.1:8080/v1");
  CHECK(provider_openai::compat_config("vllm", nullptr)->base_url == "http://127.0.0.1:8000/v1");
  CHECK(!provider_openai::compat_config("compat", nullptr).ok());
  CHECK(provider_openai::compat_config("compat", json{{"base_url", "http://h:1/v1"}, {"api_key", "k"}})->api_key == "k");
  ::unsetenv("OPENAI_API_KEY");

  api::ChatRequest big;
  big.messages.push_back(api::Message::user(std::string(2000, 'x')));
  std::vector<std::string> warnings;
  CHECK(!o->dialect.check(big, warnings));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("context") != std::string::npos);
  warnings.clear();
  api::ChatRequest small;
  small.messages.push_back(api::Message::user("hi"));
  CHECK(!o->dialect.check(small, warnings));
  CHECK(warnings.empty());
  api::Message img;
  img.content.push_back({api::ContentPart::Kind::image, "", "https://example.com/a.png", "", ""});
  small.messages.push_back(img);
  auto refused = o->dialect.check(small, warnings);
  REQUIRE(refused);
  CHECK(refused->kind == api::ErrorKind::invalid_request);
}
