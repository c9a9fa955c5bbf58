// GGUF writer and random-model generator.
#include "providers/local/kernel/gguf_writer.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

namespace fh::kernel {
namespace {

template <class T>
void put(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put(out, uint64_t(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

void GgufWriter::key(const std::string& k, GgufType t) {
  put_string(kv_, k);
  put(kv_, int32_t(t));
  ++n_kv_;
}

void GgufWriter::set_alignment(uint32_t a) {
  alignment_ = a;
  add_u32("general.alignment", a);
}
void GgufWriter::add_u8(const std::string& k, uint8_t v) { key(k, GgufType::u8); put(kv_, v); }
void GgufWriter::add_u32(const std::string& k, uint32_t v) { key(k, GgufType::u32); put(kv_, v); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { key(k, GgufType::i32); put(kv_, v); }
void GgufWriter::add_u64(const std::string& k, uint64_t v) { key(k, GgufType::u64); put(kv_, v); }
void GgufWriter::add_f32(const std::string& k, float v) { key(k, GgufType::f32); put(kv_, v); }
void GgufWriter::add_f64(const std::string& k, double v) { key(k, GgufType::f64); put(kv_, v); }
void GgufWriter::add_bool(const std::string& k, bool v) { key(k, GgufType::boolean); put(kv_, uint8_t(v)); }
void GgufWriter::add_string(const std::string& k, const std::string& v) { key(k, GgufType::string); put_string(kv_, v); }

void GgufWriter::add_string_array(const std::string& k, const std::vector<std::string>& v) {
  key(k, GgufType::array);
  put(kv_, int32_t(GgufType::string));
  put(kv_, uint64_t(v.size()));
  for (const auto& s : v) put_string(kv_, s);
}
void GgufWriter::add_f32_array(const std::string& k, const std::vector<float>& v) {
  key(k, GgufType::array);
  put(kv_, int32_t(GgufType::f32));
  put(kv_, uint64_t(v.size()));
  for (float x : v) put(kv_, x);
}
void GgufWriter::add_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  key(k, GgufType::array);
  put(kv_, int32_t(GgufType::i32));
  put(kv_, uint64_t(v.size()));
  for (int32_t x : v) put(kv_, x);
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, RowFill fill) {
  const TypeTraits& tt = *type_traits(type);
  uint64_t bytes = row_bytes(tt, ne[0]);
  for (size_t d = 1; d < ne.size(); ++d) bytes *= uint64_t(ne[d]);
  tensors_.push_back(Tensor{name, uint32_t(type), std::move(ne), std::move(fill), {}, false, bytes});
}

void GgufWriter::add_raw_tensor(const std::string& name, uint32_t type_code, std::vector<int64_t> ne,
                                std::vector<uint8_t> bytes) {
  const uint64_t n = bytes.size();
  tensors_.push_back(Tensor{name, type_code, std::move(ne), {}, std::move(bytes), true, n});
}

// Streams the whole file to `sink(const uint8_t*, size_t) -> bool`.
template <class F>
bool GgufWriter::emit(F&& sink) const {
  std::vector<uint8_t> h;
  h.insert(h.end(), {'G', 'G', 'U', 'F'});
  put(h, version_);
  put(h, int64_t(tensors_.size()));
  put(h, n_kv_);
  h.insert(h.end(), kv_.begin(), kv_.end());
  uint64_t offset = 0;
  auto pad = [&](uint64_t x) { return (x + alignment_ - 1) / alignment_ * alignment_; };
  for (const Tensor& t : tensors_) {
    put_string(h, t.name);
    put(h, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put(h, d);
    put(h, t.type_code);
    put(h, offset);
    offset = pad(offset + t.bytes);
  }
  h.resize(size_t(pad(h.size())), 0);
  if (!sink(h.data(), h.size())) return false;

  const unsigned n_threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  std::vector<uint8_t> buf;
  for (const Tensor& t : tensors_) {
    if (t.is_raw) {
      buf = t.raw;
    } else {
      // Quantize rows in parallel straight into the tensor's bytes.
      const GgmlType type = GgmlType(t.type_code);
      const size_t rb = row_bytes(*type_traits(type), t.ne[0]);
      int64_t rows = 1;
      for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
      buf.assign(size_t(t.bytes), 0);
      auto work = [&](int64_t r0, int64_t r1) {
        std::vector<float> row(size_t(t.ne[0]));
        for (int64_t r = r0; r < r1; ++r) {
          t.fill(r, row.data());
          ref::quantize_row(type, row.data(), buf.data() + size_t(r) * rb, t.ne[0]);
        }
      };
      if (rows * t.ne[0] < (1 << 20) || n_threads == 1) {
        work(0, rows);
      } else {
        std::vector<std::thread> th;
        for (unsigned k = 0; k < n_threads; ++k)
          th.emplace_back(work, rows * k / n_threads, rows * (k + 1) / n_threads);
        for (auto& x : th) x.join();
      }
    }
    buf.resize(size_t(pad(buf.size())), 0);
    if (!sink(buf.data(), buf.size())) return false;
  }
  return true;
}

Expected<void> GgufWriter::write(const std::string& path) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) return make_error(ErrorKind::io, path + ": cannot create file");
  const bool ok = emit([&](const uint8_t* p, size_t n) { return std::fwrite(p, 1, n, f.get()) == n; });
  if (!ok || std::fflush(f.get()) != 0) return make_error(ErrorKind::io, path + ": write failed");
  return Ok{};
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  emit([&](const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); return true; });
  return out;
}

bool apply_mix(ModelSpec& s, const std::string& mix) {
  auto all = [&](GgmlType t) { s.type = s.type_v_down = s.type_embd = s.type_output = t; };
  if (mix == "F32") all(GgmlType::f32);
  else if (mix == "F16") all(GgmlType::f16);
  else if (mix == "BF16") all(GgmlType::bf16);
  else if (mix == "Q8_0") all(GgmlType::q8_0);
  else if (mix == "Q4_0") all(GgmlType::q4_0);
  else if (mix == "Q4_K") all(GgmlType::q4_k);
  else if (mix == "Q5_K") all(GgmlType::q5_k);
  else if (mix == "Q6_K") all(GgmlType::q6_k);
  else if (mix == "Q4_K_M" || mix == "Q5_K_M") {
    all(mix == "Q4_K_M" ? GgmlType::q4_k : GgmlType::q5_k);
    s.type_v_down = s.type_output = GgmlType::q6_k;
  } else {
    return false;
  }
  return true;
}

GgmlType fit_type(GgmlType want, int64_t row_len) {
  const TypeTraits* tt = type_traits(want);
  if (row_len % tt->block == 0) return want;
  if (want == GgmlType::q4_k) return row_len % 32 == 0 ? GgmlType::q4_0 : GgmlType::f32;
  return row_len % 32 == 0 ? GgmlType::q8_0 : GgmlType::f32;
}

namespace {

uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return x;
}
uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : s) h = (h ^ uint8_t(c)) * 1099511628211ULL;
  return h;
}

// Uniform random values in [center - scale, center + scale], deterministic per (seed, name, row).
GgufWriter::RowFill random_rows(uint64_t seed, const std::string& name, int64_t n, float scale, float center = 0) {
  const uint64_t base = mix64(seed ^ hash_name(name));
  return [=](int64_t row, float* out) {
    uint64_t s = mix64(base + uint64_t(row) * 0x9E3779B97F4A7C15ULL) | 1;
    for (int64_t i = 0; i < n; ++i) {
      s ^= s << 13; s ^= s >> 7; s ^= s << 17;
      out[i] = center + scale * (float(int64_t(s >> 40) - (1 << 23)) / float(1 << 23));
    }
  };
}

}  // namespace

