// Gemini codec: every recorded Gemini fixture decodes to the unified result written out by hand
// from the fixture (whole, 1-byte and random pieces); requests have the wire shape; errors classify.
#include <doctest/doctest.h>

#include "providers/gemini/codec.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

using namespace fh;
using fh::test::read_fixture;
using api::FinishReason;

namespace {
// Decodes at every split and checks all splits agree; returns the whole-body decode.
fh::test::Decoded decode_all_splits(const std::string& bytes) {
  auto whole = fh::test::decode_gemini(bytes);
  for (int split : {1, 7, -3}) {
    auto d = fh::test::decode_gemini(bytes, split);
    CHECK(api::to_json(d.result) == api::to_json(whole.result));
    CHECK(d.events.size() == whole.events.size());
  }
  return whole;
}
}  // namespace

TEST_CASE("gemini: stream text basic (raw capture with \\r\\n\\r\\n separators)") {
  auto d = decode_all_splits(read_fixture("gemini_stream_text_basic.sse"));
  CHECK(d.done);
  CHECK(!d.error);
  CHECK(d.result.text == "The capital of France is Paris.\n");
  CHECK(d.result.model == "gemini-2.0-flash-exp");
  CHECK(d.result.finish_reason == FinishReason::stop);
  CHECK(d.result.provider_finish_reason == "STOP");
  // Usage is cumulative per chunk; the last chunk wins (13 + 8, not the earlier 15).
  CHECK(d.result.usage.input_tokens == 13);
  CHECK(d.result.usage.output_tokens == 8);
}

TEST_CASE("gemini: streamed function calls get stable synthesized ids") {
  std::string rec = read_fixture("gemini_chat_function_calling_stream.recording.json");
  for (size_t turn : {0u, 1u}) {
    auto d = decode_all_splits(fh::test::recording_body(rec, turn));
    REQUIRE(d.result.tool_calls.size() == 1);
    const auto& c = d.result.tool_calls[0];
    CHECK(c.name == "customDivide");
    CHECK(c.arguments == json{{"denominator", 2}, {"numerator", turn == 0 ? 100 : 50}});
    CHECK(c.id.rfind("call_", 0) == 0);
    CHECK(c.id.size() == 17);
    CHECK(d.result.finish_reason == FinishReason::tool_calls);
    CHECK(d.result.provider_finish_reason == "STOP");
    CHECK(d.result.usage.input_tokens == (turn == 0 ? 21 : 38));
    CHECK(d.result.usage.output_tokens == 6);
  }
  // Same bytes, same id; another response, another id.
  auto a = fh::test::decode_gemini(fh::test::recording_body(rec, 0));
  auto b = fh::test::decode_gemini(fh::test::recording_body(rec, 0), 1);
  auto c = fh::test::decode_gemini(fh::test::recording_body(rec, 1));
  CHECK(a.result.tool_calls[0].id == b.result.tool_calls[0].id);
  CHECK(a.result.tool_calls[0].id != c.result.tool_calls[0].id);
  // The reconstructed .sse files are the same data.
  auto r0 = fh::test::decode_gemini(read_fixture("gemini_chat_function_calling_stream.turn0.reconstructed.sse"));
  CHECK(api::to_json(r0.result) == api::to_json(a.result));
}

