// Internal to runtime/http: the daemon's shared state, split over daemon.cpp (runs API),
// gateway.cpp (OpenAI-compatible routes) and effects.cpp (journaled provider and tool calls).
#pragma once

#include <deque>
#include <map>
#include <set>

#include <boost/asio/steady_timer.hpp>

#include "runtime/http/daemon.hpp"
#include "runtime/http/metrics.hpp"
#include "runtime/plan/journal.hpp"
#include "runtime/plan/run.hpp"

namespace fh::httpd {

// Completed effects of a run, from its journal; serves them again when a run is resumed.
struct EffectLog {
  std::map<std::string, json> done;        // key -> {"ok": result} or {"error": ...}
  std::set<std::string> in_flight;         // started before the crash, never completed
  std::map<std::string, int> occurrences;  // how often each base key was seen in this execution
  std::set<std::string> idempotent_tools;
  std::vector<std::string> unknown;        // "outcome unknown" messages (the run fails)
  std::function<void(json)> record;        // appends an "effect" event to the journal
  int64_t replayed = 0, executed = 0;
  std::string next_key(const std::string& base) { return base + "#" + std::to_string(++occurrences[base]); }
};

// A provider whose calls are journaled and, on resume, served from the journal.
std::shared_ptr<api::Provider> make_journaled_provider(std::shared_ptr<api::Provider> inner, std::string model,
                                                       std::shared_ptr<EffectLog> log);
// A tool host whose calls are journaled and, on resume, served from the journal.
std::shared_ptr<api::ToolHost> make_journaled_tools(std::shared_ptr<api::ToolHost> inner, std::shared_ptr<EffectLog> log);
// The plan's clock reads, random seeds and sleep deadlines, journaled and served back on resume.
std::shared_ptr<lua::Recorder> make_journaled_recorder(std::shared_ptr<EffectLog> log);

struct PendingApproval {
  explicit PendingApproval(boost::asio::any_io_executor ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  std::string decision;
  std::string tool;
};

struct RunEntry {
  std::string id, name, state = "pending", created_at, finished_at, model, workspace;
  json input = json::object(), output = nullptr, error = nullptr, usage = nullptr, cost_usd = nullptr, limits = nullptr;
  int64_t unpriced_llm_calls = 0;  // model calls without a known price: cost_usd leaves them out
  std::string source;
  std::string trigger;  // the trigger that started the run (empty: an API request)
  std::chrono::steady_clock::time_point started{};  // for the run-duration histogram
  std::vector<json> events;  // events[i]["seq"] == i + 1
  std::shared_ptr<plan::Run> run;
  std::shared_ptr<api::ToolHost> tools;
  std::unique_ptr<api::ProviderRegistry> providers;
  std::unique_ptr<plan::Journal> journal;
  std::shared_ptr<EffectLog> effects;
  std::map<std::string, std::shared_ptr<PendingApproval>> approvals;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> waiters;
  int next_ask = 1;
  bool finished = false;
  bool from_disk = false;  // described by the index only (a finished run of an earlier daemon)
  json describe() const;
  void notify();
};

struct Daemon::Impl : std::enable_shared_from_this<Daemon::Impl> {
  boost::asio::any_io_executor ex;
  const api::ProviderRegistry& providers;
  DaemonOptions opt;
  ToolHostFactory tool_factory;
  std::unique_ptr<plan::RunIndex> index;
  std::map<std::string, std::shared_ptr<RunEntry>> runs;  // runs of this daemon (and resumed ones)
  bool stopping = false;
  int64_t gateway_calls = 0;
  Metrics metrics;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> cron_timers;  // one per cron trigger
  json trigger_state = json::object();  // DATA/triggers.json: each cron trigger's last firing

  Impl(boost::asio::any_io_executor e, const api::ProviderRegistry& p, DaemonOptions o, ToolHostFactory t)
      : ex(std::move(e)), providers(p), opt(std::move(o)), tool_factory(std::move(t)) {}

  boost::asio::awaitable<void> handle(const Request& req, Responder& res);
  // Runs API (daemon.cpp)
  Result<std::shared_ptr<RunEntry>> submit(const json& body);
  void start(const std::shared_ptr<RunEntry>& e, std::vector<json> journal_events);
  void add_event(RunEntry& e, json ev);
  void index_update(const RunEntry& e);
  std::shared_ptr<RunEntry> find(const std::string& id);
  Result<Ok> resume_unfinished();
  boost::asio::awaitable<void> stream_events(const Request& req, Responder& res, std::shared_ptr<RunEntry> e);
  // Triggers (triggers.cpp)
  Result<Ok> start_triggers();
  Result<std::shared_ptr<RunEntry>> fire_trigger(const TriggerSpec& t, json input);
  const TriggerSpec* find_webhook(const std::string& path) const;
  void record_fire(const TriggerSpec& t, std::chrono::sys_seconds when);
  std::optional<std::chrono::sys_seconds> last_fire(const TriggerSpec& t) const;
  boost::asio::awaitable<void> webhook(const Request& req, Responder& res, const TriggerSpec& t);
  std::chrono::system_clock::time_point wall_now() const {
    return opt.clock ? opt.clock() : std::chrono::system_clock::now();
  }
  // Gateway (gateway.cpp)
  boost::asio::awaitable<void> chat_completions(const Request& req, Responder& res);
  Response list_models();
};

std::string new_id(std::string_view prefix);

}  // namespace fh::httpd
