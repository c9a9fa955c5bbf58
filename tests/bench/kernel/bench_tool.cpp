// Helper for the kernel benchmark (tests/bench/kernel/run_bench.sh):
//   bench_tool make-model OUT.gguf --shape tinyllama|smollm --mix Q4_0|Q8_0|Q4_K_M|...
//   bench_tool info MODEL.gguf          -> {"weight_bytes_per_token": N, ...}
//   bench_tool bandwidth THREADS [MiB]  -> {"read_gbps": X}  (best of 7 read-only passes)
//   bench_tool gemv TYPE                -> {"hot_gbps": X}  (one thread, decode kernel, 64 rows
//                                          x 1536 in L1/L2: the kernel's compute rate; best of 5)
//   bench_tool stream TYPE THREADS [MiB [ROWS]] -> {"stream_gbps": X}  (decode products over
//                                          ROWS (576) x 1536 matrices totalling MiB (256), too big
//                                          for any cache: the rate a type's layout streams from
//                                          memory; best of 7)
//   bench_tool decode MODEL THREADS [N] -> per-token times of a greedy decode of N (128) tokens:
//                                          min, percentiles, mean, share of slow tokens
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "providers/local/kernel/generate.hpp"
#include "providers/local/kernel/gguf_writer.hpp"
#include "providers/local/kernel/matmul.hpp"
#include "providers/local/kernel/model.hpp"
#include "providers/local/kernel/page_buffer.hpp"

using namespace fh::kernel;

namespace {

int make_model(int argc, char** argv) {
  if (argc < 3) return 2;
  std::string out = argv[2], shape = "tinyllama", mix = "Q4_0";
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--shape")) shape = argv[i + 1];
    else if (!std::strcmp(argv[i], "--mix")) mix = argv[i + 1];
  }
  ModelSpec s;
  s.seed = 1234;
  if (shape == "tinyllama") {  // TinyLlama-1.1B: 22 layers, 2048 wide, GQA 32/4, untied
    s.n_vocab = 32000, s.n_embd = 2048, s.n_layer = 22, s.n_head = 32, s.n_head_kv = 4, s.n_ff = 5632;
    s.n_ctx = 2048, s.tied = false, s.name = "tinyllama-shape";
  } else if (shape == "smollm") {  // SmolLM-135M: 30 layers, 576 wide, GQA 9/3, tied embeddings
    s.n_vocab = 49152, s.n_embd = 576, s.n_layer = 30, s.n_head = 9, s.n_head_kv = 3, s.n_ff = 1536;
    s.n_ctx = 2048, s.tied = true, s.name = "smollm-shape";
  } else {
    std::fprintf(stderr, "unknown shape %s\n", shape.c_str());
    return 2;
  }
  if (!apply_mix(s, mix)) {
    std::fprintf(stderr, "unknown mix %s\n", mix.c_str());
    return 2;
  }
  // The embedding of an untied model is only gathered from: keep it in the mix's base type.
  auto r = write_random_model(out, s);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

int info(const char* path) {
  auto m = Model::load(path);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().message.c_str());
    return 1;
  }
  std::printf("{\"weight_bytes_per_token\": %llu, \"file_bytes\": %llu, \"n_layer\": %d}\n",
              static_cast<unsigned long long>((*m)->weight_bytes_per_token()),
              static_cast<unsigned long long>((*m)->file().file_size()), (*m)->hparams().n_layer);
  return 0;
}

// Read bandwidth, the roofline's numerator: the strongest plain read we have found on these
// hosts. The buffer is a PageBuffer (huge pages requested), as the kernel's weight copies, and
// each thread prefetches 2 KiB ahead of its sums, as the kernel's decode loops do: without
// either the probe read 5-10 % below what a decode product pulled.
int bandwidth(int threads, size_t mib) {
  const size_t bytes = mib * (size_t(1) << 20), n = bytes / sizeof(float);
  PageBuffer buf;
  if (!buf.allocate(bytes)) return std::fprintf(stderr, "bandwidth: cannot allocate %zu MiB\n", mib), 1;
  float* a = reinterpret_cast<float*>(buf.data());
  std::fill(a, a + n, 1.0f);
  std::vector<double> partial(static_cast<size_t>(threads));
  double best = 0;
  std::vector<double> rates;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> th;
    for (int t = 0; t < threads; ++t)
      th.emplace_back([&, t] {
        const size_t b = n * size_t(t) / size_t(threads) / 16 * 16, e = n * size_t(t + 1) / size_t(threads) / 16 * 16;
        float s[16] = {};
        for (size_t i = b; i < e; i += 16) {  // one 64-byte line per step
          __builtin_prefetch(a + i + 512);    // 2 KiB ahead
          for (int k = 0; k < 16; ++k) s[k] += a[i + size_t(k)];
        }
        double sum = 0;
        for (float x : s) sum += x;
        partial[size_t(t)] = sum;
      });
    for (auto& x : th) x.join();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(double(n * sizeof(float)) / sec / 1e9);
    best = std::max(best, rates.back());
  }
  std::sort(rates.begin(), rates.end());
  double check = 0;
  for (double p : partial) check += p;
  std::printf("{\"read_gbps\": %.2f, \"read_gbps_median\": %.2f, \"threads\": %d, \"mib\": %zu, \"check\": %.0f}\n", best,
              rates[rates.size() / 2], threads, mib, check);
  return 0;
}