TEST_CASE("gemini: afc recording - a call then text after the function response") {
  std::string rec = read_fixture("gemini_afc_function_response_stream.recording.json");
  auto t0 = decode_all_splits(read_fixture("gemini_afc_function_response_stream.turn0.reconstructed.sse"));
  REQUIRE(t0.result.tool_calls.size() == 1);
  CHECK(t0.result.tool_calls[0].arguments == json{{"denominator", 2}, {"numerator", 10}});
  CHECK(t0.result.usage.input_tokens == 17);
  auto t1 = decode_all_splits(read_fixture("gemini_afc_function_response_stream.turn1.reconstructed.sse"));
  CHECK(t1.result.text ==
        "I cannot fulfill this request. The customDivide function does not return the correct result of 10 / 2. "
        "The function seems to be flawed and returns 42.\n");
  CHECK(t1.result.tool_calls.empty());
  CHECK(t1.result.usage.input_tokens == 27);
  CHECK(t1.result.usage.output_tokens == 37);
  // Our request for the recorded turn 1 history has the recorded shape.
  api::ChatRequest req;
  req.model = "gemini-2.0-flash";
  req.messages.push_back(api::Message::user("Divide 10 by 2 using the customDivide function"));
  api::Message a;
  a.role = api::Role::assistant;
  a.tool_calls = t0.result.tool_calls;
  req.messages.push_back(a);
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = t0.result.tool_calls[0].id;
  t.content.push_back({api::ContentPart::Kind::text, R"({"output": 42})", "", "", ""});
  req.messages.push_back(t);
  req.tools.push_back({"customDivide", "Custom divide function",
                       json::parse(R"({"properties":{"denominator":{"type":"number"},"numerator":{"type":"number"}},"type":"object"})")});
  req.tool_choice = "auto";
  json body = provider_gemini::build_request(req);
  json recorded = fh::test::recording_request(rec, 1);
  CHECK(body["contents"] == recorded["contents"]);
  CHECK(body["tools"] == recorded["tools"]);
  CHECK(body["toolConfig"] == recorded["toolConfig"]);
  CHECK(body["generationConfig"] == json::object());
}

TEST_CASE("gemini: non-streamed function call and system instruction recordings") {
  auto r = provider_gemini::decode_response(read_fixture("gemini_response_function_call_nonstream.json"));
  REQUIRE(r.ok());
  REQUIRE(r->tool_calls.size() == 1);
  CHECK(r->tool_calls[0].name == "get_user_country");
  CHECK(r->tool_calls[0].arguments == json::object());
  CHECK(r->finish_reason == FinishReason::tool_calls);
  CHECK(r->usage.input_tokens == 33);
  CHECK(r->usage.output_tokens == 5);
  CHECK(r->model == "gemini-2.0-flash");

  std::string rec = read_fixture("gemini_generate_content_system_instruction.recording.json");
  auto s = provider_gemini::decode_response(fh::test::recording_body(rec, 0));
  REQUIRE(s.ok());
  CHECK(s->text == "low");
  CHECK(s->usage.input_tokens == 9);
  CHECK(s->usage.reasoning_tokens == 20);
  CHECK(s->usage.output_tokens == 21);  // 1 candidate token + 20 thought tokens (billed as output)
  api::ChatRequest req;
  req.model = "gemini-2.5-flash";
  req.system = "I say high you say low";
  req.messages.push_back(api::Message::user("high"));
  json body = provider_gemini::build_request(req);
  json recorded = fh::test::recording_request(rec, 0);
  CHECK(body["contents"] == recorded["contents"]);
  CHECK(body["systemInstruction"]["parts"] == recorded["systemInstruction"]["parts"]);
}

TEST_CASE("gemini: thought part and MAX_TOKENS") {
  std::string rec = read_fixture("gemini_thinking_thought_part_max_tokens.recording.json");
  auto r = provider_gemini::decode_response(fh::test::recording_body(rec, 0));
  REQUIRE(r.ok());
  CHECK(r->text.empty());
  CHECK(r->reasoning.rfind("**Breaking Down the Sum of Natural Numbers**", 0) == 0);
  CHECK(r->finish_reason == FinishReason::length);
  CHECK(r->provider_finish_reason == "MAX_TOKENS");
  CHECK(r->usage.input_tokens == 17);
  CHECK(r->usage.reasoning_tokens == 19);
  CHECK(r->usage.output_tokens == 19);
}

