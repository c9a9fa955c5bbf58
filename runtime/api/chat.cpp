#include "runtime/api/chat.hpp"

#include <array>

namespace fh::api {

namespace {
template <class E, size_t N>
std::optional<E> lookup(const std::array<std::string_view, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == s) return static_cast<E>(i);
  return std::nullopt;
}
constexpr std::array<std::string_view, 4> kRoles{"system", "user", "assistant", "tool"};
constexpr std::array<std::string_view, 6> kFinish{"stop", "length", "tool_calls", "content_filter", "refusal", "error"};
constexpr std::array<std::string_view, 12> kKinds{"auth", "permission", "not_found", "invalid_request",
                                                  "context_length", "rate_limit", "overloaded", "server",
                                                  "network", "timeout", "cancelled", "budget_exceeded"};
constexpr std::array<std::string_view, 8> kEvents{"text", "reasoning", "tool_call_start", "tool_call_delta",
                                                  "tool_call_end", "usage", "finish", "error"};

Error bad(std::string msg) { return make_error(Errc::invalid_argument, std::move(msg)); }

int64_t int_field(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_number()) return 0;
  return it->is_number_integer() ? it->get<int64_t>() : static_cast<int64_t>(it->get<double>());
}
std::string str_field(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}
}  // namespace

std::string_view role_name(Role r) noexcept { return kRoles[static_cast<size_t>(r)]; }
std::optional<Role> parse_role(std::string_view s) noexcept {
  if (s == "developer") return Role::system;
  return lookup<Role>(kRoles, s);
}
std::string_view finish_reason_name(FinishReason f) noexcept { return kFinish[static_cast<size_t>(f)]; }
std::optional<FinishReason> parse_finish_reason(std::string_view s) noexcept { return lookup<FinishReason>(kFinish, s); }
std::string_view error_kind_name(ErrorKind k) noexcept { return kKinds[static_cast<size_t>(k)]; }
std::optional<ErrorKind> parse_error_kind(std::string_view s) noexcept { return lookup<ErrorKind>(kKinds, s); }
std::string_view stream_event_type_name(StreamEvent::Type t) noexcept { return kEvents[static_cast<size_t>(t)]; }

std::string Message::text() const {
  std::string out;
  for (const auto& p : content)
    if (p.kind == ContentPart::Kind::text) out += p.text;
  return out;
}
Message Message::user(std::string text) {
  Message m;
  m.role = Role::user;
  m.content.push_back({ContentPart::Kind::text, std::move(text), {}, {}, {}});
  return m;
}
Message Message::assistant(std::string text) {
  Message m = user(std::move(text));
  m.role = Role::assistant;
  return m;
}

Usage& Usage::operator+=(const Usage& o) {
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  cached_input_tokens += o.cached_input_tokens;
  cache_write_tokens += o.cache_write_tokens;
  reasoning_tokens += o.reasoning_tokens;
  return *this;
}

