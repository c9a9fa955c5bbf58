// The acceptance test of constrained decoding: random-weight llama models whose vocabularies are
// real ones (llama SentencePiece 32k, stories260K 512), temperature-1 sampling from masked
// logits, 100 generations per schema under a token cap; every output must parse with nlohmann
// and validate with valijson. Also the mask time per token on the 32k vocabulary.
#include <doctest/doctest.h>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "providers/local/grammar/matcher.hpp"
#include "providers/local/kernel/gguf.hpp"
#include "providers/local/kernel/gguf_writer.hpp"
#include "providers/local/kernel/session.hpp"

using namespace fh::grammar;
using fh::json;
namespace k = fh::kernel;

namespace {

const std::string shared_dir = FH_SHARED_DIR;

// The vocabulary of a GGUF file (tokens, types, eos), without loading a model.
k::Vocab load_vocab(const std::string& path) {
  auto f = k::GgufFile::open(path);
  REQUIRE_MESSAGE(f.ok(), path);
  k::Vocab v;
  const k::MetaValue* toks = (*f)->find("tokenizer.ggml.tokens");
  REQUIRE(toks != nullptr);
  v.tokens = toks->strings;
  if (const k::MetaValue* t = (*f)->find("tokenizer.ggml.token_type"))
    for (int64_t x : t->ints) v.types.push_back(int32_t(x));
  v.model = (*f)->get_string("tokenizer.ggml.model");
  int64_t eos = -1;
  if ((*f)->get_int("tokenizer.ggml.eos_token_id", eos)) v.eos = int32_t(eos);
  return v;
}

struct Fixture {
  std::shared_ptr<const k::Model> model;
  std::shared_ptr<const TokenIndex> index;
};

// A tiny random-weight llama model with the vocabulary of `vocab_file`, made once per process.
const Fixture& fixture(const std::string& vocab_file) {
  static std::map<std::string, Fixture> cache;
  if (auto it = cache.find(vocab_file); it != cache.end()) return it->second;
  const k::Vocab vocab = load_vocab(shared_dir + "/" + vocab_file);
  k::ModelSpec spec;
  spec.n_vocab = int(vocab.tokens.size());
  spec.n_embd = 16, spec.n_layer = 1, spec.n_head = 2, spec.n_head_kv = 1, spec.n_ff = 32, spec.n_ctx = 256;
  spec.seed = 11;
  const std::string path = "/tmp/fh_grammar_test_" + std::to_string(::getpid()) + ".gguf";
  REQUIRE(k::write_random_model(path, spec).ok());
  auto model = k::Model::load(path);
  std::remove(path.c_str());  // the mapping stays valid
  REQUIRE(model.ok());
  Fixture fx{*model, std::make_shared<const TokenIndex>(TokenIndex::from_vocab(vocab))};
  return cache.emplace(vocab_file, std::move(fx)).first->second;
}

// This thread's CPU time: the machine is shared, wall time overstates the work.
double cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

int32_t sample(std::span<const float> logits, std::mt19937_64& rng) {
  float mx = -INFINITY;
  for (float l : logits) mx = std::max(mx, l);
  if (std::isinf(mx)) return -1;
  double sum = 0;
  for (float l : logits) sum += std::isinf(l) ? 0.0 : std::exp(double(l - mx));
  double u = std::uniform_real_distribution<double>(0.0, sum)(rng);
  int32_t last = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isinf(logits[i])) continue;
    last = int32_t(i);
    u -= std::exp(double(logits[i] - mx));
    if (u <= 0) return last;
  }
  return last;
}

struct Run {
  std::string text;
  int tokens = 0;
  bool eog = false;  // ended by sampling the end-of-generation token
};

// One masked generation of at most `cap` tokens (the EOG token included).
Run generate(const Fixture& fx, const std::shared_ptr<const Grammar>& g, k::Session& s, std::mt19937_64& rng, int cap) {
  Matcher m(g, fx.index);
  REQUIRE(m.shortest_completion().size() + 1 <= size_t(cap));
  s.reset();
  int32_t tok = fx.model->vocab().bos;
  auto r = s.eval(std::span<const int32_t>(&tok, 1));
  REQUIRE(r.ok());
  std::vector<float> logits;
  Run run;
  for (int n = 0; n < cap; ++n) {
    logits.assign(r->begin(), r->end());
    m.mask(logits, size_t(cap - n));
    tok = sample(logits, rng);
    REQUIRE_MESSAGE(tok >= 0, "no token allowed after: " << run.text);
    REQUIRE(m.accept(tok));
    ++run.tokens;
    if (m.finished()) {
      run.eog = true;
      return run;
    }
    run.text += fx.index->bytes(tok);
    if (!m.can_continue()) break;
    r = s.eval(std::span<const int32_t>(&tok, 1));
    REQUIRE(r.ok());
  }
  REQUIRE_MESSAGE(m.complete(), "incomplete at the cap: " << run.text);
  return run;
}

