// A Session evaluates tokens against one Model: it owns the KV cache, the worker pool and the
// scratch buffers. eval() appends a batch of tokens (prompt processing runs the whole batch as
// matrix-matrix work; decoding passes one token) and returns the logits of the last one.
//
// One thread drives a Session at a time. Cancellation: set the abort flag (any thread); eval()
// checks it between layers and returns ErrorKind::aborted, leaving the cache at its old length.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "providers/local/kernel/model.hpp"
#include "providers/local/kernel/thread_pool.hpp"

namespace fh::kernel {

struct SessionOptions {
  int n_ctx = 0;       // KV cache length; 0: the model's training context, capped at 4096
  int n_threads = 0;   // 0: all cores
  int n_batch = 512;   // tokens per forward pass during prompt processing
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, SessionOptions opt = {});

  // Runs `tokens` at positions n_past()..; returns the last token's logits [n_vocab], valid until
  // the next call. Errors: invalid token id, context full, aborted.
  Expected<std::span<const float>> eval(std::span<const int32_t> tokens);

  int n_past() const { return n_past_; }
  int n_ctx() const { return n_ctx_; }
  // Keeps the first n positions of the cache (prefix reuse); reset() empties it.
  void truncate(int n) { n_past_ = std::max(0, std::min(n, n_past_)); }
  void reset() { n_past_ = 0; }
  void set_abort(const std::atomic<bool>* flag) { abort_ = flag; }
  const Model& model() const { return *model_; }
  int n_threads() const { return pool_.size(); }

 private:
  bool forward(const int32_t* tokens, int T);  // false when aborted

  std::shared_ptr<const Model> model_;
  int n_ctx_ = 0, n_batch_ = 0, n_past_ = 0;
  const std::atomic<bool>* abort_ = nullptr;
  ThreadPool pool_;
  Scratch scratch_;
  // F16. K in the attention kernels' blocked layout (kt_index: blocks of kv_block positions,
  // each hd rows of kv_block): [n_layer][n_kv][ctx_pad_ / kv_block][hd][kv_block], so one kv
  // head's keys are one stream; V as [n_layer][n_kv][n_ctx][hd], so are its values. On huge
  // pages: decode touches every layer's cache on every token.
  PageBuffer k_cache_, v_cache_;
  uint16_t* k_cache() const { return reinterpret_cast<uint16_t*>(k_cache_.data()); }
  uint16_t* v_cache() const { return reinterpret_cast<uint16_t*>(v_cache_.data()); }
  size_t ctx_pad_ = 0;  // n_ctx rounded up to kv_block: positions per kv head in K, score row length
  std::vector<float> inv_freq_;            // [hd/2]
  // Activations for a batch of up to n_batch tokens.
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, logits_, rope_cos_, rope_sin_, scores_;
};

}  // namespace fh::kernel
