// Journaled effects: provider and tool calls of a daemon run are recorded in its journal, and a
// resumed run gets every completed one back from there instead of doing it again.
//
// Keys: "<kind>:<hash of the call>#<n>" where n counts identical calls within the run, so a
// re-executed plan meets the same keys in the same per-call order even when branches interleave
// differently. Model calls have no outside effect: only their results are recorded, and one in
// flight at a crash is simply made again. Tool calls are recorded when they start and when they
// end; one that started but never ended is re-run only if the tool is declared idempotent, else
// it fails with "outcome unknown" and the run fails naming the call. The plan's clock reads,
// random seeds and sleep deadlines are recorded too (JournaledRecorder).
#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "runtime/core/json_text.hpp"
#include "runtime/http/daemon_impl.hpp"

namespace asio = boost::asio;

namespace fh::httpd {

namespace {

std::string short_hash(const std::string& s) { return plan::sha256_hex(s).substr(0, 20); }

Error error_from_json(const json& j) {
  Error e;
  e.code = Errc::internal;
  std::string code = j.value("code", "internal");
  for (Errc c : {Errc::invalid_argument, Errc::not_found, Errc::permission_denied, Errc::limit_exceeded, Errc::timeout,
                 Errc::cancelled, Errc::unavailable, Errc::provider, Errc::internal})
    if (errc_name(c) == code) e.code = c;
  e.message = j.value("message", "");
  e.detail = j.value("detail", json(nullptr));
  return e;
}

class JournaledProvider : public api::Provider {
 public:
  JournaledProvider(std::shared_ptr<api::Provider> inner, std::string model, std::shared_ptr<EffectLog> log)
      : inner_(std::move(inner)), model_(std::move(model)), log_(std::move(log)) {}
  std::string_view name() const noexcept override { return inner_->name(); }

  asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest req, api::StreamSink sink) override {
    std::string key = log_->next_key("llm:" + short_hash(model_ + "\n" + json_text(api::to_json(req))));
    if (auto it = log_->done.find(key); it != log_->done.end() && it->second.is_object()) {
      const json& o = it->second;
      if (o.contains("ok")) {
        if (auto r = api::chat_result_from_json(o["ok"])) {
          ++log_->replayed;
          if (sink) {  // a streamed call gets its recorded text back as one delta
            api::StreamEvent t;
            t.text = r->text;
            if (!t.text.empty()) sink(t);
            api::StreamEvent f;
            f.type = api::StreamEvent::Type::finish;
            f.finish_reason = r->finish_reason;
            sink(f);
          }
          co_return std::move(r.value());
        }
      } else if (o.contains("error")) {
        if (auto pe = api::provider_error_from_json(o["error"])) {
          ++log_->replayed;
          co_return std::move(pe.value());
        }
      }
    }
    ++log_->executed;
    auto t0 = std::chrono::steady_clock::now();
    auto r = co_await inner_->chat(std::move(req), std::move(sink));
    if (r || r.error().kind != api::ErrorKind::cancelled) {
      json outcome = r ? json{{"ok", api::to_json(r.value())}} : json{{"error", api::to_json(r.error())}};
      // elapsed_ms: the wall time, for /metrics when a provider reports no latency of its own.
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      log_->record({{"type", "effect"}, {"kind", "llm"}, {"key", key}, {"state", "done"}, {"model", model_},
                    {"outcome", outcome}, {"elapsed_ms", ms}});
    }
    co_return r;
  }

 private:
  std::shared_ptr<api::Provider> inner_;
  std::string model_;
  std::shared_ptr<EffectLog> log_;
};

class JournaledTools : public api::ToolHost {
 public:
  JournaledTools(std::shared_ptr<api::ToolHost> inner, std::shared_ptr<EffectLog> log)
      : inner_(std::move(inner)), log_(std::move(log)) {}
  Result<api::ToolSpec> spec(std::string_view name) const override { return inner_->spec(name); }
  std::vector<api::ToolSpec> list() const override { return inner_->list(); }

