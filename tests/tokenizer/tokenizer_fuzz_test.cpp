// Mutation fuzzing of tokenizer metadata and input: vocabularies taken from the real GGUF files
// (llama-spm, gpt-2, stories260K), cut down for speed and rewritten with duplicate, empty,
// invalid-UTF-8 and overlong tokens, NaN/inf scores, out-of-range types and special ids, merges
// that name missing tokens or are malformed, wrongly typed keys. Every file must load or give
// invalid_argument with a message; every tokenizer that loads must encode hostile text (invalid
// UTF-8, special texts, very long runs) to in-range ids and decode any ids, quickly.
// Deterministic: a fixed-seed LCG, bounded counts.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "providers/local/kernel/gguf_writer.hpp"
#include "providers/local/text/tokenizer.hpp"
#include "runtime/core/utf8.hpp"
#include "tests/fuzz_rng.hpp"

using fh::local::Tokenizer;
using fh::local::Utf8Stream;

using fh::test::Lcg;

namespace {

// The tokenizer metadata of a real file, as plain vectors we can mutate.
struct Meta {
  std::string model, pre;
  std::vector<std::string> tokens, merges;
  std::vector<float> scores;
  std::vector<int32_t> types;
  bool has_scores = false, has_types = false, has_merges = false;
};

Meta read_meta(const std::string& path, size_t max_tokens, size_t max_merges) {
  auto f = fh::kernel::GgufFile::open(path);
  REQUIRE_MESSAGE(f.ok(), path);
  const auto& g = **f;
  Meta m;
  m.model = g.get_string("tokenizer.ggml.model");
  m.pre = g.get_string("tokenizer.ggml.pre");
  const auto* toks = g.find("tokenizer.ggml.tokens");
  REQUIRE(toks);
  const size_t n = std::min(max_tokens, toks->strings.size());
  m.tokens.assign(toks->strings.begin(), toks->strings.begin() + long(n));
  if (const auto* sc = g.find("tokenizer.ggml.scores")) {
    m.has_scores = true;
    for (size_t i = 0; i < n; ++i) m.scores.push_back(float(sc->floats[i]));
  }
  if (const auto* ty = g.find("tokenizer.ggml.token_type")) {
    m.has_types = true;
    for (size_t i = 0; i < n; ++i) m.types.push_back(int32_t(ty->ints[i]));
  }
  if (const auto* me = g.find("tokenizer.ggml.merges")) {
    m.has_merges = true;
    const size_t k = std::min(max_merges, me->strings.size());
    m.merges.assign(me->strings.begin(), me->strings.begin() + long(k));
  }
  return m;
}

std::string random_bytes(Lcg& rng, size_t len) {
  std::string s;
  for (size_t k = 0; k < len; ++k) s += char(rng.below(256));
  return s;
}

// Hostile texts: invalid UTF-8, special-looking texts, long runs.
std::vector<std::string> hostile_texts(Lcg& rng) {
  std::vector<std::string> out = {
      "", " ", "\xFF", "\xC3", "\xE2\x82", "\xF0\x9F\xA6", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF",
      std::string("\0\0", 2), "<s></s><unk><|endoftext|><0x41>", "<0xZZ>", "\xE2\x96\x81\xE2\x96\x81", "'s'S'll 123456789",
      "a\r\nb\n\n\t\v\f c", "\xC2\xA0\xE3\x80\x80", random_bytes(rng, 64),
  };
  out.push_back(std::string(2000, ' '));
  out.push_back(std::string(2000, 'a'));
  out.push_back(std::string(2000, '7'));
  std::string mix;
  for (int k = 0; k < 300; ++k) mix += out[rng.below(17)];
  out.push_back(mix);
  return out;
}

// Writes `m` (with the extra keys `extra` adds) and loads it.
template <class Extra>
fh::Result<std::shared_ptr<const Tokenizer>> build(const Meta& m, Extra&& extra) {
  fh::kernel::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("tokenizer.ggml.model", m.model);
  if (!m.pre.empty()) w.add_string("tokenizer.ggml.pre", m.pre);
  w.add_string_array("tokenizer.ggml.tokens", m.tokens);
  if (m.has_scores) w.add_f32_array("tokenizer.ggml.scores", m.scores);
  if (m.has_types) w.add_i32_array("tokenizer.ggml.token_type", m.types);
  if (m.has_merges) w.add_string_array("tokenizer.ggml.merges", m.merges);
  extra(w);
  auto f = fh::kernel::GgufFile::from_bytes("fuzz.gguf", w.to_bytes());
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message));
  return Tokenizer::from_gguf(**f);
}

