#include "providers/openai/client.hpp"

#include <cstdio>
#include <cstdlib>

#include <boost/asio/use_awaitable.hpp>

#include "providers/http/pricing.hpp"
#include "providers/http/provider_call.hpp"
#include "providers/http/rate.hpp"
#include "runtime/core/json_text.hpp"

namespace fh::provider_openai {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string{};
}
std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}
http::Request base_request(const Config& cfg, std::string method, std::string path) {
  http::Request r;
  r.method = std::move(method);
  r.url = trim_slash(cfg.base_url) + path;
  r.timeouts = cfg.timeouts;
  r.ca_file = cfg.ca_file;
  if (!cfg.api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + cfg.api_key);
  if (!cfg.organization.empty()) r.headers.emplace_back("OpenAI-Organization", cfg.organization);
  if (!cfg.project.empty()) r.headers.emplace_back("OpenAI-Project", cfg.project);
  return r;
}
}  // namespace

Result<Config> config_from(const json& section) {
  Config c;
  if (!section.is_null() && !section.is_object())
    return make_error(Errc::invalid_argument, "openai config must be an object");
  auto get = [&](const char* key) -> std::string {
    if (section.is_object())
      if (auto it = section.find(key); it != section.end() && it->is_string()) return it->get<std::string>();
    return {};
  };
  c.api_key = get("api_key");
  // An explicit "api_key" (even empty) wins: a dialect or local server never inherits OpenAI's key.
  if (c.api_key.empty() && !(section.is_object() && section.contains("api_key"))) c.api_key = env("OPENAI_API_KEY");
  std::string base = get("base_url");
  if (base.empty()) base = env("OPENAI_BASE_URL");
  if (!base.empty()) c.base_url = base;
  c.organization = get("organization");
  c.project = get("project");
  if (auto v = get("system_role"); !v.empty()) c.wire.system_role = v;
  if (auto v = get("max_tokens_field"); !v.empty()) c.wire.max_tokens_field = v;
  if (auto v = get("ca_file"); !v.empty()) c.ca_file = v;
  if (auto v = get("name"); !v.empty()) c.name = v;
  if (section.is_object() && section.contains("timeouts")) {
    auto t = http::timeouts_from(section["timeouts"], c.timeouts);
    if (!t) return t.error();
    c.timeouts = t.value();
  }
  return c;
}

namespace {
// Dialect warnings ride on a successful result.
boost::asio::awaitable<api::ProviderResult<api::ChatResult>> with_warnings(
    boost::asio::awaitable<api::ProviderResult<api::ChatResult>> call, std::vector<std::string> warnings) {
  auto r = co_await std::move(call);
  if (r) r->provider_data["warnings"] = warnings;
  co_return r;
}
}  // namespace

// Not a coroutine (see api::ready): the request is encoded and cleared before anything waits.
boost::asio::awaitable<api::ProviderResult<api::ChatResult>> OpenAiProvider::chat(api::ChatRequest req,
                                                                                   api::StreamSink sink) {
  const Dialect& d = cfg_.dialect;
  std::vector<std::string> warnings;
  if (d.check) {
    if (auto e = d.check(req, warnings)) {
      e->provider = cfg_.name;
      if (sink) {
        api::StreamEvent ev;
        ev.type = api::StreamEvent::Type::error;
        ev.error = *e;
        sink(ev);
      }
      return api::ready(*e);
    }
    for (const auto& w : warnings) std::fprintf(stderr, "freehold: %s: warning: %s\n", cfg_.name.c_str(), w.c_str());
  }
  WireOptions wire = cfg_.wire;
  wire.stream = static_cast<bool>(sink);
  http::Request hr = base_request(cfg_, "POST", "/chat/completions");
  hr.headers.emplace_back("Content-Type", "application/json");
  {
    json body = build_request(req, wire);
    if (d.adapt_request) d.adapt_request(body, req);
    hr.body = json_text(body);
  }
  auto adapt = d.adapt_payload;
  // One scheduler per provider key, shared by every run in the process.
  http::Pacing pacing{http::rate_key(cfg_.name, cfg_.base_url, cfg_.api_key),
                      http::estimate_input_tokens(req) + req.max_tokens.value_or(0)};
  // Encoded, the request is dropped: a call in flight holds only its body, not the history
  // (which the run's Lua side still has) nor the tool schemas.
  req = {};
  auto decode_err = [adapt](int status, std::string_view b, const http::Headers& h) {
    return adapt ? decode_error(status, adapt(b), h) : decode_error(status, b, h);
  };
  auto note = [&warnings](boost::asio::awaitable<api::ProviderResult<api::ChatResult>> call) {
    return warnings.empty() ? std::move(call) : with_warnings(std::move(call), std::move(warnings));
  };
  if (!sink) {
    http::BodyDecoder decode = decode_response;
    if (adapt) decode = [adapt](std::string_view b) { return decode_response(adapt(b)); };
    return note(http::call_plain(std::move(hr), decode, decode_err, cfg_.name, pacing));
  }

  hr.headers.emplace_back("Accept", "text/event-stream");
  auto dec = std::make_shared<StreamDecoder>();
  http::StreamCodec codec;
  // OpenAI chunks carry no `event:` name; every data payload is a chunk or [DONE].
  codec.on_event = [dec, adapt](const http::SseEvent& e, const http::StreamCodec::Emit& emit) {
    if (adapt && e.data != "[DONE]") dec->on_data(adapt(e.data), emit);
    else dec->on_data(e.data, emit);
  };
  codec.done = [dec] { return dec->done(); };
  codec.failed = [dec] { return dec->error().has_value(); };
  codec.base = [dec] { return dec->base(); };
  codec.terminator = "data: [DONE]";
  return note(http::call_streaming(std::move(hr), std::move(codec), decode_err, std::move(sink), cfg_.name, pacing));
}

boost::asio::awaitable<api::ProviderResult<std::vector<std::string>>> list_models(Config cfg) {
  http::Request hr = base_request(cfg, "GET", "/models");
  auto r = co_await http::fetch(std::move(hr));
  if (!r) co_return http::transport_error(r.error(), cfg.name);
  if (r->status < 200 || r->status >= 300) {
    auto e = decode_error(r->status, r->body, r->headers);
    e.provider = cfg.name;
    co_return e;
  }
  auto ids = decode_models(r->body);
  if (!ids) {
    api::ProviderError e;
    e.provider = cfg.name;
    e.kind = api::ErrorKind::server;
    e.message = ids.error().message;
    co_return e;
  }
  co_return std::move(ids.value());
}

}  // namespace fh::provider_openai
