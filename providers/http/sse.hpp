// fh::http::SseDecoder — a Server-Sent Events decoder (WHATWG "event stream interpretation").
// Depends on: the standard library only (no curl, no Asio). Pure and single-threaded: feed it bytes
// in any split (a chunk may end inside a line, inside "\r\n" or inside a UTF-8 character) and it
// calls back once per complete event. Lines may be any length; buffers grow as needed.
// Rules: "\n", "\r\n" and "\r" end lines; a line starting with ':' is a comment; "field: value"
// strips one space after the colon; several data lines join with "\n"; an event is dispatched at an
// empty line when its data is non-empty; `id` without NUL sets last_event_id; `retry` takes digits.
// One deliberate deviation, documented: finish() dispatches an event left open at end of input
// (the standard discards it) because recorded provider transcripts end without the final blank line.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace fh::http {

struct SseEvent {
  std::string event;  // the `event:` field; empty when none was sent (the standard's "message")
  std::string data;   // data lines joined with '\n'
  std::string id;     // last event id seen so far in the stream
  std::optional<int64_t> retry_ms;  // a valid `retry:` field in this event
};

class SseDecoder {
 public:
  using Callback = std::function<void(SseEvent&&)>;

  // Feeds bytes; calls `on_event` for every event completed by them.
  void feed(std::string_view bytes, const Callback& on_event);
  // End of input: processes an unterminated last line and dispatches a pending event.
  void finish(const Callback& on_event);
  // Bytes received that do not yet form a complete line.
  size_t pending_bytes() const noexcept { return line_.size(); }
  const std::string& last_event_id() const noexcept { return last_id_; }
  // Counts comment lines (keep-alives) seen; useful to tell "alive" from "silent".
  uint64_t comments() const noexcept { return comments_; }

 private:
  void process_line(std::string_view line, const Callback& on_event);
  void dispatch(const Callback& on_event);

  std::string line_;         // partial line carried across feed() calls
  bool skip_lf_ = false;     // previous chunk ended with '\r': a leading '\n' belongs to it
  bool started_ = false;     // BOM check done
  std::string data_, event_, last_id_;
  bool has_data_ = false;
  std::optional<int64_t> retry_;
  uint64_t comments_ = 0;
};

}  // namespace fh::http
