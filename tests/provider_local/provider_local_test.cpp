// The local provider end to end on the model shipped in the repo (stories260K, SentencePiece, no
// chat template of its own: the fallback ChatML template with Hermes-style tool calls).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <optional>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "providers/local/provider.hpp"

namespace asio = boost::asio;
using namespace fh;

namespace {

using Outcome = api::ProviderResult<api::ChatResult>;

std::shared_ptr<api::Provider> provider(provider_local::LocalConfig cfg = {}) {
  cfg.n_threads = 1;
  static auto shared = provider_local::make_local_provider(provider_local::default_model_path(), cfg);
  return shared;
}

Outcome chat(api::ChatRequest req, std::vector<api::StreamEvent>* events = nullptr,
             std::shared_ptr<api::Provider> p = provider()) {
  asio::io_context io;
  std::optional<Outcome> out;
  api::StreamSink sink;
  if (events) sink = [events](const api::StreamEvent& e) { events->push_back(e); };
  asio::co_spawn(asio::make_strand(io), [&]() -> asio::awaitable<void> {
    auto r = co_await p->chat(std::move(req), sink);
    out.emplace(std::move(r));
  }, asio::detached);
  io.run();
  REQUIRE(out.has_value());
  return std::move(*out);
}

bool validates(const json& schema_json, const json& value) {
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter sa(schema_json);
  parser.populateSchema(sa, schema);
  valijson::Validator v;
  valijson::adapters::NlohmannJsonAdapter va(value);
  return v.validate(schema, va, nullptr);
}

api::ChatRequest story(std::string prompt, int max_tokens = 24) {
  api::ChatRequest r;
  r.messages.push_back(api::Message::user(std::move(prompt)));
  r.max_tokens = max_tokens;
  r.temperature = 0;
  return r;
}

}  // namespace

TEST_CASE("a chat on the shipped model returns text, usage and a finish reason; the stream assembles to it") {
  std::vector<api::StreamEvent> evs;
  auto r = chat(story("Once upon a time"), &evs);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  CHECK(r->provider == "local");
  CHECK(!r->text.empty());
  CHECK(r->usage.input_tokens > 5);
  CHECK(r->usage.output_tokens > 0);
  CHECK(r->usage.output_tokens <= 24);
  CHECK((r->finish_reason == api::FinishReason::stop || r->finish_reason == api::FinishReason::length));
  std::string streamed;
  for (const auto& e : evs)
    if (e.type == api::StreamEvent::Type::text) streamed += e.text;
  CHECK(streamed == r->text);
  // Greedy decoding is deterministic.
  auto again = chat(story("Once upon a time"));
  REQUIRE(again.ok());
  CHECK(again->text == r->text);
}

TEST_CASE("tool_choice required: the model calls an offered tool with arguments valid for its schema") {
  const json params = {{"type", "object"},
                       {"properties", {{"city", {{"type", "string"}, {"maxLength", 12}}},
                                       {"days", {{"type", "integer"}}}}},
                       {"required", {"city", "days"}}};
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto req = story("What is the weather?", 96);
    req.temperature = 1.0;
    req.seed = seed;
    req.tools.push_back(api::ToolSpec{"weather", "Weather for a city", params});
    req.tools.push_back(api::ToolSpec{"time", "The time", {{"type", "object"}, {"properties", json::object()}}});
    req.tool_choice = "required";
    std::vector<api::StreamEvent> evs;
    auto r = chat(req, &evs);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    REQUIRE(r->tool_calls.size() == 1);
    CHECK(r->finish_reason == api::FinishReason::tool_calls);
    const auto& c = r->tool_calls[0];
    CHECK(!c.id.empty());
    if (c.name == "weather") CHECK(validates(params, c.arguments));
    else CHECK(c.name == "time");
    bool started = false;
    for (const auto& e : evs) started |= e.type == api::StreamEvent::Type::tool_call_start;
    CHECK(started);
  }
  // Naming one tool forces that one.
  auto req = story("Hello", 96);
  req.tools.push_back(api::ToolSpec{"weather", "Weather for a city", params});
  req.tool_choice = json{{"name", "weather"}};
  auto r = chat(req);
  REQUIRE(r.ok());
  REQUIRE(r->tool_calls.size() == 1);
  CHECK(r->tool_calls[0].name == "weather");
  CHECK(validates(params, r->tool_calls[0].arguments));
}

