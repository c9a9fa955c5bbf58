// Test support: run a plan source to completion on a private io_context and collect its events.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/api/provider.hpp"
#include "runtime/plan/run.hpp"

namespace fh::test {

struct PlanRun {
  plan::RunResult result;
  std::vector<json> events;
  double wall_ms = 0;
};

struct PlanOptions {
  json input = json::object();
  lua::Limits limits;
  std::string model = "mock/echo";
  api::ToolHost* tools = nullptr;
  std::string chunk = "plan.lua";
  // Called after `after_ms` of loop time: used to cancel a run mid-flight.
  int cancel_after_ms = -1;
};

PlanRun run_plan(const std::string& source, const PlanOptions& opt = {});
std::string read_text(const std::string& path);
// Removes what varies from run to run (latency_ms, ttft_ms, duration_ms, traceback), at any depth,
// so results and events can be compared to goldens.
void scrub_timings(json& j);
json stable_events(const std::vector<json>& events);

}  // namespace fh::test
