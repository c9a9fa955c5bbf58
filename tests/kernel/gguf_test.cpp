// GGUF reader/writer: a round trip of every metadata type, and hostile files — truncated at
// every length, lying counts, huge sizes, bad offsets, bad types — refused with an error that
// names the file and the problem.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <unistd.h>

#include "providers/local/kernel/gguf_writer.hpp"
#include "providers/local/kernel/model.hpp"

using namespace fh::kernel;

namespace {

GgufWriter small_writer() {
  GgufWriter w;
  w.add_u8("a.u8", 200);
  w.add_u32("a.u32", 4000000000u);
  w.add_i32("a.i32", -7);
  w.add_u64("a.u64", 1ull << 40);
  w.add_f32("a.f32", 0.25f);
  w.add_f64("a.f64", -1.5);
  w.add_bool("a.bool", true);
  w.add_string("a.str", "héllo");
  w.add_string_array("a.strs", {"x", "", "yz"});
  w.add_f32_array("a.f32s", {1.f, 2.f});
  w.add_i32_array("a.i32s", {-1, 5, 9});
  w.add_tensor("t.f32", GgmlType::f32, {8, 2}, [](int64_t r, float* o) { for (int i = 0; i < 8; ++i) o[i] = float(r * 8 + i); });
  w.add_tensor("t.q8", GgmlType::q8_0, {64}, [](int64_t, float* o) { for (int i = 0; i < 64; ++i) o[i] = float(i) / 64; });
  return w;
}

std::string parse_error(std::vector<uint8_t> bytes) {
  auto f = GgufFile::from_bytes("hostile.gguf", std::move(bytes));
  return f.ok() ? std::string() : f.error().message;
}

// Offset of the first tensor-info record of small_writer()'s file (after the 11 key/values).
size_t find_bytes(const std::vector<uint8_t>& b, const std::string& s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  REQUIRE(it != b.end());
  return size_t(it - b.begin());
}

template <class T>
void poke(std::vector<uint8_t>& b, size_t at, T v) {
  REQUIRE(at + sizeof(T) <= b.size());
  std::memcpy(b.data() + at, &v, sizeof(T));
}

}  // namespace

TEST_CASE("writer and reader round-trip metadata of every type and tensors") {
  auto f = GgufFile::from_bytes("rt.gguf", small_writer().to_bytes());
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message));
  const GgufFile& g = **f;
  CHECK(g.version() == 3);
  int64_t i;
  double d;
  CHECK((g.get_int("a.u8", i) && i == 200));
  CHECK((g.get_int("a.u32", i) && i == 4000000000ll));
  CHECK((g.get_int("a.i32", i) && i == -7));
  CHECK((g.get_int("a.u64", i) && i == (1ll << 40)));
  CHECK((g.get_float("a.f32", d) && d == 0.25));
  CHECK((g.get_float("a.f64", d) && d == -1.5));
  CHECK((g.get_int("a.bool", i) && i == 1));
  CHECK(g.get_string("a.str") == "héllo");
  CHECK(g.find("a.strs")->strings == std::vector<std::string>{"x", "", "yz"});
  CHECK(g.find("a.f32s")->floats == std::vector<double>{1, 2});
  CHECK(g.find("a.i32s")->ints == std::vector<int64_t>{-1, 5, 9});
  CHECK(g.keys().size() == 11);
  REQUIRE(g.tensors().size() == 2);
  const TensorInfo* t = g.tensor("t.f32");
  REQUIRE(t);
  CHECK((t->ne[0] == 8 && t->ne[1] == 2 && t->bytes == 64));
  CHECK(reinterpret_cast<uintptr_t>(t->data) % 32 == 0);
  CHECK(reinterpret_cast<const float*>(t->data)[9] == 9.f);
  const TensorInfo* q = g.tensor("t.q8");
  REQUIRE(q);
  CHECK((q->type == GgmlType::q8_0 && q->bytes == 68));
  float out[64];
  ref::dequantize_row(GgmlType::q8_0, q->data, out, 64);
  CHECK(out[32] == doctest::Approx(0.5).epsilon(0.01));
}

