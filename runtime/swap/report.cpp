// report.md and report.html (one self-contained file: inline CSS and SVG, no script, no network).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "runtime/core/json_text.hpp"
#include "runtime/swap/swap.hpp"

namespace fh::swap {

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(double v) { return fmt("%.1f %%", v * 100); }
std::string score3(double v) { return fmt("%.3f", v); }
std::string usd(double v) { return "$" + fmt("%.6f", v); }

std::string html_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}
std::string md_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n' || c == '\r') o += ' ';
    else o += c;
  }
  return o;
}

std::string score_cell(const ModelStats& m) {
  if (!m.mean_score) return "n/a";
  return score3(*m.mean_score) + " [" + score3(*m.ci_low) + ", " + score3(*m.ci_high) + "]";
}
std::string share(int64_t k, int64_t n) {
  if (n == 0) return "n/a";
  return pct(static_cast<double>(k) / static_cast<double>(n)) + " (" + std::to_string(k) + ")";
}
std::string tokens_cell(const ModelStats& m) {
  return fmt("%.1f", m.input_tokens) + " / " + fmt("%.1f", m.cached_tokens) + " / " + fmt("%.1f", m.output_tokens) +
         " / " + fmt("%.1f", m.reasoning_tokens);
}
std::string calls_cell(const ModelStats& m) { return fmt("%.2f", m.llm_calls) + " / " + fmt("%.2f", m.tool_calls); }
std::string cost_cell(const ModelStats& m) { return m.cost_per_run ? usd(*m.cost_per_run) : "n/a"; }

const char* kHeaders[] = {"model", "cells", "ok", "failed", "skipped", "success [95 % CI]", "mean score [95 % CI]",
                          "latency p50 / p95 (ms)", "ttft p50 (ms)", "tokens in / cached / out / reasoning per run",
                          "calls llm / tool per run", "cost per run", "cost total"};

std::vector<std::string> model_row(const ModelStats& m) {
  return {m.model, std::to_string(m.cells), std::to_string(m.ok), std::to_string(m.failed), std::to_string(m.skipped),
          pct(m.success_rate) + " [" + pct(m.success_low) + ", " + pct(m.success_high) + "]", score_cell(m),
          fmt("%.1f", m.latency_p50) + " / " + fmt("%.1f", m.latency_p95), fmt("%.1f", m.ttft_p50), tokens_cell(m),
          calls_cell(m), cost_cell(m), m.cost_per_run ? usd(m.cost_total) : "n/a"};
}

std::string intro(const Summary& s) {
  std::string t = std::to_string(s.inputs) + " inputs x " + std::to_string(s.repeat) + " repeats x " +
                  std::to_string(s.models.size()) + " models = " + std::to_string(s.total_cells) + " cells; spent " +
                  usd(s.spent_usd);
  if (s.budget_usd) t += " (budget " + usd(*s.budget_usd) + ")";
  return t + ".";
}
const char* kMethod =
    "Success and mean score are over the cells that ran (skipped cells are left out); a failed cell scores 0. "
    "Intervals are 95 % percentile bootstrap intervals (2000 resamples, fixed seed). Latency is the whole "
    "plan run; percentiles interpolate between ranks. Paired comparison: per input, the mean over repeats of "
    "the metric against the first model's (a difference above 1e-9 wins).";

// The most frequent error messages of a model (at most 20, each cut at 300 bytes), then a remainder.
std::vector<std::pair<std::string, int64_t>> listed_errors(const ModelStats& m) {
  std::vector<std::pair<std::string, int64_t>> v(m.errors.begin(), m.errors.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > 20) {
    int64_t rest = 0, kinds = static_cast<int64_t>(v.size()) - 20;
    for (size_t i = 20; i < v.size(); ++i) rest += v[i].second;
    v.resize(20);
    v.emplace_back("(" + std::to_string(kinds) + " other messages)", rest);
  }
  for (auto& [msg, n] : v)
    if (msg.size() > 300) msg = msg.substr(0, 300) + "...";
  return v;
}

// ---- SVG ----
struct Scale {
  double d0, d1, r0, r1;
  double operator()(double v) const { return d1 == d0 ? r0 : r0 + (v - d0) / (d1 - d0) * (r1 - r0); }
};
std::string num_label(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1000) return fmt("%.0f", v);
  if (a >= 1e-5) return fmt("%.3g", v);
  return fmt("%.1e", v);
}
const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
std::string color(size_t i) { return kColors[i % 8]; }

