// fh::tools::fs — the file tools fs.read, fs.write, fs.list, fs.edit, confined to a workspace.
// Every access goes through openat2(RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS|NO_XDEV) from a
// workspace directory fd (never string prefix checks); writes are atomic (O_EXCL temp in the
// same directory, fsync, renameat) and refuse hard-linked or non-regular targets; protected
// paths (.git/hooks, .git/config, shell rc files, editor config, .freehold) cannot be written;
// secret-looking files (.env, *.pem, id_*) cannot be read unless the options allow it.
// Depends on: tools/registry, sandbox (path normalization). Synchronous and short: each call
// does bounded local I/O on the caller's thread; no Asio in here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/result.hpp"
#include "tools/registry/registry.hpp"

namespace fh::tools::fs {

struct FsOptions {
  uint64_t max_read_bytes = 1ull << 20;
  uint64_t max_write_bytes = 4ull << 20;
  size_t max_list_entries = 5000;
  bool allow_sensitive_reads = false;
  std::vector<std::string> protected_paths = default_protected_paths();
  std::vector<std::string> sensitive_paths = default_sensitive_paths();

  static std::vector<std::string> default_protected_paths();
  static std::vector<std::string> default_sensitive_paths();
};

// An open workspace root (O_PATH|O_DIRECTORY). Move-only.
class Workspace {
 public:
  static Result<Workspace> open(const std::string& root);
  Workspace(Workspace&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Workspace& operator=(Workspace&& o) noexcept;
  Workspace(const Workspace&) = delete;
  ~Workspace();
  int fd() const noexcept { return fd_; }

 private:
  explicit Workspace(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The tool bodies (arguments already schema-validated by the registry, but still checked).
Result<json> read(const Workspace& ws, const json& args, const FsOptions& o);
Result<json> write(const Workspace& ws, const json& args, const FsOptions& o);
Result<json> list(const Workspace& ws, const json& args, const FsOptions& o);
Result<json> edit(const Workspace& ws, const json& args, const FsOptions& o);

// Whether a normalized workspace-relative path is protected / sensitive under the options.
bool is_protected(const std::string& normalized, const FsOptions& o);
bool is_sensitive(const std::string& normalized, const FsOptions& o);

// The four tool definitions. Each call opens the run's workspace (ctx.workspace, else
// `default_workspace`).
std::vector<ToolDef> tool_defs(FsOptions o, std::string default_workspace);

}  // namespace fh::tools::fs
