// fh::provider_anthropic — the Anthropic Messages provider. A thin client: the codec builds and
// reads the wire JSON, fh::http moves bytes. Runs on the caller's executor; cancelled through the
// awaiting coroutine's cancellation slot. Retries and fallback live in fh::provider_router.
// The API key goes only into the x-api-key header; it is never logged or put in errors.
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>

#include "providers/anthropic/codec.hpp"
#include "providers/http/http.hpp"
#include "runtime/api/provider.hpp"

namespace fh::provider_anthropic {

struct Config {
  std::string name = "anthropic";
  std::string api_key;
  std::string base_url = "https://api.anthropic.com";  // the SDKs' convention: no /v1
  std::string version = "2023-06-01";                  // anthropic-version header
  std::string beta;                                    // anthropic-beta header, if any
  http::Timeouts timeouts;
  WireOptions wire;
  std::string ca_file;
};

// Config from the provider's config section (may be null), then ANTHROPIC_API_KEY /
// ANTHROPIC_BASE_URL, then defaults. Keys: api_key, base_url, version, beta, default_max_tokens,
// timeouts {connect_ms, first_byte_ms, idle_ms, total_ms}.
Result<Config> config_from(const json& section);

class AnthropicProvider final : public api::Provider {
 public:
  explicit AnthropicProvider(Config cfg) : cfg_(std::move(cfg)) {}
  std::string_view name() const noexcept override { return cfg_.name; }
  boost::asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest req,
                                                                    api::StreamSink sink = {}) override;
  const Config& config() const noexcept { return cfg_; }

 private:
  Config cfg_;
};

}  // namespace fh::provider_anthropic
