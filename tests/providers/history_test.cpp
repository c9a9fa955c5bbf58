// Cross-provider history: one unified conversation with tool calls goes OpenAI -> Anthropic ->
// Gemini 3 -> Mistral -> OpenAI -> Gemini 3 through the real clients. A mock server per wire form
// rejects what the real API rejects (PROVIDERS.md §1.3, §3, §4.2, §5, §8.10): an OpenAI tool call
// left unanswered or arguments not a string; an Anthropic tool_result not right after its
// tool_use; a Gemini 3 model turn whose first call has no thought signature or whose answers do
// not match its calls; a Mistral id that is not 9 letters/digits. Replies are recorded fixtures.
#include <doctest/doctest.h>

#include <set>

#include "providers/anthropic/client.hpp"
#include "providers/gemini/client.hpp"
#include "providers/mistral/codec.hpp"
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
MockResponse json_reply(int status, std::string body) {
  MockResponse r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.body = std::move(body);
  r.chunked = false;
  return r;
}
MockResponse reject(const std::string& why) {
  return json_reply(400, json{{"error", {{"message", why}, {"type", "invalid_request_error"}}}}.dump());
}

// OpenAI: every assistant tool call answered by a tool message before the next turn; arguments are strings.
std::string check_openai(const json& b) {
  std::set<std::string> open;
  for (const auto& m : b.at("messages")) {
    std::string role = m.at("role");
    if (role == "tool") {
      if (!open.erase(m.at("tool_call_id").get<std::string>())) return "tool message answers no open call";
      continue;
    }
    if (!open.empty()) return "tool_calls not answered before the next message";
    if (role == "assistant" && m.contains("tool_calls"))
      for (const auto& c : m["tool_calls"]) {
        if (!c.at("function").at("arguments").is_string()) return "arguments must be a string";
        open.insert(c.at("id").get<std::string>());
      }
  }
  return open.empty() ? "" : "tool_calls not answered";
}

// Anthropic: alternating turns; tool_result blocks lead the user turn right after their tool_use.
std::string check_anthropic(const json& b) {
  if (!b.contains("max_tokens")) return "max_tokens: Field required";
  const auto& msgs = b.at("messages");
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    if (m.at("role") != (i % 2 == 0 ? "user" : "assistant")) return "roles must alternate";
    std::set<std::string> uses;
    if (m["role"] == "assistant" && m["content"].is_array())
      for (const auto& blk : m["content"])
        if (blk.at("type") == "tool_use") {
          if (!blk.at("input").is_object()) return "tool_use.input: Input should be a valid dictionary";
          uses.insert(blk.at("id").get<std::string>());
        }
    std::set<std::string> prev_uses;
    if (i > 0 && msgs[i - 1]["content"].is_array())
      for (const auto& blk : msgs[i - 1]["content"])
        if (blk.at("type") == "tool_use") prev_uses.insert(blk.at("id").get<std::string>());
    if (m["role"] == "user") {
      bool leading = true;
      std::set<std::string> answered;
      if (m["content"].is_array())
        for (const auto& blk : m["content"]) {
          if (blk.at("type") == "tool_result") {
            if (!leading || !prev_uses.count(blk.at("tool_use_id").get<std::string>()))
              return "unexpected `tool_use_id` found in `tool_result` blocks: " + blk.at("tool_use_id").get<std::string>() +
                     ". Each `tool_result` block must have a corresponding `tool_use` block in the previous message.";
            answered.insert(blk["tool_use_id"].get<std::string>());
          } else {
            leading = false;
          }
        }
      if (answered != prev_uses) return "`tool_use` ids were found without `tool_result` blocks immediately after";
    }
    if (i + 1 == msgs.size() && !uses.empty()) return "conversation ends with unanswered tool_use";
  }
  return "";
}

// Gemini: roles user/model; on Gemini 3 the first call of a model turn carries a signature; the
// next user turn answers every call with a functionResponse of the same name.
std::string check_gemini(const json& b, bool gemini3) {
  const auto& cs = b.at("contents");
  for (size_t i = 0; i < cs.size(); ++i) {
    std::string role = cs[i].at("role");
    if (role != "user" && role != "model") return "Please use a valid role: user, model.";
    std::vector<std::string> calls;
    bool first = true;
    for (const auto& p : cs[i].at("parts"))
      if (p.contains("functionCall")) {
        if (!p["functionCall"].at("args").is_object()) return "functionCall.args must be an object";
        if (gemini3 && first && !p.contains("thoughtSignature"))
          return "Function call is missing a thought_signature in functionCall parts.";
        first = false;
        calls.push_back(p["functionCall"].at("name"));
      }
    if (calls.empty()) continue;
    if (i + 1 >= cs.size() || cs[i + 1].at("role") != "user") return "function call turn must be followed by its responses";
    std::vector<std::string> answers;
    for (const auto& p : cs[i + 1].at("parts"))
      if (p.contains("functionResponse")) {
        if (!p["functionResponse"].at("response").is_object()) return "functionResponse.response must be an object";
        answers.push_back(p["functionResponse"].at("name"));
      }
    if (answers != calls)
      return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.";
  }
  return "";
}

