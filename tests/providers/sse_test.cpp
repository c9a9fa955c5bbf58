// The SSE decoder against the event-stream rules (PROVIDERS.md §0) and every recorded transcript.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "providers/http/sse.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

using fh::http::SseDecoder;
using fh::http::SseEvent;

namespace {
std::vector<SseEvent> decode(const std::vector<std::string>& chunks, bool finish = true) {
  std::vector<SseEvent> out;
  SseDecoder d;
  SseDecoder::Callback cb = [&](SseEvent&& e) { out.push_back(std::move(e)); };
  for (const auto& c : chunks) d.feed(c, cb);
  if (finish) d.finish(cb);
  return out;
}
std::vector<std::string> bytes_of(const std::string& s) {
  std::vector<std::string> v;
  for (char c : s) v.emplace_back(1, c);
  return v;
}
}  // namespace

TEST_CASE("sse: LF / CRLF and CR line ends give the same events / in any split") {
  const std::string lf = "event: a\ndata: one\n\ndata: two\n\n";
  std::string crlf, cr;
  for (char c : lf) {
    if (c == '\n') { crlf += "\r\n"; cr += "\r"; } else { crlf += c; cr += c; }
  }
  for (const auto& s : {lf, crlf, cr}) {
    for (auto chunks : {std::vector<std::string>{s}, bytes_of(s)}) {
      auto ev = decode(chunks);
      REQUIRE(ev.size() == 2);
      CHECK(ev[0].event == "a");
      CHECK(ev[0].data == "one");
      CHECK(ev[1].event.empty());
      CHECK(ev[1].data == "two");
    }
  }
}

TEST_CASE("sse: CRLF split between chunks is one line end / not two") {
  auto ev = decode({"data: x\r", "\ndata: y\r", "\n\r", "\n"});
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data == "x\ny");
}

TEST_CASE("sse: multi-line data / comments / id / retry / fields without space or value") {
  auto ev = decode({": keep-alive\ndata:first\ndata:  second\ndata\nid: 7\nretry: 1500\nevent:e\nbogus: 1\n\n"});
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data == "first\n second\n");
  CHECK(ev[0].id == "7");
  REQUIRE(ev[0].retry_ms.has_value());
  CHECK(*ev[0].retry_ms == 1500);
  CHECK(ev[0].event == "e");
  SseDecoder d;
  d.feed(": a\n: b\n\n", [](SseEvent&&) { FAIL("a comment-only block is not an event"); });
  CHECK(d.comments() == 2);
}

TEST_CASE("sse: an event without data is dropped - a bad retry is ignored - id persists") {
  auto ev = decode({"event: x\n\nid: 5\ndata: a\n\nretry: 12x\ndata: b\n\n"});
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].event.empty());
  CHECK(ev[0].id == "5");
  CHECK(ev[1].id == "5");
  CHECK(!ev[1].retry_ms);
}

TEST_CASE("sse: a 200 KB line and a UTF-8 character split across chunks") {
  std::string big(200'000, 'x');
  auto ev = decode({"data: " + big.substr(0, 70'000), big.substr(70'000), "\n\n"});
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data.size() == big.size());
  const std::string deg = "data: 68\xC2\xB0" "F\n\n";  // U+00B0 is two bytes
  auto ev2 = decode({deg.substr(0, 9), deg.substr(9)});
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].data == "68\xC2\xB0" "F");
}

TEST_CASE("sse: a leading BOM is skipped - an unterminated last event is flushed by finish()") {
  auto ev = decode({"\xEF\xBB\xBF" "data: a\n\ndata: b"});
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].data == "a");
  CHECK(ev[1].data == "b");
  CHECK(decode({"data: b"}, false).empty());
}

TEST_CASE("sse: every OpenAI and Anthropic transcript decodes identically whole / per byte and random") {
  for (const char* f : {"openai_chat_stream_text_basic.sse", "openai_chat_stream_tool_calls_parallel.sse",
                        "openai_chat_stream_json_object.sse", "anthropic_stream_text_then_tool_use.sse",
                        "anthropic_stream_tool_use_truncated_max_tokens.sse", "anthropic_stream_tool_use_only.sse"}) {
    std::string bytes = fh::test::read_fixture(f);
    auto whole = decode({bytes});
    for (int size : {1, 3, -7, -99}) {
      auto split = decode(fh::test::pieces(bytes, size));
      REQUIRE(split.size() == whole.size());
      for (size_t i = 0; i < whole.size(); ++i) {
        CHECK(split[i].data == whole[i].data);
        CHECK(split[i].event == whole[i].event);
      }
    }
  }
}
