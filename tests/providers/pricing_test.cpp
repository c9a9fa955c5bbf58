// Cost accounting: the built-in price table parses, rows match by longest prefix and date, and
// costs equal figures computed by hand for recorded usages with reasoning and cache tokens.
#include <doctest/doctest.h>

#include "providers/anthropic/codec.hpp"
#include "providers/gemini/codec.hpp"
#include "providers/http/pricing.hpp"
#include "providers/openai/codec.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

using namespace fh;

TEST_CASE("pricing: built-in table rows carry date and source - prefix and date matching") {
  auto t = http::prices();
  REQUIRE(t.rows().size() >= 25);
  for (const auto& r : t.rows()) {
    CHECK(!r.checked.empty());
    CHECK(!r.source.empty());
  }
  CHECK(t.find("openai", "gpt-4o-mini-2024-07-18")->model == "gpt-4o-mini");
  CHECK(t.find("openai", "gpt-4o-2024-08-06")->model == "gpt-4o");
  CHECK(t.find("gemini", "models/gemini-2.5-flash-lite")->model == "gemini-2.5-flash-lite");
  CHECK(t.find("gemini", "gemini-3.7-flash", "2026-12-31")->base.input == doctest::Approx(0.75));
  CHECK(t.find("gemini", "gemini-3.7-flash", "2027-01-02")->base.input == doctest::Approx(1.50));
  CHECK(t.find("openai", "gpt-3.5-turbo") == nullptr);
  CHECK(t.find("anthropic", "gpt-4o") == nullptr);
  CHECK(t.find("ollama", "qwen3:0.6b")->base.output == 0);
}

TEST_CASE("pricing: hand-computed costs for recorded usages with reasoning tokens") {
  // gemini-2.5-flash, recorded: 9 prompt, 1 candidate + 20 thought tokens.
  // 9 * 0.30 + (1 + 20) * 2.50 = 2.7 + 52.5 = 55.2 per 1M -> 0.0000552 USD.
  std::string rec = fh::test::read_fixture("gemini_generate_content_system_instruction.recording.json");
  auto r = provider_gemini::decode_response(fh::test::recording_body(rec, 0)).value();
  auto c = http::cost_usd("gemini", r.model, r.usage);
  REQUIRE(c);
  CHECK(*c == doctest::Approx(0.0000552).epsilon(1e-9));
  // OpenAI gpt-4o, recorded parallel tool calls: 149 prompt, 60 completion (0 reasoning).
  // 149 * 2.50 + 60 * 10.00 = 372.5 + 600 = 972.5 per 1M.
  auto o = provider_openai::decode_response(fh::test::read_fixture("openai_chat_response_tool_calls_parallel.json")).value();
  CHECK(*http::cost_usd("openai", o.model, o.usage) == doctest::Approx(0.0009725));
  // A model missing from the table: no cost, not a guess.
  std::string thinking = fh::test::read_fixture("gemini_thinking_thought_part_max_tokens.recording.json");
  auto t = provider_gemini::decode_response(fh::test::recording_body(thinking, 0)).value();
  CHECK(!http::cost_usd("gemini", t.model, t.usage));
}

TEST_CASE("pricing: cache reads and writes (Anthropic additive, OpenAI subset) by hand") {
  // The recorded Anthropic usage object with cache fields set (values changed from the 0s of the
  // capture): 100 fresh input, 2000 cache reads, 500 cache writes, 40 output, claude-sonnet-4-5.
  json u = json::parse(R"({"input_tokens":100,"cache_creation_input_tokens":500,"cache_read_input_tokens":2000,
                           "cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":0},"output_tokens":40})");
  api::Usage a = provider_anthropic::usage_from_wire(u);
  CHECK(a.input_tokens == 2600);
  // 100 * 3.00 + 2000 * 0.30 + 500 * 3.75 + 40 * 15.00 = 300 + 600 + 1875 + 600 = 3375 per 1M.
  CHECK(*http::cost_usd("anthropic", "claude-sonnet-4-5-20250929", a) == doctest::Approx(0.003375));
  // OpenAI: cached_tokens is a subset of prompt_tokens, reasoning a subset of completion tokens.
  json ou = json::parse(R"({"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,
                            "prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":256}})");
  api::Usage o = provider_openai::usage_from_wire(ou);
  // gpt-4o-mini: 176 * 0.15 + 1024 * 0.075 + 300 * 0.60 = 26.4 + 76.8 + 180 = 283.2 per 1M.
  CHECK(*http::cost_usd("openai", "gpt-4o-mini", o) == doctest::Approx(0.0002832));
  // Gemini long context: 2.5 Pro above 200K input uses the long tier.
  api::Usage g;
  g.input_tokens = 250000;
  g.output_tokens = 1000;
  // 250000 * 2.50 + 1000 * 15.00 = 625000 + 15000 = 640000 per 1M = 0.64 USD.
  CHECK(*http::cost_usd("gemini", "gemini-2.5-pro", g) == doctest::Approx(0.64));
}

TEST_CASE("pricing: overrides from config win - bad rows are refused") {
  auto bad = http::add_price_overrides(json::array({{{"model", "x"}, {"input", "cheap"}, {"output", 1}}}), "openai");
  CHECK(!bad.ok());
  auto ok = http::add_price_overrides(json::array({{{"model", "gpt-4o-mini"}, {"input", 1.0}, {"output", 2.0}}}), "openai");
  REQUIRE(ok.ok());
  api::Usage u;
  u.input_tokens = 1000000;
  u.output_tokens = 1000000;
  CHECK(*http::cost_usd("openai", "gpt-4o-mini", u) == doctest::Approx(3.0));
  CHECK(!http::add_price_overrides(json::array({{{"model", "my-model"}, {"input", 0.5}, {"output", 0.5}}}), "compat").ok() == false);
  CHECK(*http::cost_usd("compat", "my-model-7b", u) == doctest::Approx(1.0));
}
