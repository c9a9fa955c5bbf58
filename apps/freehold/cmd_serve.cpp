// `freehold serve [--listen HOST:PORT] [--data-dir DIR] [--config F] [--plans DIR]`
// One io_context thread serves HTTP and runs every plan. SIGTERM/SIGINT: stop accepting, give
// running plans a grace period, then exit; unfinished runs resume at the next start.
#include "apps/freehold/cmd_serve.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "apps/freehold/app.hpp"
#include "providers/router/router.hpp"
#include "runtime/core/json_text.hpp"
#include "runtime/http/daemon.hpp"
#include "tools/builtin.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace fh::app {

namespace {
struct ServeOptions {
  std::string listen = "127.0.0.1:8377", data_dir, config, plans, model, workspace, port_file;
  double grace_s = 10;
};

int fail_serve(const std::string& msg) {
  std::cerr << "freehold serve: " << msg << "\n";
  return 2;
}

std::string default_data_dir() {
  if (const char* h = std::getenv("FREEHOLD_HOME"); h && *h) return h;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/freehold";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/share/freehold";
  return ".freehold";
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

int serve(const ServeOptions& o) {
  auto config = load_config(o.config);
  if (!config) return fail_serve(config.error().message);
  json sc = config->value("serve", json::object());
  if (!sc.is_object()) return fail_serve("config: 'serve' must be an object");

  // --listen HOST:PORT; anything but loopback needs "serve": {"allow_remote": true} in the config.
  std::string listen = o.listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return fail_serve("--listen must be HOST:PORT");
  std::string host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port < 0 || port > 65535) return fail_serve("--listen: bad port");
  bool loopback = host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1";
  if (!loopback && sc.value("allow_remote", false) != true)
    return fail_serve("refusing to listen on " + host + ": only loopback unless the config sets serve.allow_remote");

  api::ProviderRegistry providers;
  register_all_providers(providers);
  providers.set_config(config.value());

  httpd::DaemonOptions d;
  d.data_dir = o.data_dir.empty() ? default_data_dir() : o.data_dir;
  d.plan_dir = !o.plans.empty() ? o.plans : sc.value("plan_dir", "");
  d.default_model = !o.model.empty() ? o.model : config->value("default_model", "mock/echo");
  std::error_code ec;
  d.workspace = fs::absolute(o.workspace.empty() ? "." : o.workspace, ec).string();
  d.security.allowed_origins = strings(sc, "allowed_origins");
  d.security.allowed_hosts = strings(sc, "allowed_hosts");
  d.security.cors = sc.value("cors", false) == true;
  d.models = strings(sc, "models");
  d.idempotent_tools = strings(sc, "idempotent_tools");
  if (d.idempotent_tools.empty()) d.idempotent_tools = {"fs.read", "fs.list", "time.now", "fs.write"};
  // Cron and webhook triggers: a bad entry refuses the start (plans are checked by daemon.open()).
  auto triggers = httpd::parse_triggers(sc.value("triggers", json(nullptr)));
  if (!triggers) return fail_serve("config: serve.triggers: " + triggers.error().message);
  d.triggers = std::move(triggers.value());
  d.budget = provider_router::budget_for_run;  // runs' limits.budget_usd / max_tokens_total

  // Each run gets its own built-in tool host whose `ask` goes to the approvals route.
  json cfg = config.value();
  httpd::ToolHostFactory tools = [cfg](const std::string&, const std::string& workspace,
                                      httpd::ApproveFn approve) -> Result<std::shared_ptr<api::ToolHost>> {
    auto topts = tools::options_from_config(cfg, workspace);
    if (!topts) return topts.error();
    topts->approver = [approve](tools::ApprovalRequest r) -> asio::awaitable<tools::Approval> {
      std::string d = co_await approve(r.call_id, r.tool, r.args, r.reason);
      co_return d == "session" ? tools::Approval::session : d == "once" ? tools::Approval::once : tools::Approval::deny;
    };
    auto host = tools::make_builtin_host(std::move(topts.value()));
    if (!host) return host.error();
    return std::shared_ptr<api::ToolHost>(host.value());
  };

  asio::io_context io(1);
  httpd::Daemon daemon(io.get_executor(), providers, d, tools);
  httpd::ServerOptions so;
  so.host = host;
  so.port = static_cast<uint16_t>(port);
  if (sc.contains("body_limit") && sc["body_limit"].is_number_unsigned()) so.body_limit = sc["body_limit"].get<size_t>();
  httpd::Server server(io.get_executor(), so, daemon.handler());
  if (auto r = server.start(); !r) return fail_serve(r.error().message);
  daemon.set_port(server.port());
  if (auto r = daemon.open(); !r) return fail_serve(r.error().message);
  if (!o.port_file.empty()) {
    std::ofstream pf(o.port_file + ".tmp");
    pf << server.port() << "\n";
    pf.close();
    fs::rename(o.port_file + ".tmp", o.port_file, ec);
  }
  httpd::log_stderr({{"ts", httpd::now_iso()}, {"level", "info"}, {"msg", "serving"}, {"port", server.port()},
                    {"data_dir", d.data_dir}, {"token_file", d.data_dir + "/token"}});

  // Graceful stop: no new connections or runs, streams end, runs get a grace period.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    httpd::log_stderr({{"ts", httpd::now_iso()}, {"level", "info"}, {"msg", "stopping"}, {"signal", sig},
                      {"active_runs", daemon.active_runs()}});
    server.stop();
    daemon.shutdown();
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.grace_s * 1000));
      asio::steady_timer t(io);
      while (daemon.active_runs() > 0 && std::chrono::steady_clock::now() < until) {
        t.expires_after(std::chrono::milliseconds(50));
        co_await t.async_wait(asio::use_awaitable);
      }
      io.stop();  // unfinished runs stay "running" in the index and resume next start
    }, asio::detached);
  });
  io.run();
  return 0;
}

