// fh::provider_openai codec — unified <-> OpenAI Chat Completions wire JSON, and streamed chunks ->
// unified StreamEvents. Pure: no I/O, no executor, no curl. Untrusted input never throws; it
// becomes a ProviderError.
// Wire facts followed here (PROVIDERS.md §1): tool-call id/name arrive once per `index`, then only
// argument fragments; the usage-only chunk has `choices: []`; `[DONE]` ends a stream; an error
// object can arrive inside a 200 stream; 429 `insufficient_quota` is not retryable.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "providers/http/headers.hpp"
#include "providers/http/wire_json.hpp"
#include "runtime/api/chat.hpp"
#include "runtime/api/provider.hpp"

namespace fh::provider_openai {

struct WireOptions {
  bool stream = false;
  bool include_usage = true;                               // stream_options.include_usage
  std::string system_role = "system";                      // or "developer"
  std::string max_tokens_field = "max_completion_tokens";  // or "max_tokens" for older servers
};

// The request body for POST /chat/completions.
json build_request(const api::ChatRequest& req, const WireOptions& o);

// A non-streamed 200 body -> the unified result (provider "openai", model as served).
api::ProviderResult<api::ChatResult> decode_response(std::string_view body);

// A non-2xx response -> ProviderError (kind, retryable, retry-after from headers and body).
api::ProviderError decode_error(int status, std::string_view body, const http::Headers& headers,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Classifies an `error` object (from a body or from inside a stream; status 0 when in-stream).
api::ProviderError error_from_object(int status, const json& err);

// Unified usage from an OpenAI `usage` object.
api::Usage usage_from_wire(const json& u);

// Decodes one SSE `data` payload at a time into StreamEvents.
class StreamDecoder {
 public:
  using Emit = std::function<void(const api::StreamEvent&)>;
  void on_data(std::string_view data, const Emit& emit);
  bool done() const noexcept { return done_; }
  const std::optional<api::ProviderError>& error() const noexcept { return error_; }
  // Fields the events do not carry: served model, provider's finish word.
  api::ChatResult base() const;

 private:
  void fail(api::ProviderError e, const Emit& emit);
  std::string model_, provider_finish_;
  std::vector<bool> started_, ended_;
  std::vector<http::wire::DepthScan> depth_;  // per call: nesting of its argument fragments so far
  bool refusal_ = false;
  bool done_ = false;
  std::optional<api::ProviderError> error_;
};

api::FinishReason map_finish(std::string_view wire, bool refusal) noexcept;

// GET /v1/models body -> model ids.
Result<std::vector<std::string>> decode_models(std::string_view body);

}  // namespace fh::provider_openai
