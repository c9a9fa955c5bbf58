// Grammar compilation and the matcher on hand-picked token strings: masks, UTF-8 split across
// tokens, EOG only when complete, composition for tool calls, budgets, hostile schemas.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "providers/local/grammar/matcher.hpp"

using namespace fh::grammar;
using fh::json;

namespace {

// A small vocabulary: every printable ASCII byte, some multi-byte pieces, UTF-8 fragments, an
// empty control token and an EOG token.
struct Vocab {
  std::vector<std::string> bytes;
  int32_t eog = -1;
  int32_t id(const std::string& b) const {
    for (size_t i = 0; i < bytes.size(); ++i)
      if (bytes[i] == b && int32_t(i) != eog) return int32_t(i);
    FAIL("no token " << b);
    return -1;
  }
};

Vocab small_vocab() {
  Vocab v;
  for (int c = 0; c < 256; ++c) v.bytes.push_back(std::string(1, char(c)));  // byte fallback
  for (const char* t : {"{\"", "\"name\":", "\"na", "me", "\":", "true", "tr", "ue", "12", "null", "\"}", "é", "ab",
                        ",\"", "\\n", "\\u00", "e9", "d8", "\"\"", "<tool_call>", "\n</tool_call>"})
    v.bytes.push_back(t);
  v.bytes.push_back("");  // a control token: never allowed
  v.bytes.push_back("</s>");
  v.eog = int32_t(v.bytes.size() - 1);
  return v;
}

std::shared_ptr<const Grammar> schema(const json& s) {
  auto g = Grammar::json_schema(s);
  REQUIRE_MESSAGE(g.ok(), (g.ok() ? "" : g.error().message));
  return std::make_shared<const Grammar>(std::move(*g));
}

std::vector<int32_t> allowed(const Matcher& m, size_t n, size_t budget = SIZE_MAX) {
  std::vector<float> logits(n, 0.f);
  m.mask(logits, budget);
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i)
    if (!std::isinf(logits[i])) out.push_back(int32_t(i));
  return out;
}

bool is_allowed(const Matcher& m, const Vocab& v, int32_t id, size_t budget = SIZE_MAX) {
  const auto a = allowed(m, v.bytes.size(), budget);
  return std::find(a.begin(), a.end(), id) != a.end();
}

std::string error_of(const json& s) {
  auto g = Grammar::json_schema(s);
  REQUIRE_FALSE(g.ok());
  return g.error().message;
}

// The matcher accepts `text` exactly when it is a complete instance.
bool matches(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  auto idx = std::make_shared<const TokenIndex>(small_vocab().bytes, std::vector<int32_t>{});
  Matcher m(g, idx);
  return m.accept_bytes(text) && m.complete();
}

}  // namespace

TEST_CASE("mask: only tokens that extend an object of one required string property") {
  const Vocab v = small_vocab();
  auto idx = std::make_shared<const TokenIndex>(v.bytes, std::vector<int32_t>{v.eog});
  Matcher m(schema({{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}, {"required", {"name"}}}), idx);
  auto a = allowed(m, v.bytes.size());
  CHECK(a == std::vector<int32_t>{v.id("{"), v.id("{\"")});
  CHECK_FALSE(m.complete());
  REQUIRE(m.accept(v.id("{")));
  a = allowed(m, v.bytes.size());
  CHECK(a == std::vector<int32_t>{v.id("\""), v.id("\"name\":"), v.id("\"na")});
  CHECK_FALSE(m.accept(v.id("}")));    // rejected, state unchanged
  CHECK_FALSE(m.accept(v.eog));        // not complete yet
  CHECK_FALSE(m.accept(v.id("")));     // control tokens never
  REQUIRE(m.accept(v.id("\"na")));
  REQUIRE(m.accept(v.id("me")));
  REQUIRE(m.accept(v.id("\":")));
  REQUIRE(m.accept(v.id("\"")));
  CHECK(is_allowed(m, v, v.id("é")));
  CHECK(is_allowed(m, v, v.id("\\n")));
  CHECK_FALSE(is_allowed(m, v, v.id("\n")));      // raw control characters are not JSON
  CHECK_FALSE(is_allowed(m, v, v.id("\xA9")));    // a continuation byte cannot start a character
  CHECK(is_allowed(m, v, v.id("\xC3")));
  REQUIRE(m.accept(v.id("\xC3")));                // é split across two tokens
  const auto after_lead = allowed(m, v.bytes.size());
  for (int32_t t : after_lead) CHECK((uint8_t(v.bytes[size_t(t)][0]) >= 0x80 && uint8_t(v.bytes[size_t(t)][0]) <= 0xBF));
  REQUIRE(m.accept(v.id("\xA9")));
  REQUIRE(m.accept_bytes("\\u"));
  CHECK_FALSE(m.accept(v.id("d8")));              // \uD8.. would be a lone surrogate
  REQUIRE(m.accept_bytes("00"));
  REQUIRE(m.accept(v.id("e9")));
  CHECK(m.shortest_completion() == "\"}");
  REQUIRE(m.accept(v.id("\"}")));
  CHECK(m.complete());
  CHECK_FALSE(m.can_continue());
  CHECK(allowed(m, v.bytes.size()) == std::vector<int32_t>{v.eog});
  REQUIRE(m.accept(v.eog));
  CHECK(m.finished());
  CHECK(allowed(m, v.bytes.size()).empty());
}

