// A tiny probe run INSIDE the sandbox by the escape tests: it tries one family of attacks and
// prints "name=errno" lines (0 = the call succeeded). Bad-pointer arguments keep a call from
// doing anything real when it is allowed (EFAULT then tells "reached the kernel").
// Built without sanitizers: the sandbox's RLIMIT_AS would not fit ASan's shadow memory.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void report(const char* name, long rc) { std::printf("%s=%d\n", name, rc < 0 ? errno : 0); }

int syscalls() {
  void* bad = reinterpret_cast<void*>(8);  // an unmapped address: EFAULT if the kernel is reached
  report("io_uring_setup", syscall(SYS_io_uring_setup, 1, bad));
  report("bpf", syscall(SYS_bpf, 0, bad, 8));
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  report("keyctl", syscall(SYS_keyctl, 0 /*GET_KEYRING_ID*/, -3, 0));
  report("perf_event_open", syscall(SYS_perf_event_open, bad, 0, -1, -1, 0));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, bad, 0));
  report("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
  long c = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (c == 0) _exit(0);
  if (c > 0) waitpid(static_cast<pid_t>(c), nullptr, 0);
  report("clone_newuser", c);
  clone_args ca{};
  ca.flags = CLONE_NEWUSER;
  ca.exit_signal = SIGCHLD;
  long c3 = syscall(SYS_clone3, &ca, sizeof ca);
  if (c3 == 0) _exit(0);
  if (c3 > 0) waitpid(static_cast<pid_t>(c3), nullptr, 0);
  report("clone3", c3);
  report("mount", mount("none", "/tmp", "tmpfs", 0, nullptr));
  report("personality", personality(ADDR_NO_RANDOMIZE));
  report("ptrace_traceme", ptrace(PTRACE_TRACEME, 0, nullptr, nullptr));
  report("setns", syscall(SYS_setns, -1, 0));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, bad, 0));
  report("init_module", syscall(SYS_init_module, bad, 0, bad));
  report("sethostname", sethostname("x", 1));
  return 0;
}

int sockets() {
  struct {
    const char* name;
    int family;
  } fams[] = {{"inet", AF_INET}, {"inet6", AF_INET6}, {"netlink", AF_NETLINK}, {"vsock", 40 /*AF_VSOCK*/},
              {"packet", AF_PACKET}, {"unix", AF_UNIX}};
  for (auto& f : fams) {
    int s = socket(f.family, f.family == AF_NETLINK || f.family == AF_PACKET ? SOCK_RAW : SOCK_STREAM, 0);
    report(f.name, s);
    if (s >= 0) close(s);
  }
  int sv[2];
  report("socketpair_inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
  return 0;
}

int connect_tcp(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) {
    report("connect", -1);
    return 0;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  report("connect", connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
  return 0;
}

int connect_abstract(const char* name) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  size_t n = std::strlen(name);
  std::memcpy(a.sun_path + 1, name, n);
  report("connect", connect(s, reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(sizeof(sa_family_t) + 1 + n)));
  return 0;
}

int int80() {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");  // i386 getpid
  std::printf("int80=survived %ld\n", ret);
  return 0;
}

int tiocsti() {
  char c = 'x';
  report("tiocsti", ioctl(0, TIOCSTI, &c));
  report("tiocsti_high", syscall(SYS_ioctl, 0, static_cast<unsigned long>(TIOCSTI) | (1ul << 32), &c));
  report("tioclinux", ioctl(0, TIOCLINUX, &c));
  return 0;
}

int setuid_bits() {
  int fd = open("suid_open", O_CREAT | O_WRONLY, 04755);
  report("open_suid", fd);
  if (fd >= 0) close(fd);
  int f2 = open("plain", O_CREAT | O_WRONLY, 0755);
  report("open_plain", f2);
  if (f2 >= 0) close(f2);
  report("chmod_suid", chmod("plain", 04755));
  report("chmod_sgid", chmod("plain", 02755));
  report("fchmodat_suid", fchmodat(AT_FDCWD, "plain", 04755, 0));
  report("chmod_plain", chmod("plain", 0700));
  report("mknod_fifo", mknod("fifo", S_IFIFO | 0600, 0));
  report("mknod_dev", mknod("dev", S_IFCHR | 0600, makedev(1, 3)));
  return 0;
}

int write_file(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  report("open", fd);
  if (fd >= 0) report("write", write(fd, "x", 1));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc < 2) return 2;
  std::string cmd = argv[1];
  if (cmd == "syscalls") return syscalls();
  if (cmd == "sockets") return sockets();
  if (cmd == "connect_tcp" && argc > 2) return connect_tcp(std::atoi(argv[2]));
  if (cmd == "connect_abstract" && argc > 2) return connect_abstract(argv[2]);
  if (cmd == "int80") return int80();
  if (cmd == "tiocsti") return tiocsti();
  if (cmd == "setuid_bits") return setuid_bits();
  if (cmd == "kill" && argc > 2) {
    report("kill", kill(std::atoi(argv[2]), 0));
    return 0;
  }
  if (cmd == "write" && argc > 2) return write_file(argv[2]);
  return 2;
}
