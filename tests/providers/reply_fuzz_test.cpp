// Mutation fuzzing of every provider reply decoder. Each recorded fixture (plus a few hand-made
// seeds for shapes no recording has: thinking blocks, a retry hint, Mistral chunk arrays) is
// mutated deterministically (a fixed-seed LCG, nothing from the clock) at the byte level, the
// JSON level (values of the wrong type, huge numbers, long strings, ~10000-deep nesting) and the
// SSE level (events dropped, duplicated, reordered, split anywhere, [DONE] early or missing), and
// fed to its dialect's decoders the way the clients drive them. Every input must decode, or fail
// through the normal error channel with a usable message (non-empty, UTF-8, sane retry hint); no
// exception may escape, no sanitizer may fire and no input may take long.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "providers/anthropic/codec.hpp"
#include "providers/gemini/codec.hpp"
#include "providers/http/sse.hpp"
#include "providers/mistral/codec.hpp"
#include "providers/openai/codec.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"
#include "tests/fuzz_rng.hpp"

using namespace fh;
using api::StreamEvent;

using fh::test::Lcg;

namespace {

enum class Dialect { openai, anthropic, gemini, mistral };

// Inputs run and failures seen: per kind of failure, how often and the first input that caused it.
struct Tally {
  size_t inputs = 0, failed = 0;
  std::map<std::string, std::pair<size_t, std::string>> kinds;
  void fail(const std::string& what, std::string_view input) {
    ++failed;
    auto& k = kinds[what.substr(0, 200)];
    if (k.first++ == 0)
      k.second = "input (" + std::to_string(input.size()) + " bytes): " +
                 json(std::string(input.substr(0, 240))).dump(-1, ' ', true, json::error_handler_t::replace);
  }
  void report(const std::string& name) const {
    for (const auto& [what, k] : kinds) FAIL_CHECK(what << " (x" << k.first << ")\n    first " << k.second);
    MESSAGE(name << ": " << inputs << " mutated inputs, " << failed << " failures");
    CHECK(failed == 0);
  }
};

bool valid_utf8(const std::string& s) {
  try {
    (void)json(s).dump();  // strict: throws on invalid UTF-8, as the CLI's error lines would
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Runs one decoder call: an escaping exception or a slow call is a failure.
void guarded(Tally& t, const char* what, std::string_view input, const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  try {
    f();
  } catch (const std::exception& e) {
    t.fail(std::string(what) + ": exception escaped: " + e.what(), input);
  } catch (...) {
    t.fail(std::string(what) + ": unknown exception escaped", input);
  }
  if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(2)) t.fail(std::string(what) + ": took over 2 s", input);
}

void check_error(const api::ProviderError& e, Tally& t, const char* what, std::string_view input) {
  if (e.message.empty()) t.fail(std::string(what) + ": error with an empty message", input);
  else if (!valid_utf8(e.message)) t.fail(std::string(what) + ": error message is not UTF-8", input);
  if (e.retry_after_ms && (*e.retry_after_ms < 0 || *e.retry_after_ms > int64_t{1} << 50))
    t.fail(std::string(what) + ": absurd retry_after_ms " + std::to_string(*e.retry_after_ms), input);
}

// A decoded result must print as the contract's JSON (the CLI and the journal print it).
void check_fuzzed_result(const api::ChatResult& r, Tally& t, const char* what, std::string_view input) {
  try {
    (void)api::to_json(r).dump();
  } catch (const std::exception& e) {
    t.fail(std::string(what) + ": result JSON does not print: " + e.what(), input);
  }
  auto u = r.usage;
  if (u.input_tokens < 0 || u.output_tokens < 0 || u.cached_input_tokens < 0 || u.cache_write_tokens < 0 ||
      u.reasoning_tokens < 0)
    t.fail(std::string(what) + ": negative token count", input);
}

// ---- the decoders, driven as the clients drive them ----------------------------------------

const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1'750'000'000)};

// Server headers that arrive with an error body (rotated through; some hostile).
const http::Headers kHeaders[] = {
    {},
    {{"retry-after", "3"}, {"x-should-retry", "true"}},
    {{"retry-after", "99999999999999999999999999999"}},
    {{"retry-after-ms", "1e29"}},
    {{"retry-after", "Wed, 21 Oct 99999 07:28:00 GMT"}},
    {{"anthropic-ratelimit-requests-reset", "9999-12-31T23:59:59Z"}},
    {{"anthropic-ratelimit-tokens-reset", "2025-01-01T00:00:1e300Z"}},
};
const int kStatuses[] = {400, 401, 403, 404, 408, 413, 422, 429, 500, 503, 529};

api::ProviderResult<api::ChatResult> decode_body(Dialect d, std::string_view b) {
  switch (d) {
    case Dialect::openai: return provider_openai::decode_response(b);
    case Dialect::anthropic: return provider_anthropic::decode_response(b);
    case Dialect::gemini: return provider_gemini::decode_response(b);
    case Dialect::mistral: return provider_openai::decode_response(provider_mistral::adapt_payload(b));
  }
  return api::ProviderError{};
}

api::ProviderError decode_error_body(Dialect d, int status, std::string_view b, const http::Headers& h) {
  switch (d) {
    case Dialect::openai: return provider_openai::decode_error(status, b, h, kNow);
    case Dialect::anthropic: return provider_anthropic::decode_error(status, b, h, kNow);
    case Dialect::gemini: return provider_gemini::decode_error(status, b, h, kNow);
    case Dialect::mistral: return provider_openai::decode_error(status, provider_mistral::adapt_payload(b), h, kNow);
  }
  return {};
}

// One body: as a 200 reply and as an error reply (a hostile server may send either anywhere).
void run_body(Dialect d, const std::string& body, Lcg& rng, Tally& t) {
  ++t.inputs;
  guarded(t, "decode_response", body, [&] {
    auto r = decode_body(d, body);
    if (r) check_fuzzed_result(*r, t, "decode_response", body);
    else check_error(r.error(), t, "decode_response", body);
  });
  int status = kStatuses[rng.below(std::size(kStatuses))];
  const auto& headers = kHeaders[rng.below(std::size(kHeaders))];
  guarded(t, "decode_error", body, [&] { check_error(decode_error_body(d, status, body, headers), t, "decode_error", body); });
  if (d == Dialect::openai)
    guarded(t, "decode_models", body, [&] {
      auto m = provider_openai::decode_models(body);
      if (!m && m.error().message.empty()) t.fail("decode_models: error with an empty message", body);
    });
}

// One streamed body: SSE decoder fed in LCG-chosen pieces (whole, single bytes or 1..64 bytes,
// so splits fall inside "\r\n" too) -> codec -> assembler, as provider_call.cpp does it: nothing
// is fed after the terminator or an error.
void run_stream(Dialect d, const std::string& bytes, Lcg& rng, Tally& t) {
  ++t.inputs;
  guarded(t, "stream", bytes, [&] {
    provider_openai::StreamDecoder oa;
    provider_anthropic::StreamDecoder an;
    provider_gemini::StreamDecoder ge;
    api::StreamAssembler as;
    size_t error_events = 0;
    auto done = [&] { return d == Dialect::anthropic ? an.done() : d == Dialect::gemini ? ge.done() : oa.done(); };
    auto failed = [&] {
      return (d == Dialect::anthropic ? an.error() : d == Dialect::gemini ? ge.error() : oa.error()).has_value();
    };
    std::function<void(const StreamEvent&)> emit = [&](const StreamEvent& e) {
      if (error_events) t.fail("stream: an event after the error event", bytes);
      if (e.type == StreamEvent::Type::error) {
        ++error_events;
        check_error(e.error, t, "stream error event", bytes);
      } else {
        as.add(e);
      }
    };
    http::SseDecoder::Callback cb = [&](http::SseEvent&& e) {
      if (done() || failed()) return;
      switch (d) {
        case Dialect::openai: oa.on_data(e.data, emit); break;
        case Dialect::mistral: oa.on_data(e.data == "[DONE]" ? e.data : provider_mistral::adapt_payload(e.data), emit); break;
        case Dialect::anthropic: an.on_event(e.event, e.data, emit); break;
        case Dialect::gemini: ge.on_data(e.data, emit); break;
      }
    };
    http::SseDecoder sse;
    size_t mode = rng.below(3);
    for (size_t i = 0; i < bytes.size();) {
      size_t n = mode == 0 ? bytes.size() : mode == 1 ? 1 : 1 + rng.below(64);
      n = std::min(n, bytes.size() - i);
      sse.feed(std::string_view(bytes).substr(i, n), cb);
      i += n;
    }
    sse.finish(cb);
    if (failed() != (error_events == 1)) t.fail("stream: error() and the error event disagree", bytes);
    api::ChatResult r = as.finish(d == Dialect::anthropic ? an.base() : d == Dialect::gemini ? ge.base() : oa.base());
    if (d == Dialect::gemini) ge.finish(r);
    check_fuzzed_result(r, t, "stream result", bytes);
  });
}

// ---- mutators --------------------------------------------------------------------------------

std::string deep(size_t levels, bool objects) {
  std::string s;
  s.reserve(levels * 6 + 1);
  for (size_t i = 0; i < levels; ++i) s += objects ? "{\"a\":" : "[";
  s += "1";
  for (size_t i = 0; i < levels; ++i) s += objects ? '}' : ']';
  return s;
}

// A JSON path string ~10000 levels deep ("$.a.a.a..." or "$[1][1]..."), as a JSON string.
std::string repeat_path(const std::string& step) {
  std::string s = "\"$";
  for (int i = 0; i < 10'000; ++i) s += step;
  return s + "\"";
}

// Raw JSON texts that replace a value: every other type, edge numbers, odd strings.
const std::vector<std::string>& replacements() {
  static const std::vector<std::string> v = {
      "null", "true", "false", "0", "-1", "1.5", "-0.0", "1e308", "-1e308", "1e999", "-1e999",
      "9223372036854775807", "-9223372036854775808", "18446744073709551615", "99999999999999999999999",
      "4.9e-324", "\"\"", "\" \"", "\"\\u0000\"", "\"NaN\"", "\"-1\"", "\"99999999999999999999999999999s\"",
      "\"\\ud83d\\ude00\\u00e9\"", "[]", "[null,1,\"x\",{},[]]", "{}", "{\"\":null}", "{\"type\":null}",
      "\"" + std::string(100'000, 'x') + "\"", "1" + std::string(400, '0'), "[" + std::string(400, '9') + "]",
      repeat_path(".a"), repeat_path("[1]")};
  return v;
}

// Every node of a (small, shallow) document, as pointers; object members also by key.
void collect(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) collect(*it, at / it.key(), out);
  else if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) collect(j[i], at / i, out);
}
void strings_of(const json& j, std::set<std::string>& out) {
  if (j.is_string() && j.get<std::string>().size() <= 64) out.insert(j.get<std::string>());
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) {
      out.insert(it.key());
      strings_of(*it, out);
    }
  if (j.is_array())
    for (const auto& e : j) strings_of(e, out);
}

// `doc` with the node at `at` replaced by the raw text `raw` (which need not be valid JSON).
std::string with_raw(json doc, const json::json_pointer& at, const std::string& raw) {
  static const std::string mark = "\x01" "fz" "\x01", quoted = "\"\\u0001fz\\u0001\"";
  doc[at] = mark;
  std::string s = doc.dump();
  auto p = s.find(quoted);
  return p == std::string::npos ? s : s.replace(p, quoted.size(), raw);
}

// One JSON-aware mutant of `doc`: a value of another type, a corpus word, huge digits in a string,
// a member removed, or (`allow_deep`) ~10000 levels of nesting.
std::string json_mutant(const json& doc, const std::vector<std::string>& vocab, Lcg& rng, bool allow_deep) {
  std::vector<json::json_pointer> nodes;
  collect(doc, json::json_pointer(), nodes);
  const auto& at = nodes[rng.below(nodes.size())];
  size_t op = rng.below(allow_deep ? 10 : 9);
  const json& node = doc[at];
  if (op <= 3) return with_raw(doc, at, replacements()[rng.below(replacements().size())]);
  if (op <= 5 && !vocab.empty()) return with_raw(doc, at, json(vocab[rng.below(vocab.size())]).dump());
  if (op == 6 && node.is_string()) {
    std::string s = node.get<std::string>(), out;
    for (char c : s) out += c >= '0' && c <= '9' ? std::string("9999999999999999999999999") : std::string(1, c);
    return with_raw(doc, at, json(out).dump());
  }
  if (op == 7 && !at.empty()) {
    json copy = doc;
    json& parent = copy[at.parent_pointer()];
    if (parent.is_object()) parent.erase(at.back());
    else if (parent.is_array()) parent.erase(static_cast<size_t>(std::stoul(at.back())));
    return copy.dump();
  }
  if (op == 8 && node.is_string()) return with_raw(doc, at, json(node.get<std::string>() + node.get<std::string>()).dump());
  if (op == 9) return with_raw(doc, at, deep(10'000, rng.below(2) == 1));
  return with_raw(doc, at, "null");
}

// Byte-level mutants: truncations at many points, then 1..3 flips/deletions/insertions/overwrites.
std::vector<std::string> byte_mutants(const std::string& seed, Lcg& rng, size_t truncations, size_t edits) {
  static const char kBytes[] = {'\r', '\n', ':', '"', '{', '}', '[', ']', ',', '\\', '\0', ' ', '0', '-'};
  std::vector<std::string> out;
  if (seed.empty()) return out;
  for (size_t k = 1; k <= truncations; ++k) out.push_back(seed.substr(0, seed.size() * k / (truncations + 1)));
  for (size_t k = 0; k < truncations; ++k) out.push_back(seed.substr(0, rng.below(seed.size())));
  for (size_t k = 0; k < edits; ++k) {
    std::string s = seed;
    for (size_t n = 1 + rng.below(3); n > 0 && !s.empty(); --n) {
      size_t at = rng.below(s.size());
      switch (rng.below(5)) {
        case 0: s[at] = static_cast<char>(s[at] ^ (1 << rng.below(8))); break;
        case 1: s.erase(at, 1); break;
        case 2: s.insert(at, 1, kBytes[rng.below(sizeof kBytes)]); break;
        case 3: s[at] = kBytes[rng.below(sizeof kBytes)]; break;
        case 4: s.insert(at, 1, static_cast<char>(0x80 + rng.below(0x80))); break;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- SSE-level mutation ------------------------------------------------------------------------

struct Ev {
  std::string event, data;
  int data_lines = 1;  // 0: the event has no data line; 2: its data line is sent twice
};

std::vector<Ev> events_of(const std::string& bytes) {
  std::vector<Ev> out;
  http::SseDecoder sse;
  http::SseDecoder::Callback cb = [&](http::SseEvent&& e) { out.push_back({e.event, e.data}); };
  sse.feed(bytes, cb);
  sse.finish(cb);
  return out;
}

std::string serialize(const std::vector<Ev>& evs, const std::string& eol, bool final_blank) {
  std::string s;
  for (size_t i = 0; i < evs.size(); ++i) {
    const Ev& e = evs[i];
    if (!e.event.empty()) s += "event: " + e.event + eol;
    for (int k = 0; k < e.data_lines; ++k) {
      // Multi-line data goes out as several data lines (the decoder joins them with '\n').
      size_t from = 0;
      for (size_t nl; (nl = e.data.find('\n', from)) != std::string::npos; from = nl + 1)
        s += "data: " + e.data.substr(from, nl - from) + eol;
      s += "data: " + e.data.substr(from) + eol;
    }
    if (i + 1 < evs.size() || final_blank) s += eol;
  }
  return s;
}

// One SSE-level mutant of a transcript: 1..3 event edits, then CRLF/CR/LF line ends.
std::string sse_mutant(std::vector<Ev> evs, const std::vector<std::string>& vocab, const std::vector<std::string>& names,
                       Lcg& rng, bool allow_deep) {
  for (size_t n = 1 + rng.below(3); n > 0; --n) {
    size_t i = rng.below(evs.size() + 1), j = rng.below(evs.size() + 1);
    bool have = i < evs.size();
    switch (rng.below(12)) {
      case 0:
      case 1:
      case 2:  // a value inside one event's JSON
        if (have) {
          json d = json::parse(evs[i].data, nullptr, false);
          if (!d.is_discarded()) evs[i].data = json_mutant(d, vocab, rng, allow_deep);
        }
        break;
      case 3: if (have) evs.insert(evs.begin() + static_cast<long>(j), evs[i]); break;  // duplicated
      case 4: if (have) evs.erase(evs.begin() + static_cast<long>(i)); break;           // dropped
      case 5: if (have && j < evs.size()) std::swap(evs[i], evs[j]); break;             // out of order
      case 6: evs.insert(evs.begin() + static_cast<long>(i), Ev{"", "[DONE]"}); break;  // [DONE] early
      case 7:  // the terminator missing (the last event is usually it)
        if (!evs.empty()) evs.pop_back();
        break;
      case 8: if (have) evs[i].data_lines = static_cast<int>(rng.below(3)); break;  // data line missing / twice
      case 9:  // an unknown or borrowed event type
        if (have) evs[i].event = rng.below(2) || names.empty() ? "x-unknown-" + std::to_string(i) : names[rng.below(names.size())];
        break;
      case 10:
        evs.insert(evs.begin() + static_cast<long>(i),
                   Ev{"mystery", R"({"type":"mystery","index":0,"delta":{"type":"mystery"}})"});
        break;
      case 11:
        evs.insert(evs.begin() + static_cast<long>(i),
                   Ev{"error", R"({"type":"error","error":{"type":"overloaded_error","message":"","code":null}})"});
        break;
    }
  }
  static const char* kEol[] = {"\n", "\r\n", "\r"};
  return serialize(evs, kEol[rng.below(3)], rng.below(4) != 0);
}

// ---- seeds ---------------------------------------------------------------------------------------

struct Seeds {
  std::vector<std::string> bodies, streams;
  std::vector<std::string> vocab, names;  // string values/keys and event names seen in the seeds
};

Seeds seeds_for(Dialect d) {
  const char* prefix = d == Dialect::openai ? "openai_" : d == Dialect::anthropic ? "anthropic_"
                       : d == Dialect::gemini ? "gemini_" : "mistral_";
  Seeds s;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(FH_SHARED_DIR) + "/fixtures/providers"))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());  // directory order is not deterministic
  for (const auto& f : files) {
    if (f.rfind(prefix, 0) != 0 && !(d == Dialect::openai && f.rfind("ollama_", 0) == 0)) continue;
    if (f.find(".source.") != std::string::npos || f.size() < 5) continue;
    std::string bytes = fh::test::read_fixture(f);
    if (f.find(".recording.json") != std::string::npos) {
      size_t n = json::parse(bytes).at("interactions").size();
      for (size_t i = 0; i < n; ++i) {
        std::string b = fh::test::recording_body(bytes, i);
        (b.rfind("data: ", 0) == 0 ? s.streams : s.bodies).push_back(b);
      }
    } else if (f.ends_with(".sse")) {
      s.streams.push_back(bytes);
    } else if (f.ends_with(".json")) {
      s.bodies.push_back(bytes);
    }
  }
  // Shapes no recording has.
  switch (d) {
    case Dialect::openai:
      s.bodies.push_back(R"({"error":{"message":"Rate limit reached. Please try again in 644ms.","type":"tokens","code":"rate_limit_exceeded"}})");
      s.streams.push_back(
          "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\",\"tool_calls\":[{\"index\":0,"
          "\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n"
          "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},"
          "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
          "\"prompt_tokens_details\":{\"cached_tokens\":1}}}\n\ndata: [DONE]\n\n");
      break;
    case Dialect::anthropic:
      s.bodies.push_back(R"({"type":"message","model":"c","content":[{"type":"thinking","thinking":"t","signature":"s"},)"
                         R"({"type":"redacted_thinking","data":"d"},{"type":"text","text":"hi"}],"stop_reason":"end_turn",)"
                         R"("usage":{"input_tokens":1,"cache_read_input_tokens":2,"cache_creation_input_tokens":3,"output_tokens":4}})");
      s.streams.push_back(
          "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"c\",\"usage\":{\"input_tokens\":5}}}\n\n"
          "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n"
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n"
          "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
          "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"r\"}}\n\n"
          "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
          "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n"
          "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
          "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n"
          "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
      // Deltas a thinking block takes, sent to a redacted_thinking block.
      s.streams.push_back(
          "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"r\"}}\n\n"
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"x\"}}\n\n"
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n"
          "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
      break;
    case Dialect::gemini: break;  // the recordings cover thoughts, signatures and partialArgs
    case Dialect::mistral:
      s.bodies.push_back(R"({"detail":[{"loc":["body","model"],"msg":"Field required","type":"missing"}]})");
      s.bodies.push_back(R"({"object":"error","message":"Requests rate limit exceeded","type":"rate_limited","param":null,"code":"1300"})");
      s.bodies.push_back(R"({"model":"magistral","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"thinking",)"
                         R"("thinking":[{"type":"text","text":"hm"}]},{"type":"text","text":"ok"}]},"finish_reason":"stop"}],)"
                         R"("usage":{"prompt_tokens":3,"completion_tokens":4}})");
      s.streams.push_back(
          "data: {\"model\":\"magistral\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\","
          "\"thinking\":[{\"type\":\"text\",\"text\":\"hm\"}]}]}}]}\n\n"
          "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\",\"tool_calls\":[{\"id\":\"abcDEF123\",\"index\":0,"
          "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}],"
          "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n");
      // Mistral streams are OpenAI-shaped: the OpenAI recordings go through the Mistral path too.
      for (const auto& f : files)
        if (f.rfind("openai_chat_stream_", 0) == 0 && f.find("json_object") == std::string::npos)
          s.streams.push_back(fh::test::read_fixture(f));
      break;
  }
  std::set<std::string> vocab, names;
  for (const auto& b : s.bodies) {
    json j = json::parse(b, nullptr, false);
    if (!j.is_discarded()) strings_of(j, vocab);
  }
  for (const auto& st : s.streams)
    for (const auto& e : events_of(st)) {
      names.insert(e.event);
      json j = json::parse(e.data, nullptr, false);
      if (!j.is_discarded()) strings_of(j, vocab);
    }
  vocab.insert({"[DONE]", "error", "redacted_thinking", "thinking", "tool_use", "STOP", "MAX_TOKENS", "SAFETY"});
  s.vocab.assign(vocab.begin(), vocab.end());
  s.names.assign(names.begin(), names.end());
  return s;
}

// Every seed of a dialect, mutated: byte-level and JSON-level mutants of each body, byte-level
// and SSE-level mutants of each stream. Big seeds get fewer mutants (the runtime budget).
void fuzz_dialect(Dialect d, uint64_t seed, Tally& t) {
  Lcg rng{seed};
  Seeds s = seeds_for(d);
  REQUIRE(!s.bodies.empty());
  REQUIRE(!s.streams.empty());
  for (const auto& b : s.bodies) {
    run_body(d, b, rng, t);
    for (const auto& m : byte_mutants(b, rng, 12, 40)) run_body(d, m, rng, t);
    json doc = json::parse(b, nullptr, false);
    if (doc.is_discarded()) continue;
    for (int k = 0; k < 60; ++k) run_body(d, json_mutant(doc, s.vocab, rng, k % 12 == 0), rng, t);
    // The whole body nested ~10000 deep, as raw text.
    run_body(d, deep(10'000, false), rng, t);
    run_body(d, std::string(10'000, '[') + b, rng, t);  // and unclosed
  }
  for (const auto& st : s.streams) {
    size_t scale = st.size() > 16'000 ? 8 : 1;  // the 47 KB transcript: fewer mutants
    run_stream(d, st, rng, t);
    for (const auto& m : byte_mutants(st, rng, 8 / scale + 1, 24 / scale)) run_stream(d, m, rng, t);
    std::vector<Ev> evs = events_of(st);
    for (size_t k = 0; k < 64 / scale; ++k) run_stream(d, sse_mutant(evs, s.vocab, s.names, rng, k % 16 == 0), rng, t);
  }
}

}  // namespace

TEST_CASE("reply fuzz: openai (and OpenAI-compatible) bodies / errors / streams survive mutation") {
  Tally t;
  fuzz_dialect(Dialect::openai, 0x0a1, t);
  t.report("openai");
}

TEST_CASE("reply fuzz: anthropic bodies / errors / streams survive mutation") {
  Tally t;
  fuzz_dialect(Dialect::anthropic, 0xa27, t);
  t.report("anthropic");
}

TEST_CASE("reply fuzz: gemini bodies / errors / streams survive mutation") {
  Tally t;
  fuzz_dialect(Dialect::gemini, 0x9e3, t);
  t.report("gemini");
}

TEST_CASE("reply fuzz: mistral bodies / errors / streams survive mutation") {
  Tally t;
  fuzz_dialect(Dialect::mistral, 0x315, t);
  t.report("mistral");
}

TEST_CASE("reply fuzz: the SSE decoder gives the same events in any split of mutated bytes") {
  // The oracle: a transcript fed whole and fed in pieces (single bytes, 1..64 bytes) decodes to
  // the same events, whatever the bytes are.
  Lcg rng{0x55e};
  Tally t;
  auto decode = [](const std::string& bytes, size_t mode, Lcg& r) {
    std::vector<http::SseEvent> out;
    http::SseDecoder sse;
    http::SseDecoder::Callback cb = [&](http::SseEvent&& e) { out.push_back(std::move(e)); };
    for (size_t i = 0; i < bytes.size();) {
      size_t n = std::min(mode == 0 ? bytes.size() : mode == 1 ? 1 : 1 + r.below(64), bytes.size() - i);
      sse.feed(std::string_view(bytes).substr(i, n), cb);
      i += n;
    }
    sse.finish(cb);
    return out;
  };
  for (Dialect d : {Dialect::openai, Dialect::anthropic, Dialect::gemini}) {
    Seeds s = seeds_for(d);
    for (const auto& st : s.streams) {
      std::string crlf;
      for (char c : st) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
      std::vector<std::string> inputs = byte_mutants(st.size() > 16'000 ? st.substr(0, 16'000) : st, rng, 4, 12);
      for (auto& m : byte_mutants(crlf.size() > 16'000 ? crlf.substr(0, 16'000) : crlf, rng, 4, 12)) inputs.push_back(m);
      inputs.push_back("\xEF\xBB\xBF" + crlf);
      inputs.push_back("retry: 99999999999999999999\nretry: 123\nid: a" + std::string(1, '\0') + "b\ndata: x\r\r\n\n" + crlf);
      for (const auto& in : inputs) {
        ++t.inputs;
        guarded(t, "sse", in, [&] {
          auto whole = decode(in, 0, rng);
          for (size_t mode : {size_t{1}, size_t{2}}) {
            auto split = decode(in, mode, rng);
            bool same = split.size() == whole.size();
            for (size_t i = 0; same && i < whole.size(); ++i)
              same = split[i].event == whole[i].event && split[i].data == whole[i].data && split[i].id == whole[i].id &&
                     split[i].retry_ms == whole[i].retry_ms;
            if (!same) t.fail("sse: split decoding differs from whole decoding (mode " + std::to_string(mode) + ")", in);
          }
        });
      }
    }
  }
  t.report("sse");
}
