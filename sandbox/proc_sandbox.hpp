// fh::sandbox — the process sandbox that runs tool commands (shell.exec) on this host.
// Design: SECURITY.md §4.3. A child is cloned into fresh user, mount, pid, net, ipc, uts and
// cgroup namespaces, mapped to a dedicated unprivileged host uid (never root), given a minimal
// read-only root with the workspace as the only writable place (nosuid, nodev; protected
// subpaths re-bound read-only), rlimits, no capabilities, no_new_privs, Landlock and a seccomp
// deny-list. Its namespace init is killed (and cgroup.kill written) on timeout, cancel or an
// output-cap overflow, which reaches every descendant.
// Depends on: the standard library, fh::core, libseccomp (in the .cpp only). No Asio.
// Threads: run() blocks the calling thread (poll on pipes + pidfd); callers that live on an
// event loop run it on a dedicated thread and cancel through CancelSource.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/result.hpp"

namespace fh::sandbox {

// How hard the sandbox must be. A level the host cannot provide is refused by make(), never
// silently weakened.
enum class Level {
  standard,  // namespaces + seccomp + rlimits are required; Landlock and cgroups if available
  strict,    // additionally requires Landlock and a cgroup-based kill
};

enum class CgroupLayout { pure_v2, hybrid, v1_only, none };
std::string_view cgroup_layout_name(CgroupLayout l) noexcept;

// What this host offers, detected once (cheap probes, no sandboxed process).
struct HostFeatures {
  bool userns = false;
  bool seccomp = false;
  int landlock_abi = 0;  // 0 = unavailable
  bool idmap_mounts = false;
  CgroupLayout cgroup = CgroupLayout::none;
  std::string cgroup_v2_base;   // where per-run v2 cgroups are created ("" if none)
  std::string cgroup_v1_memory; // where per-run v1 memory cgroups are created ("" if none)
  std::string cgroup_v1_pids;
  bool cgroup_kill = false;     // v2 cgroup.kill usable
  bool memory_limit = false;    // a memory cgroup limit can be applied
  bool pids_limit = false;      // a pids cgroup limit can be applied
  json to_json() const;
};
const HostFeatures& host_features();  // probed once, thread-safe

struct Limits {
  std::chrono::milliseconds wall{60000};
  uint64_t cpu_s = 60;
  uint64_t address_space = 2ull << 30;
  uint64_t memory = 1ull << 30;  // cgroup memory limit, when available
  uint64_t pids = 256;           // cgroup pids limit, and RLIMIT_NPROC
  uint64_t nofile = 1024;
  uint64_t file_size = 1ull << 30;
  uint64_t stdout_cap = 1ull << 20;
  uint64_t stderr_cap = 1ull << 20;
  uint64_t tmp_size = 256ull << 20;
};

// Layers that tests may switch off to run negative controls. Production callers keep them all.
struct Layers {
  bool seccomp = true;
  bool landlock = true;
  bool netns = true;
  bool caps_drop = true;
};

struct ExecSpec {
  std::vector<std::string> argv;  // argv[0] absolute, or searched in /usr/local/bin:/usr/bin:/bin
  std::map<std::string, std::string> env;  // the complete environment (see default_env())
  std::string workspace;                   // host directory, bound read-write at /workspace
  std::vector<std::string> protected_subpaths{".git/hooks", ".git/config", ".freehold", ".vscode", ".idea"};
  std::vector<std::string> extra_ro;       // host paths bound read-only at the same place
  Limits limits;
  Layers layers;
  std::string stdin_data;                  // fed to the payload's stdin (else /dev/null)
};

std::map<std::string, std::string> default_env();

struct ExecResult {
  int exit_code = -1;    // the payload's exit status; 128+signal when a signal ended it
  int signal = 0;        // the signal that ended it, or 0
  bool timed_out = false;
  bool truncated = false;  // an output cap was hit (the run was then killed)
  bool cancelled = false;
  bool oom_killed = false;
  std::string out, err;
  std::chrono::microseconds elapsed{0};
  // Protected subpaths that were absent (so not bound read-only) and that the payload created:
  // removed after the run, so nothing planted there runs later outside the sandbox.
  std::vector<std::string> removed_protected;
};

// A one-shot cancel signal usable from any thread (an eventfd the runner polls).
class CancelSource {
 public:
  CancelSource();
  ~CancelSource();
  CancelSource(const CancelSource&) = delete;
  CancelSource& operator=(const CancelSource&) = delete;
  void cancel() noexcept;
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

struct SandboxOptions {
  Level level = Level::standard;
  uid_t host_uid = 65534;   // the unprivileged host uid the sandbox runs as (0 is refused)
  gid_t host_gid = 65534;
  uid_t inner_uid = 1000;   // the uid the payload sees
};

class ProcSandbox {
 public:
  // Checks the host against the level and the options; refuses what it cannot provide.
  static Result<std::shared_ptr<ProcSandbox>> make(SandboxOptions opts);
  // The level check make() applies, on given features (tests feed hosts without Landlock etc.).
  static Result<Ok> check_level(const HostFeatures& hf, const SandboxOptions& opts);

  // Runs one command. Sandboxee behaviour (exit codes, signals, timeouts, floods) comes back in
  // ExecResult; only a setup failure (the sandbox could not be built) is an Error.
  Result<ExecResult> run(const ExecSpec& spec, const CancelSource* cancel = nullptr) const;

  // Runs a probe inside the sandbox and reports which layers are really active.
  json self_test() const;

  const SandboxOptions& options() const noexcept { return opts_; }
  // Which layers this sandbox applies (host features filtered by the level).
  json layers_json() const;

 private:
  explicit ProcSandbox(SandboxOptions o) : opts_(o) {}
  SandboxOptions opts_;
};

// Removes stale per-run cgroups left behind by a crashed daemon (P24). Returns how many.
int collect_stale_cgroups();

}  // namespace fh::sandbox
