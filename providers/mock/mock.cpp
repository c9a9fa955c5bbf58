#include "providers/mock/mock.hpp"
#include "runtime/core/json_text.hpp"

#include <fstream>
#include <mutex>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace fh::provider_mock {

namespace {
using api::ChatRequest;
using api::ChatResult;
using api::ProviderError;
using api::ProviderResult;
using api::StreamEvent;

int64_t rough_tokens(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

int64_t input_tokens(const ChatRequest& req) {
  int64_t n = rough_tokens(req.system.size());
  for (const auto& m : req.messages) {
    size_t bytes = 0;
    for (const auto& p : m.content)
      if (p.kind == api::ContentPart::Kind::text) bytes += p.text.size();
    n += rough_tokens(bytes) + 4;
  }
  return n;
}

ProviderError cancelled_error() { return {api::ErrorKind::cancelled, "cancelled", 0, false, std::nullopt, "mock"}; }

// Waits `latency` ms on the caller's executor, then answers with answer(). The mock providers'
// chat() is a plain function: it reads what the reply needs from the request, clears the request
// (the caller's temporary, alive until the caller's co_await ends) and returns this, so a
// thousand runs waiting on the mock hold no copies of their histories.
template <class Answer>
asio::awaitable<ProviderResult<ChatResult>> after(int64_t latency, Answer answer) {
  if (latency > 0) {
    auto t_ex = co_await asio::this_coro::executor;  // a named local: GCC 12 double-destroys co_await temporaries in call arguments
    asio::steady_timer t(t_ex, std::chrono::milliseconds(latency));
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return cancelled_error();
  }
  co_return answer();
}

// Emits a whole reply as stream events: text chunks, tool calls, usage, finish.
void stream_out(const api::StreamSink& sink, const ChatResult& r, const std::vector<std::string>& chunks) {
  if (!sink) return;
  StreamEvent e;
  if (!r.reasoning.empty()) {
    e.type = StreamEvent::Type::reasoning;
    e.text = r.reasoning;
    sink(e);
  }
  for (const auto& c : chunks) {
    e = {};
    e.type = StreamEvent::Type::text;
    e.text = c;
    sink(e);
  }
  for (size_t i = 0; i < r.tool_calls.size(); ++i) {
    const auto& call = r.tool_calls[i];
    e = {};
    e.type = StreamEvent::Type::tool_call_start;
    e.index = static_cast<int>(i);
    e.id = call.id;
    e.name = call.name;
    sink(e);
    std::string args = json_text(call.arguments);
    size_t half = args.size() / 2;
    for (auto part : {args.substr(0, half), args.substr(half)}) {
      e = {};
      e.type = StreamEvent::Type::tool_call_delta;
      e.index = static_cast<int>(i);
      e.arguments = part;
      sink(e);
    }
    e = {};
    e.type = StreamEvent::Type::tool_call_end;
    e.index = static_cast<int>(i);
    sink(e);
  }
  e = {};
  e.type = StreamEvent::Type::usage;
  e.usage = r.usage;
  sink(e);
  e = {};
  e.type = StreamEvent::Type::finish;
  e.finish_reason = r.finish_reason;
  sink(e);
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i + 1);
    if (j == std::string::npos) j = text.size();
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

class EchoProvider final : public api::Provider {
 public:
  explicit EchoProvider(int64_t latency_ms) : latency_ms_(latency_ms) {}
  std::string_view name() const noexcept override { return "mock"; }

  asio::awaitable<ProviderResult<ChatResult>> chat(ChatRequest req, api::StreamSink sink) override {
    ChatResult r;
    r.provider = "mock";
    r.model = "echo";
    for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it) {
      if (it->role == api::Role::user) { r.text = it->text(); break; }
    }
    r.provider_finish_reason = "stop";
    r.usage.input_tokens = input_tokens(req);
    r.usage.output_tokens = rough_tokens(r.text.size());
    r.latency_ms = latency_ms_;
    req = {};
    return after(latency_ms_, [r = std::move(r), sink = std::move(sink)]() -> ProviderResult<ChatResult> {
      if (sink) stream_out(sink, r, split_words(r.text));
      return r;
    });
  }

 private:
  int64_t latency_ms_;
};

// One scripted reply, read and checked when the script is loaded.
struct Reply {
  std::optional<int64_t> latency_ms;        // else the model string's
  std::optional<ProviderError> error;       // a scripted failure
  ChatResult result;                        // usage only when the script gives it
  bool has_usage = false;
  std::optional<std::vector<std::string>> stream;  // explicit stream chunks, else the text's words
};

struct Script {
  std::vector<Reply> replies;
};

class ScriptProvider final : public api::Provider {
 public:
  ScriptProvider(std::shared_ptr<const Script> script, int64_t latency_ms, bool sequence)
      : script_(std::move(script)), latency_ms_(latency_ms), sequence_(sequence) {}
  std::string_view name() const noexcept override { return "mock"; }

