#include "apps/freehold/register_remote.hpp"

#include <memory>

#include "providers/anthropic/client.hpp"
#include "providers/gemini/client.hpp"
#include "providers/mistral/codec.hpp"
#include "providers/openai/compat.hpp"
#include "providers/openai/client.hpp"

namespace fh::app {

namespace {
Error no_model(std::string_view prefix) {
  return make_error(Errc::invalid_argument, "model missing after '" + std::string(prefix) + "/'");
}
}  // namespace

void register_remote_providers(fh::api::ProviderRegistry& reg) {
  reg.add("openai", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("openai");
    auto cfg = provider_openai::config_from(section);
    if (!cfg) return cfg.error();
    return api::ResolvedModel{std::make_shared<provider_openai::OpenAiProvider>(std::move(cfg.value())), std::string(rest)};
  });
  reg.add("anthropic", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("anthropic");
    auto cfg = provider_anthropic::config_from(section);
    if (!cfg) return cfg.error();
    return api::ResolvedModel{std::make_shared<provider_anthropic::AnthropicProvider>(std::move(cfg.value())),
                              std::string(rest)};
  });
  reg.add("gemini", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("gemini");
    auto cfg = provider_gemini::config_from(section);
    if (!cfg) return cfg.error();
    return api::ResolvedModel{std::make_shared<provider_gemini::GeminiProvider>(std::move(cfg.value())),
                              std::string(rest)};
  });
  reg.add("mistral", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    if (rest.empty()) return no_model("mistral");
    auto cfg = provider_mistral::config_from(section);
    if (!cfg) return cfg.error();
    return api::ResolvedModel{std::make_shared<provider_openai::OpenAiProvider>(std::move(cfg.value())), std::string(rest)};
  });
  // OpenAI-compatible servers: ollama/<model>, llamacpp/<model>, vllm/<model>, compat/<model>.
  for (const char* preset : {"ollama", "llamacpp", "vllm", "compat"}) {
    reg.add(preset, [preset](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
      if (rest.empty()) return no_model(preset);
      auto cfg = provider_openai::compat_config(preset, section);
      if (!cfg) return cfg.error();
      return api::ResolvedModel{std::make_shared<provider_openai::OpenAiProvider>(std::move(cfg.value())),
                                std::string(rest)};
    });
  }
}

}  // namespace fh::app
