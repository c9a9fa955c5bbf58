// fh::provider_openai compat — OpenAI-compatible servers by base_url, with named presets
// (PROVIDERS.md §6): "ollama" (its /v1 route; no remote image URLs; tool_choice ignored there;
// a warning when the request may not fit its context window, `context_tokens`, default 4096),
// "llamacpp" (llama-server; reasoning_content; usage on the finish chunk or a separate chunk),
// "vllm", and "compat" (any other server: base_url required). All use max_tokens, send the key
// only when one is configured (never OPENAI_API_KEY) and reuse the OpenAI codec.
#pragma once

#include <string_view>

#include "providers/openai/client.hpp"

namespace fh::provider_openai {

// The presets this knows: ollama, llamacpp, vllm, compat.
bool is_compat_preset(std::string_view preset) noexcept;

// Config for `preset` from its config section (base_url, api_key, context_tokens, timeouts...)
// and the environment (OLLAMA_HOST for ollama), then the preset's defaults.
Result<Config> compat_config(std::string_view preset, const json& section);

}  // namespace fh::provider_openai