// Mistral: ids of exactly 9 letters/digits, tool results matching an earlier call.
std::string check_mistral(const json& b) {
  std::set<std::string> ids;
  for (const auto& m : b.at("messages")) {
    if (m.contains("tool_calls"))
      for (const auto& c : m["tool_calls"]) {
        std::string id = c.at("id");
        if (!provider_mistral::valid_tool_call_id(id))
          return "Tool call id was " + id + " but must be a-z, A-Z, 0-9, with a length of 9.";
        ids.insert(id);
      }
    if (m.at("role") == "tool") {
      std::string id = m.at("tool_call_id");
      if (!provider_mistral::valid_tool_call_id(id))
        return "Tool call id was " + id + " but must be a-z, A-Z, 0-9, with a length of 9.";
      if (!ids.count(id)) return "Unexpected tool call id " + id + " in tool results";
    }
  }
  return "";
}

api::Message assistant_from(const api::ChatResult& r) {
  api::Message m;
  m.role = api::Role::assistant;
  if (!r.text.empty()) m.content.push_back({api::ContentPart::Kind::text, r.text, "", "", ""});
  m.tool_calls = r.tool_calls;
  m.reasoning = r.reasoning;
  m.provider_data = r.provider_data;
  return m;
}
api::Message tool_result(const api::ToolCall& c, std::string text) {
  api::Message m;
  m.role = api::Role::tool;
  m.tool_call_id = c.id;
  m.name = c.name;
  m.content.push_back({api::ContentPart::Kind::text, std::move(text), "", "", ""});
  return m;
}
}  // namespace