TEST_CASE("gemini: Vertex partialArgs and thought signature kept on the call and sent back") {
  std::string rec = read_fixture("gemini_vertex_stream_function_call_partial_args.recording.json");
  auto d = decode_all_splits(fh::test::recording_body(rec, 0));
  REQUIRE(d.result.tool_calls.size() == 1);
  const auto& c = d.result.tool_calls[0];
  CHECK(c.arguments == json{{"denominator", 2}, {"numerator", 100}});
  json recorded0 = fh::test::recording_request(rec, 1);
  std::string sig = recorded0["contents"][1]["parts"][0]["thoughtSignature"];
  CHECK(c.provider_data["gemini"]["thought_signature"] == sig);
  CHECK(d.result.usage.input_tokens == 21);
  CHECK(d.result.usage.output_tokens == 57);  // 13 + 44 thoughts
  CHECK(d.result.usage.reasoning_tokens == 44);
  auto t1 = decode_all_splits(fh::test::recording_body(rec, 1));
  CHECK(t1.result.text == "The result of 100/2 is 51.");
  CHECK(t1.result.usage.input_tokens == 34);

  // Next turn to Gemini 3: the signature goes back in the same part; no dummy needed.
  api::ChatRequest req;
  req.model = "gemini-3-pro-preview";
  req.messages.push_back(api::Message::user("what is the result of 100/2"));
  api::Message a;
  a.role = api::Role::assistant;
  a.tool_calls = d.result.tool_calls;
  req.messages.push_back(a);
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = c.id;
  t.content.push_back({api::ContentPart::Kind::text, "51", "", "", ""});
  req.messages.push_back(t);
  json body = provider_gemini::build_request(req);
  CHECK(body["contents"][1]["parts"][0]["thoughtSignature"] == sig);
  CHECK(body["contents"][1]["parts"][0]["functionCall"] == json{{"name", "customDivide"}, {"args", c.arguments}});
  CHECK(body["contents"][2] == json{{"role", "user"},
                                    {"parts", {{{"functionResponse", {{"name", "customDivide"}, {"response", {{"result", 51}}}}}}}}});
  // The same history without the signature (another provider's turn): the documented dummy on the
  // first call for Gemini 3, nothing for Gemini 2.
  req.messages[1].tool_calls[0].provider_data = nullptr;
  CHECK(provider_gemini::build_request(req)["contents"][1]["parts"][0]["thoughtSignature"] ==
        std::string(provider_gemini::kForeignSignature));
  req.model = "gemini-2.5-flash";
  CHECK(!provider_gemini::build_request(req)["contents"][1]["parts"][0].contains("thoughtSignature"));
}

TEST_CASE("gemini: errors - 404 in a stream request / 429 RetryInfo / 400 missing signature / array wrapper") {
  std::string rec = read_fixture("gemini_error_404_not_found_stream.recording.json");
  auto e404 = provider_gemini::decode_error(404, fh::test::recording_body(rec, 0), {});
  CHECK(e404.kind == api::ErrorKind::not_found);
  CHECK(!e404.retryable);
  CHECK(e404.message.find("custom-gemini-2.0-flash is not found") != std::string::npos);
  auto e429 = provider_gemini::decode_error(429, read_fixture("gemini_error_429_resource_exhausted.json"), {});
  CHECK(e429.kind == api::ErrorKind::rate_limit);
  CHECK(e429.retryable);
  REQUIRE(e429.retry_after_ms);
  CHECK(*e429.retry_after_ms == 26000);
  auto e400 = provider_gemini::decode_error(400, read_fixture("gemini_error_400_missing_thought_signature.json"), {});
  CHECK(e400.kind == api::ErrorKind::invalid_request);
  CHECK(!e400.retryable);
  auto arr = provider_gemini::decode_error(503, R"([{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}])", {});
  CHECK(arr.kind == api::ErrorKind::overloaded);
  CHECK(arr.retryable);
  auto junk = provider_gemini::decode_error(502, "<html>bad gateway</html>", {});
  CHECK(junk.kind == api::ErrorKind::server);
  CHECK(junk.retryable);
  // An error object inside a 200 stream.
  auto d = fh::test::decode_gemini("data: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\r\n\r\n");
  REQUIRE(d.error);
  CHECK(d.error->kind == api::ErrorKind::server);
  CHECK(d.error->message == "boom");
}

