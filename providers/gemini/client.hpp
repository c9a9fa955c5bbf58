// fh::provider_gemini — the Google Gemini Developer API provider (generateContent and
// streamGenerateContent?alt=sse). A thin client: the codec builds and reads the wire JSON,
// fh::http moves bytes. Runs on the caller's executor; cancelled through the awaiting coroutine's
// cancellation slot. Retries and fallback live in fh::provider_router.
// The API key goes only into the x-goog-api-key header; it is never logged or put in errors.
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>

#include "providers/gemini/codec.hpp"
#include "providers/http/http.hpp"
#include "runtime/api/provider.hpp"

namespace fh::provider_gemini {

struct Config {
  std::string name = "gemini";
  std::string api_key;
  std::string base_url = "https://generativelanguage.googleapis.com/v1beta";
  http::Timeouts timeouts;
  std::string ca_file;
};

// Config from the provider's config section (may be null), then GEMINI_API_KEY (or
// GOOGLE_API_KEY) and GEMINI_BASE_URL, then defaults. Keys: api_key, base_url, name, ca_file,
// timeouts {connect_ms, first_byte_ms, idle_ms, total_ms}.
Result<Config> config_from(const json& section);

class GeminiProvider final : public api::Provider {
 public:
  explicit GeminiProvider(Config cfg) : cfg_(std::move(cfg)) {}
  std::string_view name() const noexcept override { return cfg_.name; }
  boost::asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest req,
                                                                    api::StreamSink sink = {}) override;
  const Config& config() const noexcept { return cfg_; }

 private:
  Config cfg_;
};

}  // namespace fh::provider_gemini
