// Fuzz target for the GGUF reader and model loader.
//
// With clang and -DFH_LIBFUZZER=ON this is a libFuzzer target (LLVMFuzzerTestOneInput).
// Otherwise main() is a standalone driver: it builds a small valid model with the writer, then
// for N iterations mutates it (truncation, bit flips, random bytes, extreme 4/8-byte integers at
// random positions, spliced duplicate regions) and feeds each variant to the parser and, when
// that succeeds, to the model loader and one forward pass. Any crash or sanitizer report is a
// failure. Usage: gguf_fuzz [iterations] [seed]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "providers/local/kernel/gguf_writer.hpp"
#include "providers/local/kernel/kernel.hpp"

using namespace fh::kernel;

namespace {

int g_loaded = 0;

// Parses `data`; if it is a loadable model, writes it to a file and runs one token through it.
void exercise(const uint8_t* data, size_t size, const std::string& scratch_path) {
  auto f = GgufFile::from_bytes("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  if (!f.ok()) {
    if (f.error().message.rfind("fuzz.gguf: ", 0) != 0) {
      std::fprintf(stderr, "error without file name: %s\n", f.error().message.c_str());
      std::abort();
    }
    return;
  }
  if (scratch_path.empty()) return;
  FILE* out = std::fopen(scratch_path.c_str(), "wb");
  if (!out) return;
  std::fwrite(data, 1, size, out);
  std::fclose(out);
  auto m = Model::load(scratch_path);
  if (!m.ok()) return;
  ++g_loaded;
  SessionOptions so;
  so.n_threads = 1;
  so.n_ctx = 8;
  Session s(*m, so);
  const int32_t tok[2] = {1, int32_t((*m)->hparams().n_vocab - 1)};
  (void)s.eval(std::span<const int32_t>(tok, 2));
}

}  // namespace

#if defined(FH_LIBFUZZER)
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/fh_gguf_fuzz_" + std::to_string(::getpid()) + ".gguf";
  exercise(data, size, path);
  return 0;
}
#else
int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
  const uint32_t seed = argc > 2 ? uint32_t(std::atoi(argv[2])) : 1;
  const std::string path = "/tmp/fh_gguf_fuzz_" + std::to_string(::getpid()) + ".gguf";

  ModelSpec spec;
  spec.n_vocab = 260, spec.n_embd = 32, spec.n_ff = 32, spec.n_head = 2, spec.n_head_kv = 1, spec.n_layer = 1;
  spec.n_ctx = 16;
  apply_mix(spec, "Q8_0");
  if (!write_random_model(path, spec).ok()) return 2;
  auto base_file = GgufFile::open(path);
  if (!base_file.ok()) return 2;
  std::vector<uint8_t> base;
  {
    FILE* in = std::fopen(path.c_str(), "rb");
    int c;
    while ((c = std::fgetc(in)) != EOF) base.push_back(uint8_t(c));
    std::fclose(in);
  }
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return n ? size_t(rng() % n) : 0; };
  // Mutations concentrate on the header (where counts and offsets live) three times out of four.
  size_t tensor_bytes = 0;
  for (const TensorInfo& t : (*base_file)->tensors()) tensor_bytes += size_t(t.bytes);
  const size_t header = base.size() - std::min(base.size(), tensor_bytes);
  for (int it = 0; it < iterations; ++it) {
    std::vector<uint8_t> b = base;
    const int n_mut = 1 + int(rng() % 4);
    for (int k = 0; k < n_mut; ++k) {
      const size_t span = (rng() % 4) ? std::min(header, b.size()) : b.size();
      switch (rng() % 6) {
        case 0: b.resize(pick(b.size())); break;
        case 1: if (!b.empty()) b[pick(span)] ^= uint8_t(1u << (rng() % 8)); break;
        case 2: if (!b.empty()) b[pick(span)] = uint8_t(rng()); break;
        case 3: {
          static const uint64_t extremes[] = {0, 1, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1ull << 40,
                                              0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull, ~0ull};
          const uint64_t v = extremes[rng() % 10];
          const size_t w = (rng() % 2) ? 8 : 4;
          if (b.size() >= w) std::memcpy(b.data() + pick(std::min(span, b.size() - w + 1)), &v, w);
          break;
        }
        case 4: {  // duplicate a region over another
          if (b.size() < 64) break;
          const size_t len = 1 + pick(32), from = pick(b.size() - len), to = pick(b.size() - len);
          std::memmove(b.data() + to, b.data() + from, len);
          break;
        }
        default: b.insert(b.begin() + long(pick(std::min(span, b.size()))), uint8_t(rng())); break;
      }
    }
    exercise(b.data(), b.size(), path);
  }
  ::unlink(path.c_str());
  std::printf("gguf_fuzz: %d iterations, %d variants loaded as models, no crash\n", iterations, g_loaded);
  return 0;
}
#endif
