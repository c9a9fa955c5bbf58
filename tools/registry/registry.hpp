// fh::tools — the tool registry: tools with a name, a description and a JSON Schema for their
// arguments. A call is validated against the schema (valijson) BEFORE the tool runs, then
// checked by the permission engine (deny > ask > allow; `ask` goes to the approver bound to the
// exact call), then run under a per-call timeout; results are JSON, scrubbed by the redactor.
// Implements fh::api::ToolHost.
// Depends on: runtime/api, sandbox (permissions, redactor). Asio appears here only as
// awaitable; the timeout/cancellation machinery lives in registry.cpp.
// Executor: call() runs on the caller's executor and completes there; cancelling the awaiting
// coroutine (its cancellation slot) cancels the tool (a shell call kills its sandbox).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "runtime/api/tool.hpp"
#include "sandbox/permissions.hpp"
#include "sandbox/redactor.hpp"

namespace fh::tools {

using Handler = std::function<boost::asio::awaitable<Result<json>>(json args, api::ToolCallContext ctx)>;
using SyncHandler = std::function<Result<json>(const json& args, const api::ToolCallContext& ctx)>;

struct ToolDef {
  api::ToolSpec spec;
  Handler handler;
  std::chrono::milliseconds timeout{60000};  // per-call wall clock, enforced by the registry
  // Taint gate ("lethal trifecta", SECURITY.md §4.6): once a run has called a tool whose output
  // is untrusted (web pages, unknown files), every outbound-capable tool call in that run needs
  // approval even where the rules allow it.
  bool untrusted_output = false;
  bool outbound = false;
};

// Wraps a fast, non-suspending handler (file tools, time) as a Handler.
Handler make_sync_handler(SyncHandler fn);

// What the approver sees: the exact call it approves. The registry runs exactly these args.
struct ApprovalRequest {
  std::string tool;
  json args;
  std::string call_key;  // tool + canonical args + workspace
  std::string subject;   // the path / command / domain the rules looked at
  std::string reason;    // which rule asked
  std::string call_id;
};
enum class Approval { deny, once, session };
using Approver = std::function<boost::asio::awaitable<Approval>(ApprovalRequest)>;

class Registry : public api::ToolHost {
 public:
  Registry();
  ~Registry() override;

  // Adds a tool; the schema is compiled now (an invalid schema or a duplicate name is an error).
  Result<Ok> add(ToolDef def);
  bool remove(std::string_view name);

  void set_permissions(sandbox::PermissionEngine engine);
  void set_approver(Approver approver);  // without one, `ask` is refused (permission_denied)
  void set_redactor(std::shared_ptr<const sandbox::Redactor> redactor);

  Result<api::ToolSpec> spec(std::string_view name) const override;
  std::vector<api::ToolSpec> list() const override;
  boost::asio::awaitable<Result<json>> call(std::string_view name, json args, api::ToolCallContext ctx) override;

  // Forgets a finished run's taint state.
  void end_run(std::string_view run_id);

  // Schema validation only (exposed for tests and for plan-side pre-checks).
  Result<Ok> validate(std::string_view name, const json& args) const;

 private:
  struct Entry;
  std::shared_ptr<const Entry> find(std::string_view name) const;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>, std::less<>> tools_;
  sandbox::PermissionEngine permissions_;
  Approver approver_;
  std::shared_ptr<const sandbox::Redactor> redactor_;
  std::map<std::string, bool> session_approvals_;  // call_key -> approved for the session
  std::map<std::string, bool> tainted_runs_;       // run_id -> read untrusted content
};

}  // namespace fh::tools