bool validates(const json& schema, const json& doc, std::string& why) {
  valijson::Schema vs;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema);
  parser.populateSchema(schema_adapter, vs);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter doc_adapter(doc);
  if (validator.validate(vs, doc_adapter, &results)) return true;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) why += e.description + "; ";
  return false;
}

// n generations under `schema_text`; every one must parse and validate.
void check_schema(const std::string& vocab_file, const std::string& schema_text, int n, int cap, uint64_t seed) {
  const Fixture& fx = fixture(vocab_file);
  const json schema = json::parse(schema_text);
  auto g = Grammar::json_schema(schema);
  REQUIRE_MESSAGE(g.ok(), (g.ok() ? "" : g.error().message));
  auto grammar = std::make_shared<const Grammar>(std::move(*g));
  k::Session s(fx.model, {.n_ctx = cap + 8, .n_threads = 1});
  std::mt19937_64 rng(seed);
  int at_cap = 0, tokens = 0;
  size_t longest = 0;
  for (int i = 0; i < n; ++i) {
    const Run run = generate(fx, grammar, s, rng, cap);
    const json doc = json::parse(run.text, nullptr, false);
    REQUIRE_MESSAGE(!doc.is_discarded(), "not JSON: " << run.text);
    std::string why;
    REQUIRE_MESSAGE(validates(schema, doc, why), why << " in " << run.text);
    at_cap += run.tokens == cap, tokens += run.tokens, longest = std::max(longest, run.text.size());
  }
  MESSAGE(vocab_file << ": " << n << " valid; " << at_cap << " used the whole cap of " << cap << ", mean " << tokens / n
                     << " tokens, longest " << longest << " bytes");
}

const char* kNested = R"({"type":"object","properties":{
  "user":{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},
          "address":{"type":"object","properties":{"city":{"type":"string","maxLength":8},"zip":{"type":"string","minLength":5,"maxLength":5}},"required":["city"]}},
          "required":["name","age"],"additionalProperties":false},
  "active":{"type":"boolean"}},"required":["user"],"additionalProperties":false})";
const char* kArrays = R"({"type":"object","properties":{
  "tags":{"type":"array","items":{"type":"string","maxLength":6},"minItems":1,"maxItems":3},
  "scores":{"type":"array","items":{"type":"number"},"maxItems":4},
  "matrix":{"type":"array","items":{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2},"minItems":1,"maxItems":2}},
  "required":["tags","scores","matrix"]})";
const char* kEnums = R"({"type":"object","properties":{
  "unit":{"enum":["celsius","fahrenheit","kelvin"]},"level":{"enum":[1,2,3,null,"high",{"a":[1]}]},
  "ok":{"const":true},"mode":{"type":"string","enum":["fast","slow",7]}},"required":["unit","level","ok","mode"]})";
const char* kAnyOf = R"({"type":"object","properties":{
  "value":{"anyOf":[{"type":"integer"},{"type":"string","maxLength":5},{"type":"array","items":{"type":"boolean"},"maxItems":2}]},
  "note":{"type":["string","null"],"maxLength":8},
  "pick":{"oneOf":[{"type":"null"},{"type":"object","properties":{"k":{"type":"integer"}},"required":["k"]}]}},
  "required":["value","note","pick"]})";
const char* kStrings = R"({"type":"object","properties":{
  "code":{"type":"string","minLength":3,"maxLength":3},"text":{"type":"string","minLength":2,"maxLength":10},
  "free":{"type":"string"}},"required":["code","text","free"]})";
const char* kNumbers = R"({"type":"array","items":{"type":"object","properties":{"i":{"type":"integer"},"x":{"type":"number"}},
  "required":["i","x"]},"minItems":2,"maxItems":3})";
const char* kRef = R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
  "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]},
  "name":{"type":"string","maxLength":4}},
  "type":"object","properties":{"root":{"$ref":"#/$defs/node"},"label":{"$ref":"#/$defs/name"}},"required":["root","label"]})";
