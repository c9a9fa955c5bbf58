#include "providers/openai/compat.hpp"

#include <cstdlib>

#include "providers/http/pricing.hpp"

namespace fh::provider_openai {

bool is_compat_preset(std::string_view p) noexcept {
  return p == "ollama" || p == "llamacpp" || p == "vllm" || p == "compat";
}

Result<Config> compat_config(std::string_view preset, const json& section) {
  if (!is_compat_preset(preset)) return make_error(Errc::invalid_argument, "unknown OpenAI-compatible preset '" + std::string(preset) + "'");
  json s = section.is_null() ? json::object() : section;
  if (!s.is_object()) return make_error(Errc::invalid_argument, std::string(preset) + " config must be an object");
  if (!s.contains("api_key")) s["api_key"] = "";
  if (!s.contains("name")) s["name"] = std::string(preset);
  if (!s.contains("base_url")) {
    if (preset == "ollama") {
      const char* host = std::getenv("OLLAMA_HOST");
      std::string h = host && *host ? host : "http://127.0.0.1:11434";
      if (h.find("://") == std::string::npos) h = "http://" + h;
      s["base_url"] = h + "/v1";
    } else if (preset == "llamacpp") {
      s["base_url"] = "http://127.0.0.1:8080/v1";
    } else if (preset == "vllm") {
      s["base_url"] = "http://127.0.0.1:8000/v1";
    } else {
      return make_error(Errc::invalid_argument, "compat/<model> needs base_url in the 'compat' config section");
    }
  }
  auto c = config_from(s);
  if (!c) return c;
  c->wire.max_tokens_field = "max_tokens";
  if (preset == "ollama") {
    int64_t ctx = 4096;  // Ollama's default num_ctx; the /v1 route cannot change it per request
    if (auto it = s.find("context_tokens"); it != s.end() && it->is_number_integer() && it->get<int64_t>() > 0)
      ctx = it->get<int64_t>();
    c->dialect.adapt_request = [](json& body, const api::ChatRequest&) { body.erase("tool_choice"); };  // ignored there
    c->dialect.check = [ctx](const api::ChatRequest& req, std::vector<std::string>& warnings) -> std::optional<api::ProviderError> {
      for (const auto& m : req.messages)
        for (const auto& p : m.content)
          if (p.kind == api::ContentPart::Kind::image && p.data_b64.empty() && p.url.rfind("data:", 0) != 0) {
            api::ProviderError e;
            e.kind = api::ErrorKind::invalid_request;
            e.message = "ollama's OpenAI-compatible route takes only inline (data:) images, not remote URLs";
            return e;
          }
      int64_t need = http::estimate_input_tokens(req) + req.max_tokens.value_or(0);
      if (need > ctx)
        warnings.push_back("request may exceed the model's context (about " + std::to_string(need) + " tokens of " +
                           std::to_string(ctx) + "); ollama silently drops the start of the prompt - set "
                           "context_tokens or the model's num_ctx");
      return std::nullopt;
    };
  }
  return c;
}

}  // namespace fh::provider_openai
