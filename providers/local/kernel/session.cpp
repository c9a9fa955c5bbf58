// The forward pass of llama / qwen2, top to bottom. Shapes are [tokens, features] row-major;
// T = tokens in this batch, E = n_embd, H = n_head, Hkv = n_head_kv, hd = head_dim,
// Q = H*hd, KV = Hkv*hd, F = n_ff, V = n_vocab, p0 = n_past (position of the first token).
#include "providers/local/kernel/session.hpp"

#include <algorithm>
#include <cmath>
#include <new>

namespace fh::kernel {
namespace {

// y[i] = x[i] / sqrt(mean(x²) + eps) * w[i]   for one row of n values
void rms_norm(const float* x, const float* w, float* y, int n, float eps) {
  // Four partial sums: one chain of dependent double adds was ~0.8 us per SmolLM row.
  double part[4] = {0, 0, 0, 0};
  int i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) part[k] += double(x[i + k]) * x[i + k];
  for (; i < n; ++i) part[0] += double(x[i]) * x[i];
  const double ss = (part[0] + part[1]) + (part[2] + part[3]);
  const float scale = float(1.0 / std::sqrt(ss / n + eps));
  for (i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

// Rotates one head vector of hd values in place with precomputed cos/sin [hd/2].
void rope(float* v, int hd, const float* cs, const float* sn, RopeKind kind) {
  const int half = hd / 2;
  for (int i = 0; i < half; ++i) {
    const int a = kind == RopeKind::normal ? 2 * i : i;
    const int b = kind == RopeKind::normal ? 2 * i + 1 : i + half;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * cs[i] - x1 * sn[i];
    v[b] = x0 * sn[i] + x1 * cs[i];
  }
}

// Decode reads a layer's cache from DRAM: the weights streamed since the last token evicted it,
// and with one query per head attention is bound by the latency of those misses. Asking for the
// lines before the layer's norm and QKV product overlaps that latency with bandwidth-bound work.
// Up to `budget` bytes, the start of each kv head's keys (through position p, whose block the
// new key is written to) and values (positions before p); the attention kernels' own prefetch
// takes over beyond.
void prefetch_cache(const uint16_t* kc, size_t k_head, const uint16_t* vc, size_t v_head, int Hkv, int hd, int p,
                    size_t budget) {
  const size_t per = budget / 2 / size_t(Hkv);
  const size_t k_bytes = std::min(size_t(p / kv_block + 1) * size_t(hd) * kv_block * 2, per);
  const size_t v_bytes = std::min(size_t(p) * size_t(hd) * 2, per);
  for (int h = 0; h < Hkv; ++h) {
    const char* keys = reinterpret_cast<const char*>(kc + size_t(h) * k_head);
    const char* values = reinterpret_cast<const char*>(vc + size_t(h) * v_head);
    for (size_t o = 0; o < k_bytes; o += 64) __builtin_prefetch(keys + o);
    for (size_t o = 0; o < v_bytes; o += 64) __builtin_prefetch(values + o);
  }
}

}  // namespace

Session::Session(std::shared_ptr<const Model> model, SessionOptions opt)
    : model_(std::move(model)), pool_(opt.n_threads) {
  const HParams& hp = model_->hparams();
  n_ctx_ = opt.n_ctx > 0 ? opt.n_ctx : std::min(hp.n_ctx_train, 4096);
  n_batch_ = std::max(1, std::min(opt.n_batch, n_ctx_));
  const size_t KV = size_t(hp.n_head_kv) * size_t(hp.head_dim), B = size_t(n_batch_);
  ctx_pad_ = (size_t(n_ctx_) + kv_block - 1) / kv_block * kv_block;
  const size_t k_bytes = size_t(hp.n_layer) * KV * ctx_pad_ * 2, v_bytes = size_t(hp.n_layer) * size_t(n_ctx_) * KV * 2;
  if (!k_cache_.allocate(k_bytes, true) || !v_cache_.allocate(v_bytes, true)) throw std::bad_alloc();
  const size_t E = size_t(hp.n_embd), Q = size_t(hp.n_head) * size_t(hp.head_dim), F = size_t(hp.n_ff);
  x_.resize(B * E), xn_.resize(B * E), q_.resize(B * Q), k_.resize(B * KV), v_.resize(B * KV);
  att_.resize(B * std::max(Q, E)), gate_.resize(B * F), up_.resize(B * F);
  logits_.resize(size_t(hp.n_vocab));
  rope_cos_.resize(B * size_t(hp.head_dim / 2)), rope_sin_.resize(rope_cos_.size());
  scores_.resize(size_t(pool_.size()) * attn_tile * ctx_pad_);
  // theta_i = pos * base^(-2i/hd) * freq_scale / factor_i
  const auto& factors = model_->rope_freq_factors();
  for (int i = 0; i < hp.head_dim / 2; ++i) {
    double f = std::pow(double(hp.rope_base), -2.0 * i / hp.head_dim) * hp.rope_freq_scale;
    if (!factors.empty()) f /= factors[size_t(i)];
    inv_freq_.push_back(float(f));
  }
}

Expected<std::span<const float>> Session::eval(std::span<const int32_t> tokens) {
  const int V = model_->hparams().n_vocab;
  if (tokens.empty()) return make_error(ErrorKind::invalid_argument, "eval: no tokens");
  for (int32_t t : tokens)
    if (t < 0 || t >= V)
      return make_error(ErrorKind::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
  if (tokens.size() > size_t(n_ctx_ - n_past_))
    return make_error(ErrorKind::out_of_context, "context full: " + std::to_string(n_past_) + " + " +
                                                     std::to_string(tokens.size()) + " tokens > n_ctx " + std::to_string(n_ctx_));
  const int start = n_past_;
  for (size_t i = 0; i < tokens.size(); i += size_t(n_batch_)) {
    const int T = int(std::min(tokens.size() - i, size_t(n_batch_)));
    if (!forward(tokens.data() + i, T)) {
      n_past_ = start;
      return make_error(ErrorKind::aborted, "evaluation aborted");
    }
    n_past_ += T;
  }
  return std::span<const float>(logits_.data(), size_t(V));
}

bool Session::forward(const int32_t* tokens, int T) {
  const Model& m = *model_;
  const HParams& hp = m.hparams();
  const int E = hp.n_embd, H = hp.n_head, Hkv = hp.n_head_kv, hd = hp.head_dim, F = hp.n_ff;
  const int Q = H * hd, KV = Hkv * hd, p0 = n_past_, group = H / Hkv;
  const float att_scale = 1.0f / std::sqrt(float(hd));
  const Kernels& kern = kernels();

  // x[T, E] = token_embd rows (dequantized)
  for (int t = 0; t < T; ++t) {
    const Mat& e = m.token_embd();
    kern.dequantize[int(e.type)](e.data + size_t(tokens[t]) * e.row_bytes, &x_[size_t(t) * E], E);
  }
  // cos/sin[T, hd/2] for positions p0 .. p0+T-1
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < hd / 2; ++i) {
      const float theta = float(p0 + t) * inv_freq_[size_t(i)];
      rope_cos_[size_t(t) * (hd / 2) + i] = std::cos(theta);
      rope_sin_[size_t(t) * (hd / 2) + i] = std::sin(theta);
    }
  // Runs fn(t) for every token, split over the pool when the batch is large.
  auto per_token = [&](auto&& fn) {
    if (T < 4 || int64_t(T) * E < (1 << 16)) {
      for (int t = 0; t < T; ++t) fn(t);
    } else {
      pool_.parallel_for(T, 1, [&](int64_t t0, int64_t t1, int) { for (int64_t t = t0; t < t1; ++t) fn(int(t)); });
    }
  };

  // Decode: each product's run() installs, for the threads that finish their share early and
  // for the waiting worker while thread 0 runs the serial steps that follow (norm, rope,
  // attention's tail, silu, residuals), a hint at the start of every thread's share of the
  // NEXT product's weights (ThreadPool::hint_on_next_run), so memory keeps streaming across
  // the hand-off. Given after the product, 32 KiB per share gave SmolLM Q4_0 / Q4_K_M decode
  // +1.5-3 % (24 paired rounds; 16 KiB less, 64 and 128 KiB no more). Given at the product's
  // start, the waits are longer: 64 KiB +1.6 / -0.3 / +3.5 % over 32 KiB (SmolLM Q4_0, Q4_K_M,
  // Q4_0; 20 in-process pairs each), 128 KiB no more than 64.
  constexpr size_t hint_bytes = size_t(64) << 10;
  auto hint_next = [&](const MatJob* jobs, int n) {
    if (T != 1) return;
    ThreadPool::Range r[ThreadPool::max_hint_ranges];
    pool_.hint_on_next_run(r, matmul_hint(pool_, jobs, n, 1, hint_bytes, r, ThreadPool::max_hint_ranges));
  };
  auto qkv_of = [&](int l, MatJob* out) {
    const LayerWeights& w = m.layers()[size_t(l)];
    out[0] = {&w.wq, q_.data()}, out[1] = {&w.wk, k_.data()}, out[2] = {&w.wv, v_.data()};
  };

  for (int l = 0; l < hp.n_layer; ++l) {
    if (abort_ && abort_->load(std::memory_order_relaxed)) return false;
    const LayerWeights& w = m.layers()[size_t(l)];
    const size_t k_head = size_t(hd) * ctx_pad_;  // one kv head's keys: ctx_pad_ / kv_block blocks
    uint16_t* kc = k_cache() + size_t(l) * size_t(Hkv) * k_head;  // [Hkv][blocks][hd][kv_block] F16
    const size_t v_head = size_t(n_ctx_) * size_t(hd);  // one kv head's values: [n_ctx][hd]
    uint16_t* vc = v_cache() + size_t(l) * size_t(Hkv) * v_head;  // [Hkv][n_ctx][hd] F16

    if (T == 1) prefetch_cache(kc, k_head, vc, v_head, Hkv, hd, p0, size_t(64) << 10);

    // xn[T, E] = RMSNorm(x) * attn_norm
    per_token([&](int t) { rms_norm(&x_[size_t(t) * E], w.attn_norm.data(), &xn_[size_t(t) * E], E, hp.rms_eps); });

    // q[T, Q] = xn·Wqᵀ (+bq); k[T, KV] = xn·Wkᵀ (+bk); v[T, KV] = xn·Wvᵀ (+bv)
    MatJob qkv[3];
    qkv_of(l, qkv);
    const MatJob wo{&w.wo, xn_.data()}, down{&w.w_down, xn_.data()};
    const MatJob gu[2] = {{&w.w_gate, gate_.data()}, {&w.w_up, up_.data()}};
    hint_next(&wo, 1);
    matmul(pool_, qkv, 3, xn_.data(), T, scratch_);
    for (int t = 0; t < T; ++t) {
      for (int i = 0; i < Q && !w.bq.empty(); ++i) q_[size_t(t) * Q + i] += w.bq[size_t(i)];
      for (int i = 0; i < KV && !w.bk.empty(); ++i) k_[size_t(t) * KV + i] += w.bk[size_t(i)];
      for (int i = 0; i < KV && !w.bv.empty(); ++i) v_[size_t(t) * KV + i] += w.bv[size_t(i)];
    }

    // RoPE on every q head [hd] and k head [hd] at position p0+t; k, v go into the cache as F16
    // (half the bytes attention reads, as llama.cpp's default cache; the scores and values
    // kernels widen them back to F32).
    for (int t = 0; t < T; ++t) {
      const float* cs = &rope_cos_[size_t(t) * (hd / 2)];
      const float* sn = &rope_sin_[size_t(t) * (hd / 2)];
      for (int h = 0; h < H; ++h) rope(&q_[size_t(t) * Q + size_t(h) * hd], hd, cs, sn, hp.rope);
      for (int h = 0; h < Hkv; ++h) rope(&k_[size_t(t) * KV + size_t(h) * hd], hd, cs, sn, hp.rope);
      // k row -> F16 (vectorised, one head at a time), then element d into row d of its block
      for (int h = 0; h < Hkv; ++h) {
        uint16_t kh[256];
        uint16_t* keys = kc + size_t(h) * k_head;
        for (int d0 = 0; d0 < hd; d0 += 256) {
          const int n = std::min(256, hd - d0);
          kern.quantize[int(GgmlType::f16)](&k_[size_t(t) * KV + size_t(h) * hd + size_t(d0)], kh, n);
          for (int d = 0; d < n; ++d) keys[kt_index(hd, d0 + d, p0 + t)] = kh[d];
        }
      }
      for (int h = 0; h < Hkv; ++h)
        kern.quantize[int(GgmlType::f16)](&v_[size_t(t) * KV + size_t(h) * hd], &vc[size_t(h) * v_head + size_t(p0 + t) * hd], hd);
    }

    // att[T, Q]: for each token t and head h (kv head h/group), causal softmax attention over
    // positions 0 .. p0+t: softmax(q·kᵀ / sqrt(hd)) · v. The queries of one kv head, in the
    // order (t, h), are taken attn_tile at a time: they share every key and value load. A
    // query's results do not depend on the tile it is in (batched == token by token).
    // Fewer queries per tile when that is what gives every thread two items (decode on a model
    // with few kv heads: SmolLM has 3 kv heads x 3 queries, one 4-query tile per kv head).
    const int per_kv = T * group;
    int tq = attn_tile;
    while (tq > 1 && int64_t(Hkv) * ((per_kv + tq - 1) / tq) < 2 * pool_.size()) tq /= 2;
    const int tiles = (per_kv + tq - 1) / tq;
    auto attend = [&](int64_t i0, int64_t i1, int ti) {
      float* sc = &scores_[size_t(ti) * attn_tile * ctx_pad_];
      for (int64_t item = i0; item < i1; ++item) {
        const int kvh = int(item / tiles), first = int(item % tiles) * tq;
        const int nq = std::min(tq, per_kv - first);
        const float* qp[attn_tile] = {};
        float* op[attn_tile] = {};
        int n_pos[attn_tile] = {};
        for (int i = 0; i < nq; ++i) {
          const int t = (first + i) / group, h = kvh * group + (first + i) % group;
          qp[i] = &q_[size_t(t) * Q + size_t(h) * hd];
          op[i] = &att_[size_t(t) * Q + size_t(h) * hd];
          n_pos[i] = p0 + t + 1;
        }
        const int n_max = n_pos[nq - 1];
        kern.attn_scores(hd, nq, qp, kc + size_t(kvh) * k_head, n_max, att_scale, sc, ctx_pad_);
        for (int i = 0; i < nq; ++i) {
          float* si = sc + size_t(i) * ctx_pad_;
          kern.softmax(si, n_pos[i]);
          std::fill(si + n_pos[i], si + n_max, 0.f);  // causal: later positions weigh nothing
        }
        kern.attn_values(hd, nq, sc, ctx_pad_, vc + size_t(kvh) * v_head, size_t(hd), n_max, op);
      }
    };
    // Split over the pool from about 16K multiply-adds: in decode the cache rows come from DRAM
    // (the weights streamed since the last token evicted them), so attention is bound by memory
    // latency, and two threads issue twice the misses.
    const int64_t att_work = int64_t(T) * H * (p0 + T) * hd;
    if (att_work < (1 << 14)) attend(0, int64_t(Hkv) * tiles, 0);
    else pool_.parallel_for(int64_t(Hkv) * tiles, 1, attend);

    // x[T, E] += att·Woᵀ
    hint_next(gu, 2);
    matmul(pool_, &wo, 1, att_.data(), T, scratch_);
    for (size_t i = 0; i < size_t(T) * E; ++i) x_[i] += xn_[i];

    // xn[T, E] = RMSNorm(x) * ffn_norm
    per_token([&](int t) { rms_norm(&x_[size_t(t) * E], w.ffn_norm.data(), &xn_[size_t(t) * E], E, hp.rms_eps); });

    // gate[T, F] = xn·Wgateᵀ, up[T, F] = xn·Wupᵀ; gate = silu(gate) * up
    hint_next(&down, 1);
    matmul(pool_, gu, 2, xn_.data(), T, scratch_);
    per_token([&](int t) { kern.silu_mul(F, &gate_[size_t(t) * F], &up_[size_t(t) * F]); });

    // x[T, E] += gate·Wdownᵀ
    if (l + 1 < hp.n_layer) {
      MatJob next[3];
      qkv_of(l + 1, next);
      hint_next(next, 3);
    } else {
      const MatJob out{&m.output(), logits_.data()};
      hint_next(&out, 1);
    }
    matmul(pool_, &down, 1, gate_.data(), T, scratch_);
    for (size_t i = 0; i < size_t(T) * E; ++i) x_[i] += xn_[i];
  }
  if (abort_ && abort_->load(std::memory_order_relaxed)) return false;

  // logits[V] = RMSNorm(x[T-1]) * output_norm · Woutputᵀ   (last token only)
  rms_norm(&x_[size_t(T - 1) * E], m.output_norm().data(), xn_.data(), E, hp.rms_eps);
  MatJob first[3];  // the next token starts with layer 0's products
  qkv_of(0, first);
  hint_next(first, 3);
  matmul(pool_, m.output(), xn_.data(), 1, logits_.data(), scratch_);
  return true;
}

}  // namespace fh::kernel
