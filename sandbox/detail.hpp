// fh::sandbox internals shared by the parent side (proc_sandbox.cpp), the child side
// (sandbox_child.cpp) and host probing (host_features.cpp). Not part of the public API.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/proc_sandbox.hpp"

namespace fh::sandbox::detail {

// A mount prepared by the parent as a detached tree (open_tree + mount_setattr) that the child
// attaches under its new root with move_mount. `target` is relative to the new root.
// Without privilege (a non-root daemon) the parent cannot open_tree; it passes the host path as
// `src` (for mounts beneath the workspace: the relative subpath), the child opens it in its own
// mount namespace before covering anything (src_fd), bind-mounts it and remounts with the flags.
struct PreparedMount {
  int fd = -1;
  std::string target;   // e.g. "usr", "etc/ld.so.cache", "workspace", "workspace/.git/hooks"
  bool is_dir = true;
  bool beneath_workspace = false;  // target resolved with openat2 beneath /workspace
  std::string src;      // unprivileged mode: the bind source
  bool read_only = true;
  mutable int src_fd = -1;  // set by the child
};

struct Symlink {
  std::string target, linkpath;  // linkpath relative to the new root
};

// Everything the child needs, computed before clone so the child never allocates.
struct ChildPlan {
  const char* newroot = "/tmp";  // the tmpfs that becomes "/" (in the child's private mount ns)
  std::vector<PreparedMount> mounts;
  std::vector<Symlink> symlinks;
  std::vector<std::string> dirs;      // directories to create in the new root
  std::string passwd, group;          // synthetic /etc/passwd and /etc/group
  std::string tmp_opts;               // tmpfs options for /tmp
  std::vector<std::string> dev_nodes; // names under /dev bound from the host
  std::vector<std::string> protected_rel;  // protected subpaths, relative to /workspace
  uid_t inner_uid = 1000;
  gid_t inner_gid = 1000;
  Layers layers;
  Limits limits;
  int landlock_abi = 0;
  const sock_filter* seccomp = nullptr;
  unsigned short seccomp_len = 0;
  // argv/env/exec candidates as C arrays (pointers into the strings below).
  std::vector<std::string> argv_s, env_s, exec_paths;
  std::vector<char*> argv, envp;
  // fds
  int sync_r = -1;     // parent -> child: maps written, go
  int ready_w = -1;    // child -> parent (unprivileged daemon only): dumpable, maps may be written
  int report_w = -1;   // child -> parent: setup failure record {stage, errno}
  int status_w = -1;   // pid1 -> parent: payload wait status
  int in_r = -1, out_w = -1, err_w = -1;
};

// The setup stage a failure happened in (index into stage_names).
enum Stage : int {
  st_sync, st_ids, st_caps, st_mount_private, st_root_tmpfs, st_mkdir, st_attach, st_symlink, st_tmp,
  st_dev, st_proc, st_protect, st_pivot, st_etc, st_remount_ro, st_hostname, st_fork, st_stdio, st_rlimit,
  st_capdrop, st_nnp, st_chdir, st_landlock, st_seccomp, st_exec, st_count
};
const char* stage_name(int s) noexcept;

struct Report {
  int stage;
  int err;
};

// Runs in the cloned child (PID 1 of the new pid namespace). Never returns.
[[noreturn]] void child_main(const ChildPlan& plan) noexcept;

// Per-run cgroups (v2 for kill and limits where delegated, v1 memory/pids in hybrid layouts).
class RunCgroup {
 public:
  RunCgroup() = default;
  ~RunCgroup();
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  // Creates the cgroups for one run and applies the limits. Failures leave layers inactive.
  void create(const HostFeatures& hf, const Limits& lim);
  int v2_fd() const noexcept { return v2_fd_; }
  bool attach(pid_t pid);  // v1 cgroups (and v2 if clone did not place the child)
  void kill() noexcept;
  bool oom_killed() const;
  void remove() noexcept;

 private:
  std::string v2_, mem_, pids_;
  int v2_fd_ = -1;
};

// The kernel's struct open_how and struct mount_attr (not in every libc's headers).
struct open_how_compat {
  uint64_t flags, mode, resolve;
};
struct mount_attr_compat {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

// Writes a short string to an existing file (cgroup and /proc knobs); false on any failure.
bool write_small(const std::string& path, std::string_view s);

// A user namespace whose uid/gid maps send `owner` to `host_uid`, for idmapped workspace
// mounts (cached per pair; -1 when unavailable).
int idmap_userns_fd(uid_t owner_uid, gid_t owner_gid, uid_t host_uid, gid_t host_gid);

}  // namespace fh::sandbox::detail