TEST_CASE("GGUF version 2 files read like version 3") {
  GgufWriter w = small_writer();
  w.set_version(2);
  auto f = GgufFile::from_bytes("v2.gguf", w.to_bytes());
  REQUIRE(f.ok());
  CHECK((*f)->version() == 2);
  CHECK((*f)->tensors().size() == 2);
}

TEST_CASE("a file truncated at any length is refused cleanly") {
  const auto full = small_writer().to_bytes();
  // The last tensor's data ends before the file does (padding); cutting padding is harmless.
  auto parsed = GgufFile::from_bytes("full.gguf", full);
  REQUIRE(parsed.ok());
  const TensorInfo& last = (*parsed)->tensors().back();
  const size_t data_end = full.size() - 28;  // 68 bytes of Q8_0 padded to 96
  REQUIRE(last.bytes == 68);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
    const std::string e = parse_error(cut);
    if (n >= data_end) {
      CHECK(e.empty());
      continue;
    }
    REQUIRE_MESSAGE(!e.empty(), "length " << n);
    REQUIRE(e.rfind("hostile.gguf: ", 0) == 0);
  }
}

TEST_CASE("hostile headers and tensor infos are refused with a message naming the problem") {
  const auto good = small_writer().to_bytes();
  auto check = [&](auto mutate, const std::string& expect) {
    auto b = good;
    mutate(b);
    const std::string e = parse_error(b);
    CAPTURE(e);
    CAPTURE(expect);
    CHECK(e.find(expect) != std::string::npos);
  };
  check([](auto& b) { b[0] = 'X'; }, "bad magic");
  check([](auto& b) { poke<uint32_t>(b, 4, 1); }, "unsupported GGUF version 1");
  check([](auto& b) { poke<uint32_t>(b, 4, 99); }, "unsupported GGUF version 99");
  check([](auto& b) { poke<int64_t>(b, 8, int64_t(1) << 60); }, "tensor count");
  check([](auto& b) { poke<int64_t>(b, 8, -1); }, "tensor count");
  check([](auto& b) { poke<int64_t>(b, 16, int64_t(1) << 40); }, "metadata count");
  // The length of the first key ("a.u8") claims far more bytes than the file holds.
  check([](auto& b) { poke<uint64_t>(b, 24, ~uint64_t(0)); }, "truncated metadata key");
  // Value type of the first key.
  check([](auto& b) { poke<int32_t>(b, 24 + 8 + 4, 77); }, "invalid type 77");
  // The string array claims 2^62 elements.
  check([&](auto& b) { poke<uint64_t>(b, find_bytes(b, "a.strs") + 6 + 8, uint64_t(1) << 62); }, "claims");
  // A nested array.
  check([&](auto& b) { poke<int32_t>(b, find_bytes(b, "a.strs") + 6 + 4, 9); }, "nests arrays");
  // A duplicate key: rename a.i32 to a.u32.
  check([&](auto& b) { b[find_bytes(b, "a.i32") + 2] = 'u'; }, "duplicate metadata key");

  // Tensor infos: name "t.f32" (u64 len, 5 bytes), n_dims u32, ne[2] i64, type i32, offset u64.
  const size_t ti = find_bytes(good, "t.f32") + 5;
  check([&](auto& b) { poke<uint32_t>(b, ti, 9); }, "9 dimensions");
  check([&](auto& b) { poke<int64_t>(b, ti + 4, -8); }, "negative dimension");
  check([&](auto& b) { poke<int64_t>(b, ti + 4 + 8, int64_t(1) << 62); }, "too large");
  check([&](auto& b) { poke<int64_t>(b, ti + 4 + 8, int64_t(1) << 40); }, "past the end of the file");
  check([&](auto& b) { poke<int32_t>(b, ti + 4 + 16, 10); }, "type Q2_K");
  check([&](auto& b) { poke<int32_t>(b, ti + 4 + 16, 1234); }, "type unknown");
  check([&](auto& b) { poke<int32_t>(b, ti + 4 + 16, -3); }, "does not support");
  check([&](auto& b) { poke<uint64_t>(b, ti + 4 + 20, 1ull << 50); }, "past the end of the file");
  check([&](auto& b) { poke<uint64_t>(b, ti + 4 + 20, 7); }, "not aligned");
  check([&](auto& b) { poke<uint64_t>(b, ti + 4 + 20, ~uint64_t(0) - 31); }, "past the end of the file");
  // Q8_0 row of 64 elements -> 60 (not a multiple of 32).
  const size_t tq = find_bytes(good, "t.q8") + 4;
  check([&](auto& b) { poke<int64_t>(b, tq + 4, 60); }, "not a multiple");
  // Duplicate tensor name.
  check([&](auto& b) { b[tq - 2] = 'f'; b[tq - 1] = '3'; }, "");  // renamed to "t.f3": still valid
}

