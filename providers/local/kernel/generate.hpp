// generate(): prompt processing plus a decode loop with sampling, a per-token callback, stop
// conditions (length, end of sequence, callback, abort) and timings. The Session's abort flag
// is checked between layers; the loop also checks it between tokens.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "providers/local/kernel/sampler.hpp"
#include "providers/local/kernel/session.hpp"

namespace fh::kernel {

struct GenerateOptions {
  int n_predict = 128;
  bool stop_at_eos = true;
  const std::atomic<bool>* abort = nullptr;
  std::function<bool(int32_t)> on_token;  // return false to stop
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (not the prompt)
  int prompt_tokens = 0;
  int decode_evals = 0;         // single-token forward passes timed in decode_ms
  double prompt_ms = 0, decode_ms = 0;
  std::vector<double> eval_ms;  // time of each single-token forward pass (decode_evals of them)
  std::string stop_reason;      // "length", "eos", "callback", "abort", "context"
};

// Evaluates `prompt` after whatever the session already holds, then samples up to n_predict tokens.
Expected<GenerateResult> generate(Session& s, Sampler& sampler, std::span<const int32_t> prompt,
                                  const GenerateOptions& opt);

}  // namespace fh::kernel