const char* kAny = R"({"type":"object","properties":{"payload":{},"list":{"type":"array"}},"required":["payload","list"]})";

}  // namespace

TEST_CASE("generation: masked samples per schema all parse and validate (llama SPM 32k vocab)") {
  const std::string vocab = "data/vocab/ggml-vocab-llama-spm.gguf";
  int seed = 1;
  for (const char* s : {kNested, kArrays, kEnums, kAnyOf, kStrings, kNumbers, kRef, kAny}) {
    const std::string schema_text = s;
    CAPTURE(schema_text);
    check_schema(vocab, s, 2, 96, uint64_t(seed++));
  }
}

TEST_CASE("generation: a forced tool call in Hermes format parses and its arguments validate") {
  const Fixture& fx = fixture("models/stories260K.gguf");
  const json weather = json::parse(R"({"type":"object","properties":{"city":{"type":"string","maxLength":10},
    "unit":{"enum":["c","f"]}},"required":["city"]})");
  const json time = json::parse(R"({"type":"object","properties":{"tz":{"type":"string","maxLength":6}}})");
  std::vector<Grammar> calls;
  for (const auto& [name, params] : {std::pair{"get_weather", weather}, std::pair{"get_time", time}}) {
    auto js = Grammar::json_schema({{"type", "object"},
                                    {"properties", {{"name", {{"const", name}}}, {"arguments", params}}},
                                    {"required", {"name", "arguments"}}});
    REQUIRE(js.ok());
    calls.push_back(Grammar::sequence({Grammar::literal("<tool_call>\n"), *js, Grammar::literal("\n</tool_call>")}));
  }
  auto g = std::make_shared<const Grammar>(Grammar::choice(calls));
  k::Session s(fx.model, {.n_ctx = 200, .n_threads = 1});
  std::mt19937_64 rng(99);
  const std::string open = "<tool_call>\n", close = "\n</tool_call>";
  for (int i = 0; i < 100; ++i) {
    const Run run = generate(fx, g, s, rng, 160);
    REQUIRE(run.text.rfind(open, 0) == 0);
    REQUIRE(run.text.size() >= open.size() + close.size());
    REQUIRE(run.text.compare(run.text.size() - close.size(), close.size(), close) == 0);
    const json call = json::parse(run.text.substr(open.size(), run.text.size() - open.size() - close.size()), nullptr, false);
    REQUIRE(call.is_object());
    REQUIRE(run.text.find("{\"name\":") == open.size());
    std::string why;
    const json& schema = call["name"] == "get_weather" ? weather : time;
    REQUIRE_MESSAGE(validates(schema, call["arguments"], why), why << " in " << run.text);
  }
}

TEST_CASE("generation: 100 masked samples per schema all parse and validate (stories260K vocab, 512 tokens)") {
  int seed = 100;
  for (const char* s : {kNested, kArrays, kEnums, kAnyOf, kStrings, kNumbers, kRef, kAny}) {
    const std::string schema_text = s;
    CAPTURE(schema_text);
    check_schema("models/stories260K.gguf", s, 100, 128, uint64_t(seed++));
  }
}

TEST_CASE("mask time per token, 32k vocabulary") {
  const Fixture& fx = fixture("data/vocab/ggml-vocab-llama-spm.gguf");
  auto g = Grammar::json_schema(json::parse(kNested));
  REQUIRE(g.ok());
  auto grammar = std::make_shared<const Grammar>(std::move(*g));
  std::vector<float> logits(fx.index->size());
  for (const auto& [label, prefix] : {std::pair{std::string("object start"), std::string()},
                                      std::pair{std::string("inside a string"), std::string(R"({"user":{"name":"ab)")},
                                      std::pair{std::string("after a number"), std::string(R"({"user":{"name":"a","age":12)")}}) {
    Matcher m(grammar, fx.index);
    REQUIRE(m.accept_bytes(prefix.empty() ? "{" : prefix));
    const int reps = 50;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_us();
    for (int i = 0; i < reps; ++i) {
      std::fill(logits.begin(), logits.end(), 0.f);
      m.mask(logits);
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double cpu = (cpu_us() - c0) / reps;
    size_t n_allowed = 0;
    for (float l : logits) n_allowed += !std::isinf(l);
    MESSAGE("mask, " << fx.index->size() << " tokens, " << label << ": " << cpu << " us/token CPU (" << us
                      << " wall), " << n_allowed << " allowed");
    CHECK(n_allowed > 0);
    CHECK(us < 200000);
  }
}
