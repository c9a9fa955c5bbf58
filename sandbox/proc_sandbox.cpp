// The parent side of the process sandbox: level checks, mount preparation, clone3, id maps,
// the poll loop (output caps, wall clock, cancel) and the kill that reaches every descendant.
#include "sandbox/proc_sandbox.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/detail.hpp"
#include "sandbox/seccomp_filter.hpp"

namespace fh::sandbox {

using detail::ChildPlan;
using detail::PreparedMount;

namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset(int f = -1) {
    if (fd >= 0) close(fd);
    fd = f;
  }
};

using detail::mount_attr_compat;
using detail::open_how_compat;
using detail::write_small;
constexpr uint64_t mount_attr_rdonly = 0x1, mount_attr_nosuid = 0x2, mount_attr_nodev = 0x4,
                   mount_attr_idmap = 0x00100000;
constexpr unsigned open_tree_clone = 1;

Error setup_error(std::string what, int err = errno) {
  return make_error(Errc::internal, "sandbox setup failed: " + what + (err ? ": " + std::string(strerror(err)) : ""));
}

// A detached bind of a host path (or an fd with an empty path) with mount attributes set.
Result<int> detached(int dirfd, const char* path, uint64_t attrs, int userns = -1) {
  int flags = open_tree_clone | O_CLOEXEC | (path[0] == 0 ? AT_EMPTY_PATH : 0);
  int t = static_cast<int>(syscall(SYS_open_tree, dirfd, path, flags));
  if (t < 0) return setup_error(std::string("open_tree ") + path);
  mount_attr_compat a{attrs | (userns >= 0 ? mount_attr_idmap : 0), 0, 0,
                      static_cast<uint64_t>(userns >= 0 ? userns : 0)};
  if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &a, sizeof a) != 0) {
    int e = errno;
    close(t);
    return setup_error(std::string("mount_setattr ") + path, e);
  }
  return t;
}

struct Prepared {
  ChildPlan plan;
  std::vector<std::unique_ptr<Fd>> fds;  // detached mounts, closed after clone
  std::vector<std::string> absent_protected;  // protected subpaths that did not exist before the run
};

// Removes `rel` (a file, or a directory and all it holds) beneath `dirfd`, never following a
// symbolic link. Depth-capped; what cannot be removed stays.
void remove_tree(int dirfd, const char* name, int depth) {
  struct stat st{};
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode) && depth < 64) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      if (DIR* d = fdopendir(fd)) {
        std::vector<std::string> names;
        while (dirent* e = readdir(d))
          if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
        for (const auto& n : names) remove_tree(::dirfd(d), n.c_str(), depth + 1);
        closedir(d);  // closes fd
      } else {
        close(fd);
      }
    }
    unlinkat(dirfd, name, AT_REMOVEDIR);
  } else {
    unlinkat(dirfd, name, 0);
  }
}

