// Spine benchmarks: per-step overhead of the Lua<->loop bridge, memory per parked run, and the
// loop's fan-out. Prints one JSON object; docs/BENCHMARKS.md records the figures.
//   build/release/tests/bench/spine/bench_spine [steps] [parked_runs]
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "providers/mock/mock.hpp"
#include "runtime/plan/run.hpp"

namespace asio = boost::asio;
using fh::json;

namespace {
fh::api::ProviderRegistry& registry() {
  static fh::api::ProviderRegistry r = [] {
    fh::api::ProviderRegistry x;
    fh::provider_mock::register_mock(x);
    return x;
  }();
  return r;
}

fh::plan::RunRequest request(const std::string& src, json input) {
  fh::plan::RunRequest req;
  req.source = src;
  req.input = std::move(input);
  req.services.providers = &registry();
  req.services.default_model = "mock/echo";
  req.limits.instructions = ~0ull;
  return req;
}

// Wall seconds to run `src` once to completion.
double time_plan(const std::string& src, json input) {
  asio::io_context io(1);
  auto run = fh::plan::Run::create(asio::make_strand(io), request(src, std::move(input)));
  fh::plan::RunResult res;
  auto t0 = std::chrono::steady_clock::now();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { res = co_await run->execute(); }, asio::detached);
  io.run();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (res.status != fh::plan::RunResult::Status::succeeded) {
    std::fprintf(stderr, "plan failed: %s\n", res.message.c_str());
    std::exit(1);
  }
  return s;
}

double rss_kb() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1024.0;
}

double best_of(int k, const std::string& src, json input) {
  double best = 1e9;
  for (int i = 0; i < k; ++i) best = std::min(best, time_plan(src, input));
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  int steps = argc > 1 ? std::atoi(argv[1]) : 200000;
  int parked = argc > 2 ? std::atoi(argv[2]) : 10000;
  json in = {{"n", steps}};
  // Baseline: the same loop calling a plain Lua function, so only the bridge's cost remains.
  double base = best_of(3, "local f = function(t) return {text = t.prompt} end for i = 1, input.n do f{prompt = 'x'} end", in);
  double chat = best_of(3, "for i = 1, input.n do llm.chat{prompt = 'x'} end", in);
  double sleep0 = best_of(3, "for i = 1, input.n do task.sleep(0) end", in);
  double chat_us = (chat - base) / steps * 1e6;
  double sleep_us = (sleep0 - base) / steps * 1e6;

  // Memory per parked run: `parked` runs each waiting in task.sleep on one loop.
  asio::io_context io(1);
  std::vector<std::shared_ptr<fh::plan::Run>> runs;
  double before = rss_kb();
  int finished = 0;
  for (int i = 0; i < parked; ++i) {
    auto run = fh::plan::Run::create(asio::make_strand(io), request("task.sleep(3600) return 1", json::object()));
    runs.push_back(run);
    asio::co_spawn(io, [run, &finished]() -> asio::awaitable<void> { co_await run->execute(); ++finished; }, asio::detached);
  }
  for (int i = 0; i < 50; ++i) io.poll();
  double after = rss_kb();
  double per_run_kb = (after - before) / parked;
  for (auto& r : runs) asio::dispatch(io, [r] { r->cancel(); });
  io.run();

  json out = {{"steps", steps},
              {"baseline_s", base},
              {"llm_chat_mock_us_per_step", chat_us},
              {"task_sleep0_us_per_step", sleep_us},
              {"limit_us_per_step", 2.0},
              {"chat_vs_limit", chat_us / 2.0},
              {"parked_runs", parked},
              {"kb_per_parked_run", per_run_kb},
              {"limit_kb_per_run", 50.0},
              {"parked_vs_limit", per_run_kb / 50.0},
              {"cancelled_runs_finished", finished}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
