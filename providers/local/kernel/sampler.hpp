// Token sampling from logits: repetition penalty, then greedy (temperature <= 0) or top-k,
// top-p and min-p filtering followed by a temperature-scaled draw. Same seed, same logits,
// same history: same token, on every platform (own uniform from a fixed-algorithm engine).
//
// Not thread-safe; one Sampler per generation stream. No allocation after the first call.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace fh::kernel {

struct SamplerParams {
  float temperature = 0.f;      // <= 0: greedy
  int top_k = 0;                // <= 0: off
  float top_p = 1.f;            // >= 1: off
  float min_p = 0.f;            // <= 0: off
  float repeat_penalty = 1.f;   // 1: off
  int repeat_last_n = 64;       // tokens of history the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplerParams p = {});
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  const SamplerParams& params() const { return p_; }

 private:
  struct Cand { float logit; int32_t id; };
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::vector<Cand> cand_;
  std::vector<float> logits_;
};

}  // namespace fh::kernel
