// fh::tools — the composition of the built-in tools into one ToolHost.
//   auto host = fh::tools::make_builtin_host(fh::tools::Options{.workspace = dir});
//   if (!host) { /* refused: e.g. the sandbox level this host cannot provide */ }
//   (*host)->add(my_tool_def);   // more tools (tool.define, MCP, ...) on the same registry
//   std::shared_ptr<fh::api::ToolHost> h = *host;
// Depends on: tools/registry, tools/{fs,shell,time}, sandbox. No Asio beyond `awaitable`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "sandbox/permissions.hpp"
#include "sandbox/proc_sandbox.hpp"
#include "sandbox/redactor.hpp"
#include "tools/fs/fs_tools.hpp"
#include "tools/http/fetch_tool.hpp"
#include "tools/registry/registry.hpp"

namespace fh::tools {

struct Options {
  std::string workspace;                  // default workspace (a call's ctx.workspace wins)
  bool enable_shell = true;               // shell.exec needs the process sandbox
  sandbox::SandboxOptions sandbox;        // level, dedicated host uid/gid
  sandbox::Limits shell_limits;           // per shell.exec run (wall comes from timeout_s)
  double shell_default_timeout_s = 60;
  double shell_max_timeout_s = 600;
  fs::FsOptions fs;
  bool enable_fetch = true;               // http.fetch (when built with providers/http)
  http::FetchOptions fetch;
  // From the user's config only (PermissionEngine::from_file / from_json); unset = defaults
  // (fs.read, fs.list, time.now allowed; everything else asks).
  std::optional<sandbox::PermissionEngine> permissions;
  Approver approver;                      // resolves `ask`; unset = ask is refused
  std::shared_ptr<const sandbox::Redactor> redactor;
};

// Builds a registry holding fs.read, fs.write, fs.list, fs.edit, time.now, http.fetch and (when
// enabled and the sandbox is available at the requested level) shell.exec. A sandbox the host cannot
// provide is an Error (permission_denied), never a silently weaker shell.
Result<std::shared_ptr<Registry>> make_builtin_host(Options o);

// Reads the tool settings of the user's config (trusted source only: never the workspace):
//   {"permissions": {"default": "ask", "rules": [...]},
//    "sandbox": {"level": "standard|strict", "uid": 65534, "gid": 65534, "memory_mb": 1024,
//                "pids": 256, "cpu_s": 60, "output_kb": 1024, "tmp_mb": 256},
//    "tools": {"shell": true, "fetch": true, "shell_timeout_s": 60, "allow_sensitive_reads": false},
//    "secrets": {"github": {"value": "ghp_…", "domains": ["api.github.com"]}, "plain": "value"}}
// Missing sections keep the defaults; unknown keys inside them are errors.
Result<Options> options_from_config(const json& config, std::string workspace);

// The sandbox's startup self-test (which layers this host offers and which were verified).
json sandbox_self_test(const sandbox::SandboxOptions& opts);

}  // namespace fh::tools