// Round axis ends and a 1/2/5 step with at most ~6 ticks.
struct Axis {
  double lo, hi, step;
};
Axis nice_axis(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / 5;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

void x_axis(std::ostringstream& o, const Scale& x, double y, const Axis& a, const std::string& label) {
  o << "<line x1='" << x(a.lo) << "' y1='" << y << "' x2='" << x(a.hi) << "' y2='" << y << "' stroke='#444'/>";
  for (double v = a.lo; v <= a.hi + a.step * 1e-6; v += a.step) {
    double t = std::fabs(v) < a.step * 1e-6 ? 0 : v;
    o << "<line x1='" << x(t) << "' y1='" << y << "' x2='" << x(t) << "' y2='" << y + 4 << "' stroke='#444'/>"
      << "<text x='" << x(t) << "' y='" << y + 16 << "' text-anchor='middle'>" << num_label(t) << "</text>";
  }
  o << "<text x='" << (x(a.lo) + x(a.hi)) / 2 << "' y='" << y + 32 << "' text-anchor='middle'>" << html_escape(label)
    << "</text>";
}

// Chart labels: the model's number and its name, long names shortened in the middle (the ends of
// "provider/model?file=..." strings are what tell them apart).
std::string label(size_t i, const std::string& m) {
  std::string name = m.size() > 30 ? m.substr(0, 8) + "..." + m.substr(m.size() - 19) : m;
  return std::to_string(i + 1) + ". " + name;
}

std::string chart_scores(const Summary& s) {
  const double W = 720, left = 240, right = 30, row = 30, top = 20;
  double H = top + row * static_cast<double>(s.models.size()) + 50;
  double lo = 0, hi = s.scored ? 0 : 1;
  for (const auto& m : s.models) {
    if (s.scored && m.mean_score) {
      lo = std::min(lo, *m.ci_low);
      hi = std::max(hi, *m.ci_high);
    }
  }
  if (s.scored && hi <= 1 && lo >= 0) hi = 1;
  Axis ax = nice_axis(lo, hi);
  Scale x{ax.lo, ax.hi, left, W - right};
  std::ostringstream o;
  o << "<svg class='chart' id='chart-score' xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' viewBox='0 0 " << W << " " << H << "'>";
  for (size_t i = 0; i < s.models.size(); ++i) {
    const auto& m = s.models[i];
    double y = top + row * (static_cast<double>(i) + 0.5);
    o << "<text x='" << left - 8 << "' y='" << y + 4 << "' text-anchor='end'>" << html_escape(label(i, m.model))
      << "</text>";
    double mean = s.scored ? m.mean_score.value_or(NAN) : m.success_rate;
    double l = s.scored ? m.ci_low.value_or(NAN) : m.success_low, h = s.scored ? m.ci_high.value_or(NAN) : m.success_high;
    if (std::isnan(mean) || m.cells == 0) {
      o << "<text x='" << left + 4 << "' y='" << y + 4 << "'>no data</text>";
      continue;
    }
    o << "<line x1='" << x(l) << "' y1='" << y << "' x2='" << x(h) << "' y2='" << y << "' stroke='" << color(i)
      << "' stroke-width='2'/>"
      << "<line x1='" << x(l) << "' y1='" << y - 6 << "' x2='" << x(l) << "' y2='" << y + 6 << "' stroke='" << color(i)
      << "' stroke-width='2'/>"
      << "<line x1='" << x(h) << "' y1='" << y - 6 << "' x2='" << x(h) << "' y2='" << y + 6 << "' stroke='" << color(i)
      << "' stroke-width='2'/>"
      << "<circle cx='" << x(mean) << "' cy='" << y << "' r='5' fill='" << color(i) << "'><title>"
      << html_escape(m.model) << ": " << score3(mean) << " [" << score3(l) << ", " << score3(h) << "]</title></circle>";
  }
  x_axis(o, x, top + row * static_cast<double>(s.models.size()) + 4, ax,
         s.scored ? "mean score, 95 % bootstrap interval" : "success rate, 95 % bootstrap interval");
  o << "</svg>";
  return o.str();
}

std::string chart_cost(const Summary& s) {
  const double W = 720, H = 360, left = 70, right = 200, top = 20, bottom = 50;
  double cmax = 0, ylo = 0, yhi = 1;
  for (const auto& m : s.models) {
    cmax = std::max(cmax, m.cost_per_run.value_or(0));
    if (s.scored && m.mean_score) {
      ylo = std::min(ylo, *m.mean_score);
      yhi = std::max(yhi, *m.mean_score);
    }
  }
  if (cmax <= 0) cmax = 1e-6;
  Axis ax = nice_axis(0, cmax * 1.05), ay = nice_axis(ylo, yhi);
  Scale x{ax.lo, ax.hi, left, W - right}, y{ay.lo, ay.hi, H - bottom, top};
  std::ostringstream o;
  o << "<svg class='chart' id='chart-cost' xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' viewBox='0 0 " << W << " " << H << "'>";
  x_axis(o, x, H - bottom, ax, "cost per run (USD)");
  o << "<line x1='" << left << "' y1='" << y(ay.lo) << "' x2='" << left << "' y2='" << y(ay.hi) << "' stroke='#444'/>";
  for (double v = ay.lo; v <= ay.hi + ay.step * 1e-6; v += ay.step) {
    o << "<text x='" << left - 6 << "' y='" << y(v) + 4 << "' text-anchor='end'>" << num_label(v) << "</text>"
      << "<line x1='" << left << "' y1='" << y(v) << "' x2='" << W - right << "' y2='" << y(v)
      << "' stroke='#ddd'/>";
  }
  o << "<text x='14' y='" << (top + H - bottom) / 2 << "' transform='rotate(-90 14 " << (top + H - bottom) / 2
    << ")' text-anchor='middle'>" << (s.scored ? "mean score" : "success rate") << "</text>";
  for (size_t i = 0; i < s.models.size(); ++i) {
    const auto& m = s.models[i];
    if (m.cells == 0) continue;
    double v = s.scored ? m.mean_score.value_or(NAN) : m.success_rate;
    if (std::isnan(v)) continue;
    double cx = x(m.cost_per_run.value_or(0)), cy = y(v);
    o << "<circle cx='" << cx << "' cy='" << cy << "' r='6' fill='" << color(i) << "'" 
      << (m.cost_per_run ? "" : " fill-opacity='0.4'") << "><title>" << html_escape(m.model) << "</title></circle>"
      << "<text x='" << cx + 9 << "' y='" << cy + 4 << "'>" << html_escape(label(i, m.model))
      << (m.cost_per_run ? "" : " (no cost reported)") << "</text>";
  }
  o << "</svg>";
  return o.str();
}

std::string chart_latency(const Summary& s) {
  const double W = 720, left = 240, right = 30, row = 34, top = 16;
  double H = top + row * static_cast<double>(s.models.size()) + 50;
  double hi = 0;
  for (const auto& m : s.models)
    if (!m.latencies.empty()) hi = std::max(hi, m.latencies.back());
  if (hi <= 0) hi = 1;
  Axis ax = nice_axis(0, hi * 1.02);
  Scale x{ax.lo, ax.hi, left, W - right};
  std::ostringstream o;
  o << "<svg class='chart' id='chart-latency' xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' viewBox='0 0 " << W << " " << H << "'>";
  for (size_t i = 0; i < s.models.size(); ++i) {
    const auto& m = s.models[i];
    double y = top + row * (static_cast<double>(i) + 0.5);
    o << "<text x='" << left - 8 << "' y='" << y + 4 << "' text-anchor='end'>" << html_escape(label(i, m.model))
      << "</text>";
    if (m.latencies.empty()) continue;
    double q1 = percentile(m.latencies, 0.25), q3 = percentile(m.latencies, 0.75);
    o << "<rect x='" << x(q1) << "' y='" << y - 9 << "' width='" << std::max(1.0, x(q3) - x(q1))
      << "' height='18' fill='" << color(i) << "' fill-opacity='0.25' stroke='" << color(i) << "'/>"
      << "<line x1='" << x(m.latency_p50) << "' y1='" << y - 9 << "' x2='" << x(m.latency_p50) << "' y2='" << y + 9
      << "' stroke='" << color(i) << "' stroke-width='3'><title>p50 " << fmt("%.1f", m.latency_p50)
      << " ms</title></line>"
      << "<line x1='" << x(m.latency_p95) << "' y1='" << y - 12 << "' x2='" << x(m.latency_p95) << "' y2='" << y + 12
      << "' stroke='" << color(i) << "' stroke-dasharray='3 2'><title>p95 " << fmt("%.1f", m.latency_p95)
      << " ms</title></line>";
    size_t step = std::max<size_t>(1, m.latencies.size() / 400);
    for (size_t k = 0; k < m.latencies.size(); k += step)
      o << "<circle cx='" << x(m.latencies[k]) << "' cy='" << y + (static_cast<double>(k % 5) - 2) * 2.5
        << "' r='2' fill='" << color(i) << "' fill-opacity='0.6'/>";
  }
  x_axis(o, x, top + row * static_cast<double>(s.models.size()) + 4, ax, "latency per run (ms): box p25-p75, bar p50, dashed p95");
  o << "</svg>";
  return o.str();
}
}  // namespace

