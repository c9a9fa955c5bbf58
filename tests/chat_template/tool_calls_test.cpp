// Tool-call parsing: each output convention, whole and streamed one character at a time (the
// stream must assemble to exactly the whole-output result), style detection on the shared
// templates, malformed calls staying text, and random input never crashing.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "providers/local/chat/tool_calls.hpp"

namespace fs = std::filesystem;
using namespace fh;
using fh::local::ToolCallStyle;

namespace {

std::vector<api::StreamEvent> stream(std::string_view out, ToolCallStyle style, size_t chunk,
                                     local::ToolCallStreamOptions opts = {}) {
  local::ToolCallStream s(style, opts);
  std::vector<api::StreamEvent> events;
  for (size_t k = 0; k < out.size(); k += chunk) {
    auto ev = s.push(out.substr(k, chunk));
    events.insert(events.end(), ev.begin(), ev.end());
  }
  auto tail = s.finish();
  events.insert(events.end(), tail.begin(), tail.end());
  return events;
}

api::ChatResult assemble(const std::vector<api::StreamEvent>& events) {
  api::StreamAssembler a;
  for (auto& e : events) a.add(e);
  return a.finish();
}

// Whole-output parse, and the same through 1-, 2- and 7-character streams, agree.
local::ParsedOutput parse_all_ways(std::string_view out, ToolCallStyle style, local::ToolCallStreamOptions opts = {}) {
  auto whole = local::parse_model_output(out, style, opts);
  for (size_t chunk : {size_t(1), size_t(2), size_t(7), out.size() + 1}) {
    CAPTURE(chunk);
    auto events = stream(out, style, chunk, opts);
    auto r = assemble(events);
    CHECK(r.text == whole.text);
    CHECK(r.reasoning == whole.reasoning);
    REQUIRE(r.tool_calls.size() == whole.tool_calls.size());
    for (size_t k = 0; k < r.tool_calls.size(); ++k) {
      CHECK(r.tool_calls[k].id == whole.tool_calls[k].id);
      CHECK(r.tool_calls[k].name == whole.tool_calls[k].name);
      CHECK(r.tool_calls[k].arguments == whole.tool_calls[k].arguments);
    }
    // Events have the remote providers' shape: start, delta, end per call, indexes in order.
    int expect_index = 0;
    for (size_t k = 0; k < events.size(); ++k) {
      if (events[k].type != api::StreamEvent::Type::tool_call_start) continue;
      REQUIRE(k + 2 < events.size());
      CHECK(events[k].index == expect_index);
      CHECK(events[k + 1].type == api::StreamEvent::Type::tool_call_delta);
      CHECK(events[k + 2].type == api::StreamEvent::Type::tool_call_end);
      ++expect_index;
    }
  }
  return whole;
}

}  // namespace

TEST_CASE("style detection on the shared templates") {
  std::map<std::string, ToolCallStyle> want = {
      {"Qwen-Qwen2.5-7B-Instruct", ToolCallStyle::hermes},
      {"Qwen-Qwen3-0.6B", ToolCallStyle::hermes},
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", ToolCallStyle::hermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", ToolCallStyle::hermes},
      {"meta-llama-Llama-3.1-8B-Instruct", ToolCallStyle::llama3_json},
      {"meta-llama-Llama-3.2-3B-Instruct", ToolCallStyle::llama3_json},
      {"mistralai-Mistral-Nemo-Instruct-2407", ToolCallStyle::mistral},
      {"Mistral-Small-3.2-24B-Instruct-2506", ToolCallStyle::mistral},
      {"meetkai-functionary-medium-v3.2", ToolCallStyle::functionary},
      {"ibm-granite-granite-3.3-2B-Instruct", ToolCallStyle::granite},
      {"google-gemma-2-2b-it", ToolCallStyle::none},
      {"microsoft-Phi-3.5-mini-instruct", ToolCallStyle::none},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", ToolCallStyle::none},
      {"HuggingFaceTB-SmolLM3-3B", ToolCallStyle::none},
  };
  int seen = 0;
  for (auto& e : fs::directory_iterator(fs::path(FH_SHARED_DIR) / "data" / "templates")) {
    if (e.path().extension() != ".jinja") continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    auto it = want.find(e.path().stem().string());
    REQUIRE_MESSAGE(it != want.end(), e.path());
    CAPTURE(e.path().stem().string());
    CHECK(local::tool_call_style_name(local::detect_tool_call_style(ss.str())) == local::tool_call_style_name(it->second));
    ++seen;
  }
  CHECK(seen == int(want.size()));
}

