// fh::http — the daemon: the runs API (submit, list, describe, SSE events, cancel, approve) and
// the OpenAI-compatible gateway (/v1/chat/completions, /v1/models), behind the request checks of
// security.hpp. Every run writes its journal (runtime/plan/journal.hpp) and is listed in the
// SQLite index; after a restart, runs the index still shows unfinished are re-executed with their
// completed effects served from the journal.
//
// Depends on: fh::plan, fh::api (providers and tools only through interfaces). All state lives on
// the one thread that runs the io_context (runs are strands of it); nothing here locks.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "runtime/api/provider.hpp"
#include "runtime/api/tool.hpp"
#include "runtime/http/security.hpp"
#include "runtime/http/server.hpp"
#include "runtime/http/triggers.hpp"
#include "runtime/lua/engine.hpp"

namespace fh::httpd {

// Resolves a tool call that waits on `ask`: returns "once", "session" or "deny".
using ApproveFn = std::function<boost::asio::awaitable<std::string>(std::string call_id, std::string tool, json args,
                                                                     std::string reason)>;
// Makes the tool host of one run (the composition root decides which tools exist). `approve` is
// how that host's approver reaches the daemon's approvals route.
using ToolHostFactory = std::function<Result<std::shared_ptr<api::ToolHost>>(
    const std::string& run_id, const std::string& workspace, ApproveFn approve)>;

struct DaemonOptions {
  std::string data_dir;            // journals, blobs, index.sqlite, token
  std::string plan_dir;            // named plans: <plan_dir>/<name>.lua
  std::string default_model = "mock/echo";
  std::string workspace;           // default workspace of runs (absolute)
  lua::Limits limits;              // defaults; a request may lower memory and set a deadline
  size_t max_memory_bytes = 1024u << 20;
  SecurityOptions security;        // token read from data_dir/token when empty
  std::vector<std::string> models; // extra model ids listed by GET /v1/models
  std::vector<std::string> idempotent_tools;  // re-run after a crash even if in flight
  bool resume = true;              // resume unfinished runs on open()
  std::vector<TriggerSpec> triggers;  // cron and webhook triggers (parse_triggers); plans checked on open()
  // The wall clock cron triggers read (UTC); empty: the system clock. Tests shift it to reach a
  // minute boundary without waiting for one.
  std::function<std::chrono::system_clock::time_point()> clock;
  // A run's spending limit from its limits object (keys budget_usd, max_tokens_total,
  // allow_unknown_prices; an error names the bad key). Set by the composition root (the router's
  // SpendBudget); empty: a run that sets those limits is refused.
  std::function<Result<std::shared_ptr<api::Budget>>(const json& limits)> budget;
};

class Daemon {
 public:
  Daemon(boost::asio::any_io_executor ex, const api::ProviderRegistry& providers, DaemonOptions opt,
         ToolHostFactory tools);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates the data folder, reads or creates the token, opens the index, resumes unfinished
  // runs and arms the cron triggers (a trigger naming a missing plan is an error). Call on the
  // io_context's thread before serving.
  Result<Ok> open();
  void set_port(uint16_t port);
  const std::string& token() const;
  Handler handler();
  // Graceful stop: wakes event streams so they end, stops the cron triggers; runs keep going.
  void shutdown();
  size_t active_runs() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// `freehold replay`: re-runs a journaled run offline (no provider or tool is reached: every
// effect must come from the journal) and reports divergence: effects the journal lacks, or a
// different final state or output. data_dir holds the blobs (the journal's ../..).
// Report: {"run_id", "ok", "recorded": {"state", "output"}, "replayed": {"state", "output",
// "error"}, "replayed_effects", "diverged": ["..."]}.
Result<json> replay_journal(const std::string& journal_path, const std::string& data_dir);

}  // namespace fh::httpd
