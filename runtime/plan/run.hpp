// fh::plan — one run of a plan: compile, execute on a strand, report the outcome and events.
// Depends on fh::lua (the VM) and fh::api. The CLI, the daemon and swap experiments all start
// plans through this one type. execute() runs on the run's strand; cancel() may be called from
// that strand at any time.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "runtime/lua/engine.hpp"

namespace fh::plan {

struct RunRequest {
  std::string source;                // the plan's Lua text
  std::string chunk_name = "plan.lua";
  json input = json::object();
  lua::Limits limits;
  lua::Services services;            // providers, tools, default model, event callback
};

struct RunResult {
  enum class Status { succeeded, failed, invalid_plan, limit_exceeded, cancelled } status = Status::failed;
  json output;
  std::string message;    // one line
  std::string traceback;  // for runtime errors
  api::Usage usage;
  std::optional<double> cost_usd;   // a partial sum when unpriced_llm_calls > 0
  int64_t llm_calls = 0, tool_calls = 0;
  int64_t unpriced_llm_calls = 0;
  int64_t duration_ms = 0;

  int exit_code() const noexcept;  // 0 ok, 1 failed, 2 invalid plan, 3 limit, 130 cancelled
  std::string_view status_name() const noexcept;
  json to_json() const;
};

class Run : public std::enable_shared_from_this<Run> {
 public:
  static std::shared_ptr<Run> create(boost::asio::any_io_executor strand, RunRequest req);
  // Compiles and runs the plan to its end. Never throws.
  boost::asio::awaitable<RunResult> execute();
  void cancel();
  const std::string& id() const noexcept { return req_.services.run_id; }

 private:
  Run(boost::asio::any_io_executor ex, RunRequest req) : ex_(std::move(ex)), req_(std::move(req)) {}
  boost::asio::any_io_executor ex_;
  RunRequest req_;
  std::shared_ptr<lua::Engine> engine_;
  bool cancel_requested_ = false;
  int64_t seq_ = 0;
};

}  // namespace fh::plan