TEST_CASE("mask: a number may end or go on, and EOG joins the allowed set once complete") {
  const Vocab v = small_vocab();
  auto idx = std::make_shared<const TokenIndex>(v.bytes, std::vector<int32_t>{v.eog});
  Matcher m(schema({{"type", "integer"}}), idx);
  CHECK(is_allowed(m, v, v.id("12")));
  CHECK(is_allowed(m, v, v.id("-")));
  CHECK_FALSE(is_allowed(m, v, v.id("+")));
  REQUIRE(m.accept(v.id("12")));
  CHECK(m.complete());
  CHECK(m.can_continue());
  CHECK(is_allowed(m, v, v.eog));
  CHECK(is_allowed(m, v, v.id("12")));
  CHECK_FALSE(is_allowed(m, v, v.id(".")));  // integers have no fraction
  for (int i = 0; i < 6; ++i) REQUIRE(m.accept(v.id("12")));
  CHECK_FALSE(m.accept(v.id("12")));  // 15 digits at most: 14 so far, one more would be 16
  REQUIRE(m.accept(v.id("1")));
  CHECK_FALSE(m.can_continue());
}

TEST_CASE("schemas: instances accepted and rejected") {
  auto obj = schema({{"type", "object"},
                     {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "boolean"}}}, {"c", {{"type", "null"}}}}},
                     {"required", {"b"}}});
  // required first (in `required` order), then the other properties in key order
  CHECK(matches(obj, R"({"b":true})"));
  CHECK(matches(obj, R"({"b":false,"a":-3})"));
  CHECK(matches(obj, R"({"b":false,"c":null})"));
  CHECK(matches(obj, R"({"b":false,"a":0,"c":null})"));
  CHECK_FALSE(matches(obj, R"({"a":1,"b":true})"));
  CHECK_FALSE(matches(obj, R"({})"));
  CHECK_FALSE(matches(obj, R"({"b":true,"x":1})"));
  CHECK_FALSE(matches(obj, R"({"b": true})"));  // compact: no whitespace
  auto arr = schema({{"type", "array"}, {"items", {{"type", "number"}}}, {"minItems", 1}, {"maxItems", 2}});
  CHECK(matches(arr, "[1.5e+3]"));
  CHECK(matches(arr, "[0,-0.25]"));
  CHECK_FALSE(matches(arr, "[]"));
  CHECK_FALSE(matches(arr, "[1,2,3]"));
  CHECK_FALSE(matches(arr, "[01]"));
  auto str = schema({{"type", {"string", "null"}}, {"minLength", 2}, {"maxLength", 3}});
  CHECK(matches(str, "null"));
  CHECK(matches(str, R"("ab")"));
  CHECK(matches(str, R"("é\n€")"));  // code points, not bytes
  CHECK_FALSE(matches(str, R"("a")"));
  CHECK_FALSE(matches(str, R"("abcd")"));
  auto en = schema({{"enum", {"red", 1, nullptr, json::array({1, 2}), json{{"k", "v"}}}}});
  CHECK(matches(en, R"("red")"));
  CHECK(matches(en, "[1,2]"));
  CHECK(matches(en, R"({"k":"v"})"));
  CHECK_FALSE(matches(en, "2"));
  auto any_of = schema({{"anyOf", {{{"type", "integer"}}, {{"type", "string"}, {"maxLength", 1}}, {{"const", "long"}}}}});
  CHECK(matches(any_of, "7"));
  CHECK(matches(any_of, R"("x")"));
  CHECK(matches(any_of, R"("long")"));
  CHECK_FALSE(matches(any_of, R"("lo")"));
  auto ref = schema({{"$defs", {{"pos", {{"type", "integer"}}}}},
                     {"type", "object"},
                     {"properties", {{"p", {{"$ref", "#/$defs/pos"}}}, {"q", {{"$ref", "#/definitions/x"}}}}},
                     {"definitions", {{"x", {{"type", "boolean"}}}}},
                     {"required", {"p", "q"}}});
  CHECK(matches(ref, R"({"p":4,"q":false})"));
  auto tree = schema({{"type", "object"}, {"properties", {{"kids", {{"type", "array"}, {"items", {{"$ref", "#"}}}}}}}});
  CHECK(matches(tree, R"({"kids":[{},{"kids":[{"kids":[]}]}]})"));
  auto anything = schema(json::object());
  CHECK(matches(anything, R"({"a":[1,"x",{"b":null}],"c":true})"));
}