// Exercises a loaded tokenizer on hostile texts and ids.
void exercise(const Tokenizer& t, Lcg& rng) {
  const auto n = int32_t(t.size());
  for (const std::string& s : hostile_texts(rng)) {
    for (int mode = 0; mode < 4; ++mode) {
      const auto ids = t.encode(s, mode & 1, mode & 2);
      for (int32_t id : ids) REQUIRE((id >= 0 && id < n));
      (void)t.decode(ids, mode & 1);
    }
  }
  std::vector<int32_t> ids;
  for (int k = 0; k < 200; ++k) ids.push_back(int32_t(rng.next()) % (n + 10));
  ids.push_back(-1);
  ids.push_back(std::numeric_limits<int32_t>::max());
  ids.push_back(std::numeric_limits<int32_t>::min());
  (void)t.decode(ids, false);
  (void)t.decode(ids, true);
  for (int32_t id : ids) {
    (void)t.token_bytes(id);
    (void)t.text(id);
    (void)t.is_eog(id);
    (void)t.is_special(id);
    (void)t.type(id);
  }
  (void)t.find("");
  (void)t.find(std::string("\0", 1));
}

// One metadata mutation.
void mutate(Meta& m, Lcg& rng) {
  const size_t n = m.tokens.size();
  const size_t i = rng.below(n);
  switch (rng.below(14)) {
    case 0: m.tokens[i] = m.tokens[rng.below(n)]; break;                  // duplicate token
    case 1: m.tokens[i].clear(); break;                                    // empty token
    case 2: m.tokens[i] = random_bytes(rng, 1 + rng.below(6)); break;      // invalid UTF-8
    case 3: m.tokens[i] = std::string(5000 + rng.below(5000), 'a'); break; // overlong token
    case 4: m.tokens.resize(1 + rng.below(n)); break;                      // truncated vocab
    case 5:
      if (m.has_scores) {
        const float bad[] = {NAN, INFINITY, -INFINITY, 3.4e38f, -3.4e38f, -0.f};
        for (int k = 0; k < 50; ++k) m.scores[rng.below(m.scores.size())] = bad[rng.below(6)];
      }
      break;
    case 6: if (m.has_types) for (int k = 0; k < 50; ++k) m.types[rng.below(m.types.size())] = int32_t(rng.next()) % 9 - 1; break;
    case 7: if (m.has_types) for (auto& t : m.types) t = 3; break;         // everything is a control token
    case 8: if (m.has_types) for (auto& t : m.types) t = 6; break;         // everything is a byte token
    case 9:                                                               // merges naming missing tokens / malformed
      if (m.has_merges && !m.merges.empty()) {
        const char* bad[] = {"zzz qqq", "a", " a", "a ", "  ", "", "a  b", "\xFF \xFE", "a b c"};
        m.merges[rng.below(m.merges.size())] = bad[rng.below(9)];
      }
      break;
    case 10: if (m.has_merges && !m.merges.empty()) m.merges.push_back(m.merges[rng.below(m.merges.size())]); break;
    case 11: m.has_scores = !m.has_scores; break;
    case 12: m.has_types = !m.has_types; break;
    case 13: m.tokens[i] = m.tokens[i] + m.tokens[rng.below(n)]; break;    // a merged piece with no merge
  }
  // Keep array lengths consistent most of the time: mismatches are their own error path.
  if (rng.below(8) != 0) {
    m.scores.resize(m.tokens.size(), 0.f);
    m.types.resize(m.tokens.size(), 1);
  }
}

// Extra keys: special ids and flags of every type and range.
void add_specials(fh::kernel::GgufWriter& w, Lcg& rng, size_t n) {
  const char* keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                        "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id", "tokenizer.ggml.padding_token_id",
                        "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                        "tokenizer.ggml.add_space_prefix"};
  for (const char* k : keys) {
    // Mostly absent or valid, so that most vocabularies load and get exercised.
    if (rng.below(3) != 0) {
      if (rng.below(2) == 0) w.add_u32(k, uint32_t(rng.below(n)));
      continue;
    }
    switch (rng.below(10)) {
      case 0: w.add_u32(k, 0xFFFFFFFFu); break;
      case 1: w.add_u32(k, uint32_t(n)); break;
      case 2: w.add_i32(k, -7); break;
      case 3: w.add_u64(k, ~uint64_t(0)); break;
      case 4: w.add_u64(k, uint64_t(1) << 63); break;
      case 5: w.add_string(k, "1"); break;
      case 6: w.add_f32(k, 1.5f); break;
      case 7: w.add_bool(k, true); break;
      case 8: w.add_u32(k, uint32_t(rng.below(n))); break;
      default: break;  // absent
    }
  }
  if (rng.below(4) == 0) w.add_string("general.name", "Phi-3 fuzz");
}

