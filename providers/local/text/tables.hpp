// Flat tables for the tokenizer: a pool of byte strings in one buffer, a text -> id index and a
// (left, right) -> merge-rank map, both open addressing with linear probing. A 150k-token vocab
// with 280k merges loads in a few allocations instead of several hundred thousand.
//
// Std-only. Built once, then read-only: safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fh::local {

class StringPool {
 public:
  void push(std::string_view s) {
    data_.append(s);
    off_.push_back(data_.size());
  }
  std::string_view operator[](size_t i) const {
    return std::string_view(data_).substr(off_[i], off_[i + 1] - off_[i]);
  }
  size_t size() const { return off_.size() - 1; }
  void reserve(size_t n, size_t bytes) {
    off_.reserve(n + 1);
    data_.reserve(bytes);
  }

 private:
  std::string data_;
  std::vector<size_t> off_{0};
};

inline uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h ^ (h >> 29);
}

inline size_t table_size(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  return cap;
}

// Text -> id for the strings of a pool; of equal texts the highest id wins.
class TextIndex {
 public:
  void build(const StringPool& pool) {
    slots_.assign(table_size(pool.size()), -1);
    mask_ = slots_.size() - 1;
    for (size_t id = 0; id < pool.size(); ++id) {
      size_t i = hash_bytes(pool[id]) & mask_;
      while (slots_[i] >= 0 && pool[size_t(slots_[i])] != pool[id]) i = (i + 1) & mask_;
      slots_[i] = static_cast<int32_t>(id);
    }
  }
  int32_t find(const StringPool& pool, std::string_view s) const {
    if (slots_.empty()) return -1;
    for (size_t i = hash_bytes(s) & mask_;; i = (i + 1) & mask_) {
      const int32_t id = slots_[i];
      if (id < 0 || pool[size_t(id)] == s) return id;
    }
  }

 private:
  std::vector<int32_t> slots_;
  size_t mask_ = 0;
};

// (left id, right id) -> rank; the first insert of a pair wins (the lower rank).
class PairRanks {
 public:
  void reserve(size_t n) {
    keys_.assign(table_size(n), kEmpty);
    vals_.assign(keys_.size(), -1);
    mask_ = keys_.size() - 1;
  }
  void insert(int32_t left, int32_t right, int32_t rank) {
    const uint64_t k = key(left, right);
    size_t i = mix(k) & mask_;
    while (keys_[i] != kEmpty && keys_[i] != k) i = (i + 1) & mask_;
    if (keys_[i] == kEmpty) {
      keys_[i] = k;
      vals_[i] = rank;
    }
  }
  int32_t find(int32_t left, int32_t right) const {
    if (keys_.empty() || left < 0 || right < 0) return -1;
    const uint64_t k = key(left, right);
    for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == k) return vals_[i];
      if (keys_[i] == kEmpty) return -1;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t key(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    return k ^ (k >> 33);
  }
  std::vector<uint64_t> keys_;
  std::vector<int32_t> vals_;
  size_t mask_ = 0;
};

}  // namespace fh::local