// A protected path that did not exist could not be bound read-only, so the payload may have
// created it (a `.git/config` with core.fsmonitor, a hook) to run code later outside the sandbox.
// After the run, whatever now stands there is removed and reported.
std::vector<std::string> remove_planted(const std::string& workspace, const std::vector<std::string>& absent) {
  std::vector<std::string> removed;
  Fd ws(open(workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (ws.fd < 0) return removed;
  for (const std::string& sub : absent) {
    const size_t slash = sub.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : sub.substr(0, slash);
    const std::string leaf = slash == std::string::npos ? sub : sub.substr(slash + 1);
    open_how_compat how{O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0x01 | 0x02 | 0x04 | 0x08};
    Fd dir(static_cast<int>(syscall(SYS_openat2, ws.fd, parent.c_str(), &how, sizeof how)));
    struct stat st{};
    if (dir.fd < 0 || fstatat(dir.fd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    remove_tree(dir.fd, leaf.c_str(), 0);
    removed.push_back(sub);
  }
  return removed;
}

Result<Ok> prepare_mounts(const ExecSpec& spec, const SandboxOptions& opts, Prepared& out) {
  ChildPlan& p = out.plan;
  std::string pending_src, empty_path_src;
  bool pending_ro = true;
  const uint64_t ro = mount_attr_rdonly | mount_attr_nosuid | mount_attr_nodev;
  const bool privileged = geteuid() == 0;
  auto add = [&](int fd, std::string target, bool dir, bool beneath = false) {
    out.fds.push_back(std::make_unique<Fd>(fd));
    if (privileged) {
      p.mounts.push_back(PreparedMount{fd, std::move(target), dir, beneath, "", true});
    } else {
      p.mounts.push_back(PreparedMount{-1, std::move(target), dir, beneath, pending_src, pending_ro});
    }
  };
  // Unprivileged: an O_PATH fd the child binds from /proc/self/fd (kept open across clone).
  auto detached = [&](int dirfd, const char* path, uint64_t attrs, int userns = -1) -> Result<int> {
    if (privileged) return fh::sandbox::detached(dirfd, path, attrs, userns);
    pending_src = path[0] ? std::string(path) : empty_path_src;
    pending_ro = (attrs & mount_attr_rdonly) != 0;
    return -1;
  };
  p.dirs = {"usr", "etc", "workspace", "tmp", "dev", "proc"};
  // /usr and the usrmerge top-level entries.
  auto usr = detached(AT_FDCWD, "/usr", ro);
  if (!usr) return usr.error();
  add(*usr, "usr", true);
  for (const char* top : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
    std::string host = std::string("/") + top;
    struct stat st{};
    if (lstat(host.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char buf[256];
      ssize_t n = readlink(host.c_str(), buf, sizeof buf - 1);
      if (n <= 0) continue;
      p.symlinks.push_back({std::string(buf, static_cast<size_t>(n)), top});
    } else if (S_ISDIR(st.st_mode)) {
      auto m = detached(AT_FDCWD, host.c_str(), ro);
      if (!m) return m.error();
      add(*m, top, true);
    }
  }
  // A few /etc entries programs need; passwd/group are synthesized.
  for (const char* e : {"alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
                        "ssl", "mime.types", "magic", "gitconfig"}) {
    std::string host = std::string("/etc/") + e;
    struct stat st{};
    if (stat(host.c_str(), &st) != 0) continue;
    auto m = detached(AT_FDCWD, host.c_str(), ro);
    if (!m) return m.error();
    add(*m, std::string("etc/") + e, S_ISDIR(st.st_mode));
  }
  for (const std::string& extra : spec.extra_ro) {
    if (extra.empty() || extra[0] != '/' || extra.find("/..") != std::string::npos)
      return make_error(Errc::invalid_argument, "extra_ro paths must be absolute: " + extra);
    struct stat st{};
    if (stat(extra.c_str(), &st) != 0) continue;
    auto m = detached(AT_FDCWD, extra.c_str(), ro);
    if (!m) return m.error();
    std::string rel = extra.substr(1);
    for (size_t i = 0; (i = rel.find('/', i)) != std::string::npos; ++i) p.dirs.push_back(rel.substr(0, i));
    add(*m, rel, S_ISDIR(st.st_mode));
  }
  // The workspace: read-write, nosuid, nodev; idmapped so the sandbox uid owns the files that
  // the workspace owner owns (writes land on disk as the owner).
  Fd ws(open(spec.workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (ws.fd < 0) return make_error(Errc::invalid_argument, "workspace not usable: " + spec.workspace + ": " + strerror(errno));
  struct stat wst{};
  fstat(ws.fd, &wst);
  int userns = -1;
  if (privileged && wst.st_uid != opts.host_uid && host_features().idmap_mounts)
    userns = detail::idmap_userns_fd(wst.st_uid, wst.st_gid, opts.host_uid, opts.host_gid);
  empty_path_src = spec.workspace;
  auto wm = detached(ws.fd, "", mount_attr_nosuid | mount_attr_nodev, userns);
  if (!wm) return wm.error();
  add(*wm, "workspace", true);
  // Protected subpaths: re-bound read-only, resolved beneath the workspace without symlinks.
  for (const std::string& sub : spec.protected_subpaths) {
    if (sub.empty() || sub[0] == '/') continue;
    open_how_compat how{O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, 0x01 | 0x02 | 0x04 | 0x08};
    Fd f(static_cast<int>(syscall(SYS_openat2, ws.fd, sub.c_str(), &how, sizeof how)));
    if (f.fd < 0) {
      if (errno == ENOENT) {  // nothing to bind: checked (and cleaned) after the run instead
        out.absent_protected.push_back(sub);
        continue;
      }
      return setup_error("protected path " + sub);
    }
    struct stat st{};
    fstat(f.fd, &st);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
    empty_path_src = sub;
    auto m = detached(f.fd, "", ro, userns);
    if (!m) return m.error();
    add(*m, "workspace/" + sub, S_ISDIR(st.st_mode), true);
  }
  return Ok{};
}

void build_plan(const ExecSpec& spec, const SandboxOptions& opts, ChildPlan& p) {
  const HostFeatures& hf = host_features();
  p.inner_uid = opts.inner_uid;
  p.inner_gid = opts.inner_uid;
  p.layers = spec.layers;
  p.limits = spec.limits;
  p.landlock_abi = hf.landlock_abi;
  const SeccompProgram& prog = deny_list_program();
  p.seccomp = prog.insns.data();
  p.seccomp_len = static_cast<unsigned short>(prog.insns.size());
  p.tmp_opts = "size=" + std::to_string(spec.limits.tmp_size) + ",mode=1777";
  p.dev_nodes = {"null", "zero", "full", "random", "urandom"};
  std::string u = std::to_string(opts.inner_uid);
  p.passwd = "root:x:0:0::/:/usr/sbin/nologin\nsandbox:x:" + u + ":" + u + "::/workspace:/bin/sh\n";
  p.group = "root:x:0:\nsandbox:x:" + u + ":\n";
  p.argv_s = spec.argv;
  for (const auto& [k, v] : spec.env) p.env_s.push_back(k + "=" + v);
  for (auto& s : p.argv_s) p.argv.push_back(s.data());
  p.argv.push_back(nullptr);
  for (auto& s : p.env_s) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  const std::string& a0 = spec.argv[0];
  if (a0.find('/') != std::string::npos) {
    p.exec_paths.push_back(a0);
  } else {
    for (const char* dir : {"/usr/local/bin/", "/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"})
      p.exec_paths.push_back(dir + a0);
  }
}

void read_some(int fd, std::string& buf, uint64_t cap, bool& overflow, bool& eof) {
  char tmp[65536];
  ssize_t n = read(fd, tmp, sizeof tmp);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    eof = true;
    return;
  }
  size_t room = buf.size() < cap ? cap - buf.size() : 0;
  buf.append(tmp, std::min<size_t>(room, static_cast<size_t>(n)));
  if (static_cast<size_t>(n) > room) overflow = true;
}

}  // namespace

std::map<std::string, std::string> default_env() {
  return {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/tmp"}, {"LANG", "C.UTF-8"}, {"TERM", "dumb"},
          {"USER", "sandbox"}, {"TMPDIR", "/tmp"}};
}

CancelSource::CancelSource() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
CancelSource::~CancelSource() {
  if (fd_ >= 0) close(fd_);
}
void CancelSource::cancel() noexcept {
  uint64_t one = 1;
  ssize_t n = write(fd_, &one, sizeof one);
  (void)n;
}

Result<std::shared_ptr<ProcSandbox>> ProcSandbox::make(SandboxOptions opts) {
  const HostFeatures& hf = host_features();
  if (geteuid() != 0) {
    // Without privilege we can only map our own uid; the sandbox still never runs as root.
    opts.host_uid = geteuid();
    opts.host_gid = getegid();
  }
  if (auto ok = check_level(hf, opts); !ok) return ok.error();
  return std::shared_ptr<ProcSandbox>(new ProcSandbox(opts));
}

Result<Ok> ProcSandbox::check_level(const HostFeatures& hf, const SandboxOptions& opts) {
  if (opts.host_uid == 0 || opts.host_gid == 0)
    return make_error(Errc::permission_denied, "sandbox refused: the sandbox uid/gid must not be root (0)");
  if (opts.inner_uid == 0) return make_error(Errc::invalid_argument, "sandbox refused: inner uid must not be 0");
  if (!hf.userns) return make_error(Errc::permission_denied, "sandbox refused: user namespaces are unavailable on this host");
  if (!hf.seccomp || !deny_list_program().error.empty())
    return make_error(Errc::permission_denied,
                      "sandbox refused: seccomp is unavailable: " + deny_list_program().error);
  if (opts.level == Level::strict) {
    if (hf.landlock_abi < 1)
      return make_error(Errc::permission_denied, "sandbox refused: level strict needs Landlock, which this host lacks");
    if (!hf.cgroup_kill)
      return make_error(Errc::permission_denied, "sandbox refused: level strict needs cgroup v2 cgroup.kill, which this host lacks");
  }
  return Ok{};
}

json ProcSandbox::layers_json() const {
  const HostFeatures& hf = host_features();
  json j = hf.to_json();
  j["level"] = opts_.level == Level::strict ? "strict" : "standard";
  j["namespaces"] = {"user", "mount", "pid", "net", "ipc", "uts", "cgroup"};
  j["host_uid"] = opts_.host_uid;
  j["landlock"] = hf.landlock_abi > 0;
  j["degraded"] = hf.landlock_abi == 0 || !hf.cgroup_kill || !hf.memory_limit || !hf.pids_limit;
  return j;
}

Result<ExecResult> ProcSandbox::run(const ExecSpec& spec, const CancelSource* cancel) const {
  if (spec.argv.empty() || spec.argv[0].empty()) return make_error(Errc::invalid_argument, "empty argv");
  for (const auto& a : spec.argv)
    if (a.find('\0') != std::string::npos) return make_error(Errc::invalid_argument, "argv contains a NUL byte");
  if (spec.workspace.empty()) return make_error(Errc::invalid_argument, "no workspace");
  const auto t0 = std::chrono::steady_clock::now();
  Prepared prep;
  if (auto r = prepare_mounts(spec, opts_, prep); !r) return r.error();
  ChildPlan& plan = prep.plan;
  build_plan(spec, opts_, plan);

  int sync[2], report[2], status[2], out[2], err[2], in[2] = {-1, -1};
  if (pipe2(sync, O_CLOEXEC) || pipe2(report, O_CLOEXEC) || pipe2(status, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
      pipe2(err, O_CLOEXEC))
    return setup_error("pipe");
  Fd sync_r(sync[0]), sync_w(sync[1]), report_r(report[0]), report_w(report[1]), status_r(status[0]),
      status_w(status[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  Fd in_r, in_w, ready_r, ready_w;
  if (geteuid() != 0) {
    int rp[2];
    if (pipe2(rp, O_CLOEXEC)) return setup_error("pipe");
    ready_r.reset(rp[0]);
    ready_w.reset(rp[1]);
  }
  if (!spec.stdin_data.empty()) {
    if (pipe2(in, O_CLOEXEC)) return setup_error("pipe");
    in_r.reset(in[0]);
    in_w.reset(in[1]);
  }
  plan.sync_r = sync_r.fd;
  plan.report_w = report_w.fd;
  plan.status_w = status_w.fd;
  plan.out_w = out_w.fd;
  plan.err_w = err_w.fd;
  plan.in_r = in_r.fd;
  plan.ready_w = ready_w.fd;

  detail::RunCgroup cg;
  cg.create(host_features(), spec.limits);

  uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                   CLONE_PIDFD;
  if (spec.layers.netns) flags |= CLONE_NEWNET;
  int pidfd = -1;
  clone_args ca{};
  ca.flags = flags;
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  if (cg.v2_fd() >= 0) {
    ca.flags |= CLONE_INTO_CGROUP;
    ca.cgroup = static_cast<uint64_t>(cg.v2_fd());
  }
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0 && cg.v2_fd() >= 0) {  // cgroup placement refused: fall back to no v2 cgroup
    ca.flags &= ~static_cast<uint64_t>(CLONE_INTO_CGROUP);
    ca.cgroup = 0;
    pid = syscall(SYS_clone3, &ca, sizeof ca);
  }
  if (pid == 0) detail::child_main(plan);
  if (pid < 0) return setup_error("clone3");
  Fd pidfd_guard(pidfd);
  // Parent: close the child's ends and the detached mounts.
  sync_r.reset();
  report_w.reset();
  status_w.reset();
  out_w.reset();
  err_w.reset();
  in_r.reset();
  prep.fds.clear();

  auto kill_all = [&] {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    cg.kill();
  };
  ready_w.reset();
  if (ready_r.fd >= 0) {
    char r = 0;
    if (read(ready_r.fd, &r, 1) != 1) {
      siginfo_t si{};
      waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
      return setup_error("child died before the id maps", 0);
    }
  }
  // Map the inner uid to the dedicated host uid, attach v1 cgroups, then let the child go.
  const std::string pre = "/proc/" + std::to_string(pid);
  const std::string in_id = std::to_string(opts_.inner_uid);
  bool mapped = write_small(pre + "/uid_map", in_id + " " + std::to_string(opts_.host_uid) + " 1\n") &&
                write_small(pre + "/setgroups", "deny") &&
                write_small(pre + "/gid_map", in_id + " " + std::to_string(opts_.host_gid) + " 1\n");
  if (!mapped || !cg.attach(static_cast<pid_t>(pid))) {
    int e = errno;
    kill_all();
    siginfo_t si{};
    waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
    return setup_error(mapped ? "cgroup attach" : "uid/gid map", e);
  }
  char go = 'g';
  if (write(sync_w.fd, &go, 1) != 1) {
    kill_all();
  }
  sync_w.reset();
  if (!spec.stdin_data.empty()) {
    // Small inputs only (fits the pipe buffer); larger ones are truncated by the pipe size.
    fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
    ssize_t n = write(in_w.fd, spec.stdin_data.data(), spec.stdin_data.size());
    (void)n;
    in_w.reset();
  }

  ExecResult res;
  bool out_eof = false, err_eof = false, exited = false, killed = false, overflow = false;
  const auto deadline = t0 + spec.limits.wall;
  std::chrono::steady_clock::time_point drain_deadline{};
  while (!exited || !out_eof || !err_eof) {
    auto now = std::chrono::steady_clock::now();
    if (exited && now > drain_deadline) break;  // a pipe held open elsewhere; stop draining
    pollfd fds[4];
    int n = 0;
    int i_out = -1, i_err = -1, i_pid = -1, i_cancel = -1;
    if (!out_eof) fds[i_out = n++] = {out_r.fd, POLLIN, 0};
    if (!err_eof) fds[i_err = n++] = {err_r.fd, POLLIN, 0};
    if (!exited) fds[i_pid = n++] = {pidfd, POLLIN, 0};
    if (cancel && !killed) fds[i_cancel = n++] = {cancel->fd(), POLLIN, 0};
    auto until = exited ? drain_deadline : deadline;
    int ms = killed && !exited ? 1000
                               : static_cast<int>(std::max<int64_t>(
                                     0, std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1));
    int pr = poll(fds, static_cast<nfds_t>(n), ms);
    if (pr < 0 && errno != EINTR) break;
    if (pr == 0 && !exited && !killed) {
      res.timed_out = true;
      killed = true;
      kill_all();
      continue;
    }
    if (i_out >= 0 && fds[i_out].revents) read_some(out_r.fd, res.out, spec.limits.stdout_cap, overflow, out_eof);
    if (i_err >= 0 && fds[i_err].revents) read_some(err_r.fd, res.err, spec.limits.stderr_cap, overflow, err_eof);
    if (overflow && !killed) {
      res.truncated = true;
      killed = true;
      kill_all();
    }
    if (i_cancel >= 0 && fds[i_cancel].revents && !killed) {
      res.cancelled = true;
      killed = true;
      kill_all();
    }
    if (i_pid >= 0 && fds[i_pid].revents) {
      exited = true;
      cg.kill();  // the pid namespace is dying anyway; this also catches anything outside it
      drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    }
  }
  siginfo_t si{};
  waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED);
  res.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  // Non-blocking: a killed descendant may not have closed its copy of the pipes yet.
  fcntl(report_r.fd, F_SETFL, O_NONBLOCK);
  fcntl(status_r.fd, F_SETFL, O_NONBLOCK);
  detail::Report rep{};
  if (read(report_r.fd, &rep, sizeof rep) == sizeof rep) {
    return make_error(Errc::internal, std::string("sandbox setup failed at stage '") + detail::stage_name(rep.stage) +
                                          "': " + strerror(rep.err),
                      json{{"stage", detail::stage_name(rep.stage)}, {"errno", rep.err}});
  }
  int wst = 0;
  if (read(status_r.fd, &wst, sizeof wst) == sizeof wst) {
    if (WIFEXITED(wst)) {
      res.exit_code = WEXITSTATUS(wst);
    } else if (WIFSIGNALED(wst)) {
      res.signal = WTERMSIG(wst);
      res.exit_code = 128 + res.signal;
    }
  } else {
    // PID 1 was killed before the payload finished (timeout, cap, cancel).
    res.signal = SIGKILL;
    res.exit_code = 128 + SIGKILL;
  }
  res.oom_killed = cg.oom_killed();
  res.removed_protected = remove_planted(spec.workspace, prep.absent_protected);
  return res;
}

json ProcSandbox::self_test() const {
  json report = layers_json();
  char tmpl[] = "/tmp/fh-selftest-XXXXXX";
  if (!mkdtemp(tmpl)) {
    report["verified"] = false;
    report["error"] = "mkdtemp failed";
    return report;
  }
  ExecSpec spec;
  spec.workspace = tmpl;
  spec.env = default_env();
  spec.argv = {"/bin/sh", "-c", "cat /proc/self/status; id -u; echo PID=$$; touch /usr/.x 2>/dev/null && echo ROOT_WRITABLE"};
  spec.limits.wall = std::chrono::seconds(10);
  auto r = run(spec);
  rmdir(tmpl);
  if (!r) {
    report["verified"] = false;
    report["error"] = r.error().message;
    return report;
  }
  const std::string& o = r->out;
  auto field = [&](const std::string& key) {
    auto p = o.find(key + ":");
    if (p == std::string::npos) return std::string();
    auto e = o.find('\n', p);
    std::string v = o.substr(p + key.size() + 1, e - p - key.size() - 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  };
  json v;
  v["no_new_privs"] = field("NoNewPrivs") == "1";
  v["seccomp_filter"] = field("Seccomp") == "2";
  v["caps_empty"] = field("CapEff") == "0000000000000000";
  v["unprivileged_uid"] = o.find("\n" + std::to_string(opts_.inner_uid) + "\n") != std::string::npos;
  v["root_read_only"] = o.find("ROOT_WRITABLE") == std::string::npos;
  v["pid_namespace"] = o.find("PID=2\n") != std::string::npos;  // the payload is PID 2 (init is 1)
  report["verified"] = v;
  report["selftest_ms"] = static_cast<double>(r->elapsed.count()) / 1000.0;
  return report;
}

}  // namespace fh::sandbox