TEST_CASE("history: one conversation with tool calls across OpenAI Anthropic Gemini 3 Mistral and back") {
  std::string vertex = read_fixture("gemini_vertex_stream_function_call_partial_args.recording.json");
  std::string gemini_call = json::parse(vertex)["interactions"][0]["response"]["bodySegments"][0].dump();
  std::string gemini_text = fh::test::recording_body(read_fixture("gemini_generate_content_system_instruction.recording.json"), 0);
  std::vector<std::string> rejections;
  int gemini_calls = 0, openai_calls = 0;
  std::vector<json> bodies;
  asio::io_context ctx;
  MockServer server(ctx.get_executor(), [&](const MockRequest& q) {
    json b = json::parse(q.body);
    bodies.push_back(b);
    std::string why;
    MockResponse ok;
    if (q.target == "/v1/chat/completions") {
      why = check_openai(b);
      ok = json_reply(200, read_fixture(openai_calls++ == 0 ? "openai_chat_response_tool_calls_parallel.json"
                                                            : "openai_chat_response_text_basic.json"));
    } else if (q.target == "/v1/messages") {
      why = check_anthropic(b);
      ok = json_reply(200, read_fixture("anthropic_message_tool_use.json"));
    } else if (q.target.find(":generateContent") != std::string::npos) {
      why = check_gemini(b, q.target.find("gemini-3") != std::string::npos);
      ok = json_reply(200, gemini_calls++ == 0 ? gemini_call : gemini_text);
    } else if (q.target == "/mistral/v1/chat/completions") {
      why = check_mistral(b);
      ok = json_reply(200, read_fixture("mistral_chat_response_tool_call.json"));
    } else {
      why = "unknown path " + q.target;
    }
    if (!why.empty()) {
      rejections.push_back(q.target + ": " + why);
      return reject(why);
    }
    return ok;
  });
  std::string base = server.base_url();
  auto openai = std::make_shared<provider_openai::OpenAiProvider>(
      provider_openai::config_from({{"api_key", "sk"}, {"base_url", base + "/v1"}}).value());
  auto anthropic = std::make_shared<provider_anthropic::AnthropicProvider>(
      provider_anthropic::config_from({{"api_key", "a"}, {"base_url", base}}).value());
  auto gemini = std::make_shared<provider_gemini::GeminiProvider>(
      provider_gemini::config_from({{"api_key", "g"}, {"base_url", base + "/v1beta"}}).value());
  auto mistral = std::make_shared<provider_openai::OpenAiProvider>(
      provider_mistral::config_from({{"api_key", "m"}, {"base_url", base + "/mistral/v1"}}).value());

  api::ChatRequest conv;
  conv.system = "Use the tools.";
  conv.messages.push_back(api::Message::user("Weather in Edinburgh, AAPL price, then more."));
  conv.tools = {{"GetWeatherArgs", "", json{{"type", "object"}}},
                {"get_stock_price", "", json{{"type", "object"}}},
                {"get_weather", "", json{{"type", "object"}}},
                {"customDivide", "", json{{"type", "object"}}},
                {"get_image", "", json{{"type", "object"}}}};
  struct Turn {
    std::shared_ptr<api::Provider> p;
    std::string model;
    size_t calls;
  };
  std::vector<Turn> turns = {{openai, "gpt-4o", 2}, {anthropic, "claude-haiku-4-5", 1}, {gemini, "gemini-3-pro-preview", 1},
                             {mistral, "pixtral-12b-latest", 1}, {openai, "gpt-4o", 0}, {gemini, "gemini-3-pro-preview", 0}};
  for (size_t t = 0; t < turns.size(); ++t) {
    INFO("turn " << t << " " << turns[t].p->name());
    api::ChatRequest req = conv;
    req.model = turns[t].model;
    auto r = fh::test::run_co(ctx, turns[t].p->chat(req));
    REQUIRE(r);
    if (!r->ok()) FAIL(r->error().message);
    REQUIRE(r->value().tool_calls.size() == turns[t].calls);
    conv.messages.push_back(assistant_from(r->value()));
    for (const auto& c : r->value().tool_calls) conv.messages.push_back(tool_result(c, R"({"ok": true})"));
    if (t == 2) conv.messages.push_back(api::Message::user("Now the image."));  // a user turn between tool turns
  }
  CHECK(rejections.empty());
  REQUIRE(bodies.size() == turns.size());
  // Anthropic saw OpenAI's two calls as tool_use blocks with object input and both results in one user turn.
  const json& anth = bodies[1]["messages"];
  CHECK(anth[1]["content"][0]["type"] == "tool_use");
  CHECK(anth[1]["content"][0]["input"].is_object());
  CHECK(anth[2]["content"].size() == 2);
  // Gemini 3 (last turn): its own call went back with its own signature; foreign call turns got the
  // documented placeholder on their first call; results are functionResponse parts.
  std::string sig = json::parse(vertex)["interactions"][1]["request"]["bodySegments"][0]["contents"][1]["parts"][0]["thoughtSignature"];
  const json& gc = bodies[5]["contents"];
  int own = 0, foreign = 0;
  for (const auto& c : gc)
    for (const auto& p : c["parts"])
      if (p.contains("thoughtSignature")) (p["thoughtSignature"] == sig ? own : foreign)++;
  CHECK(own == 1);
  CHECK(foreign == 3);  // the OpenAI turn, the Anthropic turn and the Mistral turn
  // Mistral saw every earlier id remapped (OpenAI call_..., Anthropic toolu_..., Gemini call_...),
  // results matching; the final OpenAI turn got Mistral's own id back unchanged.
  const json& mm = bodies[3]["messages"];
  CHECK(mm[2]["tool_calls"][0]["id"] != "call_fdNz3vOBKYgOIpMdWotB9MjY");
  bool mistral_id_kept = false;
  for (const auto& m : bodies[4]["messages"])
    if (m.contains("tool_calls"))
      for (const auto& c : m["tool_calls"]) mistral_id_kept |= c["id"] == "FI5qQGzDE";
  CHECK(mistral_id_kept);
  // Anthropic thinking/provider fields never leak to others: no provider_data keys on the wire.
  for (const auto& b : bodies) CHECK(b.dump().find("provider_data") == std::string::npos);

  // The validators bite: the same history with a raw foreign id to Mistral, a Gemini 3 call
  // without its signature, and a tool_result moved away from its tool_use are all rejected.
  json bad_m = bodies[3];
  bad_m["messages"][2]["tool_calls"][0]["id"] = "call_fdNz3vOBKYgOIpMdWotB9MjY";
  CHECK(check_mistral(bad_m).find("must be a-z, A-Z, 0-9, with a length of 9") != std::string::npos);
  json bad_g = bodies[5];
  for (auto& c : bad_g["contents"])
    for (auto& p : c["parts"]) p.erase("thoughtSignature");
  CHECK(check_gemini(bad_g, true).find("missing a thought_signature") != std::string::npos);
  CHECK(check_gemini(bad_g, false).empty());
  json bad_a = bodies[1];
  std::swap(bad_a["messages"][2]["content"][0], bad_a["messages"][2]["content"][1]);
  bad_a["messages"][2]["content"].insert(bad_a["messages"][2]["content"].begin(), json{{"type", "text"}, {"text", "x"}});
  CHECK(!check_anthropic(bad_a).empty());
}
