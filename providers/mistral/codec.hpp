// fh::provider_mistral — Mistral chat completions as a dialect of the OpenAI codec
// (PROVIDERS.md §5): tool-call ids of exactly 9 letters/digits (other providers' ids are remapped
// stably, so a call and its result keep matching), tool_choice "any", random_seed, max_tokens,
// usage on the finishing chunk (no stream_options), content that may be an array of typed chunks
// (thinking -> reasoning), flat error bodies ({"object":"error",...}) and 422 {"detail": [...]}.
// Pure functions; the client is provider_openai::OpenAiProvider with this dialect.
#pragma once

#include <string>
#include <string_view>

#include "providers/openai/client.hpp"

namespace fh::provider_mistral {

// `id` if it already is 9 letters/digits, else a stable 9-character base-62 id derived from it.
std::string tool_call_id(std::string_view id);
bool valid_tool_call_id(std::string_view id) noexcept;

// OpenAI-shaped body -> Mistral body.
void adapt_request(json& body, const api::ChatRequest& req);
// A Mistral payload (body, error body or SSE data) -> the OpenAI shape the codec reads.
std::string adapt_payload(std::string_view payload);

// Config from the "mistral" section, then MISTRAL_API_KEY / MISTRAL_BASE_URL, then defaults
// (https://api.mistral.ai/v1). Same keys as provider_openai::config_from.
Result<provider_openai::Config> config_from(const json& section);

}  // namespace fh::provider_mistral
