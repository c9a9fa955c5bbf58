// freehold — the composition root: the CLI and (later) the daemon.
#include <iostream>

#include <CLI/CLI.hpp>

#include "apps/freehold/app.hpp"
#include "apps/freehold/cmd_chat.hpp"
#include "apps/freehold/cmd_generate.hpp"
#include "apps/freehold/cmd_run.hpp"
#include "apps/freehold/cmd_serve.hpp"
#include "apps/freehold/cmd_swap.hpp"

int main(int argc, char** argv) {
  CLI::App app{"freehold: agent plans in Lua on one event loop, over any model provider"};
  app.require_subcommand(1);
  int exit_code = 0;
  fh::app::add_run_command(app, exit_code);
  fh::api::ProviderRegistry chat_registry;
  fh::app::register_all_providers(chat_registry);
  fh::app::add_chat_command(app, chat_registry, exit_code);
  fh::app::add_generate_command(app, exit_code);
  fh::app::add_swap_command(app, exit_code);
  fh::app::add_serve_command(app, exit_code);
  fh::app::add_replay_command(app, exit_code);

  auto* models = app.add_subcommand("models", "List the provider prefixes this build knows");
  models->callback([&] {
    fh::api::ProviderRegistry reg;
    fh::app::register_all_providers(reg);
    for (const auto& p : reg.prefixes()) std::cout << p << "\n";
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
