#include "tests/runtime/support.hpp"

#include <chrono>
#include <fstream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "providers/mock/mock.hpp"

namespace asio = boost::asio;

namespace fh::test {

PlanRun run_plan(const std::string& source, const PlanOptions& opt) {
  static api::ProviderRegistry providers = [] {
    api::ProviderRegistry r;
    provider_mock::register_mock(r);
    return r;
  }();
  PlanRun out;
  plan::RunRequest req;
  req.source = source;
  req.chunk_name = opt.chunk;
  req.input = opt.input;
  req.limits = opt.limits;
  req.services.providers = &providers;
  req.services.tools = opt.tools;
  req.services.default_model = opt.model;
  req.services.run_id = "test";
  req.services.on_event = [&out](json ev) { out.events.push_back(std::move(ev)); };
  asio::io_context io(1);
  auto strand = asio::make_strand(io);
  auto run = plan::Run::create(strand, std::move(req));
  auto t0 = std::chrono::steady_clock::now();
  asio::co_spawn(strand, [&]() -> asio::awaitable<void> { out.result = co_await run->execute(); }, asio::detached);
  asio::steady_timer canceller(strand);
  if (opt.cancel_after_ms >= 0) {
    canceller.expires_after(std::chrono::milliseconds(opt.cancel_after_ms));
    canceller.async_wait([run](const boost::system::error_code& ec) {
      if (!ec) run->cancel();
    });
  }
  // stop the canceller once the run is over so the loop runs dry
  while (io.run_one()) {
    if (out.events.size() && out.events.back().value("type", "") == "run_finished") canceller.cancel();
  }
  out.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void scrub_timings(json& j) {
  if (j.is_object()) {
    for (const char* k : {"latency_ms", "ttft_ms", "duration_ms", "traceback"}) j.erase(k);
    for (auto& [k, v] : j.items()) scrub_timings(v);
  } else if (j.is_array()) {
    for (auto& v : j) scrub_timings(v);
  }
}

json stable_events(const std::vector<json>& events) {
  json out = json::array();
  for (auto ev : events) {
    scrub_timings(ev);
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace fh::test