json to_json(const Usage& u) {
  return {{"input_tokens", u.input_tokens}, {"output_tokens", u.output_tokens},
          {"cached_input_tokens", u.cached_input_tokens}, {"cache_write_tokens", u.cache_write_tokens},
          {"reasoning_tokens", u.reasoning_tokens}};
}
json to_json(const ToolCall& c) {
  json j = {{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}};
  if (!c.provider_data.is_null()) j["provider_data"] = c.provider_data;
  return j;
}
json to_json(const ChatResult& r) {
  json calls = json::array();
  for (const auto& c : r.tool_calls) calls.push_back(to_json(c));
  json j = {{"provider", r.provider}, {"model", r.model}, {"text", r.text}, {"reasoning", r.reasoning},
            {"tool_calls", std::move(calls)}, {"finish_reason", finish_reason_name(r.finish_reason)},
            {"provider_finish_reason", r.provider_finish_reason}, {"usage", to_json(r.usage)},
            {"cost_usd", r.cost_usd ? json(*r.cost_usd) : json(nullptr)},
            {"latency_ms", r.latency_ms}, {"ttft_ms", r.ttft_ms}};
  if (!r.provider_data.is_null()) j["provider_data"] = r.provider_data;
  return j;
}
json to_json(const ProviderError& e) {
  json j = {{"kind", error_kind_name(e.kind)}, {"message", e.message}, {"status", e.status},
            {"retryable", e.retryable}};
  j["retry_after_ms"] = e.retry_after_ms ? json(*e.retry_after_ms) : json(nullptr);
  if (!e.provider.empty()) j["provider"] = e.provider;
  return j;
}
json to_json(const StreamEvent& e) {
  json j = {{"type", stream_event_type_name(e.type)}};
  switch (e.type) {
    case StreamEvent::Type::text:
    case StreamEvent::Type::reasoning: j["text"] = e.text; break;
    case StreamEvent::Type::tool_call_start: j["index"] = e.index; j["id"] = e.id; j["name"] = e.name; break;
    case StreamEvent::Type::tool_call_delta: j["index"] = e.index; j["arguments"] = e.arguments; break;
    case StreamEvent::Type::tool_call_end: j["index"] = e.index; break;
    case StreamEvent::Type::usage: j["usage"] = to_json(e.usage); break;
    case StreamEvent::Type::finish: j["finish_reason"] = finish_reason_name(e.finish_reason); break;
    case StreamEvent::Type::error: j["error"] = to_json(e.error); break;
  }
  return j;
}
json to_json(const Message& m) {
  json j = {{"role", role_name(m.role)}};
  bool only_text = true;
  for (const auto& p : m.content) only_text = only_text && p.kind == ContentPart::Kind::text;
  if (only_text) {
    j["content"] = m.text();
  } else {
    json parts = json::array();
    for (const auto& p : m.content) {
      if (p.kind == ContentPart::Kind::text) {
        parts.push_back({{"type", "text"}, {"text", p.text}});
      } else {
        json img = {{"type", "image"}};
        if (!p.url.empty()) img["url"] = p.url;
        if (!p.data_b64.empty()) { img["media_type"] = p.media_type; img["data"] = p.data_b64; }
        parts.push_back(std::move(img));
      }
    }
    j["content"] = std::move(parts);
  }
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& c : m.tool_calls) calls.push_back(to_json(c));
    j["tool_calls"] = std::move(calls);
  }
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  if (!m.name.empty()) j["name"] = m.name;
  if (!m.reasoning.empty()) j["reasoning"] = m.reasoning;
  if (!m.provider_data.is_null()) j["provider_data"] = m.provider_data;
  return j;
}
json to_json(const ToolSpec& t) {
  return {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}};
}
json to_json(const ChatRequest& r) {
  json msgs = json::array();
  for (const auto& m : r.messages) msgs.push_back(to_json(m));
  json j = {{"model", r.model}, {"messages", std::move(msgs)}};
  if (!r.system.empty()) j["system"] = r.system;
  if (!r.tools.empty()) {
    json tools = json::array();
    for (const auto& t : r.tools) tools.push_back(to_json(t));
    j["tools"] = std::move(tools);
  }
  if (!r.tool_choice.is_null()) j["tool_choice"] = r.tool_choice;
  if (!r.response_schema.is_null()) j["schema"] = r.response_schema;
  if (r.temperature) j["temperature"] = *r.temperature;
  if (r.top_p) j["top_p"] = *r.top_p;
  if (r.max_tokens) j["max_tokens"] = *r.max_tokens;
  if (r.seed) j["seed"] = *r.seed;
  if (!r.stop.empty()) j["stop"] = r.stop;
  return j;
}

Result<Usage> usage_from_json(const json& j) {
  if (!j.is_object()) return bad("usage must be an object");
  Usage u;
  u.input_tokens = int_field(j, "input_tokens");
  u.output_tokens = int_field(j, "output_tokens");
  u.cached_input_tokens = int_field(j, "cached_input_tokens");
  u.cache_write_tokens = int_field(j, "cache_write_tokens");
  u.reasoning_tokens = int_field(j, "reasoning_tokens");
  return u;
}

Result<ToolCall> tool_call_from_json(const json& j) {
  if (!j.is_object()) return bad("a tool call must be an object");
  ToolCall c;
  c.id = str_field(j, "id");
  c.name = str_field(j, "name");
  if (c.name.empty()) return bad("a tool call needs a name");
  if (auto it = j.find("arguments"); it != j.end()) {
    if (it->is_string()) {
      auto parsed = json::parse(it->get<std::string>(), nullptr, false);
      c.arguments = parsed.is_discarded() ? *it : parsed;
    } else {
      c.arguments = *it;
    }
  }
  if (auto it = j.find("provider_data"); it != j.end()) c.provider_data = *it;
  return c;
}

Result<Message> message_from_json(const json& j) {
  if (!j.is_object()) return bad("a message must be an object");
  Message m;
  auto role = parse_role(str_field(j, "role"));
  if (!role) return bad("message role must be system, user, assistant or tool");
  m.role = *role;
  if (auto it = j.find("content"); it != j.end()) {
    if (it->is_string()) {
      m.content.push_back({ContentPart::Kind::text, it->get<std::string>(), {}, {}, {}});
    } else if (it->is_array()) {
      for (const auto& p : *it) {
        if (!p.is_object()) return bad("a content part must be an object");
        std::string type = str_field(p, "type");
        if (type == "text") {
          m.content.push_back({ContentPart::Kind::text, str_field(p, "text"), {}, {}, {}});
        } else if (type == "image" || type == "image_url") {
          ContentPart part{ContentPart::Kind::image, {}, str_field(p, "url"), str_field(p, "media_type"),
                           str_field(p, "data")};
          if (part.url.empty() && part.data_b64.empty()) return bad("an image part needs url or data");
          m.content.push_back(std::move(part));
        } else {
          return bad("unknown content part type '" + type + "'");
        }
      }
    } else if (!it->is_null()) {
      return bad("message content must be a string or an array of parts");
    }
  }
  if (auto it = j.find("tool_calls"); it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      auto call = tool_call_from_json(c);
      if (!call) return call.error();
      m.tool_calls.push_back(std::move(call.value()));
    }
  }
  m.tool_call_id = str_field(j, "tool_call_id");
  m.name = str_field(j, "name");
  m.reasoning = str_field(j, "reasoning");
  if (auto it = j.find("provider_data"); it != j.end()) m.provider_data = *it;
  if (m.role == Role::tool && m.tool_call_id.empty()) return bad("a tool message needs tool_call_id");
  return m;
}

