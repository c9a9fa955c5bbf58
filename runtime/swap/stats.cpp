// Statistics over cell records: pure functions, no I/O but load_results.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <tuple>

#include "runtime/swap/swap.hpp"

namespace fh::swap {

bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  p = std::clamp(p, 0.0, 1.0);
  double pos = p * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  double frac = pos - static_cast<double>(lo);
  if (lo + 1 >= v.size()) return v.back();
  return v[lo] + frac * (v[lo + 1] - v[lo]);
}

Interval bootstrap_mean(const std::vector<double>& v, uint64_t seed, int resamples) {
  Interval out;
  if (v.empty()) return out;
  double sum = 0;
  for (double x : v) sum += x;
  out.mean = sum / static_cast<double>(v.size());
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
  std::vector<double> means(static_cast<size_t>(std::max(resamples, 1)));
  for (auto& m : means) {
    double s = 0;
    for (size_t k = 0; k < v.size(); ++k) s += v[pick(rng)];
    m = s / static_cast<double>(v.size());
  }
  out.low = percentile(means, 0.025);
  out.high = percentile(means, 0.975);
  return out;
}

Result<Loaded> load_results(const std::filesystem::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) return make_error(Errc::not_found, "cannot open '" + file.string() + "'");
  Loaded out;
  std::map<std::tuple<std::string, int64_t, int64_t>, size_t> index;
  std::string line;
  while (std::getline(f, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].is_string() ||
        !j.contains("input_index") || !j["input_index"].is_number_integer() || !j.contains("repeat") ||
        !j["repeat"].is_number_integer()) {
      ++out.malformed;
      continue;
    }
    auto key = std::make_tuple(j["model"].get<std::string>(), j["input_index"].get<int64_t>(), j["repeat"].get<int64_t>());
    if (auto it = index.find(key); it != index.end()) {
      out.records[it->second] = std::move(j);
    } else {
      index[key] = out.records.size();
      out.records.push_back(std::move(j));
    }
  }
  return out;
}

namespace {
// Records may come from a file someone edited: read fields without trusting their types.
double num(const json& j, const char* key, double dflt = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : dflt;
}
int64_t integer(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
}
bool is_model(const json& j, const std::string& m) {
  auto it = j.find("model");
  return it != j.end() && it->is_string() && it->get_ref<const std::string&>() == m;
}
}  // namespace