TEST_CASE("gemini: finish reasons / blocked prompt / junk never crashes") {
  CHECK(provider_gemini::map_finish("STOP") == FinishReason::stop);
  CHECK(provider_gemini::map_finish("MAX_TOKENS") == FinishReason::length);
  for (const char* w : {"SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                        "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})
    CHECK(provider_gemini::map_finish(w) == FinishReason::content_filter);
  for (const char* w : {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "OTHER", "NO_IMAGE",
                        "IMAGE_OTHER", "FINISH_REASON_UNSPECIFIED", "SOMETHING_NEW"})
    CHECK(provider_gemini::map_finish(w) == FinishReason::error);
  auto blocked = provider_gemini::decode_response(
      R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}})");
  REQUIRE(blocked.ok());
  CHECK(blocked->finish_reason == FinishReason::content_filter);
  CHECK(blocked->provider_finish_reason == "SAFETY");
  for (const char* junk : {"", "[]", "null", "{\"candidates\":5}", "{\"candidates\":[{\"content\":{\"parts\":[1,{\"functionCall\":7}]}}]}",
                           "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"partialArgs\":[{\"jsonPath\":\"$[99999999]\"}]}}]},\"finishReason\":\"STOP\"}]}"}) {
    auto r = provider_gemini::decode_response(junk);
    (void)r;  // an error or a result; never a crash
  }
}

TEST_CASE("gemini: partialArgs paths may append to an array but not open a gap or nest past 256 levels") {
  auto chunk = [](const std::string& fc) {
    return "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":" + fc +
           "}]}}]}\r\n\r\n";
  };
  auto piece = [](const std::string& path, const std::string& value) {
    return "{\"jsonPath\":\"" + path + "\",\"stringValue\":\"" + value + "\"}";
  };
  std::string deep = "$";
  for (int i = 0; i < 300; ++i) deep += ".k";
  std::string sse = chunk("{\"name\":\"f\",\"partialArgs\":[" + piece("$.a[0]", "x") + "],\"willContinue\":true}") +
                    chunk("{\"partialArgs\":[" + piece("$.a[1]", "y") + "," + piece("$.a[0]", "z") + "," +
                          piece("$.b[4000]", "gap") + "," + piece(deep, "deep") + "],\"willContinue\":true}") +
                    chunk("{}") + "data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\r\n\r\n";
  auto d = decode_all_splits(sse);
  REQUIRE(d.result.tool_calls.size() == 1);
  CHECK(d.result.tool_calls[0].arguments == json{{"a", {"xz", "y"}}, {"b", json::array()}});
}

TEST_CASE("gemini: request - tools / tool choice / JSON schema output / images / merged turns") {
  api::ChatRequest req;
  req.model = "gemini-2.5-flash";
  req.messages.push_back(api::Message::user("look"));
  api::Message img;
  img.content.push_back({api::ContentPart::Kind::image, "", "data:image/png;base64,AAAA", "", ""});
  req.messages.push_back(img);
  req.tools.push_back({"f", "d", json{{"type", "object"}}});
  req.tool_choice = json{{"name", "f"}};
  req.response_schema = json{{"type", "object"}};
  req.max_tokens = 100;
  req.temperature = 0.5;
  req.stop = {"END"};
  req.extra = {{"safetySettings", json::array()}, {"generationConfig", {{"topK", 3}}}};
  json b = provider_gemini::build_request(req);
  REQUIRE(b["contents"].size() == 1);  // consecutive user turns merge
  CHECK(b["contents"][0]["parts"][1] == json{{"inlineData", {{"mimeType", "image/png"}, {"data", "AAAA"}}}});
  CHECK(b["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == json{{"type", "object"}});
  CHECK(b["toolConfig"]["functionCallingConfig"] == json{{"mode", "ANY"}, {"allowedFunctionNames", {"f"}}});
  CHECK(b["generationConfig"]["responseMimeType"] == "application/json");
  CHECK(b["generationConfig"]["responseJsonSchema"] == json{{"type", "object"}});
  CHECK(b["generationConfig"]["maxOutputTokens"] == 100);
  CHECK(b["generationConfig"]["stopSequences"] == json{"END"});
  CHECK(b["generationConfig"]["topK"] == 3);
  CHECK(b.contains("safetySettings"));
  CHECK(provider_gemini::requires_signatures("gemini-3-pro-preview"));
  CHECK(provider_gemini::requires_signatures("models/gemini-3.5-flash"));
  CHECK(!provider_gemini::requires_signatures("gemini-2.5-pro"));
  CHECK(!provider_gemini::requires_signatures("gemini-exp"));
}
