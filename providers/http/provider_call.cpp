#include "providers/http/provider_call.hpp"

#include <chrono>

#include <boost/asio/use_awaitable.hpp>

#include "providers/http/pricing.hpp"
#include "providers/http/rate.hpp"

namespace fh::http {

using api::ErrorKind;
using api::ProviderError;
using api::StreamEvent;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kMaxErrorBody = 64 * 1024;

int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

void send_error(const api::StreamSink& sink, const ProviderError& e) {
  if (!sink) return;
  StreamEvent ev;
  ev.type = StreamEvent::Type::error;
  ev.error = e;
  sink(ev);
}
// Holds a slot of the provider key's scheduler for one exchange.
class Slot {
 public:
  explicit Slot(const Pacing& p) : sched_(p.key.empty() ? nullptr : rate_scheduler(p.key)), tokens_(p.tokens) {}
  ~Slot() {
    if (sched_ && held_) sched_->release_without_response();
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  // false: cancelled while queued.
  boost::asio::awaitable<bool> take() {
    if (!sched_) co_return true;
    auto waited = co_await sched_->acquire(tokens_);
    if (!waited) co_return false;
    held_ = true;
    wait_ = *waited;
    co_return true;
  }
  void done(const Headers& h, int status, std::optional<int64_t> retry_after) {
    if (!sched_ || !held_) return;
    held_ = false;
    sched_->release(h, status, retry_after);
  }
  void note(api::ChatResult& r) const {
    if (wait_.count() > 0) r.provider_data["queue_wait_ms"] = wait_.count();
  }

 private:
  std::shared_ptr<RateScheduler> sched_;
  int64_t tokens_;
  bool held_ = false;
  std::chrono::milliseconds wait_{0};
};

ProviderError cancelled_in_queue(std::string_view provider) {
  ProviderError e;
  e.kind = ErrorKind::cancelled;
  e.message = "cancelled while queued for the provider's rate limit";
  e.provider = std::string(provider);
  return e;
}
}  // namespace

Result<Timeouts> timeouts_from(const json& j, Timeouts t) {
  if (j.is_null()) return t;
  if (!j.is_object()) return make_error(Errc::invalid_argument, "timeouts must be an object of *_ms numbers");
  auto read = [&](const char* key, std::chrono::milliseconds& out) -> bool {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_number() || it->get<double>() <= 0) return false;
    out = std::chrono::milliseconds(static_cast<int64_t>(it->get<double>()));
    return true;
  };
  if (!read("connect_ms", t.connect) || !read("first_byte_ms", t.first_byte) || !read("idle_ms", t.idle) ||
      !read("total_ms", t.total))
    return make_error(Errc::invalid_argument, "timeouts: each *_ms value must be a positive number");
  return t;
}

ProviderError transport_error(const Error& e, std::string_view provider) {
  ProviderError p;
  p.provider = std::string(provider);
  p.message = e.message;
  switch (e.code) {
    case Errc::timeout:
      p.kind = ErrorKind::timeout;
      p.retryable = true;
      if (e.detail.is_object() && e.detail.contains("phase"))
        p.message += " (" + e.detail["phase"].get<std::string>() + " timeout)";
      break;
    case Errc::cancelled: p.kind = ErrorKind::cancelled; break;
    case Errc::permission_denied: p.kind = ErrorKind::permission; break;
    case Errc::invalid_argument: p.kind = ErrorKind::invalid_request; break;
    default:
      p.kind = ErrorKind::network;
      p.retryable = true;
      break;
  }
  return p;
}

