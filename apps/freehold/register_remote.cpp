#include "apps/freehold/register_remote.hpp"

#include <memory>

#include "providers/anthropic/client.hpp"
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
}

}  // namespace fh::app