std::string render_markdown(const Summary& s) {
  std::ostringstream o;
  o << "# Swap report: " << md_escape(s.plan) << "\n\n" << intro(s) << "\n\n" << kMethod << "\n\n";
  o << "|";
  for (const char* h : kHeaders) o << " " << h << " |";
  o << "\n|";
  for (size_t k = 0; k < std::size(kHeaders); ++k) o << "---|";
  o << "\n";
  for (const auto& m : s.models) {
    o << "|";
    for (const auto& c : model_row(m)) o << " " << md_escape(c) << " |";
    o << "\n";
  }
  if (!s.models.empty()) {
    o << "\n## Paired comparison against `" << md_escape(s.models[0].model) << "` (metric: " << s.compare_metric
      << ")\n\n| model | inputs | wins | ties | losses |\n|---|---|---|---|---|\n";
    for (size_t i = 1; i < s.models.size(); ++i) {
      const auto& m = s.models[i];
      o << "| " << md_escape(m.model) << " | " << m.paired << " | " << share(m.wins, m.paired) << " | "
        << share(m.ties, m.paired) << " | " << share(m.losses, m.paired) << " |\n";
    }
    if (s.models.size() == 1) o << "| (only one model) | | | | |\n";
  }
  bool any_errors = false;
  for (const auto& m : s.models) any_errors = any_errors || !m.errors.empty() || m.score_errors > 0;
  if (any_errors) {
    o << "\n## Errors\n\n";
    for (const auto& m : s.models) {
      for (const auto& [msg, n] : listed_errors(m))
        o << "- `" << md_escape(m.model) << "` x" << n << ": " << md_escape(msg) << "\n";
      if (m.score_errors > 0)
        o << "- `" << md_escape(m.model) << "` x" << m.score_errors << ": scorer error (see score_error in results.jsonl)\n";
    }
  }
  return o.str();
}

