// fh::http provider calls — the part every remote provider client shares: run one HTTP exchange,
// feed a streamed body through the SSE decoder into a codec, forward StreamEvents to the sink,
// assemble the result with api::StreamAssembler, and turn transport failures into ProviderErrors.
// Depends on: fh::api, the http layer. Runs on the caller's executor; cancelled through the
// awaiting coroutine's cancellation slot (the transfer is aborted).
// A failed streaming call sends exactly one `error` StreamEvent to the sink, as its last event.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "providers/http/http.hpp"
#include "providers/http/sse.hpp"
#include "runtime/api/provider.hpp"

namespace fh::http {

// A codec's streaming half, seen through small callbacks.
struct StreamCodec {
  using Emit = std::function<void(const api::StreamEvent&)>;
  std::function<void(const SseEvent&, const Emit&)> on_event;  // decode one SSE event
  std::function<bool()> done;                                   // terminator seen
  std::function<bool()> failed;                                 // an error event was decoded
  std::function<api::ChatResult()> base;                        // model, provider finish word, data
  std::function<void(api::ChatResult&)> finish;                 // optional: after assembly (per-call data)
  std::string terminator;                                       // for the "ended early" message
};

using ErrorDecoder = std::function<api::ProviderError(int status, std::string_view body, const Headers&)>;
using BodyDecoder = std::function<api::ProviderResult<api::ChatResult>(std::string_view body)>;

// Reads a timeouts object ({connect_ms, first_byte_ms, idle_ms, total_ms}) over `base`.
Result<Timeouts> timeouts_from(const json& j, Timeouts base);

// Transport failure -> ProviderError (timeouts and network errors are retryable).
api::ProviderError transport_error(const Error& e, std::string_view provider);

// Rate pacing for a call: the provider key's scheduler (rate.hpp) and the call's token estimate.
// An empty key: no pacing. Time spent queued shows in ChatResult::provider_data["queue_wait_ms"].
struct Pacing {
  std::string key;
  int64_t tokens = 0;
};

// POST + SSE. `sink` may be empty (events are then only assembled).
boost::asio::awaitable<api::ProviderResult<api::ChatResult>> call_streaming(
    Request req, StreamCodec codec, ErrorDecoder decode_error, api::StreamSink sink, std::string provider,
    Pacing pacing = {});

// POST + one JSON body.
boost::asio::awaitable<api::ProviderResult<api::ChatResult>> call_plain(
    Request req, BodyDecoder decode, ErrorDecoder decode_error, std::string provider, Pacing pacing = {});

}  // namespace fh::http
