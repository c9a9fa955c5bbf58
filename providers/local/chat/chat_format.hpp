// fh::local — unified messages -> the prompt text a model was trained on, via its chat template.
// Depends on: fh::api, fh::core, the Jinja interpreter beside it. Pure computation; any thread.
//
// The template sees what Hugging Face's apply_chat_template gives it:
//   messages: [{role, content, tool_calls?, tool_call_id?, name?, reasoning_content?}]
//     content is the message's text (a string, "" when empty); a message with image parts gets a
//     list of blocks [{type:"text", text} | {type:"image"}] instead.
//     tool_calls: [{id, type:"function", function:{name, arguments}}], arguments a JSON object
//     (or the raw string the model sent when it was not valid JSON). When a template fails on
//     that (not through raise_exception), it is rendered again with arguments as JSON text
//     (json.dumps form): Functionary v3.2 and DeepSeek-R1 concatenate them as strings.
//     tool messages carry tool_call_id and name (when known); assistant messages with reasoning
//     carry reasoning_content.
//   tools: [{type:"function", function:{name, description, parameters}}], absent when empty.
//   add_generation_prompt, bos_token, eos_token, and ChatTemplateOptions::extra (e.g.
//   {"enable_thinking": false}).
// Key order is observable (tojson, items()): the dicts above keep the order listed (HF's), tool
// parameter schemas list type, title, description, enum, properties, items, required first and then
// the rest by name (fh::json lost the caller's order), and tool-call arguments come sorted by key.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "providers/local/chat/jinja_value.hpp"
#include "runtime/api/chat.hpp"
#include "runtime/core/result.hpp"

namespace fh::local {

struct ChatTemplateOptions {
  json extra = json::object();     // more template variables
  std::optional<std::time_t> now;  // strftime_now's clock; unset = the real time
};

// The HF-shaped template context (exposed for tests and for debugging prompts).
jinja::Value chat_template_context(const std::vector<api::Message>& msgs, const std::vector<api::ToolSpec>& tools,
                           bool add_generation_prompt, const std::string& bos_token,
                           const std::string& eos_token, const ChatTemplateOptions& opts = {});

Result<std::string> apply_chat_template(std::string_view tmpl, const std::vector<api::Message>& msgs,
                                        const std::vector<api::ToolSpec>& tools, bool add_generation_prompt,
                                        const std::string& bos_token, const std::string& eos_token,
                                        const ChatTemplateOptions& opts = {});

// A ChatML template (<|im_start|>role ... <|im_end|>) with Hermes-style tools and <tool_call>
// output, for models whose GGUF carries no tokenizer.chat_template.
std::string_view fallback_chat_template();

}  // namespace fh::local
