// fh::httpd — the daemon's /metrics counters in the Prometheus text format (version 0.0.4):
// model calls and their errors by provider, input/output tokens, cost in USD, model-call latency
// and run duration histograms. Fed by the daemon (daemon.cpp: run events and finished runs;
// gateway.cpp: direct gateway calls); rendered on GET /metrics.
//
// Pure bookkeeping, no Asio: lives on the daemon's one io_context thread, so nothing locks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/result.hpp"

namespace fh::httpd {

// A cumulative histogram: counts[i] is observations <= bounds[i] (the +Inf bucket is `count`).
struct Histogram {
  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size(), 0) {}
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;
  void observe(double v);
};

class Metrics {
 public:
  Metrics();
  // One model call this daemon made: `outcome` is {"ok": ChatResult JSON} or {"error": ...}.
  // `fallback_ms` is the measured wall time, used when the result carries no latency.
  void model_call(const std::string& provider, const json& outcome, int64_t fallback_ms);
  void run_finished(const std::string& state, double seconds);
  // The exposition text; the caller adds what it counts itself (runs in memory, gateway requests).
  std::string render(const std::map<std::string, int64_t>& runs_by_state, int64_t gateway_requests) const;

 private:
  struct PerProvider {
    int64_t calls = 0, errors = 0, input_tokens = 0, output_tokens = 0;
    double cost_usd = 0;
  };
  std::map<std::string, PerProvider> providers_;
  std::map<std::string, int64_t> runs_finished_;
  Histogram call_seconds_, run_seconds_;
};

}  // namespace fh::httpd
