// fh::provider_anthropic codec — unified <-> Anthropic Messages wire JSON, and stream events ->
// unified StreamEvents. Pure: no I/O, no executor, no curl. Untrusted input never throws.
// Wire facts followed here (PROVIDERS.md §3, §8): `event:` names every event and there is no
// [DONE] (message_stop ends the stream); input_tokens excludes cache reads and writes (the unified
// input total is the three summed); an empty input_json_delta total means `{}`; a max_tokens
// stream may leave a tool block open; `error` events can arrive after a 200; 529 is retryable.
// Thinking blocks (with their signatures) are kept in ChatResult::provider_data["anthropic"] and
// sent back unchanged when that assistant turn is replayed.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "providers/http/headers.hpp"
#include "providers/http/wire_json.hpp"
#include "runtime/api/chat.hpp"
#include "runtime/api/provider.hpp"

namespace fh::provider_anthropic {

struct WireOptions {
  bool stream = false;
  int64_t default_max_tokens = 4096;  // Anthropic requires max_tokens
};

json build_request(const api::ChatRequest& req, const WireOptions& o);

api::ProviderResult<api::ChatResult> decode_response(std::string_view body);

api::ProviderError decode_error(int status, std::string_view body, const http::Headers& headers,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Classifies an `error` object ({"type": "overloaded_error", "message": ...}); status 0 in-stream.
api::ProviderError error_from_object(int status, const json& err);

// Unified usage from an Anthropic usage object (input total = input + cache read + cache write).
api::Usage usage_from_wire(const json& u);

api::FinishReason map_stop_reason(std::string_view s) noexcept;

class StreamDecoder {
 public:
  using Emit = std::function<void(const api::StreamEvent&)>;
  // One SSE event: its `event:` name (may be empty) and its data.
  void on_event(std::string_view name, std::string_view data, const Emit& emit);
  bool done() const noexcept { return done_; }
  const std::optional<api::ProviderError>& error() const noexcept { return error_; }
  api::ChatResult base() const;

 private:
  struct Block {
    std::string type;  // text, tool_use, thinking, redacted_thinking, ...
    int tool_index = -1;
    bool open = true;
    json wire;  // thinking/redacted_thinking: the block to send back
    http::wire::DepthScan args_depth;  // tool_use: nesting of its input fragments so far
  };
  void fail(api::ProviderError e, const Emit& emit);
  void close_open_tools(const Emit& emit);
  std::string model_, stop_reason_;
  json start_usage_ = json::object();
  std::map<int64_t, Block> blocks_;
  int next_tool_ = 0;
  bool done_ = false;
  std::optional<api::ProviderError> error_;
};

}  // namespace fh::provider_anthropic
