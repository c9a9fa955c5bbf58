// Host probing (what the kernel offers), per-run cgroups and the idmap user namespaces.
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "sandbox/detail.hpp"
#include "sandbox/landlock_compat.h"

namespace fh::sandbox {

std::string_view cgroup_layout_name(CgroupLayout l) noexcept {
  switch (l) {
    case CgroupLayout::pure_v2: return "pure_v2";
    case CgroupLayout::hybrid: return "hybrid";
    case CgroupLayout::v1_only: return "v1_only";
    case CgroupLayout::none: return "none";
  }
  return "none";
}

json HostFeatures::to_json() const {
  return json{{"userns", userns},
              {"seccomp", seccomp},
              {"landlock_abi", landlock_abi},
              {"idmap_mounts", idmap_mounts},
              {"cgroup_layout", cgroup_layout_name(cgroup)},
              {"cgroup_kill", cgroup_kill},
              {"memory_limit", memory_limit},
              {"pids_limit", pids_limit}};
}

namespace {

std::string read_small(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}


bool is_fs_type(const char* path, const char* type) {
  std::ifstream m("/proc/self/mounts");
  std::string dev, mnt, fstype, rest;
  while (m >> dev >> mnt >> fstype) {
    std::getline(m, rest);
    if (mnt == path && fstype == type) return true;
  }
  return false;
}

// The cgroup path of this process for a v1 controller ("memory") or v2 ("" key).
std::string own_cgroup(const std::string& controller) {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty() ? (line.compare(0, a, "0") == 0 && ctrls.empty()) : false) return path;
    std::stringstream ss(ctrls);
    std::string c;
    while (std::getline(ss, c, ','))
      if (!controller.empty() && c == controller) return path;
  }
  return {};
}

// Whether we may create child cgroups under `base`; `has_kill` tells whether a child gets a
// cgroup.kill file (kernel >= 5.14).
bool can_mkdir_in(const std::string& base, bool* has_kill = nullptr) {
  std::string probe = base + "/fh-probe-" + std::to_string(getpid());
  if (mkdir(probe.c_str(), 0755) != 0) return false;
  struct stat st{};
  if (has_kill) *has_kill = stat((probe + "/cgroup.kill").c_str(), &st) == 0;
  rmdir(probe.c_str());
  return true;
}

bool probe_userns() {
  pid_t p = fork();
  if (p == 0) _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  if (p < 0) return false;
  int st = 0;
  waitpid(p, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void probe_cgroups(HostFeatures& hf) {
  bool v2_root = is_fs_type("/sys/fs/cgroup", "cgroup2");
  bool v2_unified = is_fs_type("/sys/fs/cgroup/unified", "cgroup2");
  bool v1_mem = is_fs_type("/sys/fs/cgroup/memory", "cgroup");
  bool v1_pids = is_fs_type("/sys/fs/cgroup/pids", "cgroup");
  std::string v2_mount = v2_root ? "/sys/fs/cgroup" : v2_unified ? "/sys/fs/cgroup/unified" : "";
  if (v2_root) hf.cgroup = CgroupLayout::pure_v2;
  else if (v2_unified) hf.cgroup = CgroupLayout::hybrid;
  else if (v1_mem || v1_pids) hf.cgroup = CgroupLayout::v1_only;
  else hf.cgroup = CgroupLayout::none;

  if (!v2_mount.empty()) {
    std::string base = v2_mount + own_cgroup("");
    if (!base.empty() && base.back() == '/') base.pop_back();
    if (can_mkdir_in(base, &hf.cgroup_kill)) {
      hf.cgroup_v2_base = base;
      // Children of `base` get the controllers enabled in base's subtree_control.
      std::string sub = read_small(base + "/cgroup.subtree_control");
      if (sub.find("memory") != std::string::npos) hf.memory_limit = true;
      if (sub.find("pids") != std::string::npos) hf.pids_limit = true;
    }
  }
  if (v1_mem && !hf.memory_limit) {
    std::string base = "/sys/fs/cgroup/memory" + own_cgroup("memory");
    if (!base.empty() && base.back() == '/') base.pop_back();
    if (can_mkdir_in(base)) {
      hf.cgroup_v1_memory = base;
      hf.memory_limit = true;
    }
  }
  if (v1_pids && !hf.pids_limit) {
    std::string base = "/sys/fs/cgroup/pids" + own_cgroup("pids");
    if (!base.empty() && base.back() == '/') base.pop_back();
    if (can_mkdir_in(base)) {
      hf.cgroup_v1_pids = base;
      hf.pids_limit = true;
    }
  }
}

using detail::mount_attr_compat;
using detail::write_small;

bool probe_idmap() {
  if (geteuid() != 0) return false;
  int ns = detail::idmap_userns_fd(0, 0, 65534, 65534);
  if (ns < 0) return false;
  int t = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, "/usr", 1 /*OPEN_TREE_CLONE*/ | O_CLOEXEC));
  if (t < 0) return false;
  mount_attr_compat a{0x00100000 /*MOUNT_ATTR_IDMAP*/, 0, 0, static_cast<uint64_t>(ns)};
  bool ok = syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &a, sizeof a) == 0;
  close(t);
  return ok;
}

}  // namespace

const HostFeatures& host_features() {
  static const HostFeatures hf = [] {
    HostFeatures h;
    h.userns = probe_userns();
    h.seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, landlock::create_ruleset_version);
    h.landlock_abi = abi > 0 ? static_cast<int>(abi) : 0;
    probe_cgroups(h);
    h.idmap_mounts = probe_idmap();
    return h;
  }();
  return hf;
}

