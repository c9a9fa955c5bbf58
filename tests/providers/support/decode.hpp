// Test helpers: decode a recorded SSE transcript through SseDecoder + a codec + StreamAssembler,
// feeding it in pieces of a chosen size (0 = whole).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "providers/anthropic/codec.hpp"
#include "providers/gemini/codec.hpp"
#include "providers/http/sse.hpp"
#include "providers/openai/codec.hpp"
#include "runtime/api/chat.hpp"

namespace fh::test {

struct Decoded {
  api::ChatResult result;
  std::vector<api::StreamEvent> events;
  bool done = false;
  std::optional<api::ProviderError> error;
};

// Cuts bytes into pieces: size 0 = whole, size > 0 = fixed, size < 0 = random 1..64 (seed -size).
inline std::vector<std::string> pieces(const std::string& bytes, int size) {
  std::vector<std::string> out;
  if (size == 0) return {bytes};
  std::mt19937 rng(static_cast<unsigned>(size < 0 ? -size : 1));
  std::uniform_int_distribution<size_t> len(1, 64);
  for (size_t i = 0; i < bytes.size();) {
    size_t n = size > 0 ? static_cast<size_t>(size) : len(rng);
    n = std::min(n, bytes.size() - i);
    out.push_back(bytes.substr(i, n));
    i += n;
  }
  return out;
}

template <class Codec, class OnSse>
Decoded decode_with(const std::string& bytes, int size, Codec& codec, OnSse on_sse) {
  Decoded d;
  api::StreamAssembler as;
  auto emit = [&](const api::StreamEvent& e) {
    d.events.push_back(e);
    if (e.type == api::StreamEvent::Type::error) d.error = e.error;
    else as.add(e);
  };
  http::SseDecoder sse;
  http::SseDecoder::Callback cb = [&](http::SseEvent&& e) { on_sse(codec, e, emit); };
  for (const auto& p : pieces(bytes, size)) sse.feed(p, cb);
  sse.finish(cb);
  d.done = codec.done();
  d.result = as.finish(codec.base());
  return d;
}

inline Decoded decode_openai(const std::string& bytes, int size = 0) {
  provider_openai::StreamDecoder dec;
  return decode_with(bytes, size, dec, [](auto& c, const http::SseEvent& e, const auto& emit) { c.on_data(e.data, emit); });
}

inline Decoded decode_anthropic(const std::string& bytes, int size = 0) {
  provider_anthropic::StreamDecoder dec;
  return decode_with(bytes, size, dec,
                     [](auto& c, const http::SseEvent& e, const auto& emit) { c.on_event(e.event, e.data, emit); });
}

inline Decoded decode_gemini(const std::string& bytes, int size = 0) {
  provider_gemini::StreamDecoder dec;
  Decoded d = decode_with(bytes, size, dec, [](auto& c, const http::SseEvent& e, const auto& emit) { c.on_data(e.data, emit); });
  dec.finish(d.result);
  return d;
}

// A js-genai recording's interaction as the bytes the server sent: SSE ("data: <json>\r\n\r\n"
// per body segment) for streamed calls, else the single JSON body.
inline std::string recording_body(const std::string& recording, size_t interaction) {
  json j = json::parse(recording);
  const json& it = j.at("interactions").at(interaction);
  const json& segs = it.at("response").at("bodySegments");
  bool sse = it.at("request").at("url").get<std::string>().find("alt=sse") != std::string::npos &&
             it.at("response").at("statusCode").get<int>() == 200;
  if (!sse) return segs.at(0).dump();
  std::string out;
  for (const auto& s : segs) out += "data: " + s.dump() + "\r\n\r\n";
  return out;
}
inline json recording_request(const std::string& recording, size_t interaction) {
  return json::parse(recording).at("interactions").at(interaction).at("request").at("bodySegments").at(0);
}

}  // namespace fh::test
