// fh::swap — provider-swap experiments: one plan, many models, one honest report.
//
// An experiment is a grid of cells (model x input x repeat). Each cell is one plan::Run of the plan
// with the model as the run's default model; up to `concurrency` cells run at once on the caller's
// io_context. As each cell finishes, its record is appended to DIR/results.jsonl and flushed, so an
// interrupted experiment keeps its finished cells and `resume` runs only the missing ones.
//
// Scoring (optional) is Lua: a global `score(output, input, expected)`, from the scorer file or from
// the plan itself. It runs as a second, small plan::Run per successful cell (the cell's own run has
// ended by then): the embedded helper library scripts/lib/score.lua loads the scorer text with
// `load` into an environment holding the helpers (exact, contains, numeric, schema_valid, judge).
// When the scorer is the plan, its top-level code runs in that environment with llm/tool/agent/task
// replaced by stubs that stop the chunk, so `score` must be defined before the plan's first model
// call. A cell that failed scores 0 when there is a scorer; a scorer error leaves the score null.
//
// Budget: before a cell starts, its cost is estimated as the mean cost of that model's finished cells
// (the mean over all finished cells while the model has none; 0 before any cell finished); the cell is
// skipped, and recorded with "skipped": true, when spent + running estimates + its estimate exceed
// the budget. Skipped cells count as missing for --resume.
//
// Statistics and reports (stats.cpp, report.cpp) are pure functions of the records.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "runtime/lua/engine.hpp"

namespace fh::swap {

struct InputCase {
  json input = json::object();
  bool has_expected = false;
  json expected;
};

// One line per case: {"input": {...}, "expected": ...}; blank lines are skipped.
Result<std::vector<InputCase>> parse_inputs(std::string_view jsonl);

// True when the Lua text defines a global function `score` (textual check).
bool defines_score(std::string_view lua_source);

struct Config {
  std::string plan_source;
  std::string plan_name = "plan.lua";
  std::vector<std::string> models;
  std::vector<InputCase> inputs;  // empty -> one input {} without expected
  int repeat = 1;
  int concurrency = 1;
  std::string scorer_source;      // empty -> no scoring
  std::string scorer_name = "scorer.lua";
  bool scorer_is_plan = false;    // the scorer text is the plan (stubbed model calls at top level)
  std::filesystem::path out_dir;
  std::optional<double> budget_usd;
  bool resume = false;
  lua::Limits limits;
  const api::ProviderRegistry* providers = nullptr;
  api::ToolHost* tools = nullptr;
  std::string workspace;
  uint64_t seed = 20261127;       // bootstrap seed
};

struct Progress {
  int64_t done = 0, total = 0, failed = 0, skipped = 0, running = 0;
  double spent_usd = 0;
  double elapsed_s = 0;
  double eta_s = -1;  // -1: unknown
};
using ProgressFn = std::function<void(const Progress&)>;

// ---- statistics ----
struct ModelStats {
  std::string model;
  int64_t cells = 0;      // cells that ran (not skipped)
  int64_t ok = 0, failed = 0, skipped = 0;
  double success_rate = 0, success_low = 0, success_high = 0;  // with a 95 % bootstrap interval
  std::optional<double> mean_score, ci_low, ci_high;  // 95 % percentile bootstrap
  int64_t scored = 0;
  int64_t score_errors = 0;
  double latency_p50 = 0, latency_p95 = 0, latency_mean = 0;
  double ttft_p50 = 0;
  std::vector<double> latencies;  // of the cells that ran, sorted
  double input_tokens = 0, cached_tokens = 0, output_tokens = 0, reasoning_tokens = 0;  // per run
  double llm_calls = 0, tool_calls = 0;  // per run
  std::optional<double> cost_per_run;    // mean over cells that reported a cost
  double cost_total = 0;                 // the plan runs' cost
  double scoring_cost_total = 0;         // judge calls in the scorer
  // paired comparison against the first model over inputs both have
  int64_t paired = 0, wins = 0, ties = 0, losses = 0;
  std::map<std::string, int64_t> errors;  // error message -> count
};

struct Summary {
  std::string plan;
  bool scored = false;   // a scorer ran
  std::string compare_metric;  // "score" or "success"
  int64_t inputs = 0, repeat = 0, total_cells = 0;
  double spent_usd = 0;
  std::optional<double> budget_usd;
  std::vector<ModelStats> models;
  json to_json() const;
};

// Percentile with linear interpolation between closest ranks (p in [0, 1]); 0 for an empty set.
double percentile(std::vector<double> v, double p);
// A record's boolean field; false when missing or not a boolean.
bool flag(const json& j, const char* key);
// Mean and 95 % percentile-bootstrap interval over `resamples` draws with a fixed seed.
struct Interval { double mean = 0, low = 0, high = 0; };
Interval bootstrap_mean(const std::vector<double>& v, uint64_t seed, int resamples = 2000);

// Reads results.jsonl; the last record of a cell wins; malformed lines (an interrupted write) are
// skipped and counted.
struct Loaded { std::vector<json> records; int64_t malformed = 0; };
Result<Loaded> load_results(const std::filesystem::path& file);

Summary summarize(const std::vector<json>& records, const std::vector<std::string>& models, int64_t n_inputs,
                  int64_t repeat, bool scored, uint64_t seed);
std::string render_markdown(const Summary& s);
std::string render_html(const Summary& s);
// Writes report.md, report.html and summary.json into dir.
Result<Ok> write_reports(const std::filesystem::path& dir, const Summary& s);

// ---- the experiment ----
class Experiment : public std::enable_shared_from_this<Experiment> {
 public:
  static Result<std::shared_ptr<Experiment>> create(boost::asio::any_io_executor ex, Config cfg);
  // Runs every missing cell, then writes the reports (also after cancel()). Never throws.
  boost::asio::awaitable<Result<Summary>> run(ProgressFn progress = {});
  // Stops starting cells and cancels the running ones; finished cells stay in results.jsonl.
  void cancel();
  bool cancelled() const noexcept { return cancelled_; }

 private:
  struct State;
  Experiment(boost::asio::any_io_executor ex, Config cfg);
  boost::asio::awaitable<void> worker(std::shared_ptr<State> st);
  boost::asio::awaitable<json> run_cell(std::shared_ptr<State> st, size_t model, size_t input, int repeat);

  boost::asio::any_io_executor ex_;
  Config cfg_;
  bool cancelled_ = false;
  std::shared_ptr<State> state_;
};

// The embedded scripts/lib/score.lua (the scoring driver and helpers).
extern const std::string_view kScoreSource;

}  // namespace fh::swap
