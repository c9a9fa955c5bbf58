// GGUF writer, for tests and benchmarks: metadata of every type, tensors of every supported
// type, and write_random_model(), which makes a llama/qwen2 model of any shape with random
// weights so that no test needs a download. Tensor data is produced by a callback at write time,
// so a 1B-parameter model never sits in memory as floats.
//
// Std-only. Not thread-safe; one writer per file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "providers/local/kernel/expected.hpp"
#include "providers/local/kernel/gguf.hpp"
#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {

class GgufWriter {
 public:
  void set_version(uint32_t v) { version_ = v; }
  void set_alignment(uint32_t a);  // also writes general.alignment

  void add_u8(const std::string& key, uint8_t v);
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_u64(const std::string& key, uint64_t v);
  void add_f32(const std::string& key, float v);
  void add_f64(const std::string& key, double v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  void add_f32_array(const std::string& key, const std::vector<float>& v);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v);

  // `fill(row_index, floats)` produces each row of ne[0] floats; the writer quantizes to `type`.
  using RowFill = std::function<void(int64_t row, float* out)>;
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, RowFill fill);
  // Raw, already-encoded bytes (for hostile-file tests: `ne`/`type` are written as given).
  void add_raw_tensor(const std::string& name, uint32_t type_code, std::vector<int64_t> ne,
                      std::vector<uint8_t> bytes);

  Expected<void> write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

 private:
  struct Tensor {
    std::string name;
    uint32_t type_code;
    std::vector<int64_t> ne;
    RowFill fill;
    std::vector<uint8_t> raw;
    bool is_raw = false;
    uint64_t bytes = 0;
  };
  void key(const std::string& k, GgufType t);
  template <class F>
  bool emit(F&& sink) const;

  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  int64_t n_kv_ = 0;
  std::vector<uint8_t> kv_;
  std::vector<Tensor> tensors_;
};

// Shape and types of a random-weight model.
struct ModelSpec {
  std::string arch = "llama";  // "llama" or "qwen2" (q/k/v biases, neox rope)
  int n_vocab = 320, n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 128, n_ctx = 256;
  float rope_base = 10000.f, rms_eps = 1e-5f;
  GgmlType type = GgmlType::f32;          // q, k, o, gate, up
  GgmlType type_v_down = GgmlType::f32;   // v and down (Q6_K in a Q4_K_M mix)
  GgmlType type_embd = GgmlType::f32;
  GgmlType type_output = GgmlType::f32;
  bool tied = false;                      // no output.weight: the LM head is token_embd
  uint64_t seed = 1;
  std::string name = "random";
};

// Sets every matrix type from a llama.cpp-style mix name: "F32", "F16", "BF16", "Q8_0", "Q4_0",
// "Q4_K_M" (Q4_K, with v/down/output in Q6_K), "Q5_K_M" (Q5_K + Q6_K), "Q4_K", "Q5_K", "Q6_K".
// Returns false for an unknown name.
bool apply_mix(ModelSpec& spec, const std::string& mix);

// A type usable for rows of `row_len` elements: K-quants fall back to Q4_0 / Q8_0 when the row
// is not a multiple of 256 (as llama.cpp falls back for such shapes).
GgmlType fit_type(GgmlType want, int64_t row_len);

Expected<void> write_random_model(const std::string& path, const ModelSpec& spec);

}  // namespace fh::kernel
