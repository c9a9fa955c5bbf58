// fh::provider_gemini codec — unified <-> Gemini generateContent wire JSON, and streamed
// GenerateContentResponse chunks -> unified StreamEvents. Pure: no I/O, no executor, no curl.
// Untrusted input never throws; it becomes a ProviderError.
// Wire facts followed here (PROVIDERS.md §4): roles user/model; function results are
// `functionResponse` parts in a user turn with an object `response`; calls carry no id, so ids
// are synthesized from (responseId, position, name) — the same bytes give the same ids; a call
// ends with finishReason STOP; `thoughtSignature` must go back in the same part (kept in
// ToolCall::provider_data["gemini"]["thought_signature"] and, for text parts, in
// ChatResult/Message::provider_data["gemini"]["text_signature"]); usage is cumulative on every
// chunk, thoughts are additive and billed as output; errors are google.rpc.Status, RetryInfo in
// the body, sometimes wrapped in a JSON array.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "providers/http/headers.hpp"
#include "runtime/api/chat.hpp"
#include "runtime/api/provider.hpp"

namespace fh::provider_gemini {

// The signature Google documents for function-call history that did not come from Gemini
// (another provider's turn): Gemini 3 rejects a model turn whose calls carry no signature.
inline constexpr std::string_view kForeignSignature = "skip_thought_signature_validator";

// True for model ids that enforce thought signatures on function-call history (gemini-3 and later).
bool requires_signatures(std::string_view model) noexcept;

// The request body for :generateContent / :streamGenerateContent (same body for both).
json build_request(const api::ChatRequest& req);

// A non-streamed 200 body -> the unified result (provider "gemini", model as served).
api::ProviderResult<api::ChatResult> decode_response(std::string_view body);

// A non-2xx response -> ProviderError (kind from status/code, RetryInfo.retryDelay as retry-after).
api::ProviderError decode_error(int status, std::string_view body, const http::Headers& headers,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
// Classifies a google.rpc.Status object (`status` 0 when it arrived inside a stream).
api::ProviderError error_from_status(int status, const json& err);

api::Usage usage_from_wire(const json& usage_metadata);
api::FinishReason map_finish(std::string_view wire) noexcept;

// Decodes one SSE `data` payload (a GenerateContentResponse) at a time.
class StreamDecoder {
 public:
  using Emit = std::function<void(const api::StreamEvent&)>;
  void on_data(std::string_view data, const Emit& emit);
  // Gemini sends no terminator: the chunk carrying finishReason (or a blocked prompt) ends it.
  bool done() const noexcept { return done_; }
  const std::optional<api::ProviderError>& error() const noexcept { return error_; }
  api::ChatResult base() const;
  // Puts the per-call provider data (signatures) on the assembled tool calls.
  void finish(api::ChatResult& r) const;

 private:
  struct Call {
    int index = 0;
    json args;            // accumulated partialArgs (Vertex streamFunctionCallArguments)
    bool partial = false; // args still open
    json data;            // provider data for this call
  };
  void close_partial(const Emit& emit);
  void fail(api::ProviderError e, const Emit& emit);
  std::string model_, provider_finish_, response_id_, text_signature_;
  std::vector<Call> calls_;
  bool done_ = false;
  std::optional<api::ProviderError> error_;
};

}  // namespace fh::provider_gemini