std::string render_html(const Summary& s) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Swap report: " << html_escape(s.plan)
    << "</title>\n<style>body{font:14px/1.4 sans-serif;margin:24px;color:#222;max-width:1100px}"
       "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
       "td:first-child,th:first-child{text-align:left}td:first-child{min-width:240px;max-width:360px;word-break:break-all}"
       "th{background:#f4f4f4}td{white-space:nowrap}td:first-child{white-space:normal}"
       "svg.chart{display:block;margin:8px 0 24px;font:12px sans-serif}h2{margin-top:28px}</style></head><body>\n";
  o << "<h1>Swap report: " << html_escape(s.plan) << "</h1>\n<p>" << html_escape(intro(s)) << "</p>\n<p>"
    << html_escape(kMethod) << "</p>\n<table id='models'><tr>";
  for (const char* h : kHeaders) o << "<th>" << html_escape(h) << "</th>";
  o << "</tr>\n";
  for (size_t i = 0; i < s.models.size(); ++i) {
    auto row = model_row(s.models[i]);
    row[0] = std::to_string(i + 1) + ". " + row[0];  // the number the charts use
    o << "<tr>";
    for (const auto& c : row) o << "<td>" << html_escape(c) << "</td>";
    o << "</tr>\n";
  }
  o << "</table>\n";
  if (s.models.size() > 1) {
    o << "<h2>Paired comparison against " << html_escape(s.models[0].model) << " (metric: " << s.compare_metric
      << ")</h2>\n<table id='paired'><tr><th>model</th><th>inputs</th><th>wins</th><th>ties</th><th>losses</th></tr>\n";
    for (size_t i = 1; i < s.models.size(); ++i) {
      const auto& m = s.models[i];
      o << "<tr><td>" << html_escape(m.model) << "</td><td>" << m.paired << "</td><td>" << share(m.wins, m.paired)
        << "</td><td>" << share(m.ties, m.paired) << "</td><td>" << share(m.losses, m.paired) << "</td></tr>\n";
    }
    o << "</table>\n";
  }
  o << "<h2>" << (s.scored ? "Score" : "Success rate") << " per model</h2>\n" << chart_scores(s) << "\n";
  o << "<h2>Cost vs " << (s.scored ? "score" : "success") << "</h2>\n" << chart_cost(s) << "\n";
  o << "<h2>Latency distributions</h2>\n" << chart_latency(s) << "\n";
  bool any_errors = false;
  for (const auto& m : s.models) any_errors = any_errors || !m.errors.empty();
  if (any_errors) {
    o << "<h2>Errors</h2>\n<ul>\n";
    for (const auto& m : s.models)
      for (const auto& [msg, n] : listed_errors(m))
        o << "<li><code>" << html_escape(m.model) << "</code> x" << n << ": " << html_escape(msg) << "</li>\n";
    o << "</ul>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

Result<Ok> write_reports(const std::filesystem::path& dir, const Summary& s) {
  auto put = [&](const char* name, const std::string& text) -> bool {
    std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    return static_cast<bool>(f);
  };
  if (!put("report.md", render_markdown(s)) || !put("report.html", render_html(s)) ||
      !put("summary.json", json_text(s.to_json(), 2) + "\n"))
    return make_error(Errc::internal, "cannot write the reports into '" + dir.string() + "'");
  return Ok{};
}

}  // namespace fh::swap