Summary summarize(const std::vector<json>& records, const std::vector<std::string>& models, int64_t n_inputs,
                  int64_t repeat, bool scored, uint64_t seed) {
  Summary s;
  s.scored = scored;
  s.compare_metric = scored ? "score" : "success";
  s.inputs = n_inputs;
  s.repeat = repeat;
  s.total_cells = static_cast<int64_t>(models.size()) * n_inputs * repeat;
  // per model, per input: sum and count of the comparison metric
  std::vector<std::vector<std::pair<double, int64_t>>> per_input(models.size(),
                                                                  std::vector<std::pair<double, int64_t>>(n_inputs));
  for (size_t m = 0; m < models.size(); ++m) {
    ModelStats ms;
    ms.model = models[m];
    std::vector<double> scores, success, ttfts;
    bool has_cost = false;
    for (const auto& rec : records) {
      if (!rec.is_object() || !is_model(rec, models[m])) continue;
      int64_t i = integer(rec, "input_index"), r = integer(rec, "repeat");
      if (i < 0 || i >= n_inputs || r < 0 || r >= repeat) continue;
      if (flag(rec, "skipped")) {
        ++ms.skipped;
        continue;
      }
      ++ms.cells;
      bool ok = flag(rec, "ok");
      success.push_back(ok ? 1.0 : 0.0);
      if (ok) {
        ++ms.ok;
      } else {
        ++ms.failed;
        auto e = rec.find("error");
        ++ms.errors[e != rec.end() && e->is_string() ? e->get<std::string>() : std::string("(no message)")];
      }
      if (auto l = rec.find("latency_ms"); l != rec.end() && l->is_number()) ms.latencies.push_back(l->get<double>());
      if (auto t = rec.find("ttft_ms"); t != rec.end() && t->is_number()) ttfts.push_back(t->get<double>());
      if (auto u = rec.find("usage"); u != rec.end() && u->is_object()) {
        ms.input_tokens += num(*u, "input_tokens");
        ms.cached_tokens += num(*u, "cached_input_tokens");
        ms.output_tokens += num(*u, "output_tokens");
        ms.reasoning_tokens += num(*u, "reasoning_tokens");
      }
      ms.llm_calls += num(rec, "llm_calls");
      ms.tool_calls += num(rec, "tool_calls");
      if (auto c = rec.find("cost_usd"); c != rec.end() && c->is_number()) {
        has_cost = true;
        ms.cost_total += c->get<double>();
      }
      ms.scoring_cost_total += num(rec, "score_cost_usd");
      std::optional<double> metric;
      if (auto sc = rec.find("score"); sc != rec.end() && sc->is_number()) {
        scores.push_back(sc->get<double>());
        if (scored) metric = sc->get<double>();
      } else if (scored && ok) {
        ++ms.score_errors;
      }
      if (!scored) metric = ok ? 1.0 : 0.0;
      if (metric) {
        per_input[m][static_cast<size_t>(i)].first += *metric;
        ++per_input[m][static_cast<size_t>(i)].second;
      }
    }
    if (ms.cells > 0) {
      double n = static_cast<double>(ms.cells);
      auto si = bootstrap_mean(success, seed);
      ms.success_rate = si.mean;
      ms.success_low = si.low;
      ms.success_high = si.high;
      ms.input_tokens /= n;
      ms.cached_tokens /= n;
      ms.output_tokens /= n;
      ms.reasoning_tokens /= n;
      ms.llm_calls /= n;
      ms.tool_calls /= n;
      if (has_cost) ms.cost_per_run = ms.cost_total / n;
    }
    if (!scores.empty()) {
      auto ci = bootstrap_mean(scores, seed);
      ms.mean_score = ci.mean;
      ms.ci_low = ci.low;
      ms.ci_high = ci.high;
      ms.scored = static_cast<int64_t>(scores.size());
    }
    std::sort(ms.latencies.begin(), ms.latencies.end());
    if (!ms.latencies.empty()) {
      ms.latency_p50 = percentile(ms.latencies, 0.5);
      ms.latency_p95 = percentile(ms.latencies, 0.95);
      double sum = 0;
      for (double x : ms.latencies) sum += x;
      ms.latency_mean = sum / static_cast<double>(ms.latencies.size());
    }
    ms.ttft_p50 = percentile(ttfts, 0.5);
    s.spent_usd += ms.cost_total + ms.scoring_cost_total;
    s.models.push_back(std::move(ms));
  }
  // Paired comparison on the same inputs against the first model (mean over repeats per input).
  for (size_t m = 1; m < models.size(); ++m) {
    auto& ms = s.models[m];
    for (int64_t i = 0; i < n_inputs; ++i) {
      auto [a_sum, a_n] = per_input[0][static_cast<size_t>(i)];
      auto [b_sum, b_n] = per_input[m][static_cast<size_t>(i)];
      if (a_n == 0 || b_n == 0) continue;
      double d = b_sum / static_cast<double>(b_n) - a_sum / static_cast<double>(a_n);
      ++ms.paired;
      if (d > 1e-9) ++ms.wins;
      else if (d < -1e-9) ++ms.losses;
      else ++ms.ties;
    }
  }
  return s;
}

json Summary::to_json() const {
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json ms = json::array();
  for (const auto& m : models) {
    json errors = json::object();
    for (const auto& [msg, n] : m.errors) errors[msg] = n;
    ms.push_back({{"model", m.model}, {"cells", m.cells}, {"ok", m.ok}, {"failed", m.failed}, {"skipped", m.skipped},
                  {"success_rate", m.success_rate}, {"success_ci", {m.success_low, m.success_high}},
                  {"mean_score", opt(m.mean_score)},
                  {"score_ci", m.ci_low ? json{*m.ci_low, *m.ci_high} : json(nullptr)}, {"scored", m.scored},
                  {"score_errors", m.score_errors}, {"latency_ms", {{"p50", m.latency_p50}, {"p95", m.latency_p95}, {"mean", m.latency_mean}}},
                  {"ttft_ms_p50", m.ttft_p50},
                  {"per_run", {{"input_tokens", m.input_tokens}, {"cached_input_tokens", m.cached_tokens},
                               {"output_tokens", m.output_tokens}, {"reasoning_tokens", m.reasoning_tokens},
                               {"llm_calls", m.llm_calls}, {"tool_calls", m.tool_calls}, {"cost_usd", opt(m.cost_per_run)}}},
                  {"cost_usd_total", m.cost_total}, {"scoring_cost_usd_total", m.scoring_cost_total},
                  {"paired", {{"inputs", m.paired}, {"wins", m.wins}, {"ties", m.ties}, {"losses", m.losses}}},
                  {"errors", errors}});
  }
  return {{"plan", plan}, {"scored", scored}, {"compare_metric", compare_metric}, {"inputs", inputs},
          {"repeat", repeat}, {"total_cells", total_cells}, {"spent_usd", spent_usd},
          {"budget_usd", budget_usd ? json(*budget_usd) : json(nullptr)}, {"models", ms}};
}

}  // namespace fh::swap
