// Registers the remote API providers ("openai", "anthropic", "gemini", "mistral", and the OpenAI-compatible presets ollama, llamacpp, vllm, compat) with the provider registry.
// Each factory reads that provider's config-file section (api_key, base_url, timeouts, ...) and
// then the environment (OPENAI_API_KEY / OPENAI_BASE_URL, ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL).
// Providers hold no io_context: the HTTP layer binds to the awaiting coroutine's executor per call.
#pragma once

#include "runtime/api/provider.hpp"

namespace fh::app {

void register_remote_providers(fh::api::ProviderRegistry& reg);

}  // namespace fh::app
