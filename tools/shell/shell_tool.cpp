#include "tools/shell/shell_tool.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cmath>

#include "runtime/core/utf8.hpp"
#include <thread>

namespace fh::tools::shell {

namespace asio = boost::asio;
using sandbox::ExecResult;
using sandbox::ExecSpec;

namespace {

// The operation: a dedicated thread runs the blocking sandbox; the completion is posted to the
// handler's executor. The cancellation slot (if any) triggers the run's CancelSource.
template <class Token>
auto async_run(std::shared_ptr<const sandbox::ProcSandbox> sb, ExecSpec spec, Token&& token) {
  return asio::async_initiate<Token, void(Result<ExecResult>)>(
      [](auto handler, std::shared_ptr<const sandbox::ProcSandbox> sb, ExecSpec spec) {
        auto cancel = std::make_shared<sandbox::CancelSource>();
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) slot.assign([cancel](asio::cancellation_type) { cancel->cancel(); });
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        std::thread([sb = std::move(sb), spec = std::move(spec), cancel, handler = std::move(handler),
                     work = std::move(work)]() mutable {
          Result<ExecResult> r = sb->run(spec, cancel.get());
          auto ex = work.get_executor();
          asio::post(ex, [handler = std::move(handler), r = std::move(r), work = std::move(work)]() mutable {
            auto s = asio::get_associated_cancellation_slot(handler);
            if (s.is_connected()) s.clear();
            std::move(handler)(std::move(r));
          });
        }).detach();
      },
      token, std::move(sb), std::move(spec));
}

asio::awaitable<Result<json>> exec(ShellOptions o, std::string default_workspace, json args, api::ToolCallContext ctx) {
  ExecSpec spec;
  spec.workspace = ctx.workspace.empty() ? default_workspace : ctx.workspace;
  spec.env = sandbox::default_env();
  spec.protected_subpaths = o.protected_subpaths;
  spec.limits = o.limits;
  if (args.contains("argv")) {
    for (const auto& a : args["argv"]) {
      if (!a.is_string()) co_return make_error(Errc::invalid_argument, "argv items must be strings");
      spec.argv.push_back(a.get<std::string>());
    }
  } else if (args.contains("command") && args["command"].is_string()) {
    spec.argv = {"/bin/sh", "-c", args["command"].get<std::string>()};
  }
  if (spec.argv.empty()) co_return make_error(Errc::invalid_argument, "give either 'argv' (non-empty array) or 'command'");
  double t = o.default_timeout_s;
  if (args.contains("timeout_s") && args["timeout_s"].is_number()) t = args["timeout_s"].get<double>();
  if (!(t > 0) || !std::isfinite(t)) co_return make_error(Errc::invalid_argument, "timeout_s must be a positive number");
  t = std::min(t, o.max_timeout_s);
  spec.limits.wall = std::chrono::milliseconds(static_cast<int64_t>(t * 1000));
  spec.limits.cpu_s = static_cast<uint64_t>(std::ceil(t)) + 1;

  // Cancelled before the run could install its cancel hook: do not start it.
  if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
    co_return make_error(Errc::cancelled, "shell.exec was cancelled");
  Result<ExecResult> r = co_await async_run(o.sandbox, std::move(spec), asio::use_awaitable);
  if (!r) co_return r.error();
  if (r->cancelled) co_return make_error(Errc::cancelled, "shell.exec was cancelled");
  json out{{"exit_code", r->exit_code},
           {"stdout", utf8::repaired(r->out)},
           {"stderr", utf8::repaired(r->err)},
           {"timed_out", r->timed_out},
           {"truncated", r->truncated}};
  if (!r->removed_protected.empty()) out["removed_protected"] = r->removed_protected;
  co_return out;
}

}  // namespace

asio::awaitable<Result<ExecResult>> run_async(std::shared_ptr<const sandbox::ProcSandbox> sb, ExecSpec spec) {
  co_return co_await async_run(std::move(sb), std::move(spec), asio::use_awaitable);
}

ToolDef tool_def(ShellOptions o, std::string default_workspace) {
  json schema{
      {"type", "object"},
      {"properties",
       {{"argv", {{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 1}, {"description", "program and arguments (no shell)"}}},
        {"command", {{"type", "string"}, {"minLength", 1}, {"description", "a command line run by /bin/sh -c"}}},
        {"timeout_s", {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", o.max_timeout_s}}}}},
      {"oneOf", json::array({json{{"required", {"argv"}}}, json{{"required", {"command"}}}})},
      {"additionalProperties", false}};
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.max_timeout_s * 1000) + 10000);
  Handler h = [o, default_workspace](json args, api::ToolCallContext ctx) {
    return exec(o, default_workspace, std::move(args), std::move(ctx));
  };
  return ToolDef{api::ToolSpec{"shell.exec",
                               "Run a command in a sandbox (no network, workspace at /workspace is the only writable "
                               "place besides /tmp). Give argv or command; returns exit_code, stdout, stderr.",
                               std::move(schema)},
                 std::move(h), timeout};
}

}  // namespace fh::tools::shell
