#include "runtime/plan/run.hpp"

#include <chrono>

namespace asio = boost::asio;

namespace fh::plan {

int RunResult::exit_code() const noexcept {
  switch (status) {
    case Status::succeeded: return 0;
    case Status::failed: return 1;
    case Status::invalid_plan: return 2;
    case Status::limit_exceeded: return 3;
    case Status::cancelled: return 130;
  }
  return 1;
}

std::string_view RunResult::status_name() const noexcept {
  switch (status) {
    case Status::succeeded: return "succeeded";
    case Status::failed: return "failed";
    case Status::invalid_plan: return "invalid_plan";
    case Status::limit_exceeded: return "limit_exceeded";
    case Status::cancelled: return "cancelled";
  }
  return "failed";
}

json RunResult::to_json() const {
  json j = {{"status", status_name()}, {"output", output}, {"usage", api::to_json(usage)},
            {"cost_usd", cost_usd ? json(*cost_usd) : json(nullptr)}, {"llm_calls", llm_calls},
            {"unpriced_llm_calls", unpriced_llm_calls}, {"tool_calls", tool_calls}, {"duration_ms", duration_ms}};
  if (status != Status::succeeded) j["error"] = {{"message", message}, {"traceback", traceback}};
  return j;
}

std::shared_ptr<Run> Run::create(asio::any_io_executor strand, RunRequest req) {
  return std::shared_ptr<Run>(new Run(std::move(strand), std::move(req)));
}

void Run::cancel() {
  cancel_requested_ = true;
  if (engine_) engine_->cancel();
}

asio::awaitable<RunResult> Run::execute() {
  auto self = shared_from_this();
  auto t0 = std::chrono::steady_clock::now();
  RunResult res;
  auto finish = [&] {
    res.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  // Number every event; the run_started/run_finished pair brackets them.
  auto user_sink = req_.services.on_event;
  auto sink = [this, user_sink](json ev) {
    if (!user_sink) return;
    ev["seq"] = ++seq_;
    user_sink(std::move(ev));
  };
  if (user_sink) req_.services.on_event = sink;
  sink({{"type", "run_started"}, {"run_id", req_.services.run_id}, {"plan", req_.chunk_name}, {"input", req_.input}});

  auto engine = lua::Engine::create(ex_, req_.services, req_.limits);
  if (!engine) {
    res.status = RunResult::Status::limit_exceeded;
    res.message = engine.error().message;
  } else {
    engine_ = engine.value();
    auto loaded = engine_->load(req_.source, req_.chunk_name);
    if (!loaded) {
      res.status = loaded.error().code == Errc::limit_exceeded ? RunResult::Status::limit_exceeded
                                                               : RunResult::Status::invalid_plan;
      res.message = loaded.error().message;
    } else if (cancel_requested_) {
      res.status = RunResult::Status::cancelled;
      res.message = "cancelled";
    } else {
      lua::Outcome out = co_await engine_->run(std::move(req_.input));
      switch (out.status) {
        case lua::Outcome::Status::succeeded: res.status = RunResult::Status::succeeded; break;
        case lua::Outcome::Status::failed: res.status = RunResult::Status::failed; break;
        case lua::Outcome::Status::limit_exceeded: res.status = RunResult::Status::limit_exceeded; break;
        case lua::Outcome::Status::cancelled: res.status = RunResult::Status::cancelled; break;
      }
      res.output = std::move(out.output);
      res.message = std::move(out.message);
      res.traceback = std::move(out.traceback);
      res.usage = out.usage;
      res.cost_usd = out.cost_usd;
      res.llm_calls = out.llm_calls;
      res.unpriced_llm_calls = out.unpriced_llm_calls;
      res.tool_calls = out.tool_calls;
    }
  }
  finish();
  // The run's totals travel with its last event (and so into every journal and trace).
  json done = {{"type", "run_finished"}, {"status", res.status_name()}, {"usage", api::to_json(res.usage)},
               {"cost_usd", res.cost_usd ? json(*res.cost_usd) : json(nullptr)}, {"llm_calls", res.llm_calls},
               {"unpriced_llm_calls", res.unpriced_llm_calls}, {"tool_calls", res.tool_calls}};
  if (res.status == RunResult::Status::succeeded) done["output"] = res.output;
  else done["error"] = res.message;
  sink(std::move(done));
  engine_.reset();  // closes the Lua state on the strand
  co_return res;
}

}  // namespace fh::plan
