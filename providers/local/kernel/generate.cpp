#include "providers/local/kernel/generate.hpp"

#include <chrono>

namespace fh::kernel {

Expected<GenerateResult> generate(Session& s, Sampler& sampler, std::span<const int32_t> prompt,
                                  const GenerateOptions& opt) {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t0) { return std::chrono::duration<double, std::milli>(clock::now() - t0).count(); };
  GenerateResult r;
  r.prompt_tokens = int(prompt.size());
  s.set_abort(opt.abort);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  const int32_t eos = s.model().vocab().eos;

  // Prompt: one batched evaluation.
  auto t0 = clock::now();
  auto logits = s.eval(prompt);
  r.prompt_ms = ms_since(t0);
  if (!logits) {
    if (logits.error().kind == ErrorKind::aborted) {
      r.stop_reason = "abort";
      return r;
    }
    return logits.error();
  }

  // Decode: sample, report, feed the token back.
  t0 = clock::now();
  r.stop_reason = "length";
  for (int i = 0; i < opt.n_predict; ++i) {
    const int32_t tok = sampler.sample(*logits, history);
    if (opt.stop_at_eos && tok == eos) {
      r.stop_reason = "eos";
      break;
    }
    r.tokens.push_back(tok);
    history.push_back(tok);
    if (opt.on_token && !opt.on_token(tok)) {
      r.stop_reason = "callback";
      break;
    }
    if (i + 1 == opt.n_predict) break;
    if (opt.abort && opt.abort->load()) {
      r.stop_reason = "abort";
      break;
    }
    if (s.n_past() >= s.n_ctx()) {
      r.stop_reason = "context";
      break;
    }
    const int32_t one[1] = {tok};
    const auto te = clock::now();
    logits = s.eval(one);
    r.eval_ms.push_back(ms_since(te));
    if (!logits) {
      if (logits.error().kind != ErrorKind::aborted) return logits.error();
      r.stop_reason = "abort";
      break;
    }
    ++r.decode_evals;
  }
  r.decode_ms = ms_since(t0);
  return r;
}

}  // namespace fh::kernel
