// Model loading: hyper-parameters, tensor binding with shape checks, vocabulary.
#include "providers/local/kernel/model.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <system_error>
#include <thread>

namespace fh::kernel {
namespace {

std::string shape_str(const TensorInfo& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < std::max(1u, t.n_dims); ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

struct Loader {
  const GgufFile& f;
  std::string err;

  const TensorInfo* find(const std::string& name, int64_t ne0, int64_t ne1, bool optional = false) {
    if (!err.empty()) return nullptr;
    const TensorInfo* t = f.tensor(name);
    if (!t) {
      if (!optional) err = "missing tensor '" + name + "'";
      return nullptr;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
      err = "tensor '" + name + "' has shape " + shape_str(*t) + ", expected [" + std::to_string(ne0) +
            (ne1 != 1 ? ", " + std::to_string(ne1) : "") + "]";
      return nullptr;
    }
    return t;
  }
  Mat mat(const std::string& name, int64_t in, int64_t out) {
    Mat m;
    if (const TensorInfo* t = find(name, in, out)) {
      m.data = t->data, m.type = t->type, m.in = in, m.out = out;
      m.row_bytes = row_bytes(*type_traits(t->type), in);
    }
    return m;
  }
  std::vector<float> vec(const std::string& name, int64_t n, bool optional = false) {
    std::vector<float> v;
    if (const TensorInfo* t = find(name, n, 1, optional)) {
      v.resize(size_t(n));
      ref::dequantize_row(t->type, t->data, v.data(), n);
    }
    return v;
  }
};

// GPT-2 byte-level BPE maps every byte to a printable code point; this inverts it.
int gpt2_byte(uint32_t cp) {
  auto direct = [](uint32_t b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); };
  if (cp < 256 && direct(cp)) return int(cp);
  uint32_t n = 0;
  for (uint32_t b = 0; b < 256; ++b)
    if (!direct(b)) {
      if (cp == 256 + n) return int(b);
      ++n;
    }
  return -1;
}

}  // namespace

std::string Vocab::piece(int32_t id) const {
  if (id < 0 || size_t(id) >= tokens.size()) return {};
  const std::string& t = tokens[size_t(id)];
  const int type = size_t(id) < types.size() ? types[size_t(id)] : 1;
  if (type == 3 || type == 5) return {};  // control / unused
  if (model == "gpt2") {
    std::string out;
    for (size_t i = 0; i < t.size();) {  // decode UTF-8, map each code point back to a byte
      const uint8_t c = uint8_t(t[i]);
      uint32_t cp = c;
      size_t len = 1;
      if (c >= 0xC0 && c < 0xE0 && i + 1 < t.size()) cp = ((c & 0x1Fu) << 6) | (uint8_t(t[i + 1]) & 0x3Fu), len = 2;
      const int b = gpt2_byte(cp);
      if (b >= 0 && len == 2) out += char(b);
      else if (b >= 0) out += char(b);
      else out.append(t, i, len);
      i += len;
    }
    return out;
  }
  if (type == 6 && t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
    return std::string(1, char(std::stoi(t.substr(3, 2), nullptr, 16)));
  }
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i + 2 < t.size() && uint8_t(t[i]) == 0xE2 && uint8_t(t[i + 1]) == 0x96 && uint8_t(t[i + 2]) == 0x81) {
      out += ' ';
      i += 2;
    } else {
      out += t[i];
    }
  }
  return out;
}

