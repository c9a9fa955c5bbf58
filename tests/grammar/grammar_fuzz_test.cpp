// Mutation fuzzing of the JSON Schema compiler and the matcher: the schemas of the generation
// tests mutated as text (truncations, byte flips, splices) and as values (hostile keyword
// values, self and mutual $refs, exponential $ref fan-out, huge minimum sizes). Every schema must
// compile or give invalid_argument with a message, quickly; every grammar that compiles must
// drive a matcher through random allowed tokens to a shortest completion without a sanitizer
// report. Deterministic: a fixed-seed LCG, bounded counts.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "providers/local/grammar/matcher.hpp"
#include "tests/fuzz_rng.hpp"

using namespace fh::grammar;
using fh::json;

using fh::test::Lcg;

namespace {

// The schemas of generate_test.cpp and grammar_test.cpp.
const char* kCorpus[] = {
    R"({"type":"object","properties":{
  "user":{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},
          "address":{"type":"object","properties":{"city":{"type":"string","maxLength":8},"zip":{"type":"string","minLength":5,"maxLength":5}},"required":["city"]}},
          "required":["name","age"],"additionalProperties":false},
  "active":{"type":"boolean"}},"required":["user"],"additionalProperties":false})",
    R"({"type":"object","properties":{
  "tags":{"type":"array","items":{"type":"string","maxLength":6},"minItems":1,"maxItems":3},
  "scores":{"type":"array","items":{"type":"number"},"maxItems":4},
  "matrix":{"type":"array","items":{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2},"minItems":1,"maxItems":2}},
  "required":["tags","scores","matrix"]})",
    R"({"type":"object","properties":{
  "unit":{"enum":["celsius","fahrenheit","kelvin"]},"level":{"enum":[1,2,3,null,"high",{"a":[1]}]},
  "ok":{"const":true},"mode":{"type":"string","enum":["fast","slow",7]}},"required":["unit","level","ok","mode"]})",
    R"({"type":"object","properties":{
  "value":{"anyOf":[{"type":"integer"},{"type":"string","maxLength":5},{"type":"array","items":{"type":"boolean"},"maxItems":2}]},
  "note":{"type":["string","null"],"maxLength":8},
  "pick":{"oneOf":[{"type":"null"},{"type":"object","properties":{"k":{"type":"integer"}},"required":["k"]}]}},
  "required":["value","note","pick"]})",
    R"({"type":"object","properties":{
  "code":{"type":"string","minLength":3,"maxLength":3},"text":{"type":"string","minLength":2,"maxLength":10},
  "free":{"type":"string"}},"required":["code","text","free"]})",
    R"({"type":"array","items":{"type":"object","properties":{"i":{"type":"integer"},"x":{"type":"number"}},
  "required":["i","x"]},"minItems":2,"maxItems":3})",
    R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
  "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]},
  "name":{"type":"string","maxLength":4}},
  "type":"object","properties":{"root":{"$ref":"#/$defs/node"},"label":{"$ref":"#/$defs/name"}},"required":["root","label"]})",
    R"({"type":"object","properties":{"payload":{},"list":{"type":"array"}},"required":["payload","list"]})",
    R"({"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}})",
};

// Every single byte (so any grammar can finish), a few multi-byte pieces, a control token and EOG.
std::shared_ptr<const TokenIndex> byte_index() {
  std::vector<std::string> bytes;
  for (int c = 0; c < 256; ++c) bytes.push_back(std::string(1, char(c)));
  for (const char* t : {"{\"", "\":", "\",\"", "true", "false", "null", "[]", "{}", "12", "-0.5e+1", "\\u00e9", "é",
                        "\xF0\x9F\xA6\x99", "\",", "\"}", "]}", "},{"})
    bytes.push_back(t);
  bytes.push_back(std::string(200, 'a'));  // longer than the trie depth limit
  bytes.push_back("");
  bytes.push_back("</s>");
  const auto eog = int32_t(bytes.size() - 1);
  return std::make_shared<const TokenIndex>(std::move(bytes), std::vector<int32_t>{eog});
}

