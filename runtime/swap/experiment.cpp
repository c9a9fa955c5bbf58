// The experiment loop: K worker coroutines on one strand pull cells from a queue, run the plan (and
// the scorer) through plan::Run, and append each finished cell to results.jsonl.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <tuple>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "runtime/core/json_text.hpp"
#include "runtime/exec/event.hpp"
#include "runtime/plan/run.hpp"
#include "runtime/swap/swap.hpp"

namespace asio = boost::asio;

namespace fh::swap {

namespace {
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}


// A cell's spend: the plan run plus its scoring run.
double cell_cost(const json& rec) {
  double c = 0;
  for (const char* k : {"cost_usd", "score_cost_usd"})
    if (auto it = rec.find(k); it != rec.end() && it->is_number()) c += it->get<double>();
  return c;
}
}  // namespace

Result<std::vector<InputCase>> parse_inputs(std::string_view text) {
  std::vector<InputCase> out;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    line = trim(line);
    if (line.empty()) continue;
    auto where = "inputs line " + std::to_string(line_no) + ": ";
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) return make_error(Errc::invalid_argument, where + "not valid JSON");
    if (!j.is_object() || !j.contains("input"))
      return make_error(Errc::invalid_argument, where + "expected {\"input\": {...}, \"expected\": ...}");
    InputCase c;
    c.input = j["input"];
    if (auto e = j.find("expected"); e != j.end()) {
      c.has_expected = true;
      c.expected = *e;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) return make_error(Errc::invalid_argument, "the inputs file holds no cases");
  return out;
}

