#include "apps/freehold/register_remote.hpp"

#include <memory>

#include "providers/anthropic/client.hpp"
#include "providers/gemini/client.hpp"
#include "providers/mistral/codec.hpp"
#include "providers/openai/compat.hpp"
#include "providers/http/pricing.hpp"
#include "providers/openai/client.hpp"

namespace fh::app {

namespace {
Error no_model(std::string_view prefix) {
  return make_error(Errc::invalid_argument, "model missing after '" + std::string(prefix) + "/'");
}
// A section's "prices" rows override the built-in table for this provider.
Result<Ok> load_prices(const json& section, std::string_view provider) {
  if (!section.is_object() || !section.contains("prices")) return Ok{};
  auto r = http::add_price_overrides(section["prices"], provider);
  if (!r) return make_error(Errc::invalid_argument, std::string(provider) + ".prices: " + r.error().message);
  return Ok{};
}
api::ResolvedModel made(std::shared_ptr<api::Provider> p, std::string_view rest) {
  return api::ResolvedModel{std::move(p), std::string(rest)};
}
}  // namespace

void register_remote_providers(fh::api::ProviderRegistry& reg) {
  reg.add("openai", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("openai");
    if (auto p = load_prices(section, "openai"); !p) return p.error();
    auto cfg = provider_openai::config_from(section);
    if (!cfg) return cfg.error();
    return made(std::make_shared<provider_openai::OpenAiProvider>(std::move(cfg.value())), rest);
  });
  reg.add("anthropic", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("anthropic");
    if (auto p = load_prices(section, "anthropic"); !p) return p.error();
    auto cfg = provider_anthropic::config_from(section);
    if (!cfg) return cfg.error();
    return made(std::make_shared<provider_anthropic::AnthropicProvider>(std::move(cfg.value())), rest);
  });
  reg.add("gemini", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("gemini");
    if (auto p = load_prices(section, "gemini"); !p) return p.error();
    auto cfg = provider_gemini::config_from(section);
    if (!cfg) return cfg.error();
    return made(std::make_shared<provider_gemini::GeminiProvider>(std::move(cfg.value())), rest);
  });
  reg.add("mistral", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("mistral");
    if (auto p = load_prices(section, "mistral"); !p) return p.error();
    auto cfg = provider_mistral::config_from(section);
    if (!cfg) return cfg.error();
    return made(std::make_shared<provider_openai::OpenAiProvider>(std::move(cfg.value())), rest);
  });
  // OpenAI-compatible servers: ollama/<model>, llamacpp/<model>, vllm/<model>, compat/<model>.
  for (const char* preset : {"ollama", "llamacpp", "vllm", "compat"}) {
    reg.add(preset, [preset](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
      if (rest.empty()) return no_model(preset);
      if (auto p = load_prices(section, preset); !p) return p.error();
      auto cfg = provider_openai::compat_config(preset, section);
      if (!cfg) return cfg.error();
      return made(std::make_shared<provider_openai::OpenAiProvider>(std::move(cfg.value())), rest);
    });
  }
}

}  // namespace fh::app
