// `freehold replay`: one journaled run executed again with only its recorded effects.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "runtime/core/json_text.hpp"
#include "runtime/http/daemon_impl.hpp"

namespace asio = boost::asio;

namespace fh::httpd {

namespace {
// Reached only when the plan asks for an effect the journal does not hold.
class OfflineProvider : public api::Provider {
 public:
  std::string_view name() const noexcept override { return "replay"; }
  asio::awaitable<api::ProviderResult<api::ChatResult>> chat(api::ChatRequest, api::StreamSink) override {
    api::ProviderError e;
    e.kind = api::ErrorKind::invalid_request;
    e.message = "replay: this model call is not in the journal";
    e.provider = "replay";
    co_return e;
  }
};

class OfflineTools : public api::ToolHost {
 public:
  explicit OfflineTools(std::set<std::string> names) : names_(std::move(names)) {}
  Result<api::ToolSpec> spec(std::string_view name) const override {
    if (!names_.count(std::string(name))) return make_error(Errc::not_found, "unknown tool '" + std::string(name) + "'");
    return api::ToolSpec{std::string(name), "recorded", json{{"type", "object"}}};
  }
  std::vector<api::ToolSpec> list() const override {
    std::vector<api::ToolSpec> out;
    for (auto& n : names_) out.push_back(*spec(n));
    return out;
  }
  asio::awaitable<Result<json>> call(std::string_view name, json, api::ToolCallContext) override {
    co_return make_error(Errc::not_found, "replay: this call of tool '" + std::string(name) + "' is not in the journal");
  }

 private:
  std::set<std::string> names_;
};
}  // namespace

Result<json> replay_journal(const std::string& journal_path, const std::string& data_dir) {
  auto evs = plan::Journal::read(journal_path, data_dir);
  if (!evs) return evs.error();
  const json* submitted = nullptr;
  json recorded = {{"state", nullptr}, {"output", nullptr}};
  auto log = std::make_shared<EffectLog>();
  std::set<std::string> prefixes = {"mock"}, tools;
  for (const auto& ev : evs.value()) {
    std::string type = ev.value("type", "");
    if (type == "run_submitted" && !submitted) submitted = &ev;
    if (type == "run_finished" && ev.contains("output")) recorded["output"] = ev["output"];
    if (type == "run_state") recorded["state"] = ev.value("state", "");
    if (type == "effect" && ev.value("state", "") == "done" && ev.contains("key") && ev["key"].is_string()) {
      log->done[ev["key"].get<std::string>()] = ev.value("outcome", json(nullptr));
      std::string model = ev.value("model", "");
      if (auto slash = model.find('/'); slash != std::string::npos) prefixes.insert(model.substr(0, slash));
      if (ev.contains("tool") && ev["tool"].is_string()) tools.insert(ev["tool"].get<std::string>());
    }
  }
  if (!submitted || !(*submitted)["source"].is_string())
    return make_error(Errc::invalid_argument, "'" + journal_path + "' has no run_submitted record with the plan");
  std::vector<std::string> diverged;
  log->record = [&](json ev) {
    if (ev.value("state", "") == "started") return;
    diverged.push_back("effect not in the journal: " + ev.value("key", std::string("?")));
  };
  std::string model = submitted->value("model", "mock/echo");
  if (auto slash = model.find('/'); slash != std::string::npos) prefixes.insert(model.substr(0, slash));

  api::ProviderRegistry reg;
  auto offline = std::make_shared<OfflineProvider>();
  for (const auto& p : prefixes)
    reg.add(p, [p, offline, log](std::string_view rest, const json&) -> Result<api::ResolvedModel> {
      return api::ResolvedModel{make_journaled_provider(offline, p + "/" + std::string(rest), log), std::string(rest)};
    });
  auto host = make_journaled_tools(std::make_shared<OfflineTools>(tools), log);

  plan::RunRequest rr;
  rr.source = (*submitted)["source"].get<std::string>();
  std::string name = submitted->value("name", "");
  rr.chunk_name = name.empty() ? "plan.lua" : name;
  rr.input = submitted->value("input", json::object());
  rr.services.providers = &reg;
  rr.services.tools = host.get();
  rr.services.default_model = model;
  rr.services.run_id = submitted->value("run_id", "replay");
  rr.services.recorder = make_journaled_recorder(log);
  asio::io_context io(1);
  auto run = plan::Run::create(asio::make_strand(io), std::move(rr));
  plan::RunResult res;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { res = co_await run->execute(); }, asio::detached);
  io.run();

  using S = plan::RunResult::Status;
  std::string state = res.status == S::succeeded ? "succeeded" : res.status == S::cancelled ? "cancelled" : "failed";
  json replayed = {{"state", state}, {"output", res.status == S::succeeded ? res.output : json(nullptr)}};
  if (res.status != S::succeeded) replayed["error"] = res.message;
  if (!recorded["state"].is_null() && recorded["state"] != state)
    diverged.push_back("final state: recorded " + recorded["state"].get<std::string>() + ", replayed " + state);
  if (state == "succeeded" && recorded["output"] != replayed["output"])
    diverged.push_back("output differs: recorded " + json_text(recorded["output"]) + ", replayed " + json_text(replayed["output"]));
  return json{{"run_id", submitted->value("run_id", "")}, {"ok", diverged.empty()}, {"recorded", recorded},
              {"replayed", replayed}, {"replayed_effects", log->replayed}, {"diverged", diverged}};
}

}  // namespace fh::httpd