// The quantized types with a decode kernel over an interleaved layout, by lower-case name.
bool decode_type(const std::string& name, GgmlType& t) {
  const std::pair<const char*, GgmlType> types[] = {
      {"q4_0", GgmlType::q4_0}, {"q8_0", GgmlType::q8_0}, {"q4_k", GgmlType::q4_k}, {"q5_k", GgmlType::q5_k}, {"q6_k", GgmlType::q6_k}};
  for (const auto& [n, type] : types)
    if (name == n) return t = type, true;
  return false;
}

// The decode kernel of one weight type on its interleaved layout, over data that stays in cache:
// the rate at which it can consume weight bytes when memory is not the limit.
int gemv_rate(const std::string& name) {
  GgmlType t;
  if (!decode_type(name, t)) return std::fprintf(stderr, "gemv: type must be q4_0, q8_0, q4_k, q5_k or q6_k\n"), 2;
  force_isa(best_isa());
  const Kernels& k = kernels();
  constexpr int64_t in = 1536, rows = 64;
  const size_t rb = row_bytes(*type_traits(t), in);
  std::vector<float> x(size_t(in * rows));
  uint32_t r = 12345;
  for (float& v : x) v = float(int32_t((r = r * 1664525u + 1013904223u) >> 8) % 2001 - 1000) / 1000.f;
  std::vector<uint8_t> plain(rb * rows), packed(rb * rows);
  for (int64_t i = 0; i < rows; ++i) ref::quantize_row(t, &x[size_t(i * in)], &plain[size_t(i) * rb], in);
  const bool x8 = k.gemv_x8[int(t)] != nullptr;
  const int group = x8 ? 8 : 4;
  for (int64_t i = 0; i < rows; i += group) {
    const bool ok = x8 ? ref::repack_x8(t, &plain[size_t(i) * rb], rb, &packed[size_t(i) * rb], in)
                       : ref::repack_x4(t, &plain[size_t(i) * rb], rb, &packed[size_t(i) * rb], in);
    if (!ok) return std::fprintf(stderr, "gemv: no interleaved layout for %s\n", name.c_str()), 1;
  }
  const auto gemv = x8 ? k.gemv_x8[int(t)] : k.gemv_x4[int(t)];
  if (!gemv) return std::fprintf(stderr, "gemv: no decode kernel for %s on this CPU\n", name.c_str()), 1;
  const GgmlType act = type_traits(t)->vec_dot;
  const bool q8s = x8 && act == GgmlType::q8_0;  // the 8-row Q4_0 / Q8_0 kernels read BlockQ8_0S
  std::vector<uint8_t> a(q8s ? size_t(in / 32) * sizeof(BlockQ8_0S) : row_bytes(*type_traits(act), in));
  if (q8s) k.quantize_q8_0s(x.data(), a.data(), in);
  else k.quantize[int(act)](x.data(), a.data(), in);
  float out[8], check = 0;
  double best = 0;
  for (int rep = 0; rep < 6; ++rep) {
    const int passes = 4000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int p = 0; p < passes; ++p)
      for (int64_t i = 0; i < rows; i += group) {
        gemv(in, &packed[size_t(i) * rb], a.data(), out);
        check += out[0];
      }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::max(best, double(rb * rows) * passes / sec / 1e9);  // the first warms up
  }
  std::printf("{\"type\": \"%s\", \"rows\": %d, \"hot_gbps\": %.2f, \"check\": %.3g}\n", name.c_str(), group, best,
              double(check));
  return 0;
}