  asio::awaitable<ProviderResult<ChatResult>> chat(ChatRequest req, api::StreamSink sink) override {
    size_t k = 0;
    if (sequence_) {
      k = next_++;
    } else {
      for (const auto& m : req.messages) k += m.role == api::Role::assistant;
    }
    if (k >= script_->replies.size())
      return api::ready(ProviderError{api::ErrorKind::invalid_request,
                                 "mock/script has no reply #" + std::to_string(k + 1) + " (it holds " +
                                     std::to_string(script_->replies.size()) + ")",
                                 400, false, std::nullopt, "mock"});
    const Reply& rep = script_->replies[k];
    const int64_t in_tokens = input_tokens(req);
    req = {};
    const int64_t latency = rep.latency_ms.value_or(latency_ms_);
    // `script` keeps `rep` alive while the call waits.
    return after(latency, [script = script_, rep = &rep, in_tokens, latency, sink = std::move(sink)] {
      return deliver(*rep, in_tokens, latency, sink);
    });
  }

 private:

  static ProviderResult<ChatResult> deliver(const Reply& rep, int64_t in_tokens, int64_t latency,
                                            const api::StreamSink& sink) {
    if (rep.error) {
      if (sink) {
        StreamEvent ev;
        ev.type = StreamEvent::Type::error;
        ev.error = *rep.error;
        sink(ev);
      }
      return *rep.error;
    }
    ChatResult r = rep.result;
    if (!rep.has_usage) {
      r.usage.input_tokens = in_tokens;
      r.usage.output_tokens = rough_tokens(r.text.size()) + static_cast<int64_t>(r.tool_calls.size()) * 8;
    }
    r.latency_ms = latency;
    if (sink) stream_out(sink, r, rep.stream ? *rep.stream : split_words(r.text));
    return r;
  }