TEST_CASE("hermes / qwen <tool_call>") {
  auto r = parse_all_ways(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"search_docs\", \"arguments\": {\"query\": \"x\", \"limit\": 2}}\n</tool_call>",
      ToolCallStyle::hermes);
  CHECK(r.text == "Let me check.\n");
  REQUIRE(r.tool_calls.size() == 2);
  CHECK(r.tool_calls[0].name == "get_weather");
  CHECK(r.tool_calls[0].arguments == json{{"location", "Paris"}});
  CHECK(r.tool_calls[1].arguments == json{{"query", "x"}, {"limit", 2}});
  CHECK(r.tool_calls[0].id.size() == 9);
  CHECK(r.tool_calls[0].id != r.tool_calls[1].id);
  // ids are stable across runs
  CHECK(local::parse_model_output("<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}</tool_call>",
                                  ToolCallStyle::hermes).tool_calls[0].id == r.tool_calls[0].id);

  r = parse_all_ways("<think>\nI should call.\n</think>\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
                     ToolCallStyle::hermes);
  CHECK(r.reasoning == "I should call.");
  CHECK(r.text.empty());
  REQUIRE(r.tool_calls.size() == 1);

  r = parse_all_ways("<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}", ToolCallStyle::hermes);  // unclosed, args as string
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].arguments == json{{"a", 1}});

  const char* bad = "<tool_call>\n{\"name\": broken}\n</tool_call> ok";
  r = parse_all_ways(bad, ToolCallStyle::hermes);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == bad);
  r = parse_all_ways("a <tool_ b <tool_call>not json", ToolCallStyle::hermes);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == "a <tool_ b <tool_call>not json");
  r = parse_all_ways("Plain answer <thin", ToolCallStyle::hermes);
  CHECK(r.text == "Plain answer <thin");

  // Text that might start a marker is held back, then released.
  local::ToolCallStream s(ToolCallStyle::hermes);
  auto ev = s.push("Hi <tool");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "Hi ");
  ev = s.push("s are nice");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "<tools are nice");
}

TEST_CASE("llama 3.x JSON calls") {
  auto r = parse_all_ways("{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}", ToolCallStyle::llama3_json);
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].arguments == json{{"location", "Paris"}});
  CHECK(r.text.empty());
  r = parse_all_ways("<|python_tag|>{\"type\": \"function\", \"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": [1, \"}\"]}}",
                     ToolCallStyle::llama3_json);
  REQUIRE(r.tool_calls.size() == 2);
  CHECK(r.tool_calls[1].name == "b");
  CHECK(r.tool_calls[1].arguments == json{{"x", {1, "}"}}});
  r = parse_all_ways("{\"answer\": 42}", ToolCallStyle::llama3_json);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == "{\"answer\": 42}");
  r = parse_all_ways("  The weather is {nice}.", ToolCallStyle::llama3_json);
  CHECK(r.text == "The weather is {nice}.");
  r = parse_all_ways("{\"name\": \"f\", \"parameters\": {\"a\": ", ToolCallStyle::llama3_json);  // cut off
  CHECK(r.tool_calls.empty());
  CHECK(r.text == "{\"name\": \"f\", \"parameters\": {\"a\": ");
}

TEST_CASE("mistral [TOOL_CALLS]") {
  auto r = parse_all_ways(
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}, \"id\": \"abcDEF123\"}, "
      "{\"name\": \"search_docs\", \"arguments\": {\"query\": \"q\"}}]",
      ToolCallStyle::mistral);
  REQUIRE(r.tool_calls.size() == 2);
  CHECK(r.tool_calls[0].id == "abcDEF123");
  CHECK(r.tool_calls[1].id.size() == 9);
  r = parse_all_ways("[TOOL_CALLS]get_weather[ARGS]{\"location\": \"Paris\"}[TOOL_CALLS]search_docs[CALL_ID]x1y2z3w4v[ARGS]{\"query\": \"q\"}",
                     ToolCallStyle::mistral);
  REQUIRE(r.tool_calls.size() == 2);
  CHECK(r.tool_calls[0].name == "get_weather");
  CHECK(r.tool_calls[0].arguments == json{{"location", "Paris"}});
  CHECK(r.tool_calls[1].id == "x1y2z3w4v");
  CHECK(r.text.empty());
  r = parse_all_ways("Sure. [TOOL_CALLS]oops no args", ToolCallStyle::mistral);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == "Sure. [TOOL_CALLS]oops no args");
  r = parse_all_ways("[TOOL_CALLS][{\"name\": 1}]", ToolCallStyle::mistral);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == "[TOOL_CALLS][{\"name\": 1}]");
}