// Quantized matrices with a row count that is a multiple of 4 get an interleaved copy: Q4_0/Q8_0/Q4_K by
// 8 rows when it can (decode and prompt), everything else by 4 (decode). Without memory for the
// copies the model runs from the mapped file alone.
void Model::repack_all(int n_threads) {
  std::vector<Mat*> mats{&output_};
  for (LayerWeights& w : layers_)
    for (Mat* x : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) mats.push_back(x);
  auto packable = [](const Mat& m) {
    return m.data && m.out % 4 == 0 && m.type != GgmlType::f32 && m.type != GgmlType::f16 && m.type != GgmlType::bf16;
  };
  auto bytes = [](const Mat& m) { return (m.row_bytes * size_t(m.out) + 63) / 64 * 64; };
  size_t total = 0;
  for (const Mat* m : mats)
    if (packable(*m)) total += bytes(*m);
  if (total == 0 || !packed_.allocate(total)) return;
  // Lay the copies out, then fill them on every core: the first write to each page of the fresh
  // mapping is a fault the kernel answers by zeroing the page, and on this VM that zeroing, not
  // the interleaving, is most of the load time, so it is spread over the threads too.
  struct Piece {
    Mat* m;
    int64_t r0, r1;
  };
  std::vector<Piece> pieces;
  size_t off = 0;
  for (Mat* m : mats) {
    if (!packable(*m)) continue;
    m->packed = packed_.data() + off;
    off += bytes(*m);
    const bool x8 = m->type == GgmlType::q4_0 || m->type == GgmlType::q8_0 || m->type == GgmlType::q4_k;
    m->packed_rows = x8 && m->out % 8 == 0 ? 8 : 4;
    for (int64_t r = 0; r < m->out; r += 256) pieces.push_back({m, r, std::min(m->out, r + 256)});  // 256 % 8 == 0
  }
  std::atomic<size_t> next{0};
  auto fill = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < pieces.size();) {
      const Piece& p = pieces[i];
      const Mat& m = *p.m;
      for (int64_t r = p.r0; r < p.r1; r += m.packed_rows) {
        const uint8_t* src = m.data + size_t(r) * m.row_bytes;
        uint8_t* dst = const_cast<uint8_t*>(m.packed) + size_t(r) * m.row_bytes;
        if (m.packed_rows == 8) ref::repack_x8(m.type, src, m.row_bytes, dst, m.in);
        else ref::repack_x4(m.type, src, m.row_bytes, dst, m.in);
      }
    }
  };
  const int n = n_threads > 0 ? n_threads : int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> helpers;
  try {
    for (int t = 1; t < n && size_t(t) < pieces.size(); ++t) helpers.emplace_back(fill);
  } catch (const std::system_error&) {  // no more threads: the ones we have finish the work
  }
  fill();
  for (auto& h : helpers) h.join();
}

