#pragma once
#include <CLI/CLI.hpp>

namespace fh::app {
// `freehold run PLAN.lua [--model M] [--input JSON|--input-file F] [--config F] [--json]
//   [--workspace DIR] [--timeout S] [--memory MB] [--trace]`
void add_run_command(CLI::App& app, int& exit_code);
}  // namespace fh::app