Expected<void> write_random_model(const std::string& path, const ModelSpec& s) {
  if (s.n_head <= 0 || s.n_head_kv <= 0 || s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0)
    return make_error(ErrorKind::invalid_argument, "write_random_model: inconsistent head counts");
  const bool qwen = s.arch == "qwen2";
  const std::string a = s.arch;
  const int hd = s.n_embd / s.n_head;
  GgufWriter w;
  w.add_string("general.architecture", a);
  w.add_string("general.name", s.name);
  w.add_u32(a + ".context_length", uint32_t(s.n_ctx));
  w.add_u32(a + ".embedding_length", uint32_t(s.n_embd));
  w.add_u32(a + ".block_count", uint32_t(s.n_layer));
  w.add_u32(a + ".feed_forward_length", uint32_t(s.n_ff));
  w.add_u32(a + ".attention.head_count", uint32_t(s.n_head));
  w.add_u32(a + ".attention.head_count_kv", uint32_t(s.n_head_kv));
  w.add_u32(a + ".rope.dimension_count", uint32_t(hd));
  w.add_f32(a + ".rope.freq_base", s.rope_base);
  w.add_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  // A toy SentencePiece-style vocabulary: specials, 256 byte tokens, then "▁tN" pieces.
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < s.n_vocab; ++i) {
    char buf[32];
    int type = 1;
    if (i == 0) std::snprintf(buf, sizeof buf, "<unk>"), type = 2;
    else if (i == 1) std::snprintf(buf, sizeof buf, "<s>"), type = 3;
    else if (i == 2) std::snprintf(buf, sizeof buf, "</s>"), type = 3;
    else if (i < 259) std::snprintf(buf, sizeof buf, "<0x%02X>", i - 3), type = 6;
    else std::snprintf(buf, sizeof buf, "\xE2\x96\x81t%d", i);
    tokens.emplace_back(buf);
    scores.push_back(-float(i));
    types.push_back(type);
  }
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_f32_array("tokenizer.ggml.scores", scores);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  w.add_u32("tokenizer.ggml.bos_token_id", 1);
  w.add_u32("tokenizer.ggml.eos_token_id", 2);

  const int64_t E = s.n_embd, V = s.n_vocab, F = s.n_ff, Q = int64_t(s.n_head) * hd, KV = int64_t(s.n_head_kv) * hd;
  auto mat = [&](const std::string& name, GgmlType t, int64_t in, int64_t out) {
    w.add_tensor(name, fit_type(t, in), {in, out}, random_rows(s.seed, name, in, 1.0f / std::sqrt(float(in))));
  };
  auto vec = [&](const std::string& name, int64_t n, float scale, float center) {
    w.add_tensor(name, GgmlType::f32, {n}, random_rows(s.seed, name, n, scale, center));
  };
  w.add_tensor("token_embd.weight", fit_type(s.type_embd, E), {E, V}, random_rows(s.seed, "token_embd.weight", E, 1.0f));
  vec("output_norm.weight", E, 0.1f, 1.0f);
  if (!s.tied) mat("output.weight", s.type_output, E, V);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    vec(p + "attn_norm.weight", E, 0.1f, 1.0f);
    mat(p + "attn_q.weight", s.type, E, Q);
    mat(p + "attn_k.weight", s.type, E, KV);
    mat(p + "attn_v.weight", s.type_v_down, E, KV);
    if (qwen) {
      vec(p + "attn_q.bias", Q, 0.1f, 0.0f);
      vec(p + "attn_k.bias", KV, 0.1f, 0.0f);
      vec(p + "attn_v.bias", KV, 0.1f, 0.0f);
    }
    mat(p + "attn_output.weight", s.type, Q, E);
    vec(p + "ffn_norm.weight", E, 0.1f, 1.0f);
    mat(p + "ffn_gate.weight", s.type, E, F);
    mat(p + "ffn_up.weight", s.type, E, F);
    mat(p + "ffn_down.weight", s.type_v_down, F, E);
  }
  return w.write(path);
}

}  // namespace fh::kernel
