// `freehold swap`: the experiment runs on one io_context; the progress line goes to stderr, the
// paths of the report files to stdout.
#include "apps/freehold/cmd_swap.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include "apps/freehold/app.hpp"
#include "runtime/swap/swap.hpp"

namespace asio = boost::asio;

namespace fh::app {

namespace {
struct SwapOptions {
  std::string plan, inputs, scorer, out = "swap-out", config, workspace;
  std::vector<std::string> models;
  int repeat = 1, concurrency = 4;
  double budget_usd = -1, timeout_s = 0, memory_mb = 64;
  bool resume = false;
};

std::string clock_text(double s) {
  if (s < 0) return "--:--";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

int run_swap(const SwapOptions& o) {
  auto source = read_file(o.plan);
  if (!source) return fail(2, source.error().message);
  if (o.models.empty()) return fail(2, "--models needs at least one model");
  swap::Config cfg;
  cfg.plan_source = source.value();
  cfg.plan_name = std::filesystem::path(o.plan).filename().string();
  cfg.models = o.models;
  if (!o.inputs.empty()) {
    auto text = read_file(o.inputs);
    if (!text) return fail(2, text.error().message);
    auto cases = swap::parse_inputs(text.value());
    if (!cases) return fail(2, o.inputs + ": " + cases.error().message);
    cfg.inputs = std::move(cases.value());
  }
  if (!o.scorer.empty()) {
    auto text = read_file(o.scorer);
    if (!text) return fail(2, text.error().message);
    cfg.scorer_source = text.value();
    cfg.scorer_name = std::filesystem::path(o.scorer).filename().string();
  } else if (swap::defines_score(cfg.plan_source)) {
    cfg.scorer_source = cfg.plan_source;
    cfg.scorer_name = cfg.plan_name;
    cfg.scorer_is_plan = true;
  }
  if (o.timeout_s < 0 || o.memory_mb < 1 || o.memory_mb > 1 << 20) return fail(2, "--timeout/--memory out of range");
  cfg.limits.memory_bytes = static_cast<size_t>(o.memory_mb * 1024 * 1024);
  cfg.limits.deadline = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  cfg.repeat = o.repeat;
  cfg.concurrency = o.concurrency;
  if (o.budget_usd >= 0) cfg.budget_usd = o.budget_usd;
  cfg.resume = o.resume;
  cfg.out_dir = o.out;
  auto config = load_config(o.config);
  if (!config) return fail(2, config.error().message);
  api::ProviderRegistry providers;
  register_all_providers(providers);
  providers.set_config(config.value());
  cfg.providers = &providers;
  std::error_code ec;
  cfg.workspace = std::filesystem::absolute(o.workspace.empty() ? "." : o.workspace, ec).string();

  asio::io_context io(1);
  auto strand = asio::make_strand(io);
  auto created = swap::Experiment::create(strand, std::move(cfg));
  if (!created) return fail(2, created.error().message);
  auto exp = created.value();

  // Ctrl-C: the first stops the experiment (finished cells stay in results.jsonl, the report is
  // written from them); the second exits at once.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int interrupts = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& e, int) {
    if (e) return;
    if (++interrupts >= 2) _exit(130);
    std::cerr << "\nfreehold: stopping the swap; finished cells are kept (rerun with --resume; Ctrl-C again to exit at once)\n";
    asio::dispatch(strand, [exp] { exp->cancel(); });
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  int64_t last_printed = -1;
  auto progress = [&](const swap::Progress& p) {
    int64_t finished = p.done + p.skipped;
    char line[200];
    std::snprintf(line, sizeof line, "swap: %lld/%lld cells, %lld failed, %lld skipped, %lld running, $%.4f spent, ETA %s",
                  static_cast<long long>(finished), static_cast<long long>(p.total), static_cast<long long>(p.failed),
                  static_cast<long long>(p.skipped), static_cast<long long>(p.running), p.spent_usd,
                  clock_text(p.eta_s).c_str());
    if (tty) {
      std::cerr << "\r\033[K" << line << std::flush;
    } else if (finished == p.total || last_printed < 0 || (finished - last_printed) * 10 >= p.total) {
      std::cerr << line << "\n";
      last_printed = finished;
    }
  };

  Result<swap::Summary> result = make_error(Errc::internal, "the swap did not run");
  asio::co_spawn(strand, [&]() -> asio::awaitable<void> {
    result = co_await exp->run(progress);
    signals.cancel();
  }, asio::detached);
  io.run();
  if (tty) std::cerr << "\n";

  if (!result) return fail(1, result.error().message);
  for (const char* f : {"results.jsonl", "report.md", "report.html", "summary.json"})
    std::cout << (std::filesystem::path(o.out) / f).string() << "\n";
  if (exp->cancelled()) {
    std::cerr << "freehold: interrupted; rerun the same command with --resume to run the missing cells\n";
    return 130;
  }
  return 0;
}
}  // namespace

void add_swap_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SwapOptions>();
  auto* cmd = app.add_subcommand("swap", "Run a plan on several models and compare them (provider-swap experiment)");
  cmd->add_option("plan", o->plan, "The plan file (.lua)")->required();
  cmd->add_option("--models", o->models, "Models to compare, comma-separated; the first is the baseline")
      ->delimiter(',')
      ->required();
  cmd->add_option("--inputs", o->inputs, "JSONL file: one {\"input\": {...}, \"expected\": ...} a line");
  cmd->add_option("--repeat", o->repeat, "Runs per (model, input) cell (default 1)");
  cmd->add_option("--concurrency", o->concurrency, "Cells running at once (default 4)");
  cmd->add_option("--scorer", o->scorer, "Lua file defining score(output, input, expected)");
  cmd->add_option("--out", o->out, "Output folder (default swap-out)");
  cmd->add_option("--budget-usd", o->budget_usd, "Cap on the whole experiment's spend; cells that would exceed it are skipped");
  cmd->add_flag("--resume", o->resume, "Continue the experiment in --out: run only the missing cells");
  cmd->add_option("--config", o->config, "Config file (JSON)");
  cmd->add_option("--workspace", o->workspace, "Directory tools may touch (default: current)");
  cmd->add_option("--timeout", o->timeout_s, "Wall-clock limit per run, seconds");
  cmd->add_option("--memory", o->memory_mb, "Lua memory limit per run, MiB (default 64)");
  cmd->callback([o, &exit_code] { exit_code = run_swap(*o); });
}

}  // namespace fh::app
