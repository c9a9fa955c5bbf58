// fh::tools::shell — the shell.exec tool: {argv: [...]} or {command: "..."} (run by /bin/sh -c),
// optional timeout_s → {exit_code, stdout, stderr, timed_out, truncated}, always through the
// process sandbox (sandbox/proc_sandbox.hpp).
// Executor: the sandboxed run blocks a small dedicated thread, which posts the result back to
// the caller's executor; the Asio loop never blocks. Cancelling the awaiting coroutine (or the
// registry's per-call timeout) kills the sandbox, which reaches every descendant.
// Depends on: tools/registry, sandbox. Asio only in shell_tool.cpp.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "sandbox/proc_sandbox.hpp"
#include "tools/registry/registry.hpp"

namespace fh::tools::shell {

struct ShellOptions {
  std::shared_ptr<const sandbox::ProcSandbox> sandbox;  // required
  sandbox::Limits limits;          // wall is replaced by the call's timeout_s
  double default_timeout_s = 60;
  double max_timeout_s = 600;
  std::vector<std::string> protected_subpaths{".git/hooks", ".git/config", ".freehold", ".vscode", ".idea"};
};

ToolDef tool_def(ShellOptions o, std::string default_workspace);

// Runs one spec in the sandbox without blocking the caller's executor; cancellation through
// the awaiting coroutine's slot kills the run.
boost::asio::awaitable<Result<sandbox::ExecResult>> run_async(std::shared_ptr<const sandbox::ProcSandbox> sb,
                                                              sandbox::ExecSpec spec);

}  // namespace fh::tools::shell
