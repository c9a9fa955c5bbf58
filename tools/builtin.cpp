#include "tools/builtin.hpp"

#include "tools/shell/shell_tool.hpp"
#include "tools/time/time_tool.hpp"

namespace fh::tools {

Result<std::shared_ptr<Registry>> make_builtin_host(Options o) {
  auto reg = std::make_shared<Registry>();
  reg->set_permissions(o.permissions ? *o.permissions : sandbox::PermissionEngine{});
  if (o.approver) reg->set_approver(o.approver);
  if (o.redactor) reg->set_redactor(o.redactor);
  for (auto& def : fs::tool_defs(o.fs, o.workspace))
    if (auto r = reg->add(std::move(def)); !r) return r.error();
  if (auto r = reg->add(time::tool_def()); !r) return r.error();
#ifdef FH_HAVE_HTTP_FETCH
  if (o.enable_fetch)
    if (auto r = reg->add(http::tool_def(o.fetch)); !r) return r.error();
#endif
  if (o.enable_shell) {
    auto sb = sandbox::ProcSandbox::make(o.sandbox);
    if (!sb) return sb.error();
    shell::ShellOptions so;
    so.sandbox = *sb;
    so.limits = o.shell_limits;
    so.default_timeout_s = o.shell_default_timeout_s;
    so.max_timeout_s = o.shell_max_timeout_s;
    if (auto r = reg->add(shell::tool_def(so, o.workspace)); !r) return r.error();
  }
  return reg;
}

json sandbox_self_test(const sandbox::SandboxOptions& opts) {
  auto sb = sandbox::ProcSandbox::make(opts);
  if (!sb) {
    json j = sandbox::host_features().to_json();
    j["refused"] = sb.error().message;
    return j;
  }
  return (*sb)->self_test();
}

}  // namespace fh::tools