  std::shared_ptr<const Script> script_;
  int64_t latency_ms_;
  bool sequence_;
  size_t next_ = 0;
};

// "echo?latency_ms=5&file=x" -> ("echo", {latency_ms: 5, file: x})
std::pair<std::string, std::map<std::string, std::string>> split_query(std::string_view rest) {
  std::map<std::string, std::string> q;
  auto qm = rest.find('?');
  std::string head(rest.substr(0, qm));
  if (qm != std::string_view::npos) {
    std::string_view tail = rest.substr(qm + 1);
    while (!tail.empty()) {
      auto amp = tail.find('&');
      std::string_view kv = tail.substr(0, amp);
      auto eq = kv.find('=');
      q[std::string(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      tail = tail.substr(amp + 1);
    }
  }
  return {head, q};
}

Result<int64_t> parse_ms(const std::map<std::string, std::string>& q) {
  auto it = q.find("latency_ms");
  if (it == q.end()) return int64_t{0};
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0 || v > 3'600'000) throw std::invalid_argument("range");
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return make_error(Errc::invalid_argument, "mock: latency_ms must be an integer 0..3600000");
  }
}

// Reply #k of a script: {text, reasoning, tool_calls, finish_reason, usage, cost_usd, latency_ms,
// stream, error}. A tool call without an id gets "call_<k>_<n>".
Result<Reply> parse_reply(const json& rep, size_t k) {
  const std::string at = "reply #" + std::to_string(k + 1);
  if (!rep.is_object()) return make_error(Errc::invalid_argument, "every reply must be an object (" + at + ")");
  auto str = [&](const char* key, std::string& out) -> bool {
    auto it = rep.find(key);
    if (it == rep.end()) return true;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  Reply r;
  if (auto l = rep.find("latency_ms"); l != rep.end()) {
    if (!l->is_number_integer() || l->get<int64_t>() < 0 || l->get<int64_t>() > 3'600'000)
      return make_error(Errc::invalid_argument, at + ": latency_ms must be an integer 0..3600000");
    r.latency_ms = l->get<int64_t>();
  }
  if (auto e = rep.find("error"); e != rep.end()) {
    auto err = api::provider_error_from_json(*e);
    r.error = err ? err.value() : ProviderError{api::ErrorKind::server, "scripted error", 500, true, std::nullopt, "mock"};
    r.error->provider = "mock";
    return r;
  }
  ChatResult& c = r.result;
  c.provider = "mock";
  c.model = "script";
  std::string finish = "stop";
  if (!str("text", c.text) || !str("reasoning", c.reasoning) || !str("finish_reason", finish))
    return make_error(Errc::invalid_argument, at + ": text, reasoning and finish_reason must be strings");
  if (auto tc = rep.find("tool_calls"); tc != rep.end() && tc->is_array()) {
    int n = 0;
    for (const auto& j : *tc) {
      auto call = api::tool_call_from_json(j);
      if (!call) continue;
      if (call->id.empty()) call->id = "call_" + std::to_string(k) + "_" + std::to_string(n);
      ++n;
      c.tool_calls.push_back(std::move(call.value()));
    }
  }
  if (auto f = api::parse_finish_reason(finish)) c.finish_reason = *f;
  c.provider_finish_reason = finish;
  api::normalize_finish(c);
  if (auto u = rep.find("usage"); u != rep.end()) {
    if (auto usage = api::usage_from_json(*u)) {
      c.usage = usage.value();
      r.has_usage = true;
    }
  }
  if (auto cost = rep.find("cost_usd"); cost != rep.end() && cost->is_number()) c.cost_usd = cost->get<double>();
  if (auto st = rep.find("stream"); st != rep.end() && st->is_array()) {
    r.stream.emplace();
    for (const auto& chunk : *st)
      if (chunk.is_string()) r.stream->push_back(chunk.get<std::string>());
  }
  return r;
}

Result<std::shared_ptr<const Script>> load_script(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(Errc::not_found, "mock/script: cannot open '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return make_error(Errc::invalid_argument, "mock/script: '" + path + "' is not valid JSON");
  if (j.is_object() && j.contains("replies")) j = j["replies"];
  if (!j.is_array()) return make_error(Errc::invalid_argument, "mock/script: '" + path + "' must hold {\"replies\": [...]}");
  auto s = std::make_shared<Script>();
  for (size_t k = 0; k < j.size(); ++k) {
    auto r = parse_reply(j[k], k);
    if (!r) return make_error(Errc::invalid_argument, "mock/script: '" + path + "': " + r.error().message);
    s->replies.push_back(std::move(r.value()));
  }
  return std::shared_ptr<const Script>(std::move(s));
}
}  // namespace

void register_mock(api::ProviderRegistry& reg) {
  reg.add("mock", [](std::string_view rest, const json& config) -> Result<api::ResolvedModel> {
    auto [model, q] = split_query(rest);
    auto ms = parse_ms(q);
    if (!ms) return ms.error();
    if (model == "echo") return api::ResolvedModel{std::make_shared<EchoProvider>(ms.value()), "echo"};
    if (model == "script") {
      std::string file = q.count("file") ? q["file"] : (config.is_object() ? config.value("script", "") : "");
      if (file.empty()) return make_error(Errc::invalid_argument, "mock/script needs ?file=REPLIES.json");
      bool sequence = q.count("mode") && q["mode"] == "sequence";
      // Scripts (and, in sequence mode, their cursors) are shared per model string.
      static std::mutex mu;
      static std::map<std::string, std::shared_ptr<api::Provider>> cache;
      std::lock_guard lock(mu);
      std::string key(rest);
      if (auto it = cache.find(key); it != cache.end()) return api::ResolvedModel{it->second, "script"};
      auto script = load_script(file);
      if (!script) return script.error();
      auto p = std::make_shared<ScriptProvider>(script.value(), ms.value(), sequence);
      cache[key] = p;
      return api::ResolvedModel{p, "script"};
    }
    return make_error(Errc::not_found, "unknown mock model '" + model + "' (mock/echo, mock/script)");
  });
}

}  // namespace fh::provider_mock