TEST_CASE("bad alignment metadata is refused") {
  GgufWriter w;
  w.set_alignment(48);
  auto e = GgufFile::from_bytes("align.gguf", w.to_bytes());
  REQUIRE(!e.ok());
  CHECK(e.error().message.find("power of two") != std::string::npos);
  GgufWriter w2;
  w2.set_alignment(64);
  w2.add_tensor("x", GgmlType::f32, {4}, [](int64_t, float* o) { for (int i = 0; i < 4; ++i) o[i] = 1; });
  auto ok = GgufFile::from_bytes("align64.gguf", w2.to_bytes());
  REQUIRE(ok.ok());
  CHECK((*ok)->alignment() == 64);
}

TEST_CASE("files that are missing, empty, or directories give io errors naming the path") {
  auto e1 = GgufFile::open("/nonexistent/dir/model.gguf");
  REQUIRE(!e1.ok());
  CHECK(e1.error().message.find("/nonexistent/dir/model.gguf: cannot open") == 0);
  const std::string empty = "/tmp/fh_kernel_empty_" + std::to_string(::getpid()) + ".gguf";
  { std::ofstream(empty).flush(); }
  auto e2 = GgufFile::open(empty);
  REQUIRE(!e2.ok());
  CHECK(e2.error().message == empty + ": file is empty");
  ::unlink(empty.c_str());
  auto e3 = GgufFile::open("/tmp");
  REQUIRE(!e3.ok());
  CHECK(e3.error().message.find("not a regular file") != std::string::npos);
}

TEST_CASE("model loading names unsupported architectures, missing tensors and bad shapes") {
  const std::string path = "/tmp/fh_kernel_arch_" + std::to_string(::getpid()) + ".gguf";
  auto load_with = [&](auto edit) {
    GgufWriter w;
    edit(w);
    REQUIRE(w.write(path).ok());
    auto m = Model::load(path);
    ::unlink(path.c_str());
    return m.ok() ? std::string() : m.error().message;
  };
  CHECK(load_with([](GgufWriter& w) { w.add_string("general.architecture", "mamba"); }) ==
        path + ": unsupported architecture 'mamba' (supported: llama, qwen2)");
  CHECK(load_with([](GgufWriter&) {}) == path + ": missing general.architecture");
  CHECK(load_with([](GgufWriter& w) { w.add_string("general.architecture", "llama"); })
            .find("missing or non-integer llama.embedding_length") != std::string::npos);
  // A valid header but an output tensor of the wrong shape.
  ModelSpec spec;
  spec.n_layer = 1;
  REQUIRE(write_random_model(path, spec).ok());
  REQUIRE(Model::load(path).ok());
  auto bytes = GgufFile::open(path);
  REQUIRE(bytes.ok());
  ::unlink(path.c_str());
  CHECK(load_with([](GgufWriter& w) {
    w.add_string("general.architecture", "llama");
    for (auto [k, v] : {std::pair{"embedding_length", 8}, {"block_count", 1}, {"feed_forward_length", 8},
                        {"attention.head_count", 2}, {"context_length", 16}})
      w.add_u32(std::string("llama.") + k, uint32_t(v));
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_tensor("token_embd.weight", GgmlType::f32, {8, 4}, [](int64_t, float* o) { for (int i = 0; i < 8; ++i) o[i] = 0; });
    w.add_tensor("output_norm.weight", GgmlType::f32, {7}, [](int64_t, float* o) { for (int i = 0; i < 7; ++i) o[i] = 0; });
  }) == path + ": tensor 'output_norm.weight' has shape [7], expected [8]");
}
