// fh::provider_openai — the OpenAI Chat Completions provider (and any OpenAI-compatible server:
// set base_url). A thin client: the codec builds and reads the wire JSON, fh::http moves bytes.
// Runs on the caller's executor; cancelled through the awaiting coroutine's cancellation slot.
// Retries and fallback are not here: they live in fh::provider_router.
// The API key is sent in the Authorization header only; it is never logged or put in errors.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "providers/http/http.hpp"
#include "providers/openai/codec.hpp"
#include "runtime/api/provider.hpp"

namespace fh::provider_openai {

// A dialect of the OpenAI wire (Mistral, local servers): hooks around the shared codec.
struct Dialect {
  // Adjusts the built request body (field names, ids, values the server wants differently).
  std::function<void(json& body, const api::ChatRequest& req)> adapt_request;
  // Rewrites a response payload (a whole body, an error body or one SSE data payload) into the
  // OpenAI shape before the codec reads it. Returns the input unchanged when nothing applies.
  std::function<std::string(std::string_view payload)> adapt_payload;
  // Checked before sending: an error here fails the call without a request (e.g. an unsupported
  // input); a warning is written to stderr and kept in ChatResult::provider_data["warnings"].
  std::function<std::optional<api::ProviderError>(const api::ChatRequest& req, std::vector<std::string>& warnings)> check;
};

struct Config {
  std::string name = "openai";  // provider name reported in results and errors
  std::string api_key;          // empty: no Authorization header (local servers)
  std::string base_url = "https://api.openai.com/v1";
  std::string organization, project;
  http::Timeouts timeouts;
  WireOptions wire;
  std::string ca_file;
  Dialect dialect;
};

// Config from the provider's config-file section (may be null), then the environment
// (OPENAI_API_KEY, OPENAI_BASE_URL), then defaults. Keys: api_key, base_url, organization,
// project, system_role, max_tokens_field, timeouts {connect_ms, first_byte_ms, idle_ms, total_ms}.
Result<Config> config_from(const json& section);

class OpenAiProvider final : public api::Provider {
 public:
  explicit OpenAiProvider(Config cfg) : cfg_(std::move(cfg)) {}
  std::string_view name() const noexcept override { return cfg_.name; }
  boost::asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest req,
                                                                    api::StreamSink sink = {}) override;
  const Config& config() const noexcept { return cfg_; }

 private:
  Config cfg_;
};

// GET {base_url}/models -> model ids.
boost::asio::awaitable<api::ProviderResult<std::vector<std::string>>> list_models(Config cfg);

}  // namespace fh::provider_openai
