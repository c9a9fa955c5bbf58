// `freehold run`: stdout carries only the plan's output; logs, progress and errors go to stderr.
// Exit codes: 0 ok, 1 plan failed, 2 bad usage or plan does not compile, 3 limit, 130 cancelled.
#include "apps/freehold/cmd_run.hpp"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <optional>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include "apps/freehold/app.hpp"
#include "runtime/core/json_text.hpp"
#include "runtime/plan/run.hpp"
#include "tools/builtin.hpp"
#include "providers/router/router.hpp"

namespace asio = boost::asio;

namespace fh::app {

namespace {
struct RunOptions {
  std::string plan, model, input, input_file, config, workspace;
  bool json_out = false, trace = false;
  double timeout_s = 0, memory_mb = 64;
  std::optional<provider_router::SpendBudget::Limits> budget;  // from the command line; wins over the config's
};

// Everything the plan or a model produced passes the secrets redactor before it is printed.
void print_event(const json& ev, bool trace, const sandbox::Redactor& red) {
  if (trace) {
    std::cerr << red.scrub(json_text(ev)) << "\n";
    return;
  }
  const std::string type = ev.value("type", "");
  if (type == "log") {
    std::cerr << "[" << ev.value("level", "info") << "] " << red.scrub(ev.value("message", "")) << "\n";
  } else if (type == "emit") {
    std::cerr << "[emit] " << red.scrub(json_text(ev["data"])) << "\n";
  }
}

int run_plan(const RunOptions& o) {
  auto source = read_file(o.plan);
  if (!source) return fail(2, source.error().message);
  json input = json::object();
  if (!o.input.empty() && !o.input_file.empty()) return fail(2, "give --input or --input-file, not both");
  if (!o.input.empty() || !o.input_file.empty()) {
    std::string text = o.input;
    if (!o.input_file.empty()) {
      auto t = read_file(o.input_file);
      if (!t) return fail(2, t.error().message);
      text = t.value();
    }
    input = json::parse(text, nullptr, false);
    if (input.is_discarded()) return fail(2, "--input is not valid JSON");
  }
  auto config = load_config(o.config);
  if (!config) return fail(2, config.error().message);
  if (o.timeout_s < 0 || o.memory_mb < 1 || o.memory_mb > 1 << 20) return fail(2, "--timeout/--memory out of range");
  // The config's budget applies when the command line set none:
  //   {"budget": {"usd": 0.50, "max_tokens_total": 200000, "allow_unknown_prices": false}}
  auto budget = o.budget;
  if (config->contains("budget") && !budget) {
    const json& b = (*config)["budget"];
    if (b.is_object())
      for (const auto& [k, v] : b.items())
        if (k != "usd" && k != "max_tokens_total" && k != "allow_unknown_prices")
          return fail(2, "config: budget." + k + " is unknown (usd, max_tokens_total, allow_unknown_prices)");
    auto l = provider_router::limits_from_json(b);
    if (!l) return fail(2, "config: budget." + l.error().message);
    if (l->usd || l->tokens) budget = l.value();
  }
  api::ProviderRegistry providers;
  register_all_providers(providers);
  providers.set_config(config.value());
  if (budget) providers.set_budget(provider_router::make_budget(std::make_shared<provider_router::SpendBudget>(*budget)));

  plan::RunRequest req;
  req.source = std::move(source.value());
  req.chunk_name = std::filesystem::path(o.plan).filename().string();
  req.input = std::move(input);
  req.limits.memory_bytes = static_cast<size_t>(o.memory_mb * 1024 * 1024);
  req.limits.deadline = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  req.services.providers = &providers;
  req.services.default_model = !o.model.empty() ? o.model : config->value("default_model", "local/default");
  req.services.run_id = "cli";
  std::error_code ec;
  req.services.workspace = std::filesystem::absolute(o.workspace.empty() ? "." : o.workspace, ec).string();
  // Built-in tools (fs.*, shell.exec, http.fetch, time.now) under the user's config only.
  auto tool_opts = tools::options_from_config(config.value(), req.services.workspace);
  if (!tool_opts) return fail(2, "config: " + tool_opts.error().message);
  const auto redactor = make_secret_redactor(config.value());
  tool_opts->redactor = redactor;
  tool_opts->approver = [](tools::ApprovalRequest r) -> asio::awaitable<tools::Approval> {
    // A person at a terminal approves once; without one, `ask` is a refusal.
    if (!isatty(STDIN_FILENO)) co_return tools::Approval::deny;
    std::cerr << "freehold: approve " << r.tool << " " << json_text(r.args) << " (" << r.reason << ")? [y/N] "
              << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    co_return (answer == "y" || answer == "yes") ? tools::Approval::once : tools::Approval::deny;
  };
  auto host = tools::make_builtin_host(std::move(tool_opts.value()));
  std::shared_ptr<api::ToolHost> tool_host;
  if (host) tool_host = host.value();
  else std::cerr << "freehold: built-in tools unavailable: " << host.error().message << "\n";
  req.services.tools = tool_host.get();
  bool trace = o.trace;
  req.services.on_event = [trace, redactor](json ev) { print_event(ev, trace, *redactor); };
  req.services.effect_events = trace;  // without --trace only logs and emits are printed: build no others

  asio::io_context io(1);
  auto strand = asio::make_strand(io);
  auto run = plan::Run::create(strand, std::move(req));

  // Ctrl-C: the first cancels the run gracefully (<close> variables run); the second exits now.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int interrupts = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& e, int) {
    if (e) return;
    if (++interrupts >= 2) _exit(130);
    std::cerr << "freehold: cancelling (Ctrl-C again to exit at once)\n";
    asio::dispatch(strand, [run] { run->cancel(); });
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  plan::RunResult result;
  asio::co_spawn(strand, [&]() -> asio::awaitable<void> {
    result = co_await run->execute();
    signals.cancel();
  }, asio::detached);
  io.run();

  if (result.status == plan::RunResult::Status::succeeded) {
    const json& out = result.output;
    if (o.json_out) std::cout << redactor->scrub(json_text(out)) << "\n";
    else if (out.is_string()) std::cout << redactor->scrub(out.get<std::string>()) << "\n";
    else if (!out.is_null()) std::cout << redactor->scrub(json_text(out, 2)) << "\n";
    return 0;
  }
  switch (result.status) {
    case plan::RunResult::Status::invalid_plan: std::cerr << "freehold: plan does not compile: "; break;
    case plan::RunResult::Status::limit_exceeded: std::cerr << "freehold: limit exceeded: "; break;
    case plan::RunResult::Status::cancelled: std::cerr << "freehold: "; break;
    default: std::cerr << "freehold: plan failed: "; break;
  }
  std::cerr << redactor->scrub(result.message) << "\n";
  if (result.status == plan::RunResult::Status::failed && !result.traceback.empty() && result.traceback != result.message)
    std::cerr << redactor->scrub(result.traceback) << "\n";
  return result.exit_code();
}
}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run a Lua plan");
  cmd->add_option("plan", o->plan, "The plan file (.lua)")->required();
  cmd->add_option("--model", o->model, "Default model for llm.chat (provider/model; default local/default, the model shipped in the repo)");
  cmd->add_option("--input", o->input, "The plan's input as JSON");
  cmd->add_option("--input-file", o->input_file, "Read the input JSON from a file");
  cmd->add_option("--config", o->config, "Config file (JSON)");
  cmd->add_option("--workspace", o->workspace, "Directory tools may touch (default: current)");
  cmd->add_option("--timeout", o->timeout_s, "Wall-clock limit for the whole run, seconds");
  cmd->add_option("--memory", o->memory_mb, "Lua memory limit, MiB (default 64)");
  cmd->add_flag("--json", o->json_out, "Print the output as JSON");
  cmd->add_flag("--trace", o->trace, "Print every run event as a JSON line on stderr");
  // Run budget: every model call reserves its worst case first (providers/router SpendBudget).
  auto limits = std::make_shared<provider_router::SpendBudget::Limits>();
  auto budget_usd = std::make_shared<double>(-1);
  auto max_tokens_total = std::make_shared<int64_t>(-1);
  cmd->add_option("--budget-usd", *budget_usd, "Spending cap for the run's model calls in USD; a call whose worst case does not fit is refused (budget_exceeded)");
  cmd->add_option("--max-tokens-total", *max_tokens_total, "Cap on the run's input + output tokens");
  cmd->add_flag("--allow-unknown-prices", limits->allow_unknown_prices, "Under --budget-usd, let models without a known price run");
  cmd->callback([o, limits, budget_usd, max_tokens_total, &exit_code] {
    if (*budget_usd >= 0) limits->usd = *budget_usd;
    if (*max_tokens_total >= 0) limits->tokens = *max_tokens_total;
    if (limits->usd || limits->tokens) o->budget = *limits;
    exit_code = run_plan(*o);
  });
}

}  // namespace fh::app
