// Landlock uapi constants newer than Debian 12's <linux/landlock.h> (which stops at ABI 2).
// Values follow the kernel uapi (facts, not code). Only what the process sandbox uses.
#pragma once

#include <cstdint>

namespace fh::sandbox::landlock {

inline constexpr uint32_t create_ruleset_version = 1u << 0;

// Filesystem access rights (ABI 1 unless noted).
inline constexpr uint64_t fs_execute = 1ull << 0;
inline constexpr uint64_t fs_write_file = 1ull << 1;
inline constexpr uint64_t fs_read_file = 1ull << 2;
inline constexpr uint64_t fs_read_dir = 1ull << 3;
inline constexpr uint64_t fs_remove_dir = 1ull << 4;
inline constexpr uint64_t fs_remove_file = 1ull << 5;
inline constexpr uint64_t fs_make_char = 1ull << 6;
inline constexpr uint64_t fs_make_dir = 1ull << 7;
inline constexpr uint64_t fs_make_reg = 1ull << 8;
inline constexpr uint64_t fs_make_sock = 1ull << 9;
inline constexpr uint64_t fs_make_fifo = 1ull << 10;
inline constexpr uint64_t fs_make_block = 1ull << 11;
inline constexpr uint64_t fs_make_sym = 1ull << 12;
inline constexpr uint64_t fs_refer = 1ull << 13;      // ABI 2
inline constexpr uint64_t fs_truncate = 1ull << 14;   // ABI 3
inline constexpr uint64_t fs_ioctl_dev = 1ull << 15;  // ABI 5

// Network access rights (ABI 4).
inline constexpr uint64_t net_bind_tcp = 1ull << 0;
inline constexpr uint64_t net_connect_tcp = 1ull << 1;

// Scopes (ABI 6).
inline constexpr uint64_t scope_abstract_unix_socket = 1ull << 0;
inline constexpr uint64_t scope_signal = 1ull << 1;

inline constexpr int rule_path_beneath = 1;

// struct landlock_ruleset_attr, in its ABI 6 size. The kernel accepts a smaller size from
// older callers, so we pass the size that matches the ABI we detected.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
inline constexpr unsigned ruleset_attr_size_v1 = 8;   // fs only
inline constexpr unsigned ruleset_attr_size_v4 = 16;  // + net
inline constexpr unsigned ruleset_attr_size_v6 = 24;  // + scoped

struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};

// Every filesystem right a given ABI knows about.
constexpr uint64_t fs_rights_for_abi(int abi) {
  uint64_t r = (fs_make_sym << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) r |= fs_refer;
  if (abi >= 3) r |= fs_truncate;
  if (abi >= 5) r |= fs_ioctl_dev;
  return r;
}

}  // namespace fh::sandbox::landlock
