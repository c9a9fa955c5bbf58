#include "providers/mistral/codec.hpp"

#include <cstdlib>

#include "providers/http/wire_json.hpp"

namespace fh::provider_mistral {

using http::wire::find;
using http::wire::str;

namespace {
bool alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Mistral content: a string, or an array of {"type":"text","text"} / {"type":"thinking",
// "thinking":[{"type":"text","text"}]} chunks. Splits it into text and reasoning.
bool flatten_content(json& msg) {
  json* c = msg.is_object() && msg.contains("content") ? &msg["content"] : nullptr;
  if (!c || !c->is_array()) return false;
  std::string text, reasoning;
  for (const auto& ch : *c) {
    std::string type = str(ch, "type");
    if (type == "text") {
      text += str(ch, "text");
    } else if (type == "thinking") {
      if (const json* th = find(ch, "thinking"); th && th->is_array())
        for (const auto& t : *th) reasoning += str(t, "text");
      else reasoning += str(ch, "thinking");
    } else if (ch.is_string()) {
      text += ch.get<std::string>();
    }
  }
  *c = text;
  if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
  return true;
}
}  // namespace

bool valid_tool_call_id(std::string_view id) noexcept {
  if (id.size() != 9) return false;
  for (char c : id)
    if (!alnum(c)) return false;
  return true;
}

std::string tool_call_id(std::string_view id) {
  if (valid_tool_call_id(id)) return std::string(id);
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  uint64_t h = http::wire::fnv1a(id);
  std::string out(9, '0');
  for (auto& c : out) {
    c = kDigits[h % 62];
    h /= 62;
    if (h == 0) h = http::wire::fnv1a(id, h ^ 0x9e3779b97f4a7c15ull);
  }
  return out;
}

void adapt_request(json& body, const api::ChatRequest& req) {
  (void)req;
  if (json* msgs = body.contains("messages") ? &body["messages"] : nullptr; msgs && msgs->is_array()) {
    std::vector<std::pair<std::string, std::string>> names;  // mistral id -> function name
    for (auto& m : *msgs) {
      if (m.contains("tool_calls") && m["tool_calls"].is_array())
        for (auto& c : m["tool_calls"]) {
          c["id"] = tool_call_id(str(c, "id"));
          if (const json* fn = find(c, "function")) names.emplace_back(c["id"], str(*fn, "name"));
        }
      if (str(m, "role") == "tool") {
        m["tool_call_id"] = tool_call_id(str(m, "tool_call_id"));
        for (const auto& [id, n] : names)
          if (id == m["tool_call_id"] && !m.contains("name")) m["name"] = n;
      }
    }
  }
  if (body.contains("tool_choice") && body["tool_choice"] == "required") body["tool_choice"] = "any";
  if (body.contains("seed")) {
    body["random_seed"] = body["seed"];
    body.erase("seed");
  }
  if (body.contains("max_completion_tokens")) {
    body["max_tokens"] = body["max_completion_tokens"];
    body.erase("max_completion_tokens");
  }
  body.erase("stream_options");  // usage comes on the finishing chunk anyway
}

std::string adapt_payload(std::string_view payload) {
  json j = http::wire::parse(payload);
  if (j.is_discarded() || !j.is_object()) return std::string(payload);
  bool changed = false;
  if (str(j, "object") == "error" || (!j.contains("error") && !j.contains("choices") && j.contains("message"))) {
    j = json{{"error", j}};
    changed = true;
  } else if (const json* detail = find(j, "detail"); detail && !j.contains("error")) {
    std::string msg;
    if (detail->is_array())
      for (const auto& d : *detail) msg += (msg.empty() ? "" : "; ") + str(d, "msg");
    else if (detail->is_string())
      msg = detail->get<std::string>();
    j = json{{"error", {{"message", msg.empty() ? std::string("validation error") : msg}, {"type", "invalid_request_error"}}}};
    changed = true;
  }
  if (json* choices = j.contains("choices") ? &j["choices"] : nullptr; choices && choices->is_array())
    for (auto& ch : *choices) {
      if (!ch.is_object()) continue;
      if (ch.contains("message")) changed = flatten_content(ch["message"]) || changed;
      if (ch.contains("delta")) changed = flatten_content(ch["delta"]) || changed;
    }
  return changed ? j.dump() : std::string(payload);
}

Result<provider_openai::Config> config_from(const json& section) {
  json s = section.is_null() ? json::object() : section;
  if (!s.is_object()) return make_error(Errc::invalid_argument, "mistral config must be an object");
  if (!s.contains("api_key"))
    if (const char* k = std::getenv("MISTRAL_API_KEY")) s["api_key"] = k;
  if (!s.contains("base_url")) {
    const char* b = std::getenv("MISTRAL_BASE_URL");
    s["base_url"] = b ? b : "https://api.mistral.ai/v1";
  }
  if (!s.contains("api_key")) s["api_key"] = "";  // never fall back to OPENAI_API_KEY
  if (!s.contains("name")) s["name"] = "mistral";
  auto c = provider_openai::config_from(s);
  if (!c) return c;
  c->wire.max_tokens_field = "max_tokens";
  c->wire.include_usage = false;
  c->dialect.adapt_request = adapt_request;
  c->dialect.adapt_payload = adapt_payload;
  return c;
}

}  // namespace fh::provider_mistral
