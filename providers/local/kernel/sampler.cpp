#include "providers/local/kernel/sampler.hpp"

#include <algorithm>
#include <cmath>

namespace fh::kernel {
namespace {

// The first index of the largest value (NaNs never win), as std::max_element but in two
// vectorisable passes: eight running maxima, then the first match. Greedy decoding calls it on
// every token; over a 49 152-entry vocabulary std::max_element's one dependent chain of
// compares took ~2 % of a SmolLM-135M token.
int32_t argmax(std::span<const float> v) {
  constexpr int lanes = 8;
  float m[lanes];
  std::fill(m, m + lanes, -INFINITY);
  size_t i = 0;
  for (; i + lanes <= v.size(); i += lanes)
    for (int k = 0; k < lanes; ++k) m[k] = v[i + k] > m[k] ? v[i + k] : m[k];
  float best = -INFINITY;
  for (; i < v.size(); ++i) best = v[i] > best ? v[i] : best;
  for (int k = 0; k < lanes; ++k) best = m[k] > best ? m[k] : best;
  for (i = 0; i < v.size(); ++i)
    if (v[i] == best) return int32_t(i);
  return 0;
}

}  // namespace

Sampler::Sampler(SamplerParams p) : p_(p), rng_(p.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const int n = int(logits.size());
  const bool penalty = p_.repeat_penalty != 1.f && p_.repeat_last_n > 0;
  if (p_.temperature <= 0.f && !penalty) return argmax(logits);  // greedy, nothing to change: no copy
  logits_.assign(logits.begin(), logits.end());

  // Repetition penalty on tokens seen in the last repeat_last_n of the history.
  if (penalty) {
    const size_t from = history.size() > size_t(p_.repeat_last_n) ? history.size() - size_t(p_.repeat_last_n) : 0;
    cand_.clear();
    for (size_t i = from; i < history.size(); ++i) {
      const int32_t id = history[i];
      if (id < 0 || id >= n) continue;
      if (std::any_of(cand_.begin(), cand_.end(), [&](const Cand& c) { return c.id == id; })) continue;
      cand_.push_back({0, id});
      float& l = logits_[size_t(id)];
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }

  // Greedy: the first index of the maximum.
  if (p_.temperature <= 0.f) return argmax(logits_);

  cand_.resize(size_t(n));
  for (int i = 0; i < n; ++i) cand_[size_t(i)] = {logits_[size_t(i)], i};
  auto by_logit = [](const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  size_t keep = cand_.size();
  if (p_.top_k > 0 && size_t(p_.top_k) < keep) {
    std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
    keep = size_t(p_.top_k);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  cand_.resize(keep);

  // Probabilities at temperature 1 decide top-p and min-p (as llama.cpp's default chain does).
  const float mx = cand_[0].logit;
  double total = 0;
  for (const Cand& c : cand_) total += std::exp(double(c.logit - mx));
  if (p_.min_p > 0.f) {
    // p(c) >= min_p * p(max)  <=>  logit >= mx + log(min_p)
    const float cut = mx + std::log(p_.min_p);
    size_t k = 1;
    while (k < cand_.size() && cand_[k].logit >= cut) ++k;
    cand_.resize(k);
  }
  if (p_.top_p < 1.f) {
    double cum = 0;
    size_t k = 0;
    while (k < cand_.size()) {
      cum += std::exp(double(cand_[k].logit - mx)) / total;
      ++k;
      if (cum >= p_.top_p) break;
    }
    cand_.resize(std::max<size_t>(1, k));
  }

  // Draw from softmax(logit / temperature) over what is left.
  double sum = 0;
  for (Cand& c : cand_) sum += (c.logit = float(std::exp(double(c.logit - mx) / p_.temperature)));
  const double u = double(rng_() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (const Cand& c : cand_) {
    acc += c.logit;
    if (u < acc) return c.id;
  }
  return cand_.back().id;
}

}  // namespace fh::kernel
