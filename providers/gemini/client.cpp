#include "providers/gemini/client.hpp"

#include <cstdlib>

#include "providers/http/pricing.hpp"
#include "providers/http/provider_call.hpp"
#include "providers/http/rate.hpp"
#include "runtime/core/json_text.hpp"

namespace fh::provider_gemini {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string{};
}
}  // namespace

Result<Config> config_from(const json& section) {
  Config c;
  if (!section.is_null() && !section.is_object())
    return make_error(Errc::invalid_argument, "gemini config must be an object");
  auto get = [&](const char* key) -> std::string {
    if (section.is_object())
      if (auto it = section.find(key); it != section.end() && it->is_string()) return it->get<std::string>();
    return {};
  };
  c.api_key = get("api_key");
  if (c.api_key.empty()) c.api_key = env("GEMINI_API_KEY");
  if (c.api_key.empty()) c.api_key = env("GOOGLE_API_KEY");
  std::string base = get("base_url");
  if (base.empty()) base = env("GEMINI_BASE_URL");
  if (!base.empty()) c.base_url = base;
  while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
  if (auto v = get("name"); !v.empty()) c.name = v;
  if (auto v = get("ca_file"); !v.empty()) c.ca_file = v;
  if (section.is_object() && section.contains("timeouts")) {
    auto t = http::timeouts_from(section["timeouts"], c.timeouts);
    if (!t) return t.error();
    c.timeouts = t.value();
  }
  return c;
}

boost::asio::awaitable<api::ProviderResult<api::ChatResult>> GeminiProvider::chat(api::ChatRequest req,
                                                                                  api::StreamSink sink) {
  std::string model = req.model;
  if (model.rfind("models/", 0) == 0) model.erase(0, 7);
  http::Request hr;
  hr.method = "POST";
  hr.url = cfg_.base_url + "/models/" + model + (sink ? ":streamGenerateContent?alt=sse" : ":generateContent");
  hr.timeouts = cfg_.timeouts;
  hr.ca_file = cfg_.ca_file;
  if (!cfg_.api_key.empty()) hr.headers.emplace_back("x-goog-api-key", cfg_.api_key);
  hr.headers.emplace_back("Content-Type", "application/json");
  hr.body = json_text(build_request(req));
  // One scheduler per provider key, shared by every run in the process.
  http::Pacing pacing{http::rate_key(cfg_.name, cfg_.base_url, cfg_.api_key),
                      http::estimate_input_tokens(req) + req.max_tokens.value_or(0)};
  req = {};  // encoded; a plain function (see api::ready): the call in flight holds only the body
  auto decode_err = [](int status, std::string_view body, const http::Headers& h) {
    return decode_error(status, body, h);
  };
  if (!sink) return http::call_plain(std::move(hr), decode_response, decode_err, cfg_.name, pacing);

  hr.headers.emplace_back("Accept", "text/event-stream");
  auto dec = std::make_shared<StreamDecoder>();
  http::StreamCodec codec;
  codec.on_event = [dec](const http::SseEvent& e, const http::StreamCodec::Emit& emit) { dec->on_data(e.data, emit); };
  codec.done = [dec] { return dec->done(); };
  codec.failed = [dec] { return dec->error().has_value(); };
  codec.base = [dec] { return dec->base(); };
  codec.finish = [dec](api::ChatResult& r) { dec->finish(r); };
  codec.terminator = "a chunk with finishReason";
  return http::call_streaming(std::move(hr), std::move(codec), decode_err, std::move(sink), cfg_.name, pacing);
}

}  // namespace fh::provider_gemini