// Compiles `s` within `max_ms`; on failure the error is invalid_argument with a message.
std::shared_ptr<const Grammar> compile(const json& s, int max_ms = 2000) {
  const auto t0 = std::chrono::steady_clock::now();
  auto g = Grammar::json_schema(s);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CAPTURE(s.dump().substr(0, 200));
  CHECK_MESSAGE(ms < max_ms, "compile took " << ms << " ms");
  if (!g.ok()) {
    CHECK(g.error().code == fh::Errc::invalid_argument);
    CHECK_FALSE(g.error().message.empty());
    return nullptr;
  }
  return std::make_shared<const Grammar>(std::move(*g));
}

// Random walk through allowed tokens, then the shortest completion must complete the text.
void drive(const std::shared_ptr<const Grammar>& g, const std::shared_ptr<const TokenIndex>& idx, Lcg& rng, int steps,
           int max_ms = 2000) {
  const auto t0 = std::chrono::steady_clock::now();
  Matcher m(g, idx);
  std::vector<float> logits(idx->size() + 3);
  std::string text;  // accepted so far
  for (int k = 0; k < steps && m.can_continue(); ++k) {
    std::fill(logits.begin(), logits.end(), 0.f);
    const size_t budget = (k & 3) == 3 ? 16 + rng.below(64) : SIZE_MAX;
    m.mask(logits, budget);
    std::vector<int32_t> ok;
    for (size_t i = 0; i < logits.size(); ++i)
      if (!std::isinf(logits[i])) ok.push_back(int32_t(i));
    for (size_t i = idx->size(); i < logits.size(); ++i) REQUIRE(std::isinf(logits[i]));
    if (ok.empty()) break;
    // Tokens that were masked (other than for the budget, which accept() does not know) are refused.
    const int32_t refused = int32_t(rng.below(idx->size()));
    if (budget == SIZE_MAX && std::isinf(logits[size_t(refused)])) {
      Matcher copy = m;
      CAPTURE(refused);
      CAPTURE(idx->bytes(refused));
      CAPTURE(text);
      CHECK_FALSE(copy.accept(refused));
    }
    const int32_t t = ok[rng.below(ok.size())];
    REQUIRE(m.accept(t));
    if (!idx->is_eog(t)) text += idx->bytes(t);
  }
  if (!m.finished()) {
    const std::string rest = m.shortest_completion();
    CHECK(rest.size() < (size_t(1) << 24));
    CAPTURE(text);
    CAPTURE(rest);
    if (!rest.empty()) CHECK(m.accept_bytes(rest));
    // A grammar without instances (an empty choice) can never complete.
    CHECK(m.complete() == (g->min_length() != SIZE_MAX));
  }
  CHECK_FALSE(m.accept(-1));
  CHECK_FALSE(m.accept(int32_t(idx->size())));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK_MESSAGE(ms < max_ms, "matching took " << ms << " ms");
}

// A hostile value for a keyword.
json hostile_value(Lcg& rng) {
  switch (rng.below(16)) {
    case 0: return -1;
    case 1: return 0;
    case 2: return 4096;
    case 3: return 4097;
    case 4: return int64_t(1) << 62;
    case 5: return uint64_t(1) << 63;
    case 6: return 1e300;
    case 7: return -1e19;
    case 8: return 2.5;
    case 9: return "#";
    case 10: return "#/properties";
    case 11: return json::array();
    case 12: return json::object();
    case 13: return nullptr;
    case 14: return std::string("\xFF\xFE", 2);
    default: return json::array({1e300, -1e300, 1.0, -9223372036854775807LL - 1, "x", nullptr});
  }
}

const char* kKeywords[] = {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
                           "oneOf", "allOf", "minItems", "maxItems", "minLength", "maxLength", "$ref",
                           "minProperties", "maxProperties", "uniqueItems", "$defs", "pattern", "title"};

// Replaces or adds a keyword somewhere inside `j` (a random object node).
void mutate_value(json& j, Lcg& rng, int depth = 0) {
  if (j.is_object() && !j.empty() && depth < 12 && rng.below(3) != 0) {
    auto it = j.begin();
    std::advance(it, long(rng.below(j.size())));
    if (it->is_object() || it->is_array()) return mutate_value(*it, rng, depth + 1);
  }
  if (j.is_array() && !j.empty() && depth < 12) return mutate_value(j[rng.below(j.size())], rng, depth + 1);
  if (!j.is_object()) {
    j = hostile_value(rng);
    return;
  }
  const char* k = kKeywords[rng.below(sizeof kKeywords / sizeof *kKeywords)];
  switch (rng.below(4)) {
    case 0: j[k] = hostile_value(rng); break;
    case 1: j["$ref"] = "#"; break;                                      // self reference
    case 2: j["anyOf"] = json::array({j, json{{"$ref", "#"}}}); break;   // nested copy + recursion
    default: j.erase(k); break;
  }
}

}  // namespace

