// GGUF parsing with a bounds-checked cursor. Every read goes through Cursor, which refuses to
// step past the end; every count is checked against the bytes left before anything is allocated.
#include "providers/local/kernel/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fh::kernel {
namespace {

constexpr uint32_t max_name = 64;  // ggml's GGML_MAX_NAME, terminating NUL included

struct Cursor {
  const uint8_t* p;
  uint64_t size;
  uint64_t pos = 0;
  uint64_t left() const { return size - pos; }
  template <class T>
  bool read(T& out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&out, p + pos, sizeof(T));
    pos += sizeof(T);
    return true;
  }
  bool read_string(std::string& out) {
    uint64_t n;
    if (!read(n) || n > left()) return false;
    out.assign(reinterpret_cast<const char*>(p + pos), size_t(n));
    pos += n;
    return true;
  }
};

// Byte size of a scalar GGUF value type; 0 for string/array/unknown.
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    default: return 0;
  }
}

bool valid_type(int32_t t) { return t >= 0 && t <= 12; }

// Reads one scalar of type t into (i, u, f). Returns false at end of data.
bool read_scalar(Cursor& c, GgufType t, int64_t& i, uint64_t& u, double& f) {
  switch (t) {
    case GgufType::u8: { uint8_t v; if (!c.read(v)) return false; i = v; u = v; return true; }
    case GgufType::i8: { int8_t v; if (!c.read(v)) return false; i = v; u = uint64_t(v); return true; }
    case GgufType::boolean: { uint8_t v; if (!c.read(v)) return false; i = v != 0; u = v != 0; return true; }
    case GgufType::u16: { uint16_t v; if (!c.read(v)) return false; i = v; u = v; return true; }
    case GgufType::i16: { int16_t v; if (!c.read(v)) return false; i = v; u = uint64_t(v); return true; }
    case GgufType::u32: { uint32_t v; if (!c.read(v)) return false; i = v; u = v; return true; }
    case GgufType::i32: { int32_t v; if (!c.read(v)) return false; i = v; u = uint64_t(v); return true; }
    case GgufType::u64: { uint64_t v; if (!c.read(v)) return false; i = int64_t(v); u = v; return true; }
    case GgufType::i64: { int64_t v; if (!c.read(v)) return false; i = v; u = uint64_t(v); return true; }
    case GgufType::f32: { float v; if (!c.read(v)) return false; f = v; return true; }
    case GgufType::f64: { double v; if (!c.read(v)) return false; f = v; return true; }
    default: return false;
  }
}

}  // namespace

bool MetaValue::is_int() const {
  switch (type) {
    case GgufType::u8: case GgufType::i8: case GgufType::u16: case GgufType::i16: case GgufType::u32:
    case GgufType::i32: case GgufType::u64: case GgufType::i64: case GgufType::boolean: return true;
    default: return false;
  }
}

Error GgufFile::error(std::string message, ErrorKind kind) const {
  return make_error(kind, path_ + ": " + message);
}

Expected<std::shared_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return f->error(std::string("cannot open: ") + std::strerror(errno), ErrorKind::io);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return f->error("not a regular file", ErrorKind::io);
  }
  if (st.st_size == 0) {
    ::close(fd);
    return f->error("file is empty");
  }
  // MAP_POPULATE: fault the pages in now (counted as load time), not in the first forward pass.
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  flags |= MAP_POPULATE;
#endif
  void* m = ::mmap(nullptr, size_t(st.st_size), PROT_READ, flags, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return f->error(std::string("mmap failed: ") + std::strerror(errno), ErrorKind::io);
  f->map_ = m;
  f->base_ = static_cast<const uint8_t*>(m);
  f->size_ = uint64_t(st.st_size);
  if (auto r = f->parse(); !r) return r.error();
  return f;
}

