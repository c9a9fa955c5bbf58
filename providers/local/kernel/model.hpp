// A loaded model: hyper-parameters from GGUF metadata, weight matrices pointing into the mapped
// file, small vectors (norms, biases) copied to F32, and the token vocabulary.
//
// Supported architectures: `llama` (Llama 2/3, TinyLlama, SmolLM, Mistral) and `qwen2` (biases on
// q/k/v, neox rope). Immutable after load; share one Model between many Sessions and threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "providers/local/kernel/expected.hpp"
#include "providers/local/kernel/gguf.hpp"
#include "providers/local/kernel/matmul.hpp"
#include "providers/local/kernel/page_buffer.hpp"

namespace fh::kernel {

enum class RopeKind { normal, neox };  // rotate adjacent pairs / rotate halves

struct HParams {
  std::string arch;
  int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_base = 10000.f;
  float rope_freq_scale = 1.f;  // 1 / linear scaling factor
  RopeKind rope = RopeKind::normal;
  bool tied_embeddings = false;
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;    // [n_embd]
  std::vector<float> bq, bk, bv;             // [n_head*hd], [n_kv*hd], [n_kv*hd]; empty if none
  Mat wq, wk, wv, wo;                        // [n_head*hd, n_embd] ... (rows x cols)
  Mat w_gate, w_up, w_down;                  // [n_ff, n_embd], [n_ff, n_embd], [n_embd, n_ff]
};

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte
  std::string model;           // tokenizer.ggml.model: "llama", "gpt2", ...
  int32_t bos = -1, eos = -1;

  // The text of one token: SentencePiece "▁" becomes a space, "<0xNN>" the byte NN; control
  // tokens give "". Byte-level BPE ("gpt2") pieces are mapped back from their unicode bytes.
  std::string piece(int32_t id) const;
};

struct LoadOptions {
  // Copy quantized matrices into a row-interleaved layout (costs their size in RAM and load
  // time): Q4_0, Q8_0 and Q4_K by 8 rows for decode and prompt, other types by 4 rows for decode (their prompt
  // processing keeps using the mapped file). See Mat::packed.
  bool repack = true;
  int n_threads = 0;  // threads that make the copies; <= 0: all hardware threads
};

class Model {
 public:
  static Expected<std::shared_ptr<const Model>> load(const std::string& path, const LoadOptions& opt = {});

  const HParams& hparams() const { return hp_; }
  const Vocab& vocab() const { return vocab_; }
  const GgufFile& file() const { return *file_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  const Mat& token_embd() const { return token_embd_; }
  const Mat& output() const { return output_; }  // token_embd when tied
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<float>& rope_freq_factors() const { return rope_factors_; }  // empty or [hd/2]
  // Bytes of weight matrices read per decoded token (the memory roofline's denominator).
  uint64_t weight_bytes_per_token() const;

 private:
  Model() = default;
  std::shared_ptr<GgufFile> file_;
  HParams hp_;
  Vocab vocab_;
  Mat token_embd_, output_;
  std::vector<float> output_norm_, rope_factors_;
  std::vector<LayerWeights> layers_;
  // The interleaved copies (Mat::packed), all in one buffer on huge pages: decode streams it once
  // per token, and 4 KiB pages cost a TLB miss (and a hardware-prefetch stop) every 4 KiB.
  PageBuffer packed_;
  void repack_all(int n_threads);
};

}  // namespace fh::kernel