TEST_CASE("composition: a forced tool call in the model's own format") {
  auto call = [](const std::string& name, const json& params) {
    auto js = Grammar::json_schema({{"type", "object"},
                                    {"properties", {{"name", {{"const", name}}}, {"arguments", params}}},
                                    {"required", {"name", "arguments"}}});
    REQUIRE(js.ok());
    return Grammar::sequence({Grammar::literal("<tool_call>\n"), *js, Grammar::literal("\n</tool_call>")});
  };
  auto g = std::make_shared<const Grammar>(Grammar::choice(
      {call("get_weather", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}, {"required", {"city"}}}),
       call("get_time", {{"type", "object"}, {"properties", json::object()}})}));
  const Vocab v = small_vocab();
  auto idx = std::make_shared<const TokenIndex>(v.bytes, std::vector<int32_t>{v.eog});
  Matcher m(g, idx);
  CHECK(allowed(m, v.bytes.size()) == std::vector<int32_t>{v.id("<"), v.id("<tool_call>")});
  CHECK(m.shortest_completion() == "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{}}\n</tool_call>");
  REQUIRE(m.accept_bytes("<tool_call>\n{\"name\":\"get_w"));
  CHECK(m.shortest_completion() == "eather\",\"arguments\":{\"city\":\"\"}}\n</tool_call>");
  CHECK(m.stack_count() == 1);
  REQUIRE(m.accept_bytes("eather\",\"arguments\":{\"city\":\"Oslo\"}}"));
  CHECK(allowed(m, v.bytes.size()) == std::vector<int32_t>{v.id("\n"), v.id("\n</tool_call>")});
  REQUIRE(m.accept(v.id("\n</tool_call>")));
  CHECK(m.complete());
  Matcher empty(std::make_shared<const Grammar>(Grammar::literal("")), idx);
  CHECK(empty.complete());
  CHECK_FALSE(empty.can_continue());
  Matcher none(std::make_shared<const Grammar>(Grammar::choice(std::vector<Grammar>{})), idx);
  CHECK_FALSE(none.can_continue());
  CHECK(allowed(none, v.bytes.size()).empty());
}

TEST_CASE("budget: tokens that would leave no room to finish are masked") {
  const Vocab v = small_vocab();
  auto idx = std::make_shared<const TokenIndex>(v.bytes, std::vector<int32_t>{v.eog});
  Matcher m(schema({{"type", "object"}, {"properties", {{"s", {{"type", "string"}}}}}, {"required", {"s"}}}), idx);
  REQUIRE(m.accept_bytes("{\"s\":\"abc"));
  CHECK(m.shortest_completion() == "\"}");
  // 2 bytes + EOG need 3 tokens: "ab" (leaving 3 bytes) is too much for a budget of 3.
  CHECK(is_allowed(m, v, v.id("ab")));
  CHECK_FALSE(is_allowed(m, v, v.id("ab"), 3));
  CHECK(is_allowed(m, v, v.id("\""), 3));
  CHECK(is_allowed(m, v, v.id("\"}"), 3));
  CHECK(is_allowed(m, v, v.id("ab"), 4));
  CHECK(allowed(m, v.bytes.size(), 2) == std::vector<int32_t>{v.id("\"}")});
  CHECK(allowed(m, v.bytes.size(), 1).empty());
}

