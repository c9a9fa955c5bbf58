// fh::sandbox — the seccomp deny-list for sandboxed tool processes, compiled once with libseccomp
// in the parent and exported as a classic-BPF program, so the child only needs one prctl() (no
// allocation between clone and exec). Native architecture only; a foreign-arch syscall kills
// the process (SIGSYS). TIOCSTI/TIOCLINUX are masked to 32 bits so high bits cannot dodge them.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

namespace fh::sandbox {

struct SeccompProgram {
  std::vector<sock_filter> insns;
  std::string error;  // non-empty when the filter could not be built
};

// Built once (thread-safe) and kept for the life of the process.
const SeccompProgram& deny_list_program();

}  // namespace fh::sandbox
