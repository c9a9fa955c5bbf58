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

int64_t rough_tokens(std::string_view s) { return static_cast<int64_t>((s.size() + 3) / 4); }

int64_t input_tokens(const ChatRequest& req) {
  int64_t n = rough_tokens(req.system);
  for (const auto& m : req.messages) n += rough_tokens(m.text()) + 4;
  return n;
}

// Waits `ms` on the caller's executor; false when cancelled.
asio::awaitable<bool> wait_ms(int64_t ms) {
  if (ms <= 0) co_return true;
  auto t_ex = co_await asio::this_coro::executor;  // a named local: GCC 12 double-destroys co_await temporaries in call arguments
  asio::steady_timer t(t_ex, std::chrono::milliseconds(ms));
  auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

ProviderError cancelled_error() { return {api::ErrorKind::cancelled, "cancelled", 0, false, std::nullopt, "mock"}; }

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
    if (!co_await wait_ms(latency_ms_)) co_return cancelled_error();
    ChatResult r;
    r.provider = "mock";
    r.model = "echo";
    for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it) {
      if (it->role == api::Role::user) { r.text = it->text(); break; }
    }
    r.provider_finish_reason = "stop";
    r.usage.input_tokens = input_tokens(req);
    r.usage.output_tokens = rough_tokens(r.text);
    r.latency_ms = latency_ms_;
    if (sink) stream_out(sink, r, split_words(r.text));
    co_return r;
  }

 private:
  int64_t latency_ms_;
};

struct Script {
  std::vector<json> replies;
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
      co_return ProviderError{api::ErrorKind::invalid_request,
                              "mock/script has no reply #" + std::to_string(k + 1) + " (it holds " +
                                  std::to_string(script_->replies.size()) + ")",
                              400, false, std::nullopt, "mock"};
    const json& rep = script_->replies[k];
    int64_t latency = rep.value("latency_ms", latency_ms_);
    if (!co_await wait_ms(latency)) co_return cancelled_error();
    if (auto e = rep.find("error"); e != rep.end()) {
      auto err = api::provider_error_from_json(*e);
      ProviderError pe = err ? err.value()
                             : ProviderError{api::ErrorKind::server, "scripted error", 500, true, std::nullopt, "mock"};
      pe.provider = "mock";
      if (sink) {
        StreamEvent ev;
        ev.type = StreamEvent::Type::error;
        ev.error = pe;
        sink(ev);
      }
      co_return pe;
    }
    ChatResult r;
    r.provider = "mock";
    r.model = "script";
    r.text = rep.value("text", "");
    r.reasoning = rep.value("reasoning", "");
    if (auto tc = rep.find("tool_calls"); tc != rep.end() && tc->is_array()) {
      int n = 0;
      for (const auto& c : *tc) {
        auto call = api::tool_call_from_json(c);
        if (!call) continue;
        if (call->id.empty()) call->id = "call_" + std::to_string(k) + "_" + std::to_string(n);
        ++n;
        r.tool_calls.push_back(std::move(call.value()));
      }
    }
    if (auto f = api::parse_finish_reason(rep.value("finish_reason", "stop"))) r.finish_reason = *f;
    r.provider_finish_reason = rep.value("finish_reason", "stop");
    api::normalize_finish(r);
    if (auto u = rep.find("usage"); u != rep.end()) {
      auto usage = api::usage_from_json(*u);
      if (usage) r.usage = usage.value();
    } else {
      r.usage.input_tokens = input_tokens(req);
      r.usage.output_tokens = rough_tokens(r.text) + static_cast<int64_t>(r.tool_calls.size()) * 8;
    }
    if (auto c = rep.find("cost_usd"); c != rep.end() && c->is_number()) r.cost_usd = c->get<double>();
    r.latency_ms = latency;
    if (sink) {
      std::vector<std::string> chunks;
      if (auto s = rep.find("stream"); s != rep.end() && s->is_array()) {
        for (const auto& c : *s)
          if (c.is_string()) chunks.push_back(c.get<std::string>());
      } else {
        chunks = split_words(r.text);
      }
      stream_out(sink, r, chunks);
    }
    co_return r;
  }

 private:
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

Result<std::shared_ptr<const Script>> load_script(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(Errc::not_found, "mock/script: cannot open '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return make_error(Errc::invalid_argument, "mock/script: '" + path + "' is not valid JSON");
  if (j.is_object() && j.contains("replies")) j = j["replies"];
  if (!j.is_array()) return make_error(Errc::invalid_argument, "mock/script: '" + path + "' must hold {\"replies\": [...]}");
  for (const auto& r : j)
    if (!r.is_object()) return make_error(Errc::invalid_argument, "mock/script: every reply must be an object");
  auto s = std::make_shared<Script>();
  s->replies = j.get<std::vector<json>>();
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