TEST_CASE("hostile schemas: clear errors, no crash") {
  json deep = {{"type", "integer"}};
  for (int i = 0; i < 10000; ++i) {
    json o = json::object();
    o["type"] = "object";
    o["properties"]["a"] = std::move(deep);
    deep = std::move(o);
  }
  CHECK(error_of(deep).find("nested deeper than 64") != std::string::npos);

  json big = json::array();
  for (int i = 0; i < 200000; ++i) big.push_back("value_" + std::to_string(i));
  auto ok = Grammar::json_schema({{"enum", big}});
  REQUIRE(ok.ok());
  CHECK(matches(std::make_shared<const Grammar>(std::move(*ok)), "\"value_199999\""));
  json huge = json::array();
  for (int i = 0; i < 100000; ++i) huge.push_back(std::string(50, 'x') + std::to_string(i));
  CHECK(error_of({{"enum", huge}}).find("'enum' too large") != std::string::npos);

  CHECK(error_of({{"$ref", "#/$defs/a"}, {"$defs", {{"a", {{"$ref", "#/$defs/a"}}}}}}).find("left recursion") != std::string::npos);
  CHECK(error_of({{"$ref", "#/$defs/a"}, {"$defs", {{"a", {{"$ref", "#/$defs/b"}}}, {"b", {{"anyOf", {{{"$ref", "#/$defs/a"}}, {{"type", "null"}}}}}}}}})
            .find("left recursion") != std::string::npos);
  CHECK(error_of({{"$ref", "#/$defs/a"}, {"$defs", {{"a", {{"type", "array"}, {"items", {{"$ref", "#/$defs/a"}}}, {"minItems", 1}}}}}})
            .find("no finite instance") != std::string::npos);
  CHECK(error_of({{"$ref", "#/$defs/missing"}}).find("not found") != std::string::npos);
  CHECK(error_of({{"$ref", "https://example.com/s.json"}}).find("only local") != std::string::npos);
  const std::string pat = error_of({{"type", "object"}, {"properties", {{"x", {{"type", "string"}, {"pattern", "^a"}}}}}});
  CHECK(pat.find("'pattern'") != std::string::npos);
  CHECK(pat.find("/properties/x") != std::string::npos);
  CHECK(error_of({{"type", "integer"}, {"minimum", 0}}).find("'minimum'") != std::string::npos);
  CHECK(error_of({{"type", "string"}, {"format", "date-time"}}).find("'format'") != std::string::npos);
  CHECK(error_of({{"type", "strin"}}).find("unknown type") != std::string::npos);
  CHECK(error_of(json(false)).find("no instance") != std::string::npos);
  CHECK(error_of(json(42)).find("object or a boolean") != std::string::npos);
  CHECK(error_of({{"type", "string"}, {"minLength", 5}, {"maxLength", 2}}).find("minLength") != std::string::npos);
  CHECK(error_of({{"type", "array"}, {"maxItems", 1000000000}}).find("maxItems") != std::string::npos);
  CHECK(error_of({{"type", "array"}, {"uniqueItems", true}}).find("uniqueItems") != std::string::npos);
  CHECK(error_of({{"type", "array"}, {"items", {json::object(), json::object()}}}).find("tuple") != std::string::npos);
  CHECK(error_of({{"anyOf", json::array()}}).find("non-empty") != std::string::npos);
  CHECK(error_of({{"enum", {1, 2}}, {"type", "string"}}).find("matches 'type'") != std::string::npos);
  // Annotations are ignored; additionalProperties never adds keys.
  CHECK(Grammar::json_schema({{"title", "t"}, {"description", "d"}, {"type", "object"}, {"additionalProperties", true}}).ok());
  // An ambiguous grammar keeps a bounded number of parses.
  auto amb = schema({{"type", "array"}, {"items", {{"anyOf", {{{"type", "integer"}}, {{"type", "number"}}}}}}});
  auto idx = std::make_shared<const TokenIndex>(small_vocab().bytes, std::vector<int32_t>{});
  Matcher m(amb, idx);
  REQUIRE(m.accept_bytes("[1"));
  for (int i = 0; i < 200; ++i) REQUIRE(m.accept_bytes(",1"));
  CHECK(m.stack_count() <= 8);
  REQUIRE(m.accept_bytes("]"));
  CHECK(m.complete());
}

TEST_CASE("token index: long tokens, duplicates and hostile ids") {
  std::vector<std::string> bytes = {"\"", std::string(300, 'a'), "a", "a", "\"", "x"};
  auto idx = std::make_shared<const TokenIndex>(bytes, std::vector<int32_t>{5, -1, 99});
  CHECK(idx->eog() == std::vector<int32_t>{5});
  CHECK(idx->long_tokens() == std::vector<int32_t>{1});
  Matcher m(schema({{"type", "string"}}), idx);
  REQUIRE(m.accept(0));
  auto a = allowed(m, 8);  // logits longer than the vocabulary: the extra ids are masked
  CHECK(a == std::vector<int32_t>{0, 1, 2, 3, 4});
  CHECK_FALSE(m.accept(-1));
  CHECK_FALSE(m.accept(6));
  REQUIRE(m.accept(1));
  REQUIRE(m.accept(4));
  CHECK(allowed(m, 6) == std::vector<int32_t>{5});
}