TEST_CASE("grammar fuzz: schema text truncated and mutated") {
  const auto idx = byte_index();
  Lcg rng{77};
  int n = 0, compiled = 0;
  const char* splices[] = {"{", "}", "[", "]", ",", ":", "\"", "\"$ref\":\"#\",", "\"minItems\":4096,",
                           "\"anyOf\":[", "{\"$ref\":\"#\"}", "-", "1e999", "\\u0000", "\xFF"};
  for (int iter = 0; iter < 1500; ++iter) {
    std::string text = kCorpus[rng.below(sizeof kCorpus / sizeof *kCorpus)];
    const int edits = 1 + int(rng.below(4));
    for (int k = 0; k < edits && !text.empty(); ++k) {
      const size_t pos = rng.below(text.size());
      switch (rng.below(5)) {
        case 0: text.resize(pos); break;
        case 1: text.erase(pos, 1 + rng.below(12)); break;
        case 2: text[pos] = char(text[pos] ^ (1 << rng.below(8))); break;
        case 3: text.insert(pos, splices[rng.below(sizeof splices / sizeof *splices)]); break;
        case 4: text.insert(pos, 1, "0123456789\"{}[],:"[rng.below(17)]); break;
      }
    }
    const json s = json::parse(text, nullptr, false);
    if (s.is_discarded()) continue;
    ++n;
    if (auto g = compile(s)) {
      ++compiled;
      drive(g, idx, rng, 24);
    }
  }
  MESSAGE("text mutations: " << n << " parsed schemas, " << compiled << " compiled");
  CHECK(n > 150);
}

TEST_CASE("grammar fuzz: hostile keyword values") {
  const auto idx = byte_index();
  Lcg rng{4242};
  int n = 0, compiled = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    json s = json::parse(kCorpus[rng.below(sizeof kCorpus / sizeof *kCorpus)]);
    const int edits = 1 + int(rng.below(3));
    for (int k = 0; k < edits; ++k) mutate_value(s, rng);
    ++n;
    if (auto g = compile(s)) {
      ++compiled;
      drive(g, idx, rng, 16);
    }
  }
  MESSAGE("value mutations: " << n << " schemas, " << compiled << " compiled");
}

