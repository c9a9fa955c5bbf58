// The child side of the process sandbox: runs between clone and execve, so it only makes raw
// system calls on data the parent prepared (no allocation, no locks, no stdio). Order follows
// SECURITY.md §4.3: ids and caps in the new user namespace, the new root, pivot_root, read-only
// remount, then PID 1 forks the payload, which drops everything and execs.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/detail.hpp"
#include "sandbox/landlock_compat.h"

namespace fh::sandbox::detail {

namespace {

struct open_how_compat {
  uint64_t flags, mode, resolve;
};
constexpr uint64_t resolve_confined = 0x01 /*NO_XDEV*/ | 0x02 /*NO_MAGICLINKS*/ | 0x04 /*NO_SYMLINKS*/ |
                                      0x08 /*BENEATH*/;

[[noreturn]] void fail(const ChildPlan& p, int stage) noexcept {
  Report r{stage, errno};
  if (p.report_w >= 0) {
    ssize_t n = write(p.report_w, &r, sizeof r);
    (void)n;
  }
  _exit(126);
}

// Builds "<newroot>/<rel>" into buf without allocating.
const char* join(char* buf, size_t cap, const char* a, const char* b) noexcept {
  size_t la = strlen(a), lb = strlen(b);
  if (la + 1 + lb + 1 > cap) return nullptr;
  memcpy(buf, a, la);
  buf[la] = '/';
  memcpy(buf + la + 1, b, lb + 1);
  return buf;
}

// "/proc/self/fd/<n>" into buf without allocating.
void fd_path(char* buf, int fd) noexcept {
  static const char pre[] = "/proc/self/fd/";
  memcpy(buf, pre, sizeof pre - 1);
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0 && n < 15);
  char* o = buf + sizeof pre - 1;
  while (n > 0) *o++ = digits[--n];
  *o = 0;
}

bool write_all(int fd, const char* s, size_t n) noexcept {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    s += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool write_file(const char* path, const char* s, size_t n) noexcept {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = write_all(fd, s, n);
  close(fd);
  return ok;
}

int set_caps(bool keep_permitted_as_effective) noexcept {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (keep_permitted_as_effective) {
    if (syscall(SYS_capget, &hdr, data) != 0) return -1;
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
  }
  return static_cast<int>(syscall(SYS_capset, &hdr, data));
}

// Opens the target of `m` (creating a mount point in the new root when needed).
int open_target(const ChildPlan& p, const PreparedMount& m, int ws_fd, bool create) noexcept {
  int target_fd;
  if (m.beneath_workspace) {
    // The target lies inside the (attacker-writable) workspace: resolve it without symlinks.
    open_how_compat how{O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, resolve_confined & ~0x01ull};
    target_fd = static_cast<int>(syscall(SYS_openat2, ws_fd, m.target.c_str() + strlen("workspace/"), &how, sizeof how));
  } else {
    char buf[4096];
    const char* path = join(buf, sizeof buf, p.newroot, m.target.c_str());
    if (!path) return -1;
    if (create && m.is_dir) {
      mkdir(path, 0755);
    } else if (create) {
      int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (f >= 0) close(f);
    }
    target_fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
  }
  return target_fd;
}

// Attaches a parent-prepared detached mount at its target under the new root.
bool attach(const ChildPlan& p, const PreparedMount& m, int ws_fd) noexcept {
  int target_fd = open_target(p, m, ws_fd, true);
  if (target_fd < 0) return false;
  bool ok;
  if (m.fd >= 0) {
    ok = syscall(SYS_move_mount, m.fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0;
  } else {
    // Unprivileged daemon: bind from the parent's O_PATH fd, then remount with our flags,
    // carrying over the source's locked ones (else the remount fails with EPERM).
    char tpath[64], spath[64];
    fd_path(tpath, target_fd);
    fd_path(spath, m.src_fd);
    // Recursive: a plain bind of a tree with locked submounts is refused (EINVAL) in a userns.
    ok = m.src_fd >= 0 && mount(spath, tpath, nullptr, MS_BIND | MS_REC, nullptr) == 0;
    if (!ok) fail(p, st_attach);
    // Re-open the target: the old fd names the directory under the new mount, not its root.
    close(target_fd);
    target_fd = open_target(p, m, ws_fd, false);
    if (target_fd < 0) fail(p, st_attach);
    fd_path(tpath, target_fd);
    struct statfs sf{};
    if (ok) ok = syscall(SYS_statfs, tpath, &sf) == 0;
    if (ok) {
      unsigned long fl = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (m.read_only ? MS_RDONLY : 0);
      const unsigned long f = static_cast<unsigned long>(sf.f_flags);
      if (f & ST_NOEXEC) fl |= MS_NOEXEC;
      if (f & ST_NOATIME) fl |= MS_NOATIME;
      if (f & ST_NODIRATIME) fl |= MS_NODIRATIME;
      if (f & ST_RELATIME) fl |= MS_RELATIME;
      if (f & ST_RDONLY) fl |= MS_RDONLY;
      ok = mount(nullptr, tpath, nullptr, fl, nullptr) == 0;
      if (!ok) fail(p, st_remount_ro);
    }
  }
  close(target_fd);
  return ok;
}

void setup_root(const ChildPlan& p) noexcept {
  char buf[4096];
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(p, st_mount_private);
  // Unprivileged mode: open the bind sources in this mount namespace before /tmp is covered.
  int host_ws = -1;
  for (const PreparedMount& m : p.mounts) {
    if (m.fd >= 0 || m.beneath_workspace) continue;
    m.src_fd = open(m.src.c_str(), O_PATH | O_CLOEXEC);
    if (m.src_fd < 0) fail(p, st_attach);
    if (m.target == "workspace") host_ws = m.src_fd;
  }
  for (const PreparedMount& m : p.mounts) {
    if (m.fd >= 0 || !m.beneath_workspace) continue;
    open_how_compat how{O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, resolve_confined};
    m.src_fd = host_ws < 0 ? -1 : static_cast<int>(syscall(SYS_openat2, host_ws, m.src.c_str(), &how, sizeof how));
    if (m.src_fd < 0) fail(p, st_protect);
  }
  if (mount("tmpfs", p.newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755") != 0) fail(p, st_root_tmpfs);
  for (const std::string& d : p.dirs) {
    const char* path = join(buf, sizeof buf, p.newroot, d.c_str());
    if (!path || (mkdir(path, 0755) != 0 && errno != EEXIST)) fail(p, st_mkdir);
  }
  for (const Symlink& s : p.symlinks) {
    const char* path = join(buf, sizeof buf, p.newroot, s.linkpath.c_str());
    if (!path || symlink(s.target.c_str(), path) != 0) fail(p, st_symlink);
  }
  // Host mounts first (usr, etc files, the workspace), then mounts beneath the workspace.
  int ws_fd = -1;
  for (const PreparedMount& m : p.mounts) {
    if (m.beneath_workspace) continue;
    if (!attach(p, m, -1)) fail(p, st_attach);
    if (m.target == "workspace") {
      const char* path = join(buf, sizeof buf, p.newroot, "workspace");
      ws_fd = path ? open(path, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    }
  }
  for (const PreparedMount& m : p.mounts) {
    if (!m.beneath_workspace) continue;
    if (ws_fd < 0 || !attach(p, m, ws_fd)) fail(p, st_protect);
  }
  if (ws_fd >= 0) close(ws_fd);
  // /tmp: a size-capped tmpfs.
  if (!join(buf, sizeof buf, p.newroot, "tmp") ||
      mount("tmpfs", buf, "tmpfs", MS_NOSUID | MS_NODEV, p.tmp_opts.c_str()) != 0)
    fail(p, st_tmp);
  // /dev: a small tmpfs with host null/zero/full/random/urandom bound in.
  if (!join(buf, sizeof buf, p.newroot, "dev") ||
      mount("tmpfs", buf, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") != 0)
    fail(p, st_dev);
  for (const std::string& n : p.dev_nodes) {
    char host[64], rel[64];
    if (!join(host, sizeof host, "/dev", n.c_str()) || !join(rel, sizeof rel, "dev", n.c_str()) ||
        !join(buf, sizeof buf, p.newroot, rel))
      fail(p, st_dev);
    int f = open(buf, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (f < 0) fail(p, st_dev);
    close(f);
    if (mount(host, buf, nullptr, MS_BIND, nullptr) != 0) fail(p, st_dev);
  }
  static const char* const dev_links[][2] = {{"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"},
                                             {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"}};
  for (const auto& l : dev_links)
    if (!join(buf, sizeof buf, p.newroot, l[1]) || symlink(l[0], buf) != 0) fail(p, st_dev);
  if (!join(buf, sizeof buf, p.newroot, "dev") ||
      mount(nullptr, buf, nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") != 0)
    fail(p, st_dev);
  // A fresh /proc for the new pid namespace.
  if (!join(buf, sizeof buf, p.newroot, "proc") ||
      mount("proc", buf, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    fail(p, st_proc);
  // pivot_root into the new root and detach the host's.
  if (chdir(p.newroot) != 0) fail(p, st_pivot);
  if (mkdir(".old", 0700) != 0 || syscall(SYS_pivot_root, ".", ".old") != 0) fail(p, st_pivot);
  if (chdir("/") != 0 || umount2("/.old", MNT_DETACH) != 0 || rmdir("/.old") != 0) fail(p, st_pivot);
  if (!write_file("/etc/passwd", p.passwd.data(), p.passwd.size()) ||
      !write_file("/etc/group", p.group.data(), p.group.size()))
    fail(p, st_etc);
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    fail(p, st_remount_ro);
}

void apply_landlock(const ChildPlan& p) noexcept {
  using namespace landlock;
  const int abi = p.landlock_abi;
  RulesetAttr attr{fs_rights_for_abi(abi), 0, 0};
  unsigned size = ruleset_attr_size_v1;
  if (abi >= 4) {
    attr.handled_access_net = net_bind_tcp | net_connect_tcp;  // handled with no rule: no TCP
    size = ruleset_attr_size_v4;
  }
  if (abi >= 6) {
    attr.scoped = scope_abstract_unix_socket | scope_signal;
    size = ruleset_attr_size_v6;
  }
  int rs = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (rs < 0) fail(p, st_landlock);
  const uint64_t all = fs_rights_for_abi(abi);
  const uint64_t read_exec = fs_execute | fs_read_file | fs_read_dir;
  uint64_t dev_rights = fs_read_file | fs_write_file | fs_read_dir;
  if (abi >= 3) dev_rights |= fs_truncate;
  if (abi >= 5) dev_rights |= fs_ioctl_dev;
  struct {
    const char* path;
    uint64_t rights;
  } rules[] = {{"/", read_exec}, {"/workspace", all}, {"/tmp", all}, {"/dev", dev_rights}};
  for (const auto& r : rules) {
    int fd = open(r.path, O_PATH | O_CLOEXEC);
    if (fd < 0) fail(p, st_landlock);
    PathBeneathAttr pb{r.rights, fd};
    if (syscall(SYS_landlock_add_rule, rs, rule_path_beneath, &pb, 0) != 0) fail(p, st_landlock);
    close(fd);
  }
  if (syscall(SYS_landlock_restrict_self, rs, 0) != 0) fail(p, st_landlock);
  close(rs);
}

[[noreturn]] void payload(const ChildPlan& p) noexcept {
  if (setsid() < 0) fail(p, st_stdio);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int in = p.in_r;
  if (in < 0) in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0 || dup2(in, 0) < 0 || dup2(p.out_w, 1) < 0 || dup2(p.err_w, 2) < 0) fail(p, st_stdio);
  const Limits& l = p.limits;
  struct {
    int res;
    uint64_t v;
  } lims[] = {{RLIMIT_CORE, 0},           {RLIMIT_AS, l.address_space}, {RLIMIT_CPU, l.cpu_s},
              {RLIMIT_NOFILE, l.nofile},  {RLIMIT_NPROC, l.pids},       {RLIMIT_FSIZE, l.file_size}};
  for (const auto& r : lims) {
    rlimit rl{r.v, r.v};
    if (setrlimit(r.res, &rl) != 0) fail(p, st_rlimit);
  }
  if (p.layers.caps_drop) {
    for (int cap = 0; cap <= 63; ++cap)
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(p, st_capdrop);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) fail(p, st_capdrop);
    if (set_caps(false) != 0) fail(p, st_capdrop);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(p, st_nnp);
  if (chdir("/workspace") != 0) fail(p, st_chdir);
  if (p.layers.landlock && p.landlock_abi > 0) apply_landlock(p);
  if (p.layers.seccomp && p.seccomp) {
    sock_fprog prog{p.seccomp_len, const_cast<sock_filter*>(p.seccomp)};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) fail(p, st_seccomp);
  }
  // Keep only stdio (the report pipe is close-on-exec; it tells the parent exec failed).
  int keep = p.report_w;
  if (keep > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
  syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
  for (const std::string& path : p.exec_paths) execve(path.c_str(), p.argv.data(), p.envp.data());
  fail(p, st_exec);
}

}  // namespace

const char* stage_name(int s) noexcept {
  static const char* const names[st_count] = {
      "sync",   "ids",   "caps",     "mount-private", "root-tmpfs", "mkdir",  "attach",   "symlink",
      "tmp",    "dev",   "proc",     "protect",       "pivot",      "etc",    "remount-ro", "hostname",
      "fork",   "stdio", "rlimit",   "capdrop",       "no-new-privs", "chdir", "landlock", "seccomp", "exec"};
  return s >= 0 && s < st_count ? names[s] : "unknown";
}

void child_main(const ChildPlan& p) noexcept {
  // Die with the parent; if it already died, the sync read below sees EOF.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (p.ready_w >= 0) {
    // An unprivileged daemon (non-dumpable) cannot open our /proc/<pid>/uid_map unless we are
    // dumpable; the uid switch below makes us non-dumpable again.
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    char r = 'r';
    if (write(p.ready_w, &r, 1) != 1) _exit(125);
    close(p.ready_w);
  }
  char go = 0;
  if (read(p.sync_r, &go, 1) != 1) _exit(125);
  close(p.sync_r);
  // Become the inner uid (mapped to the dedicated host uid) and keep the namespace caps
  // (without this a root daemon's fsuid stays unmapped and tmpfs mkdir fails: EOVERFLOW).
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(p, st_ids);
  // Raw syscalls, not glibc: the clone3 child inherits glibc's list of the parent's threads, and
  // glibc's setresuid would broadcast to (and wait forever for) threads that do not exist here.
  if (syscall(SYS_setresgid, p.inner_gid, p.inner_gid, p.inner_gid) != 0 ||
      syscall(SYS_setresuid, p.inner_uid, p.inner_uid, p.inner_uid) != 0)
    fail(p, st_ids);
  if (set_caps(true) != 0) fail(p, st_caps);
  // A credential change clears the parent-death signal: set it again.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  setup_root(p);
  if (sethostname("sandbox", 7) != 0) fail(p, st_hostname);
  // A raw clone, not fork(): glibc's fork takes allocator locks another parent thread may have
  // held at clone time.
  pid_t child = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (child < 0) fail(p, st_fork);
  if (child == 0) payload(p);
  // PID 1: reap until the payload exits, report its status, exit. The kernel then kills every
  // process left in this pid namespace.
  // Keep only the status pipe: every other descriptor came from the parent at clone time, among
  // them the write end of the payload's stdin, which would otherwise never reach EOF.
  const unsigned keep = static_cast<unsigned>(p.status_w);
  if (keep > 0) syscall(SYS_close_range, 0u, keep - 1, 0u);
  syscall(SYS_close_range, keep + 1, ~0u, 0u);
  for (;;) {
    int st = 0;
    pid_t w = waitpid(-1, &st, 0);
    if (w == child) {
      ssize_t n = write(p.status_w, &st, sizeof st);
      (void)n;
      _exit(0);
    }
    if (w < 0 && errno != EINTR) _exit(124);
  }
}

}  // namespace fh::sandbox::detail
