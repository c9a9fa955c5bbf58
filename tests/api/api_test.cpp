#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "runtime/api/chat.hpp"
#include "runtime/api/provider.hpp"

using namespace fh;
using namespace fh::api;

TEST_CASE("ChatResult JSON form carries every contract field") {
  ChatResult r;
  r.provider = "mock";
  r.model = "echo";
  r.text = "hi";
  r.tool_calls.push_back({"c1", "add", json{{"a", 1}}, nullptr});
  normalize_finish(r);
  json j = to_json(r);
  for (const char* k : {"provider", "model", "text", "reasoning", "tool_calls", "finish_reason",
                        "provider_finish_reason", "usage", "cost_usd", "latency_ms", "ttft_ms"})
    CHECK_MESSAGE(j.contains(k), k);
  CHECK(j["finish_reason"] == "tool_calls");
  CHECK(j["cost_usd"].is_null());
  auto back = chat_result_from_json(j);
  REQUIRE(back.ok());
  CHECK(back->tool_calls.at(0).arguments["a"] == 1);
}

TEST_CASE("StreamAssembler joins deltas and parses tool-call fragments") {
  StreamAssembler a;
  StreamEvent e;
  e.type = StreamEvent::Type::text; e.text = "he"; a.add(e);
  e.text = "llo"; a.add(e);
  e = {}; e.type = StreamEvent::Type::tool_call_start; e.index = 0; e.id = "t"; e.name = "calc"; a.add(e);
  e = {}; e.type = StreamEvent::Type::tool_call_delta; e.index = 0; e.arguments = "{\"x\":"; a.add(e);
  e.arguments = "2}"; a.add(e);
  e = {}; e.type = StreamEvent::Type::finish; e.finish_reason = FinishReason::stop; a.add(e);
  auto r = a.finish();
  CHECK(r.text == "hello");
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].arguments["x"] == 2);
  CHECK(r.finish_reason == FinishReason::tool_calls);
}

TEST_CASE("StreamAssembler ignores out-of-range tool-call indexes from a hostile stream") {
  StreamAssembler a;
  StreamEvent e;
  e.type = StreamEvent::Type::tool_call_delta; e.index = 7; e.arguments = "x"; a.add(e);
  e.type = StreamEvent::Type::tool_call_start; e.index = 1 << 30; a.add(e);
  auto r = a.finish();
  CHECK(r.tool_calls.empty());
}

TEST_CASE("message_from_json refuses malformed input with a clear error") {
  CHECK_FALSE(message_from_json(json{{"role", "wizard"}}).ok());
  CHECK_FALSE(message_from_json(json{{"role", "tool"}, {"content", "x"}}).ok());
  CHECK_FALSE(message_from_json(json{{"role", "user"}, {"content", 5}}).ok());
  auto m = message_from_json(json{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "a"}}})}});
  REQUIRE(m.ok());
  CHECK(m->text() == "a");
}

TEST_CASE("ProviderRegistry resolves provider/model and names the known providers otherwise") {
  ProviderRegistry reg;
  reg.add("mock", [](std::string_view rest, const json&) -> Result<ResolvedModel> {
    return ResolvedModel{nullptr, std::string(rest)};
  });
  auto r = reg.resolve("mock/echo");
  REQUIRE(r.ok());
  CHECK(r->model == "echo");
  auto bad = reg.resolve("nope/x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("mock") != std::string::npos);
  CHECK_FALSE(reg.resolve("noslash").ok());
}