  asio::awaitable<Result<json>> call(std::string_view name, json args, api::ToolCallContext ctx) override {
    std::string tool(name);
    std::string key = log_->next_key("tool:" + tool + ":" + short_hash(tool + "\n" + json_text(args)));
    if (auto it = log_->done.find(key); it != log_->done.end() && it->second.is_object()) {
      ++log_->replayed;
      if (it->second.contains("ok")) co_return it->second["ok"];
      co_return error_from_json(it->second.value("error", json::object()));
    }
    std::string label = "'" + tool + "'" + (ctx.call_id.empty() ? "" : " (call " + ctx.call_id + ")");
    if (log_->in_flight.count(key) && !log_->idempotent_tools.count(tool)) {
      // It may or may not have happened: doing it again could do it twice.
      std::string msg = "outcome unknown: tool call " + label +
                        " was in flight when the daemon stopped and the tool is not idempotent";
      log_->unknown.push_back(msg);
      log_->record({{"type", "effect"}, {"kind", "tool"}, {"key", key}, {"state", "done"}, {"tool", tool},
                    {"outcome", {{"error", make_error(Errc::unavailable, msg).to_json()}}}});
      co_return make_error(Errc::unavailable, msg);
    }
    log_->record({{"type", "effect"}, {"kind", "tool"}, {"key", key}, {"state", "started"}, {"tool", tool}, {"call_id", ctx.call_id}});
    ++log_->executed;
    auto r = co_await inner_->call(name, std::move(args), std::move(ctx));
    if (r || r.error().code != Errc::cancelled) {
      json outcome = r ? json{{"ok", r.value()}} : json{{"error", r.error().to_json()}};
      log_->record({{"type", "effect"}, {"kind", "tool"}, {"key", key}, {"state", "done"}, {"tool", tool}, {"outcome", outcome}});
    }
    co_return r;
  }

 private:
  std::shared_ptr<api::ToolHost> inner_;
  std::shared_ptr<EffectLog> log_;
};

// Clock reads, random seeds and sleep deadlines of the plan VM (lua::Recorder), journaled as
// done effects under the engine's keys ("time:m.2#3"): a resumed run reads the same values.
class JournaledRecorder : public lua::Recorder {
 public:
  explicit JournaledRecorder(std::shared_ptr<EffectLog> log) : log_(std::move(log)) {}
  json recall(const std::string& key, json live) override {
    if (auto it = log_->done.find(key); it != log_->done.end() && it->second.is_object() && it->second.contains("ok")) {
      ++log_->replayed;
      return it->second["ok"];
    }
    // Not fsynced on its own: what the plan does with the value next (a tool call, a model call,
    // its end) is, and that writes this line out too; a kill -9 loses nothing either way.
    log_->record({{"type", "effect"}, {"kind", key.substr(0, key.find(':'))}, {"key", key}, {"state", "done"},
                  {"outcome", {{"ok", live}}}, {"sync", false}});
    return live;
  }

 private:
  std::shared_ptr<EffectLog> log_;
};

}  // namespace

std::shared_ptr<lua::Recorder> make_journaled_recorder(std::shared_ptr<EffectLog> log) {
  return std::make_shared<JournaledRecorder>(std::move(log));
}

std::shared_ptr<api::Provider> make_journaled_provider(std::shared_ptr<api::Provider> inner, std::string model,
                                                       std::shared_ptr<EffectLog> log) {
  return std::make_shared<JournaledProvider>(std::move(inner), std::move(model), std::move(log));
}

std::shared_ptr<api::ToolHost> make_journaled_tools(std::shared_ptr<api::ToolHost> inner, std::shared_ptr<EffectLog> log) {
  return std::make_shared<JournaledTools>(std::move(inner), std::move(log));
}

}  // namespace fh::httpd
