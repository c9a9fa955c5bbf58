#include "providers/anthropic/client.hpp"

#include <cstdlib>
#include <memory>

#include <boost/asio/use_awaitable.hpp>

#include "providers/http/pricing.hpp"
#include "providers/http/provider_call.hpp"
#include "providers/http/rate.hpp"
#include "runtime/core/json_text.hpp"

namespace fh::provider_anthropic {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string{};
}
}  // namespace

Result<Config> config_from(const json& section) {
  Config c;
  if (!section.is_null() && !section.is_object())
    return make_error(Errc::invalid_argument, "anthropic config must be an object");
  auto get = [&](const char* key) -> std::string {
    if (section.is_object())
      if (auto it = section.find(key); it != section.end() && it->is_string()) return it->get<std::string>();
    return {};
  };
  c.api_key = get("api_key");
  if (c.api_key.empty()) c.api_key = env("ANTHROPIC_API_KEY");
  std::string base = get("base_url");
  if (base.empty()) base = env("ANTHROPIC_BASE_URL");
  if (!base.empty()) c.base_url = base;
  if (auto v = get("version"); !v.empty()) c.version = v;
  c.beta = get("beta");
  if (auto v = get("ca_file"); !v.empty()) c.ca_file = v;
  if (auto v = get("name"); !v.empty()) c.name = v;
  if (section.is_object()) {
    if (auto it = section.find("default_max_tokens"); it != section.end()) {
      if (!it->is_number_integer() || it->get<int64_t>() <= 0)
        return make_error(Errc::invalid_argument, "default_max_tokens must be a positive integer");
      c.wire.default_max_tokens = it->get<int64_t>();
    }
    if (section.contains("timeouts")) {
      auto t = http::timeouts_from(section["timeouts"], c.timeouts);
      if (!t) return t.error();
      c.timeouts = t.value();
    }
  }
  return c;
}

boost::asio::awaitable<api::ProviderResult<api::ChatResult>> AnthropicProvider::chat(api::ChatRequest req,
                                                                                      api::StreamSink sink) {
  WireOptions wire = cfg_.wire;
  wire.stream = static_cast<bool>(sink);
  http::Request hr;
  hr.method = "POST";
  std::string base = cfg_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  hr.url = base + "/v1/messages";
  hr.timeouts = cfg_.timeouts;
  hr.ca_file = cfg_.ca_file;
  if (!cfg_.api_key.empty()) hr.headers.emplace_back("x-api-key", cfg_.api_key);
  hr.headers.emplace_back("anthropic-version", cfg_.version);
  if (!cfg_.beta.empty()) hr.headers.emplace_back("anthropic-beta", cfg_.beta);
  hr.headers.emplace_back("content-type", "application/json");
  hr.body = json_text(build_request(req, wire));
  // One scheduler per provider key, shared by every run in the process.
  http::Pacing pacing{http::rate_key(cfg_.name, cfg_.base_url, cfg_.api_key),
                      http::estimate_input_tokens(req) + req.max_tokens.value_or(0)};
  req = {};  // encoded; a plain function (see api::ready): the call in flight holds only the body
  auto decode_err = [](int status, std::string_view body, const http::Headers& h) {
    return decode_error(status, body, h);
  };
  if (!sink) return http::call_plain(std::move(hr), decode_response, decode_err, cfg_.name, pacing);

  hr.headers.emplace_back("accept", "text/event-stream");
  auto dec = std::make_shared<StreamDecoder>();
  http::StreamCodec codec;
  codec.on_event = [dec](const http::SseEvent& e, const http::StreamCodec::Emit& emit) {
    dec->on_event(e.event, e.data, emit);
  };
  codec.done = [dec] { return dec->done(); };
  codec.failed = [dec] { return dec->error().has_value(); };
  codec.base = [dec] { return dec->base(); };
  codec.terminator = "event: message_stop";
  return http::call_streaming(std::move(hr), std::move(codec), decode_err, std::move(sink), cfg_.name, pacing);
}

}  // namespace fh::provider_anthropic