// Decode products over many 576 x 1536 matrices (SmolLM's ffn_down shape) laid out as the model
// loader lays them out (interleaved copies in one huge-page mapping), run as the forward pass runs
// them (matmul on the pool, one token): the rate a type streams from memory, to read beside
// `bandwidth` taken in the same minute.
int stream_rate(const std::string& name, int threads, size_t mib, int64_t rows) {
  GgmlType t;
  if (!decode_type(name, t)) return std::fprintf(stderr, "stream: type must be q4_0, q8_0, q4_k, q5_k or q6_k\n"), 2;
  constexpr int64_t in = 1536;
  if (rows < 8 || rows % 8) return std::fprintf(stderr, "stream: ROWS must be a positive multiple of 8\n"), 2;
  const size_t rb = row_bytes(*type_traits(t), in), mat_bytes = rb * size_t(rows);
  const size_t n_mats = std::max<size_t>(1, mib * (size_t(1) << 20) / mat_bytes);
  std::vector<float> x(size_t(in * rows));
  uint32_t r = 777;
  for (float& v : x) v = float(int32_t((r = r * 1664525u + 1013904223u) >> 8) % 2001 - 1000) / 1000.f;
  std::vector<uint8_t> plain(mat_bytes), packed(mat_bytes);
  for (int64_t i = 0; i < rows; ++i) ref::quantize_row(t, &x[size_t(i * in)], &plain[size_t(i) * rb], in);
  const bool x8 = t == GgmlType::q4_0 || t == GgmlType::q8_0 || t == GgmlType::q4_k;
  const int group = x8 ? 8 : 4;
  for (int64_t i = 0; i < rows; i += group)
    if (!(x8 ? ref::repack_x8(t, &plain[size_t(i) * rb], rb, &packed[size_t(i) * rb], in)
             : ref::repack_x4(t, &plain[size_t(i) * rb], rb, &packed[size_t(i) * rb], in)))
      return std::fprintf(stderr, "stream: no interleaved layout for %s\n", name.c_str()), 1;
  const size_t total = n_mats * mat_bytes;
  PageBuffer buf;  // the loader's layout: interleaved copies in one huge-page mapping
  if (!buf.allocate(total)) return std::fprintf(stderr, "stream: cannot allocate %zu bytes\n", total), 1;
  std::vector<Mat> mats(n_mats);
  for (size_t i = 0; i < n_mats; ++i) {
    uint8_t* dst = buf.data() + i * mat_bytes;
    std::memcpy(dst, packed.data(), mat_bytes);
    mats[i] = Mat{plain.data(), t, in, rows, rb, dst, group};
  }
  force_isa(best_isa());
  ThreadPool pool(threads);
  Scratch scratch;
  std::vector<float> y(static_cast<size_t>(rows));
  std::vector<double> rates;
  for (int rep = 0; rep < 8; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const Mat& m : mats) matmul(pool, m, x.data(), 1, y.data(), scratch);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) rates.push_back(double(total) / sec / 1e9);  // the first warms up
  }
  std::sort(rates.begin(), rates.end());
  std::printf("{\"type\": \"%s\", \"rows\": %d, \"stream_gbps\": %.2f, \"stream_gbps_median\": %.2f, \"mib\": %zu}\n",
              name.c_str(), group, rates.back(), rates[rates.size() / 2], total >> 20);
  return 0;
}

// Greedy decode of N tokens after token 1; per-token times: min, percentiles, mean, and the
// share of the decode time spent in tokens slower than 1.5x the median (a noisy host's mark).
int decode_times(const char* path, int threads, int n) {
  auto m = Model::load(path);
  if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 1;
  SessionOptions so;
  so.n_threads = threads;
  so.n_ctx = 512;
  Session s(std::shared_ptr<const Model>(std::move(*m)), so);
  Sampler sampler;  // greedy
  GenerateOptions go;
  go.n_predict = n;
  go.stop_at_eos = false;
  const int32_t prompt[] = {1};
  auto r = generate(s, sampler, prompt, go);
  if (!r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
  std::vector<double> t = r->eval_ms;
  if (t.empty()) return std::fprintf(stderr, "decode: no tokens timed\n"), 1;
  std::sort(t.begin(), t.end());
  double sum = 0, slow = 0;
  const double med = t[t.size() / 2];
  for (double x : t) sum += x, slow += x > 1.5 * med ? x : 0;
  auto pct = [&](double q) { return t[std::min(t.size() - 1, size_t(q * double(t.size())))]; };
  std::printf("{\"tokens\": %zu, \"min_ms\": %.3f, \"p10_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": %.3f, "
              "\"max_ms\": %.3f, \"mean_ms\": %.3f, \"slow_share\": %.3f}\n",
              t.size(), t.front(), pct(0.1), med, pct(0.9), t.back(), sum / double(t.size()), slow / sum);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "make-model") return make_model(argc, argv);
  if (cmd == "info" && argc > 2) return info(argv[2]);
  if (cmd == "gemv" && argc > 2) return gemv_rate(argv[2]);
  if (cmd == "stream" && argc > 3)
    return stream_rate(argv[2], std::atoi(argv[3]), argc > 4 ? size_t(std::atoi(argv[4])) : 256, argc > 5 ? std::atoi(argv[5]) : 576);
  if (cmd == "decode" && argc > 3) return decode_times(argv[2], std::atoi(argv[3]), argc > 4 ? std::atoi(argv[4]) : 128);
  if (cmd == "bandwidth" && argc > 2) return bandwidth(std::atoi(argv[2]), argc > 3 ? size_t(std::atoi(argv[3])) : 1024);
  std::fprintf(stderr, "usage: bench_tool make-model OUT --shape S --mix M | info MODEL | bandwidth THREADS [MiB] | gemv TYPE | stream TYPE THREADS [MiB [ROWS]] | decode MODEL THREADS [N]\n");
  return 2;
}
