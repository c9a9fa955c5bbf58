// Sampling: greedy, determinism per seed, top-k / top-p / min-p filters, repetition penalty.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "providers/local/kernel/sampler.hpp"

using namespace fh::kernel;

namespace {
const std::vector<float> logits = {1.0f, 3.0f, 2.9f, -1.0f, 0.5f, 2.0f};
SamplerParams params(float temp, int top_k, float top_p, float min_p, uint64_t seed) {
  SamplerParams p;
  p.temperature = temp, p.top_k = top_k, p.top_p = top_p, p.min_p = min_p, p.seed = seed;
  return p;
}
std::map<int32_t, int> histogram(SamplerParams p, int n, std::vector<int32_t> history = {}) {
  Sampler s(p);
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) ++h[s.sample(logits, history)];
  return h;
}
}  // namespace

TEST_CASE("greedy picks the first maximum") {
  Sampler s(SamplerParams{});
  CHECK(s.sample(logits, {}) == 1);
  const std::vector<float> tie = {0.f, 5.f, 5.f};
  CHECK(s.sample(tie, {}) == 1);
}

TEST_CASE("greedy matches std::max_element on long rows, ties, infinities and NaN") {
  std::mt19937 rng(7);
  Sampler s(SamplerParams{});
  for (int n : {1, 7, 8, 9, 63, 64, 65, 1000, 49152}) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = float(int(rng() % 50)) - 40.f;  // many ties
    CHECK(s.sample(v, {}) == int32_t(std::max_element(v.begin(), v.end()) - v.begin()));
    v[size_t(n) / 2] = INFINITY;
    CHECK(s.sample(v, {}) == n / 2);
  }
  const float nan = std::nanf("");
  CHECK(s.sample(std::vector<float>{nan, 1.f, 3.f, nan, 3.f}, {}) == 2);  // NaN never wins
  CHECK(s.sample(std::vector<float>{-INFINITY, -INFINITY}, {}) == 0);
  CHECK(s.sample(std::vector<float>{nan, nan}, {}) == 0);
  // With a repetition penalty greedy still picks the first maximum of the penalised logits.
  SamplerParams pen;
  pen.repeat_penalty = 2.f;
  Sampler sp(pen);
  const std::vector<int32_t> history = {1};
  CHECK(sp.sample(logits, history) == 2);  // 3.0 / 2 = 1.5 < 2.9
}

TEST_CASE("same seed gives the same sequence, another seed another one") {
  auto run = [](uint64_t seed) {
    Sampler s(params(1.0f, 0, 1.f, 0.f, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(logits, {}));
    return out;
  };
  CHECK(run(42) == run(42));
  CHECK(run(42) != run(43));
}

TEST_CASE("top-k, top-p and min-p restrict the candidates") {
  auto k2 = histogram(params(1.0f, 2, 1.f, 0.f, 1), 400);
  CHECK(k2.size() == 2);
  CHECK((k2.count(1) && k2.count(2)));
  auto k1 = histogram(params(5.0f, 1, 1.f, 0.f, 1), 50);
  CHECK((k1.size() == 1 && k1.count(1)));
  // p(1) ~ 0.36, p(2) ~ 0.33: top_p 0.5 keeps exactly those two.
  auto p = histogram(params(1.0f, 0, 0.5f, 0.f, 2), 400);
  CHECK(p.size() == 2);
  // min_p 0.5: keeps logits >= 3 + ln 0.5 = 2.31 -> ids 1 and 2.
  auto m = histogram(params(1.0f, 0, 1.f, 0.5f, 3), 400);
  CHECK(m.size() == 2);
  // A high temperature without filters reaches every token.
  CHECK(histogram(params(100.f, 0, 1.f, 0.f, 4), 2000).size() == logits.size());
}

TEST_CASE("repetition penalty pushes recently seen tokens down") {
  SamplerParams p;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  CHECK(s.sample(logits, std::vector<int32_t>{1}) == 2);        // 3.0/2 < 2.9
  CHECK(s.sample(logits, std::vector<int32_t>{1, 2}) == 5);     // both halved, 2.0 wins
  p.repeat_last_n = 1;
  Sampler s1(p);
  CHECK(s1.sample(logits, std::vector<int32_t>{1, 2}) == 1);    // only the last token counts
}

// (The pool is tiny; its test lives here to keep one test file per small module group.)
#include <atomic>

#include "providers/local/kernel/thread_pool.hpp"

TEST_CASE("thread pool: every item is processed exactly once, also when workers arrive late") {
  fh::kernel::ThreadPool pool(4);  // more threads than cores here: workers are often late
  std::vector<std::atomic<int>> hits(1000);
  for (int round = 0; round < 2000; ++round) {
    const int64_t n = 1 + round % 1000;
    pool.parallel_for(n, 7, [&](int64_t b, int64_t e, int ti) {
      REQUIRE((ti >= 0 && ti < 4));
      for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < n; ++i) REQUIRE(hits[size_t(i)].exchange(0) == 1);
  }
}
