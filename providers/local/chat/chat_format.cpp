// Unified messages -> HF message dicts -> the model's chat template (see chat_format.hpp).
#include "providers/local/chat/chat_format.hpp"

#include "providers/local/chat/jinja.hpp"

namespace fh::local {
namespace {

// ChatML with tools taught the Hermes/Qwen way; written for this project.
constexpr std::string_view kFallback =
    R"({%- if messages and messages[0].role == 'system' %}{%- set system = messages[0].content %}{%- set rest = messages[1:] %}
{%- else %}{%- set system = '' %}{%- set rest = messages %}{%- endif %}
{%- if system or tools %}
{{- '<|im_start|>system\n' + system }}
{%- if tools %}
{%- if system %}{{- '\n\n' }}{%- endif %}
{{- 'You can call these tools. Their JSON signatures are inside <tools></tools>:\n<tools>' }}
{%- for tool in tools %}{{- '\n' + tool | tojson }}{%- endfor %}
{{- '\n</tools>\n\nTo call a tool, answer with one JSON object per call inside <tool_call></tool_call> tags:\n<tool_call>\n{"name": <tool-name>, "arguments": <arguments-object>}\n</tool_call>' }}
{%- endif %}
{{- '<|im_end|>\n' }}
{%- endif %}
{%- for m in rest %}
{%- if m.role == 'tool' %}
{{- '<|im_start|>tool\n<tool_response>\n' + m.content + '\n</tool_response><|im_end|>\n' }}
{%- elif m.role == 'assistant' %}
{{- '<|im_start|>assistant\n' + m.content }}
{%- for call in m.tool_calls | default([]) %}
{%- if m.content or not loop.first %}{{- '\n' }}{%- endif %}
{{- '<tool_call>\n{"name": "' + call.function.name + '", "arguments": ' }}
{%- if call.function.arguments is string %}{{- call.function.arguments }}{%- else %}{{- call.function.arguments | tojson }}{%- endif %}
{{- '}\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\n' }}
{%- else %}
{{- '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %})";

using jinja::Value;

Value str(std::string s) { return Value::string(std::move(s)); }

Value dict(std::initializer_list<std::pair<const char*, Value>> kv) {
  Value d = Value::dict();
  for (auto& [k, v] : kv) d.d->items.emplace_back(k, v);
  return d;
}

// A JSON Schema node with its keywords in the order people write them (see the header).
Value schema_value(const json& j, int depth) {
  if (!j.is_object() || depth > 64) return jinja::from_json(j);
  static const char* kFirst[] = {"type", "title", "description", "enum", "properties", "items", "required"};
  Value d = Value::dict();
  auto convert = [&](const std::string& key, const json& v) -> Value {
    if (key == "properties" && v.is_object()) {
      Value props = Value::dict();
      for (auto it = v.begin(); it != v.end(); ++it) props.d->items.emplace_back(it.key(), schema_value(it.value(), depth + 1));
      return props;
    }
    if (key == "items" || key == "additionalProperties" || key == "not") return schema_value(v, depth + 1);
    if ((key == "anyOf" || key == "oneOf" || key == "allOf" || key == "prefixItems") && v.is_array()) {
      jinja::List l;
      for (auto& x : v) l.push_back(schema_value(x, depth + 1));
      return Value::list(std::move(l));
    }
    return jinja::from_json(v);
  };
  for (const char* k : kFirst)
    if (auto it = j.find(k); it != j.end()) d.d->items.emplace_back(k, convert(k, *it));
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool first = false;
    for (const char* k : kFirst) first |= it.key() == k;
    if (!first) d.d->items.emplace_back(it.key(), convert(it.key(), it.value()));
  }
  return d;
}

Value content_of(const api::Message& m) {
  bool has_image = false;
  for (auto& p : m.content) has_image |= p.kind == api::ContentPart::Kind::image;
  if (!has_image) return str(m.text());
  jinja::List blocks;
  for (auto& p : m.content) {
    if (p.kind == api::ContentPart::Kind::text) blocks.push_back(dict({{"type", str("text")}, {"text", str(p.text)}}));
    else blocks.push_back(dict({{"type", str("image")}}));
  }
  return Value::list(std::move(blocks));
}

}  // namespace

namespace {

Value build_context(const std::vector<api::Message>& msgs, const std::vector<api::ToolSpec>& tools,
                    bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token,
                    const ChatTemplateOptions& opts, bool string_arguments) {
  Value ctx = opts.extra.is_object() ? jinja::from_json(opts.extra) : Value::dict();
  jinja::List messages;
  for (const auto& m : msgs) {
    Value j = dict({{"role", str(std::string(api::role_name(m.role)))}, {"content", content_of(m)}});
    if (m.role == api::Role::assistant && !m.tool_calls.empty()) {
      jinja::List calls;
      for (const auto& c : m.tool_calls)
        calls.push_back(dict({{"id", str(c.id)},
                              {"type", str("function")},
                              {"function", dict({{"name", str(c.name)},
                                                 {"arguments", string_arguments && !c.arguments.is_string()
                                                                   ? str(jinja::to_json_text(jinja::from_json(c.arguments), -1))
                                                                   : jinja::from_json(c.arguments)}})}}));
      j.d->set("tool_calls", Value::list(std::move(calls)));
    }
    if (m.role == api::Role::assistant && !m.reasoning.empty()) j.d->set("reasoning_content", str(m.reasoning));
    if (m.role == api::Role::tool) {
      j.d->set("tool_call_id", str(m.tool_call_id));
      if (!m.name.empty()) j.d->set("name", str(m.name));
    }
    messages.push_back(std::move(j));
  }
  ctx.d->set("messages", Value::list(std::move(messages)));
  if (!tools.empty()) {
    jinja::List t;
    for (const auto& s : tools)
      t.push_back(dict({{"type", str("function")},
                        {"function", dict({{"name", str(s.name)},
                                           {"description", str(s.description)},
                                           {"parameters", schema_value(s.parameters, 0)}})}}));
    ctx.d->set("tools", Value::list(std::move(t)));
  }
  ctx.d->set("add_generation_prompt", Value::boolean(add_generation_prompt));
  ctx.d->set("bos_token", str(bos_token));
  ctx.d->set("eos_token", str(eos_token));
  return ctx;
}

}  // namespace

Value chat_template_context(const std::vector<api::Message>& msgs, const std::vector<api::ToolSpec>& tools,
                            bool add_generation_prompt, const std::string& bos_token,
                            const std::string& eos_token, const ChatTemplateOptions& opts) {
  return build_context(msgs, tools, add_generation_prompt, bos_token, eos_token, opts, false);
}

Result<std::string> apply_chat_template(std::string_view tmpl, const std::vector<api::Message>& msgs,
                                        const std::vector<api::ToolSpec>& tools, bool add_generation_prompt,
                                        const std::string& bos_token, const std::string& eos_token,
                                        const ChatTemplateOptions& opts) {
  jinja::RenderOptions ro;
  ro.now = opts.now;
  auto out = jinja::render(tmpl, build_context(msgs, tools, add_generation_prompt, bos_token, eos_token, opts, false), ro);
  if (out.ok()) return out;
  // Some templates (Functionary, DeepSeek-R1) concatenate arguments as a JSON string: when the
  // template failed on its own (not by raise_exception) and there are tool calls, try that form.
  bool has_calls = false;
  for (const auto& m : msgs) has_calls |= !m.tool_calls.empty();
  if (!has_calls || out.error().code != Errc::invalid_argument || out.error().detail.value("raised", false)) return out;
  auto retry = jinja::render(tmpl, build_context(msgs, tools, add_generation_prompt, bos_token, eos_token, opts, true), ro);
  return retry.ok() ? retry : out;
}

std::string_view fallback_chat_template() { return kFallback; }

}  // namespace fh::local
