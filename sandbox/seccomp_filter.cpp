// The deny-list mirrors SECURITY.md §4.3 step 6: tracing, mounts (old and new API), namespace
// creation, kernel attack surface (bpf, perf, userfaultfd, keyrings, io_uring, handles, modules,
// kexec), host-state changes (hostname, clocks, swap, reboot), terminal injection, and every
// socket family but AF_UNIX.
#include "sandbox/seccomp_filter.hpp"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace fh::sandbox {
namespace {

constexpr uint64_t ns_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                              CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;

SeccompProgram build() {
  SeccompProgram p;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    p.error = "seccomp_init failed";
    return p;
  }
  int rc = 0;
  auto deny = [&](int nr, int err = EPERM) {
    if (nr < 0) return;  // not a syscall on this arch
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
    if (r < 0 && rc == 0) rc = r;
  };
  rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  const char* denied[] = {
      "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
      "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
      "fspick", "mount_setattr", "unshare", "setns", "bpf", "perf_event_open", "userfaultfd", "keyctl",
      "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
      "name_to_handle_at", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
      "sethostname", "setdomainname", "clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "acct",
      "swapon", "swapoff", "reboot", "quotactl", "quotactl_fd", "lookup_dcookie", "vhangup", "syslog",
      "uselib", "iopl", "ioperm", "fanotify_init", "nfsservctl",
  };
  for (const char* name : denied) deny(seccomp_syscall_resolve_name(name));
  // personality: only PER_LINUX (no READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...).
  int per = seccomp_syscall_resolve_name("personality");
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), per, 1, SCMP_A0(SCMP_CMP_NE, 0));
  // clone with any namespace flag (one rule per flag bit); clone3 cannot be inspected (its
  // flags sit behind a pointer) -> ENOSYS, so libc falls back to clone, which we can inspect.
  for (uint64_t bit = 1; bit != 0 && bit <= ns_flags; bit <<= 1) {
    if ((ns_flags & bit) == 0) continue;
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit));
    if (r < 0 && rc == 0) rc = r;
  }
  deny(seccomp_syscall_resolve_name("clone3"), ENOSYS);
  // Terminal injection.
  for (unsigned long req : {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, req));
    if (r < 0 && rc == 0) rc = r;
  }
  // No setuid/setgid bits: the workspace is idmapped, so a file the sandbox marks setuid would
  // be a setuid file of the workspace owner on the host. Covers chmod, create and mknod.
  struct ModeArg {
    const char* name;
    unsigned arg;
  };
  for (const ModeArg& m : {ModeArg{"chmod", 1}, ModeArg{"fchmod", 1}, ModeArg{"fchmodat", 2}, ModeArg{"open", 2},
                           ModeArg{"openat", 3}, ModeArg{"creat", 1}, ModeArg{"mknod", 1}, ModeArg{"mknodat", 2}}) {
    int nr = seccomp_syscall_resolve_name(m.name);
    if (nr < 0) continue;
    for (uint64_t bit : {uint64_t{S_ISUID}, uint64_t{S_ISGID}}) {
      scmp_arg_cmp cmp{m.arg, SCMP_CMP_MASKED_EQ, bit, bit};
      int r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp);
      if (r < 0 && rc == 0) rc = r;
    }
  }
#if defined(__x86_64__)
  // fchmodat2 (kernel 6.6) postdates libseccomp 2.5.4's tables; openat2's flags sit behind a
  // pointer, so it is refused outright (libc falls back to openat).
  for (uint64_t bit : {uint64_t{S_ISUID}, uint64_t{S_ISGID}}) {
    scmp_arg_cmp cmp{2, SCMP_CMP_MASKED_EQ, bit, bit};
    int r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), 452, 1, &cmp);
    if (r < 0 && rc == 0) rc = r;
  }
#endif
  deny(seccomp_syscall_resolve_name("openat2"), ENOSYS);
  // Sockets: AF_UNIX only (the netns is empty anyway; this also covers a host without netns).
  for (int nr : {static_cast<int>(SCMP_SYS(socket)), static_cast<int>(SCMP_SYS(socketpair))}) {
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    if (r < 0 && rc == 0) rc = r;
  }
  if (rc < 0) {
    p.error = "seccomp rule setup failed: " + std::to_string(-rc);
    seccomp_release(ctx);
    return p;
  }
  // Export the BPF through a memfd (libseccomp 2.5 has no in-memory export).
  int mfd = memfd_create("fh-seccomp", MFD_CLOEXEC);
  if (mfd < 0 || seccomp_export_bpf(ctx, mfd) < 0) {
    p.error = "seccomp_export_bpf failed";
  } else {
    off_t size = lseek(mfd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter) != 0) {
      p.error = "seccomp export has a bad size";
    } else {
      p.insns.resize(static_cast<size_t>(size) / sizeof(sock_filter));
      if (pread(mfd, p.insns.data(), static_cast<size_t>(size), 0) != size) {
        p.error = "seccomp export read failed";
        p.insns.clear();
      }
    }
  }
  if (mfd >= 0) close(mfd);
  seccomp_release(ctx);
  return p;
}

}  // namespace

const SeccompProgram& deny_list_program() {
  static const SeccompProgram prog = build();
  return prog;
}

}  // namespace fh::sandbox