bool defines_score(std::string_view src) {
  size_t pos = 0;
  while (pos < src.size()) {
    size_t nl = src.find('\n', pos);
    std::string_view line = trim(src.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? src.size() : nl + 1;
    for (std::string_view head : {"function score", "score = function", "score=function"}) {
      if (line.substr(0, head.size()) != head) continue;
      std::string_view rest = trim(line.substr(head.size()));
      if (!rest.empty() && rest.front() == '(') return true;
    }
  }
  return false;
}

struct Experiment::State {
  explicit State(const asio::any_io_executor& ex) : all_done(ex) {}
  struct Cell {
    size_t model = 0, input = 0;
    int repeat = 0;
  };
  std::vector<Cell> todo;
  size_t next = 0;
  std::map<std::tuple<std::string, int64_t, int64_t>, json> records;
  std::filesystem::path results_path;
  std::ofstream out;
  bool write_failed = false;
  std::vector<double> cost_sum;
  std::vector<int64_t> cost_n;
  double spent = 0, inflight = 0;
  double all_cost_sum = 0;
  int64_t all_cost_n = 0;
  int64_t new_done = 0;
  Progress prog;
  ProgressFn progress;
  Clock::time_point t0;
  std::map<int64_t, std::shared_ptr<plan::Run>> active;
  int64_t next_id = 0;
  int workers = 0;
  exec::Event all_done;

  double estimate(size_t m) const {
    if (cost_n[m] > 0) return cost_sum[m] / static_cast<double>(cost_n[m]);
    if (all_cost_n > 0) return all_cost_sum / static_cast<double>(all_cost_n);
    return 0;
  }
  void count(size_t m, const json& rec) {
    if (flag(rec, "skipped")) {
      ++prog.skipped;
      return;
    }
    ++prog.done;
    if (!flag(rec, "ok")) ++prog.failed;
    double c = cell_cost(rec);
    spent += c;
    cost_sum[m] += c;
    ++cost_n[m];
    all_cost_sum += c;
    ++all_cost_n;
  }
  void report() {
    prog.spent_usd = spent;
    prog.elapsed_s = ms_since(t0) / 1000.0;
    int64_t left = prog.total - prog.done - prog.skipped;
    prog.eta_s = new_done > 0 ? prog.elapsed_s / static_cast<double>(new_done) * static_cast<double>(left) : -1;
    if (left == 0) prog.eta_s = 0;
    if (progress) progress(prog);
  }
};

Experiment::Experiment(asio::any_io_executor ex, Config cfg)
    : ex_(std::move(ex)), cfg_(std::move(cfg)), state_(std::make_shared<State>(ex_)) {}

Result<std::shared_ptr<Experiment>> Experiment::create(asio::any_io_executor ex, Config cfg) {
  if (!cfg.providers) return make_error(Errc::invalid_argument, "swap: no provider registry");
  if (cfg.models.empty()) return make_error(Errc::invalid_argument, "swap: give at least one model");
  for (const auto& m : cfg.models)
    if (m.empty()) return make_error(Errc::invalid_argument, "swap: empty model name in --models");
  if (cfg.repeat < 1 || cfg.repeat > 100000) return make_error(Errc::invalid_argument, "swap: --repeat must be 1..100000");
  if (cfg.concurrency < 1 || cfg.concurrency > 1024)
    return make_error(Errc::invalid_argument, "swap: --concurrency must be 1..1024");
  if (cfg.budget_usd && !(*cfg.budget_usd >= 0)) return make_error(Errc::invalid_argument, "swap: --budget-usd must be >= 0");
  if (cfg.out_dir.empty()) return make_error(Errc::invalid_argument, "swap: no output folder");
  if (cfg.inputs.empty()) cfg.inputs.push_back(InputCase{});
  {
    std::vector<std::string> seen;
    for (const auto& m : cfg.models) {
      for (const auto& s : seen)
        if (s == m) return make_error(Errc::invalid_argument, "swap: model '" + m + "' is listed twice");
      seen.push_back(m);
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(cfg.out_dir, ec);
  if (ec) return make_error(Errc::invalid_argument, "swap: cannot create '" + cfg.out_dir.string() + "': " + ec.message());

  auto exp = std::shared_ptr<Experiment>(new Experiment(ex, std::move(cfg)));
  auto& st = *exp->state_;
  const Config& c = exp->cfg_;
  st.results_path = c.out_dir / "results.jsonl";
  bool exists = std::filesystem::exists(st.results_path, ec);
  if (exists && !c.resume)
    return make_error(Errc::invalid_argument, "swap: '" + st.results_path.string() +
                                                  "' exists; use --resume to finish it or choose another --out");
  if (exists) {
    auto loaded = load_results(st.results_path);
    if (!loaded) return loaded.error();
    for (auto& r : loaded->records) {
      auto key = std::make_tuple(r["model"].get<std::string>(), r["input_index"].get<int64_t>(), r["repeat"].get<int64_t>());
      st.records[key] = std::move(r);
    }
  }
  st.out.open(st.results_path, std::ios::app | std::ios::binary);
  if (!st.out) return make_error(Errc::invalid_argument, "swap: cannot write '" + st.results_path.string() + "'");
  st.cost_sum.assign(c.models.size(), 0.0);
  st.cost_n.assign(c.models.size(), 0);

  json manifest = {{"plan", c.plan_name}, {"models", c.models}, {"inputs", c.inputs.size()}, {"repeat", c.repeat},
                   {"concurrency", c.concurrency}, {"scorer", c.scorer_source.empty() ? json(nullptr) : json(c.scorer_name)},
                   {"budget_usd", c.budget_usd ? json(*c.budget_usd) : json(nullptr)}};
  std::ofstream mf(c.out_dir / "experiment.json", std::ios::trunc);
  mf << json_text(manifest, 2) << "\n";
  return exp;
}

void Experiment::cancel() {
  cancelled_ = true;
  auto active = state_->active;  // cancel() may finish runs synchronously
  for (auto& [id, run] : active) run->cancel();
}

asio::awaitable<Result<Summary>> Experiment::run(ProgressFn progress) {
  auto self = shared_from_this();
  auto st = state_;
  st->progress = std::move(progress);
  st->t0 = Clock::now();
  const Config& c = cfg_;
  st->prog.total = static_cast<int64_t>(c.models.size() * c.inputs.size()) * c.repeat;
  // Cells interleave models so a budget cut or an interruption leaves every model a fair share.
  for (int r = 0; r < c.repeat; ++r) {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      for (size_t m = 0; m < c.models.size(); ++m) {
        auto it = st->records.find(std::make_tuple(c.models[m], static_cast<int64_t>(i), static_cast<int64_t>(r)));
        if (it != st->records.end() && !flag(it->second, "skipped")) {
          st->count(m, it->second);
        } else {
          st->todo.push_back({m, i, r});
        }
      }
    }
  }
  st->report();
  int k = static_cast<int>(std::min<size_t>(static_cast<size_t>(c.concurrency), st->todo.size()));
  st->workers = k;
  if (k == 0) st->all_done.notify();
  for (int w = 0; w < k; ++w) asio::co_spawn(ex_, worker(st), asio::detached);
  co_await st->all_done.wait();
  st->out.flush();

  std::vector<json> records;
  for (auto& [key, rec] : st->records) records.push_back(rec);
  Summary s = summarize(records, c.models, static_cast<int64_t>(c.inputs.size()), c.repeat,
                        !c.scorer_source.empty(), c.seed);
  s.plan = c.plan_name;
  s.budget_usd = c.budget_usd;
  auto written = write_reports(c.out_dir, s);
  if (!written) co_return written.error();
  if (st->write_failed)
    co_return make_error(Errc::internal, "swap: writing '" + st->results_path.string() + "' failed");
  co_return s;
}

asio::awaitable<void> Experiment::worker(std::shared_ptr<State> st) {
  const Config& c = cfg_;
  while (!cancelled_ && st->next < st->todo.size()) {
    auto cell = st->todo[st->next++];
    const std::string& model = c.models[cell.model];
    double est = st->estimate(cell.model);
    json rec;
    if (c.budget_usd && st->spent + st->inflight + est > *c.budget_usd + 1e-12) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "skipped: budget (spent $%.6f + running $%.6f + this cell ~$%.6f > $%.6f)",
                    st->spent, st->inflight, est, *c.budget_usd);
      rec = {{"model", model}, {"input_index", cell.input}, {"repeat", cell.repeat}, {"ok", false},
             {"skipped", true}, {"status", "skipped"}, {"output", nullptr}, {"error", buf}, {"score", nullptr},
             {"latency_ms", nullptr}, {"ttft_ms", nullptr}, {"usage", nullptr}, {"cost_usd", nullptr},
             {"llm_calls", 0}, {"tool_calls", 0}};
    } else {
      st->inflight += est;
      ++st->prog.running;
      try {
        rec = co_await run_cell(st, cell.model, cell.input, cell.repeat);
      } catch (const std::exception& e) {
        rec = {{"model", model}, {"input_index", cell.input}, {"repeat", cell.repeat}, {"ok", false},
               {"skipped", false}, {"status", "failed"}, {"output", nullptr},
               {"error", std::string("internal error: ") + e.what()}, {"score", nullptr}, {"latency_ms", nullptr},
               {"ttft_ms", nullptr}, {"usage", nullptr}, {"cost_usd", nullptr}, {"llm_calls", 0}, {"tool_calls", 0}};
      }
      st->inflight -= est;
      --st->prog.running;
      // An interrupted cell is not finished: it stays missing for --resume.
      if (cancelled_ && rec.value("status", "") == "cancelled") break;
      ++st->new_done;
    }
    auto key = std::make_tuple(model, static_cast<int64_t>(cell.input), static_cast<int64_t>(cell.repeat));
    st->out << json_text(rec) << '\n';
    st->out.flush();
    if (!st->out) st->write_failed = true;
    st->count(cell.model, rec);
    st->records[key] = std::move(rec);
    st->report();
  }
  if (--st->workers == 0) st->all_done.notify();
}