int collect_stale_cgroups() {
  const HostFeatures& hf = host_features();
  int removed = 0;
  for (const std::string& base : {hf.cgroup_v2_base, hf.cgroup_v1_memory, hf.cgroup_v1_pids}) {
    if (base.empty()) continue;
    DIR* d = opendir(base.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("fh-sbx-", 0) != 0) continue;
      // fh-sbx-<owner pid>-<n>: stale when the owner is gone (or is not us after a restart).
      pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + 7));
      if (owner == getpid() || (owner > 0 && kill(owner, 0) == 0)) continue;
      std::string dir = base + "/" + name;
      write_small(dir + "/cgroup.kill", "1");
      for (int i = 0; i < 50 && rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (access(dir.c_str(), F_OK) != 0) ++removed;
    }
    closedir(d);
  }
  return removed;
}

namespace detail {

RunCgroup::~RunCgroup() { remove(); }

void RunCgroup::create(const HostFeatures& hf, const Limits& lim) {
  static std::atomic<unsigned> counter{0};
  std::string name = "fh-sbx-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  if (!hf.cgroup_v2_base.empty()) {
    std::string d = hf.cgroup_v2_base + "/" + name;
    if (mkdir(d.c_str(), 0755) == 0) {
      v2_ = d;
      v2_fd_ = open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (hf.memory_limit && hf.cgroup_v1_memory.empty()) {
        write_small(d + "/memory.max", std::to_string(lim.memory));
        write_small(d + "/memory.swap.max", "0");
      }
      if (hf.pids_limit && hf.cgroup_v1_pids.empty()) write_small(d + "/pids.max", std::to_string(lim.pids));
    }
  }
  if (!hf.cgroup_v1_memory.empty()) {
    std::string d = hf.cgroup_v1_memory + "/" + name;
    if (mkdir(d.c_str(), 0755) == 0) {
      mem_ = d;
      write_small(d + "/memory.limit_in_bytes", std::to_string(lim.memory));
      write_small(d + "/memory.memsw.limit_in_bytes", std::to_string(lim.memory));
    }
  }
  if (!hf.cgroup_v1_pids.empty()) {
    std::string d = hf.cgroup_v1_pids + "/" + name;
    if (mkdir(d.c_str(), 0755) == 0) {
      pids_ = d;
      write_small(d + "/pids.max", std::to_string(lim.pids));
    }
  }
}

bool RunCgroup::attach(pid_t pid) {
  bool ok = true;
  std::string p = std::to_string(pid);
  if (!mem_.empty()) ok &= write_small(mem_ + "/cgroup.procs", p);
  if (!pids_.empty()) ok &= write_small(pids_ + "/cgroup.procs", p);
  return ok;
}

void RunCgroup::kill() noexcept {
  if (!v2_.empty()) write_small(v2_ + "/cgroup.kill", "1");
  // v1 has no cgroup.kill; the pid namespace's death covers the tree, this is a backstop.
  for (const std::string& d : {mem_, pids_}) {
    if (d.empty()) continue;
    std::ifstream f(d + "/cgroup.procs");
    pid_t p;
    while (f >> p) ::kill(p, SIGKILL);
  }
}

bool RunCgroup::oom_killed() const {
  auto count_after = [](const std::string& text, const std::string& key) -> long {
    auto pos = text.find(key + " ");
    return pos == std::string::npos ? 0 : std::atol(text.c_str() + pos + key.size() + 1);
  };
  if (!mem_.empty()) return count_after(read_small(mem_ + "/memory.oom_control"), "oom_kill") > 0;
  if (!v2_.empty()) return count_after(read_small(v2_ + "/memory.events"), "oom_kill") > 0;
  return false;
}

void RunCgroup::remove() noexcept {
  if (v2_fd_ >= 0) close(v2_fd_);
  v2_fd_ = -1;
  for (std::string* d : {&v2_, &mem_, &pids_}) {
    if (d->empty()) continue;
    // The tree is dead; the kernel may need a moment to release the last task.
    for (int i = 0; i < 200 && rmdir(d->c_str()) != 0 && errno == EBUSY; ++i) {
      if (i == 0) kill();
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    d->clear();
  }
}

int idmap_userns_fd(uid_t owner_uid, gid_t owner_gid, uid_t host_uid, gid_t host_gid) {
  static std::mutex mu;
  static std::map<std::tuple<uid_t, gid_t, uid_t, gid_t>, int> cache;
  std::lock_guard lock(mu);
  auto key = std::make_tuple(owner_uid, owner_gid, host_uid, host_gid);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return -1;
  pid_t h = static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (h == 0) {
    char c;
    ssize_t r = read(go[0], &c, 1);
    _exit(r == 1 ? 0 : 1);
  }
  int fd = -1;
  if (h > 0) {
    std::string pre = "/proc/" + std::to_string(h);
    bool ok = write_small(pre + "/uid_map", std::to_string(owner_uid) + " " + std::to_string(host_uid) + " 1\n") &&
              write_small(pre + "/setgroups", "deny") &&
              write_small(pre + "/gid_map", std::to_string(owner_gid) + " " + std::to_string(host_gid) + " 1\n");
    if (ok) fd = open((pre + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
    char c = 'x';
    if (write(go[1], &c, 1) != 1) ::kill(h, SIGKILL);
    int st;
    waitpid(h, &st, 0);
  }
  close(go[0]);
  close(go[1]);
  cache[key] = fd;
  return fd;
}

}  // namespace detail
namespace detail {
bool write_small(const std::string& path, std::string_view s) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
  close(fd);
  return ok;
}
}  // namespace detail

}  // namespace fh::sandbox
