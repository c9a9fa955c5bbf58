// fh::local — tool calls in a local model's output text. A chat template teaches the model one
// output convention; detect_tool_call_style() finds it in the template, and ToolCallStream turns
// the generated text (delta by delta) into the same StreamEvents the remote providers emit: text,
// reasoning (<think>...</think>), and tool_call_start / tool_call_delta / tool_call_end per call.
// Depends on: fh::api, fh::core. Pure computation; one stream per generation, one thread at a time.
//
// Styles and what the model writes:
//   hermes       <tool_call>{"name": N, "arguments": {...}}</tool_call>  (Hermes, Qwen 2.5/3, fallback)
//   llama3_json  {"name": N, "parameters": {...}} as the whole reply, optionally after <|python_tag|>,
//                several separated by ';'
//   mistral      [TOOL_CALLS][{"name": N, "arguments": {...}, "id"?: ...}, ...]  or
//                [TOOL_CALLS]N[ARGS]{...} (optionally N[CALL_ID]id[ARGS]{...}), repeated
//   functionary  (the prompt ends with ">>>") all\ntext  or  N\n{...}, further parts after ">>>"
//   granite      <|tool_call|>[{"name": N, "arguments": {...}}, ...]
// Text that only might be the start of a marker is held back until it is decided. Malformed calls
// (bad JSON, no name) stay text, verbatim. Calls without an id get a stable 9-character one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/api/chat.hpp"

namespace fh::local {

enum class ToolCallStyle { none, hermes, llama3_json, mistral, functionary, granite };

std::string_view tool_call_style_name(ToolCallStyle s) noexcept;
ToolCallStyle detect_tool_call_style(std::string_view tmpl);

struct ToolCallStreamOptions {
  bool parse_reasoning = true;       // <think>...</think> becomes reasoning events
  bool starts_in_reasoning = false;  // the prompt already opened <think> (e.g. DeepSeek-R1)
};

// True when a rendered prompt ends inside an opened <think> block.
bool prompt_opens_reasoning(std::string_view prompt);

// A deterministic id: 9 alphanumeric characters (what Mistral's templates require).
std::string synthesize_tool_call_id(size_t index, std::string_view name, std::string_view arguments);

class ToolCallStream {
 public:
  explicit ToolCallStream(ToolCallStyle style, ToolCallStreamOptions opts = {});
  std::vector<api::StreamEvent> push(std::string_view text_delta);
  std::vector<api::StreamEvent> finish();  // flushes held-back text; the stream is done after it

 private:
  enum class Mode { text, reasoning, call, recipient };
  struct Call {
    std::string id, name;
    json arguments;
  };
  enum class Scan { incomplete, complete, invalid };

  void process(bool final, std::vector<api::StreamEvent>& out);
  bool step_text(bool final, std::vector<api::StreamEvent>& out);
  bool step_reasoning(bool final, std::vector<api::StreamEvent>& out);
  bool step_call(bool final, std::vector<api::StreamEvent>& out);
  bool step_recipient(bool final, std::vector<api::StreamEvent>& out);
  Scan scan_call(bool final, size_t& consumed, std::vector<Call>& calls);
  void emit_text(std::string_view s, std::vector<api::StreamEvent>& out);
  void emit_reasoning(std::string_view s, std::vector<api::StreamEvent>& out);
  void emit_call(Call c, std::vector<api::StreamEvent>& out);

  ToolCallStyle style_;
  ToolCallStreamOptions opts_;
  Mode mode_ = Mode::text;
  std::string buf_;
  std::string call_name_;     // functionary: the recipient of the current call
  bool strip_ws_ = true;      // drop whitespace at the start of the reply and after calls/reasoning
  bool reasoning_started_ = false;
  bool finished_ = false;
  int calls_ = 0;
};

struct ParsedOutput {
  std::string text;
  std::string reasoning;
  std::vector<api::ToolCall> tool_calls;
};

// The whole output at once: exactly what the stream produces when fed `output` in one piece.
ParsedOutput parse_model_output(std::string_view output, ToolCallStyle style, ToolCallStreamOptions opts = {});

}  // namespace fh::local