Expected<std::shared_ptr<const Model>> Model::load(const std::string& path, const LoadOptions& opt) {
  auto file = GgufFile::open(path);
  if (!file) return file.error();
  std::shared_ptr<Model> m(new Model());
  m->file_ = std::move(file.value());
  const GgufFile& f = *m->file_;
  HParams& hp = m->hp_;

  hp.arch = f.get_string("general.architecture");
  if (hp.arch.empty()) return f.error("missing general.architecture");
  if (hp.arch != "llama" && hp.arch != "qwen2")
    return f.error("unsupported architecture '" + hp.arch + "' (supported: llama, qwen2)", ErrorKind::unsupported);
  hp.rope = hp.arch == "qwen2" ? RopeKind::neox : RopeKind::normal;
  const std::string a = hp.arch + ".";

  // Integer hyper-parameters; any integer width is accepted, ranges are checked.
  auto need_int = [&](const std::string& key, int& out, int64_t lo, int64_t hi) -> std::string {
    const MetaValue* v = f.find(key);
    if (v && v->type == GgufType::array) return key + " is a per-layer array (unsupported)";
    int64_t x;
    if (!f.get_int(key, x)) return "missing or non-integer " + key;
    if (x < lo || x > hi) return key + " = " + std::to_string(x) + " is out of range";
    out = int(x);
    return {};
  };
  for (auto [key, out, hi] : {std::tuple{"embedding_length", &hp.n_embd, int64_t(1) << 16},
                              {"block_count", &hp.n_layer, 4096}, {"feed_forward_length", &hp.n_ff, int64_t(1) << 18},
                              {"attention.head_count", &hp.n_head, 1024}, {"context_length", &hp.n_ctx_train, int64_t(1) << 24}}) {
    if (auto e = need_int(a + key, *out, 1, hi); !e.empty()) return f.error(e);
  }
  hp.n_head_kv = hp.n_head;
  if (f.find(a + "attention.head_count_kv"))
    if (auto e = need_int(a + "attention.head_count_kv", hp.n_head_kv, 1, hp.n_head); !e.empty()) return f.error(e);
  if (hp.n_embd % hp.n_head != 0 || hp.n_head % hp.n_head_kv != 0)
    return f.error("head counts do not divide the embedding (" + std::to_string(hp.n_embd) + " / " +
                   std::to_string(hp.n_head) + " heads / " + std::to_string(hp.n_head_kv) + " kv heads)");
  hp.head_dim = hp.n_embd / hp.n_head;
  if (hp.head_dim % 2 != 0) return f.error("head dimension must be even");
  int64_t v;
  for (const char* k : {"rope.dimension_count", "attention.key_length", "attention.value_length"})
    if (f.get_int(a + k, v) && v != hp.head_dim)
      return f.error(a + k + " = " + std::to_string(v) + " differs from the head dimension " +
                     std::to_string(hp.head_dim) + " (unsupported)", ErrorKind::unsupported);
  double d;
  if (!f.get_float(a + "attention.layer_norm_rms_epsilon", d) || !(d > 0 && d < 1))
    return f.error("missing or invalid " + a + "attention.layer_norm_rms_epsilon");
  hp.rms_eps = float(d);
  if (f.get_float(a + "rope.freq_base", d)) {
    if (!(d > 1 && d < 1e12)) return f.error(a + "rope.freq_base is out of range");
    hp.rope_base = float(d);
  }
  const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    if (!f.get_float(a + "rope.scaling.factor", d) || !(d >= 1 && d < 1e6)) return f.error("invalid rope.scaling.factor");
    hp.rope_freq_scale = float(1.0 / d);
  } else if (scaling != "none") {
    return f.error("unsupported rope scaling '" + scaling + "'", ErrorKind::unsupported);
  }

  // Weights. Shapes are ggml ne = [in, out].
  Loader L{f, {}};
  const TensorInfo* embd = f.tensor("token_embd.weight");
  if (!embd) return f.error("missing tensor 'token_embd.weight'");
  hp.n_vocab = int(std::min<int64_t>(embd->ne[1], int64_t(1) << 24));
  const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff, hd = hp.head_dim;
  const int64_t Q = hp.n_head * hd, KV = hp.n_head_kv * hd;
  m->token_embd_ = L.mat("token_embd.weight", E, V);
  m->output_norm_ = L.vec("output_norm.weight", E);
  hp.tied_embeddings = f.tensor("output.weight") == nullptr;
  m->output_ = hp.tied_embeddings ? m->token_embd_ : L.mat("output.weight", E, V);
  if (f.tensor("rope_freqs.weight")) m->rope_factors_ = L.vec("rope_freqs.weight", hd / 2);
  m->layers_.resize(size_t(hp.n_layer));
  for (int l = 0; l < hp.n_layer && L.err.empty(); ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& w = m->layers_[size_t(l)];
    w.attn_norm = L.vec(p + "attn_norm.weight", E);
    w.wq = L.mat(p + "attn_q.weight", E, Q);
    w.wk = L.mat(p + "attn_k.weight", E, KV);
    w.wv = L.mat(p + "attn_v.weight", E, KV);
    w.bq = L.vec(p + "attn_q.bias", Q, true);
    w.bk = L.vec(p + "attn_k.bias", KV, true);
    w.bv = L.vec(p + "attn_v.bias", KV, true);
    w.wo = L.mat(p + "attn_output.weight", Q, E);
    w.ffn_norm = L.vec(p + "ffn_norm.weight", E);
    w.w_gate = L.mat(p + "ffn_gate.weight", E, F);
    w.w_up = L.mat(p + "ffn_up.weight", E, F);
    w.w_down = L.mat(p + "ffn_down.weight", F, E);
  }
  if (!L.err.empty()) return f.error(L.err);
  if (opt.repack) m->repack_all(opt.n_threads);

  // Vocabulary (optional: a model without one can still be driven by token ids).
  Vocab& vb = m->vocab_;
  vb.model = f.get_string("tokenizer.ggml.model");
  if (const MetaValue* t = f.find("tokenizer.ggml.tokens"); t && t->elem_type == GgufType::string) vb.tokens = t->strings;
  if (const MetaValue* t = f.find("tokenizer.ggml.token_type"))
    for (int64_t x : t->ints) vb.types.push_back(int32_t(x));
  if (f.get_int("tokenizer.ggml.bos_token_id", v) && v < V) vb.bos = int32_t(v);
  if (f.get_int("tokenizer.ggml.eos_token_id", v) && v < V) vb.eos = int32_t(v);
  return std::shared_ptr<const Model>(std::move(m));
}

uint64_t Model::weight_bytes_per_token() const {
  auto bytes = [](const Mat& m) { return uint64_t(m.row_bytes) * uint64_t(m.out); };
  uint64_t total = bytes(output_);  // tied: the embedding is read in full as the LM head
  for (const LayerWeights& w : layers_)
    total += bytes(w.wq) + bytes(w.wk) + bytes(w.wv) + bytes(w.wo) + bytes(w.w_gate) + bytes(w.w_up) + bytes(w.w_down);
  return total;
}

}  // namespace fh::kernel