TEST_CASE("a response schema makes the reply a valid JSON instance, even when max_tokens is tight") {
  const json schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}}},
                                       {"tags", {{"type", "array"}, {"items", {{"enum", {"a", "b", "c"}}}}, {"maxItems", 3}}},
                                       {"ok", {{"type", "boolean"}}}}},
                       {"required", {"name", "ok"}}};
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto req = story("Describe yourself.", 48);
    req.temperature = 1.0;
    req.seed = seed;
    req.response_schema = schema;
    auto r = chat(req);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    const json j = json::parse(r->text, nullptr, false);
    INFO(r->text);
    REQUIRE(!j.is_discarded());
    CHECK(validates(schema, j));
  }
}

TEST_CASE("an agent loop reuses the cached prefix: each turn evaluates only the new tokens") {
  auto req = story("Tom had a red ball.", 16);
  auto r1 = chat(req);
  REQUIRE(r1.ok());
  const auto before = provider_local::slot_stats();
  req.messages.push_back(api::Message::assistant(r1->text));
  req.messages.push_back(api::Message::user("Then what happened?"));
  auto r2 = chat(req);
  REQUIRE(r2.ok());
  const auto after = provider_local::slot_stats();
  CHECK(r2->usage.cached_input_tokens > r1->usage.input_tokens / 2);
  CHECK(after.evaluated_tokens - before.evaluated_tokens == r2->usage.input_tokens - r2->usage.cached_input_tokens);
  CHECK(after.evaluated_tokens - before.evaluated_tokens < r2->usage.input_tokens);
}

TEST_CASE("a prompt or max_tokens that would overflow the context is an error, never a silent truncation") {
  std::string huge;
  for (int i = 0; i < 400; ++i) huge += "the cat sat on the mat. ";
  auto r = chat(story(huge));
  REQUIRE(!r.ok());
  CHECK(r.error().kind == api::ErrorKind::context_length);
  auto r2 = chat(story("Hi", 100000));
  REQUIRE(!r2.ok());
  CHECK(r2.error().kind == api::ErrorKind::context_length);
}

TEST_CASE("cancelling a generation stops decoding promptly and frees the slot") {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  std::optional<Outcome> out;
  int tokens = 0;
  asio::cancellation_signal cancel;
  auto req = story("Once upon a time", 400);
  req.temperature = 1.0;
  auto p = provider();
  api::StreamSink sink = [&](const api::StreamEvent& e) {
    if (e.type == api::StreamEvent::Type::text && ++tokens == 3) cancel.emit(asio::cancellation_type::terminal);
  };
  asio::co_spawn(strand, [&]() -> asio::awaitable<void> { out.emplace(co_await p->chat(req, sink)); },
                 asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  io.run();
  REQUIRE(out.has_value());
  REQUIRE(!out->ok());
  CHECK(out->error().kind == api::ErrorKind::cancelled);
  CHECK(tokens < 20);
  // The slot is usable again.
  auto r = chat(story("Lily", 8));
  CHECK(r.ok());
}

TEST_CASE("a missing or hostile model file is a clear error") {
  auto bad = provider_local::make_local_provider("/nonexistent/model.gguf", {});
  auto r = chat(story("hi"), nullptr, bad);
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("/nonexistent/model.gguf") != std::string::npos);
  provider_local::LocalConfig cfg;
  CHECK(!provider_local::resolve_model_path("no-such-model.gguf", cfg).ok());
  CHECK(provider_local::resolve_model_path("default", cfg).ok());
}