TEST_CASE("grammar fuzz: recursion, fan-out and size bombs") {
  const auto idx = byte_index();
  Lcg rng{9};
  // $ref fan-out: a_k = anyOf[a_{k-1}, a_{k-1}] has 2^k derivations of one short value; the
  // properties are listed so that every a_k compiles at a small depth.
  for (int levels : {8, 24, 48}) {
    json defs = json::object();
    defs["a0"] = {{"type", "null"}};
    json required = json::array();
    json props = json::object();
    for (int k = 1; k <= levels; ++k) {
      const std::string prev = "#/$defs/a" + std::to_string(k - 1);
      defs["a" + std::to_string(k)] = {{"anyOf", json::array({{{"$ref", prev}}, {{"$ref", prev}}, {{"type", "integer"}}})}};
    }
    for (int k = levels; k >= 0; --k) {
      required.push_back("p" + std::to_string(k));
      props["p" + std::to_string(k)] = {{"$ref", "#/$defs/a" + std::to_string(k)}};
    }
    CAPTURE(levels);
    auto g = compile({{"$defs", defs}, {"type", "object"}, {"properties", props}, {"required", required}});
    REQUIRE(g);
    drive(g, idx, rng, 64);
    Matcher m(g, idx);
    CHECK(m.accept_bytes("{\"p" + std::to_string(levels) + "\":null"));
  }
  // Shortest instances far too long to ever generate.
  json nested = {{"type", "array"}, {"minItems", 4096}};
  for (int k = 0; k < 3; ++k) nested = {{"type", "array"}, {"minItems", 4096}, {"items", nested}};
  CHECK_FALSE(compile(nested));  // 4096^3 items
  json wide = {{"type", "object"}, {"required", json::array()}, {"properties", json::object()}};
  for (int k = 0; k < 64; ++k) {
    const std::string name = "s" + std::to_string(k);
    wide["required"].push_back(name);
    wide["properties"][name] = {{"type", "string"}, {"minLength", 65536}};
  }
  CHECK_FALSE(compile(wide));  // 64 strings of 65536 characters
  // Self, mutual and left recursion; recursion without a finite instance; deep $ref chains.
  for (const char* text : {
           R"({"$ref":"#"})",
           R"({"anyOf":[{"$ref":"#"},{"type":"null"}]})",
           R"({"type":"array","items":{"$ref":"#"},"minItems":1})",
           R"({"type":"array","items":{"$ref":"#"}})",
           R"({"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]})",
           R"({"type":"object","properties":{"a":{"$ref":"#"}}})",
           R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
           R"({"$defs":{"a":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"})",
           R"({"$defs":{"a":{"type":"array","items":{"$ref":"#/$defs/b"}},"b":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"integer"}]}},"$ref":"#/$defs/a"})",
           R"({"$ref":"#/"})", R"({"$ref":"#//"})", R"({"$ref":"#/~"})", R"({"$ref":"#/~2"})", R"({"$ref":""})",
           R"({"$ref":"#/properties/x","properties":{"x":{"type":"null"}}})",
           R"({"type":"integer","enum":[1e300,-1e300,2.5,-9223372036854775808,18446744073709551615,3]})",
           R"({"type":"integer","const":1e19})",
           R"({"enum":[""]})", R"({"enum":[[]]})", R"({"const":{}})",
           R"({"type":"string","maxLength":9223372036854775807})",
           R"({"type":"string","minLength":65536,"maxLength":65536})",
           R"({"type":"array","minItems":4096,"maxItems":4096,"items":{"type":"string","minLength":65536}})",
           R"({"type":"object","minProperties":9223372036854775807})",
           R"({"type":"object","maxProperties":-1})",
       }) {
    const json s = json::parse(text);
    if (auto g = compile(s)) drive(g, idx, rng, 32);
  }
  std::string chain = R"({"$defs":{)";
  for (int k = 0; k < 2000; ++k) chain += "\"d" + std::to_string(k) + R"(":{"$ref":"#/$defs/d)" + std::to_string(k + 1) + "\"},";
  chain += R"("d2000":{"type":"null"}},"$ref":"#/$defs/d0"})";
  compile(json::parse(chain));
  // Composition: empty choice, nested sequences of schema grammars and literals.
  auto g = compile(json::parse(kCorpus[6]));
  REQUIRE(g);
  Grammar nested_seq = Grammar::literal("x");
  for (int k = 0; k < 200; ++k) nested_seq = Grammar::sequence({Grammar::literal("<"), nested_seq, Grammar::literal(">")});
  for (const Grammar& c : {Grammar::choice(std::vector<Grammar>{}), Grammar::literal(""),
                           Grammar::choice({Grammar::literal(""), *g}), nested_seq,
                           Grammar::sequence({Grammar::literal("<tool_call>"), *g, Grammar::choice({})})}) {
    drive(std::make_shared<const Grammar>(c), idx, rng, 32);
  }
}

TEST_CASE("grammar fuzz: hostile token indexes") {
  Lcg rng{5};
  auto g = compile(json::parse(kCorpus[0]));
  REQUIRE(g);
  for (int iter = 0; iter < 40; ++iter) {
    std::vector<std::string> bytes;
    const size_t n = 1 + rng.below(300);
    for (size_t i = 0; i < n; ++i) {
      std::string t;
      const size_t len = rng.below(8) == 0 ? 100 + rng.below(300) : rng.below(4);
      for (size_t k = 0; k < len; ++k) t += char(rng.below(256));
      bytes.push_back(t);
    }
    std::vector<int32_t> eog = {-5, int32_t(n), int32_t(rng.below(n)), INT32_MAX, INT32_MIN};
    auto idx = std::make_shared<const TokenIndex>(std::move(bytes), std::move(eog));
    Matcher m(g, idx);
    std::vector<float> logits(n + 5, 0.f);
    m.mask(logits);
    for (size_t i = n; i < logits.size(); ++i) CHECK(std::isinf(logits[i]));
    for (int k = 0; k < 8; ++k) (void)m.accept(int32_t(rng.below(n + 4)) - 2);
    (void)m.shortest_completion();
  }
}