void fuzz_vocab(const std::string& path, size_t max_tokens, size_t max_merges, int rounds, uint64_t seed) {
  const Meta base = read_meta(path, max_tokens, max_merges);
  Lcg rng{seed};
  int loaded = 0, errors = 0;
  for (int round = 0; round < rounds; ++round) {
    Meta m = base;
    const int edits = 1 + int(rng.below(4));
    for (int k = 0; k < edits; ++k) mutate(m, rng);
    const auto t0 = std::chrono::steady_clock::now();
    auto t = build(m, [&](fh::kernel::GgufWriter& w) { add_specials(w, rng, m.tokens.size()); });
    CAPTURE(path);
    CAPTURE(round);
    if (t.ok()) {
      ++loaded;
      exercise(**t, rng);
    } else {
      ++errors;
      CHECK(t.error().code == fh::Errc::invalid_argument);
      CHECK(t.error().message.find("fuzz.gguf") != std::string::npos);
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK_MESSAGE(ms < 2000, "round took " << ms << " ms");
  }
  MESSAGE(path << ": " << rounds << " mutated vocabularies, " << loaded << " loaded, " << errors << " clean errors");
  CHECK(loaded > 0);
}

}  // namespace

TEST_CASE("tokenizer fuzz: mutated SPM vocabularies (llama-spm, stories260K)") {
  fuzz_vocab(std::string(FH_SHARED_DIR) + "/data/vocab/ggml-vocab-llama-spm.gguf", 700, 0, 30, 11);
  fuzz_vocab(std::string(FH_SHARED_DIR) + "/models/stories260K.gguf", 512, 0, 30, 12);
}

TEST_CASE("tokenizer fuzz: mutated byte-level BPE vocabularies (gpt-2, qwen2)") {
  fuzz_vocab(std::string(FH_SHARED_DIR) + "/data/vocab/ggml-vocab-gpt-2.gguf", 1200, 900, 30, 13);
  fuzz_vocab(std::string(FH_SHARED_DIR) + "/data/vocab/ggml-vocab-qwen2.gguf", 1200, 900, 20, 14);
}

TEST_CASE("tokenizer fuzz: degenerate vocabularies") {
  Lcg rng{15};
  auto one = [&](Meta m) {
    auto t = build(m, [](fh::kernel::GgufWriter&) {});
    if (t.ok()) exercise(**t, rng);
    else CHECK_FALSE(t.error().message.empty());
  };
  one({"llama", "", {""}, {}, {}, {}, false, false, false});
  one({"llama", "", {"", "", ""}, {}, {NAN, NAN, NAN}, {3, 3, 3}, true, true, false});
  one({"llama", "", {"\xE2\x96\x81", "<0x41>", "<0xFF>", "<0x>", "<0xGG>"}, {}, {INFINITY, -INFINITY, NAN, 0, 0},
       {1, 6, 6, 6, 6}, true, true, false});
  one({"gpt2", "gpt-2", {""}, {}, {}, {}, false, false, true});
  one({"gpt2", "gpt-2", {"a", "a", "aa", "aa"}, {"a a", "a a", "aa aa", "aa a"}, {}, {}, false, false, true});
  one({"gpt2", "llama-bpe", {"<|x|>", "<|x|>", "\xFF"}, {"<|x|> <|x|>"}, {}, {3, 4, 1}, false, true, true});
  one({"gpt2", "qwen2", {"\xC4\xA0", "\xC4\xA0\xC4\xA0"}, {"\xC4\xA0 \xC4\xA0"}, {}, {}, false, false, true});
}

TEST_CASE("tokenizer fuzz: Utf8Stream on random chunks stays valid UTF-8") {
  Lcg rng{16};
  for (int round = 0; round < 300; ++round) {
    Utf8Stream st;
    std::string out;
    for (int k = 0; k < 20; ++k) out += st.push(random_bytes(rng, rng.below(6)));
    out += st.flush();
    CHECK(fh::utf8::valid(out));
  }
}
