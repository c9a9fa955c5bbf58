// fh::api — the unified chat value types every provider speaks, and their JSON forms.
// Depends on: fh::core only. Plain values; no executor, no I/O.
// The JSON forms are a public contract (CLI, daemon, journal): see docs/ARCHITECTURE.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/result.hpp"

namespace fh::api {

enum class Role { system, user, assistant, tool };

struct ContentPart {
  enum class Kind { text, image } kind = Kind::text;
  std::string text;        // kind == text
  std::string url;         // kind == image: an https URL or a data: URL
  std::string media_type;  // kind == image with inline data ("image/png")
  std::string data_b64;    // kind == image with inline data
};

struct ToolCall {
  std::string id;
  std::string name;
  json arguments = json::object();  // parsed; a string only if the model sent invalid JSON
  json provider_data;               // opaque per-provider fields (e.g. Gemini thought signature)
};

struct Message {
  Role role = Role::user;
  std::vector<ContentPart> content;  // text and image parts
  std::vector<ToolCall> tool_calls;  // role == assistant
  std::string tool_call_id;          // role == tool
  std::string name;                  // role == tool: the tool's name
  std::string reasoning;             // role == assistant: reasoning text, if any
  json provider_data;                // opaque per-provider fields, keyed by provider name

  std::string text() const;  // all text parts joined
  static Message user(std::string text);
  static Message assistant(std::string text);
};

struct ToolSpec {
  std::string name;
  std::string description;
  json parameters = json{{"type", "object"}, {"properties", json::object()}};
};

struct ChatRequest {
  std::string model;  // the model part of "provider/model"
  std::string system;
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  json tool_choice;     // null (auto), "auto", "none", "required", or {"name": "..."}
  json response_schema; // null, or a JSON Schema the reply must satisfy
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> max_tokens;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  json extra;  // provider-specific passthrough options
};

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t cache_write_tokens = 0;
  int64_t reasoning_tokens = 0;
  Usage& operator+=(const Usage& o);
};

enum class FinishReason { stop, length, tool_calls, content_filter, refusal, error };

struct ChatResult {
  std::string provider;
  std::string model;
  std::string text;
  std::string reasoning;
  std::vector<ToolCall> tool_calls;
  FinishReason finish_reason = FinishReason::stop;
  std::string provider_finish_reason;
  Usage usage;
  std::optional<double> cost_usd;
  int64_t latency_ms = 0;
  int64_t ttft_ms = 0;
  json provider_data;  // opaque fields the provider wants back on the next turn
};

enum class ErrorKind {
  auth, permission, not_found, invalid_request, context_length, rate_limit,
  overloaded, server, network, timeout, cancelled,
  budget_exceeded  // refused before sending: the run's budget cannot cover the call's worst case
};

struct ProviderError {
  ErrorKind kind = ErrorKind::server;
  std::string message;
  int status = 0;  // HTTP status, 0 when none
  bool retryable = false;
  std::optional<int64_t> retry_after_ms;
  std::string provider;
};

struct StreamEvent {
  enum class Type { text, reasoning, tool_call_start, tool_call_delta, tool_call_end, usage, finish, error };
  Type type = Type::text;
  std::string text;       // text, reasoning
  int index = 0;          // tool_call_*
  std::string id, name;   // tool_call_start
  std::string arguments;  // tool_call_delta: a raw JSON fragment
  Usage usage;            // usage
  FinishReason finish_reason = FinishReason::stop;  // finish
  ProviderError error;    // error
};

// Called on the caller's executor, in order, for every event of a streamed reply.
using StreamSink = std::function<void(const StreamEvent&)>;

// ---- names and JSON forms ----
std::string_view role_name(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;
std::string_view finish_reason_name(FinishReason f) noexcept;
std::optional<FinishReason> parse_finish_reason(std::string_view s) noexcept;
std::string_view error_kind_name(ErrorKind k) noexcept;
std::optional<ErrorKind> parse_error_kind(std::string_view s) noexcept;
std::string_view stream_event_type_name(StreamEvent::Type t) noexcept;

json to_json(const Usage& u);
json to_json(const ToolCall& c);
json to_json(const ChatResult& r);
json to_json(const ProviderError& e);
json to_json(const StreamEvent& e);
json to_json(const Message& m);
json to_json(const ToolSpec& t);
json to_json(const ChatRequest& r);

// Parsing untrusted JSON: a clear Error, never an exception.
Result<Usage> usage_from_json(const json& j);
Result<ToolCall> tool_call_from_json(const json& j);
Result<Message> message_from_json(const json& j);
Result<ToolSpec> tool_spec_from_json(const json& j);
Result<ChatResult> chat_result_from_json(const json& j);
Result<ProviderError> provider_error_from_json(const json& j);

// Builds the assembled result from a sequence of stream events (one place, used by every
// streaming provider and by tests that compare streamed and non-streamed results).
class StreamAssembler {
 public:
  void add(const StreamEvent& e);
  // Finishes: parses accumulated tool-call argument fragments and applies the
  // "tool calls imply finish_reason tool_calls" rule.
  ChatResult finish(ChatResult base = {});
  bool failed() const noexcept { return error_.has_value(); }
  const std::optional<ProviderError>& error() const noexcept { return error_; }

 private:
  struct PartialCall { std::string id, name, args; };
  std::string text_, reasoning_;
  std::vector<PartialCall> calls_;
  Usage usage_;
  bool has_usage_ = false;
  std::optional<FinishReason> finish_;
  std::optional<ProviderError> error_;
};

// Applies the contract's rule: a result with tool calls has finish_reason tool_calls.
void normalize_finish(ChatResult& r);

}  // namespace fh::api
