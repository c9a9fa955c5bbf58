// Prometheus text exposition of the daemon's counters. See metrics.hpp.
#include "runtime/http/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace fh::httpd {

namespace {

// Prometheus' default buckets, extended to 5 minutes: model calls and whole runs routinely take
// tens of seconds, which the default (top bucket 10 s) would lump into +Inf.
std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

// Shortest round-trip decimal form; Prometheus reads Go-style floats (+Inf for infinity).
std::string prom_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// Label values escape backslash, double quote and newline.
std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void histogram_lines(std::string& out, const char* name, const Histogram& h) {
  for (size_t i = 0; i < h.bounds.size(); ++i)
    out += std::string(name) + "_bucket{le=\"" + prom_number(h.bounds[i]) + "\"} " + std::to_string(h.counts[i]) + "\n";
  out += std::string(name) + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  out += std::string(name) + "_sum " + prom_number(h.sum) + "\n";
  out += std::string(name) + "_count " + std::to_string(h.count) + "\n";
}

int64_t usage_field(const json& usage, const char* key) {
  if (!usage.is_object()) return 0;
  auto it = usage.find(key);
  return it != usage.end() && it->is_number_integer() && it->get<int64_t>() > 0 ? it->get<int64_t>() : 0;
}

}  // namespace

void Histogram::observe(double v) {
  if (!std::isfinite(v) || v < 0) return;
  for (size_t i = 0; i < bounds.size(); ++i)
    if (v <= bounds[i]) ++counts[i];
  sum += v;
  ++count;
}

Metrics::Metrics() : call_seconds_(latency_buckets()), run_seconds_(latency_buckets()) {}

void Metrics::model_call(const std::string& provider, const json& outcome, int64_t fallback_ms) {
  auto& p = providers_[provider.empty() ? "unknown" : provider];
  ++p.calls;
  int64_t ms = fallback_ms;
  if (outcome.is_object() && outcome.contains("ok") && outcome["ok"].is_object()) {
    const json& r = outcome["ok"];
    p.input_tokens += usage_field(r.value("usage", json(nullptr)), "input_tokens");
    p.output_tokens += usage_field(r.value("usage", json(nullptr)), "output_tokens");
    if (auto c = r.find("cost_usd"); c != r.end() && c->is_number() && c->get<double>() > 0) p.cost_usd += c->get<double>();
    if (auto l = r.find("latency_ms"); l != r.end() && l->is_number_integer() && l->get<int64_t>() > 0) ms = l->get<int64_t>();
  } else {
    ++p.errors;
  }
  call_seconds_.observe(static_cast<double>(ms) / 1000.0);
}

void Metrics::run_finished(const std::string& state, double seconds) {
  ++runs_finished_[state];
  run_seconds_.observe(seconds);
}

std::string Metrics::render(const std::map<std::string, int64_t>& runs_by_state, int64_t gateway_requests) const {
  std::string out;
  header(out, "freehold_runs", "gauge", "Runs of this daemon (since it started, plus resumed ones) by state.");
  for (const char* s : {"pending", "running", "waiting", "succeeded", "failed", "cancelled"}) {
    auto it = runs_by_state.find(s);
    out += std::string("freehold_runs{state=\"") + s + "\"} " + std::to_string(it == runs_by_state.end() ? 0 : it->second) + "\n";
  }
  header(out, "freehold_runs_finished_total", "counter", "Runs that finished, by final state.");
  for (const auto& [state, n] : runs_finished_)
    out += "freehold_runs_finished_total{state=\"" + label_value(state) + "\"} " + std::to_string(n) + "\n";
  header(out, "freehold_gateway_requests_total", "counter", "Chat completions requested from the gateway.");
  out += "freehold_gateway_requests_total " + std::to_string(gateway_requests) + "\n";

  header(out, "freehold_model_calls_total", "counter", "Model calls made (runs and gateway; calls served from a journal on resume are not counted), by provider.");
  for (const auto& [name, p] : providers_) out += "freehold_model_calls_total{provider=\"" + label_value(name) + "\"} " + std::to_string(p.calls) + "\n";
  header(out, "freehold_model_call_errors_total", "counter", "Model calls that ended in an error, by provider.");
  for (const auto& [name, p] : providers_) out += "freehold_model_call_errors_total{provider=\"" + label_value(name) + "\"} " + std::to_string(p.errors) + "\n";
  header(out, "freehold_model_tokens_total", "counter", "Tokens of model calls, by provider and direction.");
  for (const auto& [name, p] : providers_) {
    out += "freehold_model_tokens_total{provider=\"" + label_value(name) + "\",direction=\"input\"} " + std::to_string(p.input_tokens) + "\n";
    out += "freehold_model_tokens_total{provider=\"" + label_value(name) + "\",direction=\"output\"} " + std::to_string(p.output_tokens) + "\n";
  }
  header(out, "freehold_model_cost_usd_total", "counter", "Cost of model calls in US dollars (calls with a known price), by provider.");
  for (const auto& [name, p] : providers_) out += "freehold_model_cost_usd_total{provider=\"" + label_value(name) + "\"} " + prom_number(p.cost_usd) + "\n";

  header(out, "freehold_model_call_duration_seconds", "histogram", "Latency of model calls.");
  histogram_lines(out, "freehold_model_call_duration_seconds", call_seconds_);
  header(out, "freehold_run_duration_seconds", "histogram", "Duration of finished runs (from start or resume).");
  histogram_lines(out, "freehold_run_duration_seconds", run_seconds_);
  return out;
}

}  // namespace fh::httpd
