#pragma once
#include <CLI/CLI.hpp>

namespace fh::app {
// `freehold swap PLAN.lua --models M1,M2,... [--inputs F.jsonl] [--repeat N] [--concurrency K]
//   [--scorer S.lua] [--out DIR] [--budget-usd X] [--resume] [--config F] [--timeout S]`
// Runs the plan for every (model, input, repeat) cell and writes DIR/results.jsonl, report.md,
// report.html and summary.json. Exit codes: 0 done (cells may have failed), 1 the experiment could
// not finish its files, 2 bad usage, 130 interrupted (finished cells kept; rerun with --resume).
void add_swap_command(CLI::App& app, int& exit_code);
}  // namespace fh::app