boost::asio::awaitable<api::ProviderResult<api::ChatResult>> call_streaming(
    Request req, StreamCodec codec, ErrorDecoder decode_error, api::StreamSink sink, std::string provider,
    Pacing pacing) {
  Slot slot(pacing);
  if (!co_await slot.take()) {
    ProviderError e = cancelled_in_queue(provider);
    send_error(sink, e);
    co_return e;
  }
  const auto t0 = Clock::now();
  SseDecoder sse;
  api::StreamAssembler assembler;
  std::optional<int64_t> ttft;
  int status = 0;
  std::string error_body;
  std::optional<ProviderError> codec_error;

  // Every decoded event: into the assembler and out to the sink, in order.
  StreamCodec::Emit emit = [&](const StreamEvent& ev) {
    if (ev.type == StreamEvent::Type::error) codec_error = ev.error;
    else assembler.add(ev);
    if (!ttft && (ev.type == StreamEvent::Type::text || ev.type == StreamEvent::Type::reasoning ||
                  ev.type == StreamEvent::Type::tool_call_start))
      ttft = ms_since(t0);
    if (sink) sink(ev);
  };
  SseDecoder::Callback on_sse = [&](SseEvent&& e) {
    if (!codec.done() && !codec.failed()) codec.on_event(e, emit);
  };
  req.on_chunk = [&](const ResponseHead& head, std::string_view chunk) {
    status = head.status;
    if (head.status < 200 || head.status >= 300) {
      if (error_body.size() < kMaxErrorBody) error_body.append(chunk.substr(0, kMaxErrorBody - error_body.size()));
      return true;
    }
    sse.feed(chunk, on_sse);
    // Stop reading after an error. After the terminator keep reading: the server ends the body
    // next, and a complete response keeps its connection reusable.
    return !codec.failed();
  };

  // Run the exchange; chunks arrive through on_chunk while we wait.
  auto r = co_await fetch(std::move(req));
  if (r && r->status >= 200 && r->status < 300) slot.done(r->headers, r->status, std::nullopt);
  if (!r && codec.done() && !codec_error && r.error().code != Errc::cancelled) {
    // Everything arrived; only the end of the body did not (a server that lingers or resets).
    api::ChatResult result = assembler.finish(codec.base());
    if (codec.finish) codec.finish(result);
    result.provider = provider;
    result.cost_usd = cost_usd(result.provider, result.model, result.usage);
    slot.note(result);
    result.latency_ms = ms_since(t0);
    result.ttft_ms = ttft.value_or(result.latency_ms);
    co_return result;
  }
  if (!r) {
    if (codec_error) co_return *codec_error;  // its event was already sent
    ProviderError e = transport_error(r.error(), provider);
    send_error(sink, e);
    co_return e;
  }
  if (r->status < 200 || r->status >= 300) {
    ProviderError e = decode_error(r->status, error_body, r->headers);
    e.provider = provider;
    slot.done(r->headers, r->status, e.retry_after_ms);
    send_error(sink, e);
    co_return e;
  }
  if (!codec.done() && !codec.failed()) sse.finish(on_sse);  // a last event without its blank line
  if (codec_error) {
    codec_error->provider = provider;
    co_return *codec_error;  // the codec already sent its error event
  }
  if (!codec.done()) {
    ProviderError e;
    e.provider = provider;
    e.kind = ErrorKind::network;
    e.retryable = true;
    e.status = status;
    e.message = "stream ended before its terminator (" + codec.terminator + ")";
    send_error(sink, e);
    co_return e;
  }
  api::ChatResult result = assembler.finish(codec.base());
  if (codec.finish) codec.finish(result);
  result.provider = provider;
  result.cost_usd = cost_usd(result.provider, result.model, result.usage);
  slot.note(result);
  result.latency_ms = ms_since(t0);
  result.ttft_ms = ttft.value_or(result.latency_ms);
  co_return result;
}

boost::asio::awaitable<api::ProviderResult<api::ChatResult>> call_plain(
    Request req, BodyDecoder decode, ErrorDecoder decode_error, std::string provider, Pacing pacing) {
  Slot slot(pacing);
  if (!co_await slot.take()) co_return cancelled_in_queue(provider);
  const auto t0 = Clock::now();
  auto r = co_await fetch(std::move(req));
  if (!r) co_return transport_error(r.error(), provider);
  if (r->status < 200 || r->status >= 300) {
    ProviderError e = decode_error(r->status, r->body, r->headers);
    e.provider = provider;
    slot.done(r->headers, r->status, e.retry_after_ms);
    co_return e;
  }
  slot.done(r->headers, r->status, std::nullopt);
  auto out = decode(r->body);
  if (!out) {
    out.error().provider = provider;
    co_return out;
  }
  out->provider = provider;
  out->cost_usd = cost_usd(out->provider, out->model, out->usage);
  slot.note(out.value());
  out->latency_ms = ms_since(t0);
  out->ttft_ms = r->time_to_first_byte.count();
  co_return out;
}

}  // namespace fh::http