Result<ToolSpec> tool_spec_from_json(const json& j) {
  if (!j.is_object()) return bad("a tool spec must be an object");
  ToolSpec t;
  t.name = str_field(j, "name");
  if (t.name.empty()) return bad("a tool spec needs a name");
  t.description = str_field(j, "description");
  if (auto it = j.find("parameters"); it != j.end()) {
    if (!it->is_object()) return bad("tool parameters must be a JSON Schema object");
    t.parameters = *it;
  }
  return t;
}

Result<ChatResult> chat_result_from_json(const json& j) {
  if (!j.is_object()) return bad("a chat result must be an object");
  ChatResult r;
  r.provider = str_field(j, "provider");
  r.model = str_field(j, "model");
  r.text = str_field(j, "text");
  r.reasoning = str_field(j, "reasoning");
  if (auto it = j.find("tool_calls"); it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      auto call = tool_call_from_json(c);
      if (!call) return call.error();
      r.tool_calls.push_back(std::move(call.value()));
    }
  }
  if (auto f = parse_finish_reason(str_field(j, "finish_reason"))) r.finish_reason = *f;
  r.provider_finish_reason = str_field(j, "provider_finish_reason");
  if (auto it = j.find("usage"); it != j.end()) {
    auto u = usage_from_json(*it);
    if (!u) return u.error();
    r.usage = u.value();
  }
  if (auto it = j.find("cost_usd"); it != j.end() && it->is_number()) r.cost_usd = it->get<double>();
  r.latency_ms = int_field(j, "latency_ms");
  r.ttft_ms = int_field(j, "ttft_ms");
  normalize_finish(r);
  return r;
}

Result<ProviderError> provider_error_from_json(const json& j) {
  if (!j.is_object()) return bad("an error must be an object");
  ProviderError e;
  auto kind = parse_error_kind(str_field(j, "kind"));
  if (!kind) return bad("unknown error kind '" + str_field(j, "kind") + "'");
  e.kind = *kind;
  e.message = str_field(j, "message");
  e.status = static_cast<int>(int_field(j, "status"));
  if (auto it = j.find("retryable"); it != j.end() && it->is_boolean()) e.retryable = it->get<bool>();
  if (auto it = j.find("retry_after_ms"); it != j.end() && it->is_number()) e.retry_after_ms = int_field(j, "retry_after_ms");
  return e;
}

void normalize_finish(ChatResult& r) {
  if (!r.tool_calls.empty()) r.finish_reason = FinishReason::tool_calls;
}

void StreamAssembler::add(const StreamEvent& e) {
  using T = StreamEvent::Type;
  switch (e.type) {
    case T::text: text_ += e.text; break;
    case T::reasoning: reasoning_ += e.text; break;
    case T::tool_call_start:
      if (e.index >= 0 && e.index < 1024) {
        if (calls_.size() <= static_cast<size_t>(e.index)) calls_.resize(static_cast<size_t>(e.index) + 1);
        calls_[static_cast<size_t>(e.index)].id = e.id;
        calls_[static_cast<size_t>(e.index)].name = e.name;
      }
      break;
    case T::tool_call_delta:
      if (e.index >= 0 && static_cast<size_t>(e.index) < calls_.size())
        calls_[static_cast<size_t>(e.index)].args += e.arguments;
      break;
    case T::tool_call_end: break;
    case T::usage: usage_ = e.usage; has_usage_ = true; break;
    case T::finish: finish_ = e.finish_reason; break;
    case T::error: error_ = e.error; break;
  }
}

ChatResult StreamAssembler::finish(ChatResult base) {
  base.text += text_;
  base.reasoning += reasoning_;
  for (auto& p : calls_) {
    if (p.name.empty()) continue;
    ToolCall c;
    c.id = p.id;
    c.name = p.name;
    if (p.args.empty()) {
      c.arguments = json::object();
    } else {
      auto parsed = json::parse(p.args, nullptr, false);
      c.arguments = parsed.is_discarded() ? json(p.args) : parsed;
    }
    base.tool_calls.push_back(std::move(c));
  }
  if (has_usage_) base.usage = usage_;
  if (finish_) base.finish_reason = *finish_;
  normalize_finish(base);
  return base;
}

}  // namespace fh::api