TEST_CASE("functionary v3.2 >>>recipient") {
  auto r = parse_all_ways("all\nSure, checking.>>>get_weather\n{\"location\": \"Paris\"}", ToolCallStyle::functionary);
  CHECK(r.text == "Sure, checking.");
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].arguments == json{{"location", "Paris"}});
  r = parse_all_ways("get_weather\n{\"location\": \"Oslo\"}>>>search_docs\n{\"query\": \"x\"}", ToolCallStyle::functionary);
  REQUIRE(r.tool_calls.size() == 2);
  CHECK(r.tool_calls[1].name == "search_docs");
  r = parse_all_ways("python\nprint(1 >> 2)", ToolCallStyle::functionary);
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].arguments == json{{"code", "print(1 >> 2)"}});
  r = parse_all_ways("Hello world, no recipient here", ToolCallStyle::functionary);
  CHECK(r.text == "Hello world, no recipient here");
  CHECK(r.tool_calls.empty());
  r = parse_all_ways("get_weather\nnot json", ToolCallStyle::functionary);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == ">>>get_weather\nnot json");
}

TEST_CASE("granite <|tool_call|>") {
  auto r = parse_all_ways("<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}]", ToolCallStyle::granite);
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].name == "get_weather");
  r = parse_all_ways("<|tool_call|>oops", ToolCallStyle::granite);
  CHECK(r.tool_calls.empty());
  CHECK(r.text == "<|tool_call|>oops");
}

TEST_CASE("reasoning that the prompt opened") {
  CHECK(local::prompt_opens_reasoning("<｜Assistant｜><think>\n"));
  CHECK_FALSE(local::prompt_opens_reasoning("<think>\n\n</think>\n\n"));
  local::ToolCallStreamOptions o;
  o.starts_in_reasoning = true;
  auto r = parse_all_ways("Hmm, 2+2.\n</think>\n\nIt is 4.", ToolCallStyle::none, o);
  CHECK(r.reasoning == "Hmm, 2+2.");
  CHECK(r.text == "It is 4.");
  r = parse_all_ways("<think>x</think>y", ToolCallStyle::none);
  CHECK(r.reasoning == "x");
  CHECK(r.text == "y");
  o = {};
  o.parse_reasoning = false;
  r = parse_all_ways("<think>x</think>y", ToolCallStyle::none, o);
  CHECK(r.text == "<think>x</think>y");
}

TEST_CASE("random output never crashes and streams like the whole") {
  std::mt19937 rng(11);
  const char* pieces[] = {"<tool_call>", "</tool_call>", "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]", "<|tool_call|>",
                          "<|python_tag|>", ">>>", "<think>", "</think>", "{", "}", "[", "]", "\"", "\\", "name",
                          "\"name\": \"f\"", ", \"arguments\": {}", "all\n", "f\n", " ", "\n", ";", "x", "é",
                          "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>",
                          "{\"name\": \"g\", \"parameters\": {}}", "[TOOL_CALLS]h[ARGS]{\"b\": [2]}",
                          "<|tool_call|>[{\"name\": \"i\", \"arguments\": {}}]", ">>>j\n{\"c\": \"}\"}"};
  ToolCallStyle styles[] = {ToolCallStyle::none, ToolCallStyle::hermes, ToolCallStyle::llama3_json,
                            ToolCallStyle::mistral, ToolCallStyle::functionary, ToolCallStyle::granite};
  int calls = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string out;
    int n = int(rng() % 12);
    for (int k = 0; k < n; ++k) out += pieces[rng() % (sizeof pieces / sizeof *pieces)];
    ToolCallStyle style = styles[rng() % 6];
    auto whole = local::parse_model_output(out, style);
    auto r = assemble(stream(out, style, 1 + rng() % 3));
    CAPTURE(out);
    CHECK(r.text == whole.text);
    CHECK(r.reasoning == whole.reasoning);
    CHECK(r.tool_calls.size() == whole.tool_calls.size());
    calls += int(whole.tool_calls.size());
  }
  MESSAGE(calls << " tool calls found in random output");
}