Expected<std::shared_ptr<GgufFile>> GgufFile::from_bytes(std::string name, std::vector<uint8_t> bytes) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  // Copy to a 64-byte aligned start so tensor data is as aligned as in a mapped file.
  f->owned_.resize(bytes.size() + 64);
  const size_t skew = (64 - reinterpret_cast<uintptr_t>(f->owned_.data()) % 64) % 64;
  if (!bytes.empty()) std::memcpy(f->owned_.data() + skew, bytes.data(), bytes.size());
  f->base_ = f->owned_.data() + skew;
  f->size_ = bytes.size();
  if (auto r = f->parse(); !r) return r.error();
  return f;
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(map_, size_t(size_));
}

Expected<void> GgufFile::parse() {
  Cursor c{base_, size_};
  char magic[4];
  if (!c.read(magic) || std::memcmp(magic, "GGUF", 4) != 0) return error("not a GGUF file (bad magic)");
  if (!c.read(version_)) return error("truncated header");
  if (version_ < 2 || version_ > 3)
    return error("unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)", ErrorKind::unsupported);
  int64_t n_tensors, n_kv;
  if (!c.read(n_tensors) || !c.read(n_kv)) return error("truncated header");
  // A key/value takes at least 13 bytes (length, type, 1-byte value), a tensor info at least 24.
  if (n_kv < 0 || uint64_t(n_kv) > c.left() / 13)
    return error("metadata count " + std::to_string(n_kv) + " is impossible for a file of this size");
  if (n_tensors < 0 || uint64_t(n_tensors) > c.left() / 24)
    return error("tensor count " + std::to_string(n_tensors) + " is impossible for a file of this size");

  for (int64_t k = 0; k < n_kv; ++k) {
    std::string key;
    int32_t type;
    if (!c.read_string(key)) return error("truncated metadata key #" + std::to_string(k));
    if (!c.read(type)) return error("truncated metadata '" + key + "'");
    if (!valid_type(type)) return error("metadata '" + key + "' has invalid type " + std::to_string(type));
    if (meta_.count(key)) return error("duplicate metadata key '" + key + "'");
    MetaValue v;
    v.type = GgufType(type);
    if (v.type == GgufType::string) {
      if (!c.read_string(v.s)) return error("truncated string value of '" + key + "'");
    } else if (v.type == GgufType::array) {
      int32_t et;
      if (!c.read(et) || !c.read(v.count)) return error("truncated array header of '" + key + "'");
      if (!valid_type(et)) return error("array '" + key + "' has invalid element type " + std::to_string(et));
      v.elem_type = GgufType(et);
      if (v.elem_type == GgufType::array) return error("array '" + key + "' nests arrays (unsupported)");
      const uint64_t min_elem = v.elem_type == GgufType::string ? 8 : scalar_size(v.elem_type);
      if (v.count > c.left() / min_elem)
        return error("array '" + key + "' claims " + std::to_string(v.count) + " elements, more than the file holds");
      if (v.elem_type == GgufType::string) {
        v.strings.resize(size_t(v.count));
        for (auto& s : v.strings)
          if (!c.read_string(s)) return error("truncated string in array '" + key + "'");
      } else if (v.elem_type == GgufType::f32 || v.elem_type == GgufType::f64) {
        v.floats.resize(size_t(v.count));
        int64_t i; uint64_t u;
        for (auto& x : v.floats) read_scalar(c, v.elem_type, i, u, x);  // sizes checked above
      } else {
        v.ints.resize(size_t(v.count));
        uint64_t u; double f;
        for (auto& x : v.ints) read_scalar(c, v.elem_type, x, u, f);
      }
    } else if (!read_scalar(c, v.type, v.i, v.u, v.f)) {
      return error("truncated value of '" + key + "'");
    }
    key_order_.push_back(key);
    meta_.emplace(std::move(key), std::move(v));
  }

  if (const MetaValue* a = find("general.alignment")) {
    if (a->type != GgufType::u32 || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20))
      return error("general.alignment must be a u32 power of two");
    alignment_ = a->u;
  }

  tensors_.resize(size_t(n_tensors));
  for (int64_t t = 0; t < n_tensors; ++t) {
    TensorInfo& ti = tensors_[size_t(t)];
    if (!c.read_string(ti.name)) return error("truncated tensor info #" + std::to_string(t));
    if (ti.name.size() >= max_name) return error("tensor name '" + ti.name.substr(0, 80) + "...' is too long");
    if (!c.read(ti.n_dims)) return error("truncated tensor info '" + ti.name + "'");
    if (ti.n_dims > 4) return error("tensor '" + ti.name + "' has " + std::to_string(ti.n_dims) + " dimensions (max 4)");
    for (uint32_t d = 0; d < ti.n_dims; ++d) {
      if (!c.read(ti.ne[d])) return error("truncated tensor info '" + ti.name + "'");
      if (ti.ne[d] < 0) return error("tensor '" + ti.name + "' has a negative dimension");
    }
    int32_t type;
    if (!c.read(type) || !c.read(ti.offset)) return error("truncated tensor info '" + ti.name + "'");
    ti.type_code = uint32_t(type);
    const TypeTraits* tt = type >= 0 && type < 32 ? type_traits(GgmlType(type)) : nullptr;
    if (!tt || GgmlType(type) == GgmlType::q8_k)
      return error("tensor '" + ti.name + "' has type " + type_name(uint32_t(type)) + " (code " + std::to_string(type) +
                       "), which this kernel does not support (supported: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K)",
                   ErrorKind::unsupported);
    ti.type = GgmlType(type);
    if (ti.ne[0] % tt->block != 0)
      return error("tensor '" + ti.name + "' row length " + std::to_string(ti.ne[0]) + " is not a multiple of " +
                   tt->name + "'s block size " + std::to_string(tt->block));
    uint64_t bytes = row_bytes(*tt, ti.ne[0]);
    for (int d = 1; d < 4; ++d)
      if (__builtin_mul_overflow(bytes, uint64_t(ti.ne[d]), &bytes)) return error("tensor '" + ti.name + "' is too large");
    int64_t elems = 1;
    for (int d = 0; d < 4; ++d)
      if (__builtin_mul_overflow(elems, ti.ne[d], &elems)) return error("tensor '" + ti.name + "' is too large");
    ti.bytes = bytes;
    if (ti.offset % alignment_ != 0) return error("tensor '" + ti.name + "' offset is not aligned");
    if (tensor_index_.count(ti.name)) return error("duplicate tensor name '" + ti.name + "'");
    tensor_index_.emplace(ti.name, size_t(t));
  }

  const uint64_t data_start = (c.pos + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t data_size = data_start <= size_ ? size_ - data_start : 0;
  for (TensorInfo& ti : tensors_) {
    if (ti.offset > data_size || ti.bytes > data_size - ti.offset)
      return error("tensor '" + ti.name + "' data (offset " + std::to_string(ti.offset) + ", " + std::to_string(ti.bytes) +
                   " bytes) extends past the end of the file (truncated?)");
    ti.data = base_ + data_start + ti.offset;
  }
  return Ok{};
}

const MetaValue* GgufFile::find(std::string_view key) const {
  auto it = meta_.find(std::string(key));
  return it == meta_.end() ? nullptr : &it->second;
}

std::string GgufFile::get_string(std::string_view key, std::string fallback) const {
  const MetaValue* v = find(key);
  return v && v->type == GgufType::string ? v->s : fallback;
}

bool GgufFile::get_int(std::string_view key, int64_t& out) const {
  const MetaValue* v = find(key);
  if (!v || !v->is_int()) return false;
  if (v->type == GgufType::u64 && v->u > uint64_t(INT64_MAX)) return false;
  out = v->i;
  return true;
}

bool GgufFile::get_float(std::string_view key, double& out) const {
  const MetaValue* v = find(key);
  if (!v) return false;
  if (v->is_float()) out = v->f;
  else if (v->is_int()) out = double(v->i);
  else return false;
  return true;
}

const TensorInfo* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace fh::kernel