int replay(const std::string& path) {
  // DATA/runs/<id>.jsonl: the blobs are in DATA/blobs.
  std::string data_dir = fs::path(path).parent_path().parent_path().string();
  auto report = httpd::replay_journal(path, data_dir.empty() ? "." : data_dir);
  if (!report) {
    std::cerr << "freehold replay: " << report.error().message << "\n";
    return 2;
  }
  std::cout << json_text(*report, 2) << "\n";
  if (report->value("ok", false)) return 0;
  for (const auto& d : (*report)["diverged"]) std::cerr << "freehold replay: diverged: " << d.get<std::string>() << "\n";
  return 1;
}
}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Run the daemon (HTTP API, OpenAI-compatible gateway)");
  cmd->add_option("--listen", o->listen, "HOST:PORT (default 127.0.0.1:8377; port 0 picks one)");
  cmd->add_option("--data-dir", o->data_dir, "Journals, index and token (default $FREEHOLD_HOME or ~/.local/share/freehold)");
  cmd->add_option("--config", o->config, "Config file (JSON)");
  cmd->add_option("--plans", o->plans, "Folder of named plans (<name>.lua)");
  cmd->add_option("--model", o->model, "Default model of runs");
  cmd->add_option("--workspace", o->workspace, "Default workspace of runs (default: current directory)");
  cmd->add_option("--port-file", o->port_file, "Write the listening port to this file");
  cmd->add_option("--grace", o->grace_s, "Seconds runs get to finish on SIGTERM (default 10)");
  cmd->callback([o, &exit_code] { exit_code = serve(*o); });
}

void add_replay_command(CLI::App& app, int& exit_code) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("replay", "Re-run a finished run offline from its journal; report divergence");
  cmd->add_option("journal", *path, "DATA/runs/<id>.jsonl")->required();
  cmd->callback([path, &exit_code] { exit_code = replay(*path); });
}

}  // namespace fh::app
