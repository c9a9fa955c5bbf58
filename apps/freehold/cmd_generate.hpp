#pragma once
#include <CLI/CLI.hpp>

namespace fh::app {
// `freehold generate --model local/F.gguf [--prompt P | --tokens 1,2,3] [-n N] [--temp T]
//   [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--threads T] [--json]`
// Raw local generation with the in-process kernel (no chat template). --json prints
// {"text", "tokens", "prompt_tokens", "generated_tokens", "prompt_tokens_per_s",
//  "decode_tokens_per_s", "load_ms"}.
void add_generate_command(CLI::App& app, int& exit_code);
}  // namespace fh::app
