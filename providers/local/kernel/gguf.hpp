// GGUF reader (versions 2 and 3): the file is memory-mapped read-only, and every count, length,
// offset and tensor extent is checked against the file size before use, so a truncated or
// hostile file gives an Error naming the file and the problem, never a crash.
//
// Depends only on the standard library and POSIX mmap. A GgufFile is immutable after open() and
// may be shared between threads; tensor data pointers stay valid while it lives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "providers/local/kernel/expected.hpp"
#include "providers/local/kernel/quant.hpp"

namespace fh::kernel {

enum class GgufType : int32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};

// One metadata value. Scalars land in the field that fits (`i` for every integer type that fits
// int64, `u` too when non-negative, `f` for floats, `s` for strings); arrays fill one of the
// vectors according to their element type.
struct MetaValue {
  GgufType type = GgufType::u8;
  GgufType elem_type = GgufType::u8;  // arrays only
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  uint64_t count = 0;                  // arrays only
  std::vector<int64_t> ints;           // integer and bool arrays
  std::vector<double> floats;          // float arrays
  std::vector<std::string> strings;    // string arrays

  bool is_int() const;
  bool is_float() const { return type == GgufType::f32 || type == GgufType::f64; }
};

struct TensorInfo {
  std::string name;
  uint32_t type_code = 0;   // raw ggml type
  GgmlType type = GgmlType::f32;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  uint64_t offset = 0;      // from the start of the data section
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;

  int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps and parses `path`. Unsupported tensor types are an error only when used (see Model).
  static Expected<std::shared_ptr<GgufFile>> open(const std::string& path);
  // Parses a copy of `bytes`; `name` stands in for the path in error messages (tests, fuzzing).
  static Expected<std::shared_ptr<GgufFile>> from_bytes(std::string name, std::vector<uint8_t> bytes);

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }

  const MetaValue* find(std::string_view key) const;
  const std::vector<std::string>& keys() const { return key_order_; }
  std::string get_string(std::string_view key, std::string fallback = {}) const;
  // Any integer type is accepted (the spec says u32, writers disagree); nullopt-like via fallback.
  bool get_int(std::string_view key, int64_t& out) const;
  bool get_float(std::string_view key, double& out) const;  // accepts ints too

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* tensor(std::string_view name) const;

  // "FILE: message" — the form every error from this file takes.
  Error error(std::string message, ErrorKind kind = ErrorKind::invalid_file) const;

 private:
  GgufFile() = default;
  Expected<void> parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* map_ = nullptr;             // mmap'ed region (open) ...
  std::vector<uint8_t> owned_;      // ... or owned bytes (from_bytes)
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::unordered_map<std::string, MetaValue> meta_;
  std::vector<std::string> key_order_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace fh::kernel
