// `freehold serve`: the daemon (runtime/http) with this build's providers and built-in tools.
#pragma once

#include <CLI/CLI.hpp>

namespace fh::app {

void add_serve_command(CLI::App& app, int& exit_code);
// `freehold replay JOURNAL`: re-runs a finished run offline from its journal, reports divergence.
void add_replay_command(CLI::App& app, int& exit_code);

}  // namespace fh::app