asio::awaitable<json> Experiment::run_cell(std::shared_ptr<State> st, size_t m, size_t i, int r) {
  const Config& c = cfg_;
  const InputCase& in = c.inputs[i];
  plan::RunRequest req;
  req.source = c.plan_source;
  req.chunk_name = c.plan_name;
  req.input = in.input;
  req.limits = c.limits;
  req.services.providers = c.providers;
  req.services.tools = c.tools;
  req.services.default_model = c.models[m];
  req.services.run_id = "swap-" + std::to_string(m) + "-" + std::to_string(i) + "-" + std::to_string(r);
  req.services.workspace = c.workspace;
  auto t0 = Clock::now();
  std::optional<double> ttft;
  // Time to first token: when the first model answer arrived, minus the part of that call spent
  // after its first token (when the provider reports one).
  req.services.on_event = [&ttft, t0](json ev) {
    if (ttft || ev.value("type", "") != "llm_result") return;
    double at = ms_since(t0);
    const json& res = ev["result"];
    double lat = res.value("latency_ms", 0.0), first = res.value("ttft_ms", 0.0);
    ttft = first > 0 && lat >= first ? std::max(0.0, at - (lat - first)) : at;
  };
  auto run = plan::Run::create(ex_, std::move(req));
  int64_t id = st->next_id++;
  st->active[id] = run;
  plan::RunResult res = co_await run->execute();
  st->active.erase(id);
  double latency = ms_since(t0);

  bool ok = res.status == plan::RunResult::Status::succeeded;
  json rec = {{"model", c.models[m]}, {"input_index", i}, {"repeat", r}, {"ok", ok}, {"skipped", false},
              {"status", std::string(res.status_name())}, {"output", ok ? res.output : json(nullptr)},
              {"error", ok ? json(nullptr) : json(res.message)}, {"score", nullptr},
              {"latency_ms", std::round(latency * 10) / 10}, {"ttft_ms", ttft ? json(std::round(*ttft * 10) / 10) : json(nullptr)},
              {"usage", api::to_json(res.usage)}, {"cost_usd", res.cost_usd ? json(*res.cost_usd) : json(nullptr)},
              {"llm_calls", res.llm_calls}, {"tool_calls", res.tool_calls}};
  if (c.scorer_source.empty()) co_return rec;
  if (!ok) {
    rec["score"] = 0.0;  // no answer scores 0
    co_return rec;
  }
  if (cancelled_) {
    rec["status"] = "cancelled";
    co_return rec;
  }

  plan::RunRequest sreq;
  sreq.source = std::string(kScoreSource);
  sreq.chunk_name = "score.lua";
  json sin = {{"output", res.output}, {"input", in.input}, {"scorer", c.scorer_source},
              {"scorer_name", c.scorer_name}, {"scorer_is_plan", c.scorer_is_plan}};
  if (in.has_expected) sin["expected"] = in.expected;
  sreq.input = std::move(sin);
  sreq.limits = c.limits;
  sreq.services.providers = c.providers;
  sreq.services.default_model = c.models[m];
  sreq.services.run_id = "swap-score-" + std::to_string(m) + "-" + std::to_string(i) + "-" + std::to_string(r);
  sreq.services.workspace = c.workspace;
  auto srun = plan::Run::create(ex_, std::move(sreq));
  id = st->next_id++;
  st->active[id] = srun;
  plan::RunResult sres = co_await srun->execute();
  st->active.erase(id);
  if (sres.status == plan::RunResult::Status::cancelled && cancelled_) {
    rec["status"] = "cancelled";
    co_return rec;
  }
  if (sres.status == plan::RunResult::Status::succeeded && sres.output.is_number()) {
    rec["score"] = sres.output.get<double>();
  } else {
    rec["score_error"] = sres.status == plan::RunResult::Status::succeeded ? "score() returned no number" : sres.message;
  }
  if (sres.cost_usd) rec["score_cost_usd"] = *sres.cost_usd;
  if (sres.llm_calls) rec["score_llm_calls"] = sres.llm_calls;
  co_return rec;
}

}  // namespace fh::swap
