#include "tools/builtin.hpp"

#include <cctype>

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

namespace {

Result<uint64_t> positive(const json& j, const std::string& key) {
  if (!j.is_number_unsigned() || j.get<uint64_t>() == 0)
    return make_error(Errc::invalid_argument, "config: '" + key + "' must be a positive integer");
  return j.get<uint64_t>();
}

}  // namespace

Result<Options> options_from_config(const json& config, std::string workspace) {
  Options o;
  o.workspace = std::move(workspace);
  if (config.is_null()) return o;
  if (!config.is_object()) return make_error(Errc::invalid_argument, "config must be a JSON object");
  if (config.contains("permissions")) {
    auto p = sandbox::PermissionEngine::from_json(config["permissions"]);
    if (!p) return p.error();
    o.permissions = std::move(p).value();
  }
  if (config.contains("sandbox")) {
    const json& s = config["sandbox"];
    if (!s.is_object()) return make_error(Errc::invalid_argument, "config: 'sandbox' must be an object");
    for (const auto& [k, v] : s.items()) {
      if (k == "level") {
        if (v == "standard") o.sandbox.level = sandbox::Level::standard;
        else if (v == "strict") o.sandbox.level = sandbox::Level::strict;
        else return make_error(Errc::invalid_argument, "config: sandbox.level must be standard|strict");
        continue;
      }
      auto n = positive(v, "sandbox." + k);
      if (!n) return n.error();
      if (k == "uid") o.sandbox.host_uid = static_cast<uid_t>(*n);
      else if (k == "gid") o.sandbox.host_gid = static_cast<gid_t>(*n);
      else if (k == "memory_mb") o.shell_limits.memory = *n << 20;
      else if (k == "pids") o.shell_limits.pids = *n;
      else if (k == "cpu_s") o.shell_limits.cpu_s = *n;
      else if (k == "output_kb") o.shell_limits.stdout_cap = o.shell_limits.stderr_cap = *n << 10;
      else if (k == "tmp_mb") o.shell_limits.tmp_size = *n << 20;
      else return make_error(Errc::invalid_argument, "config: unknown key sandbox." + k);
    }
    if (s.contains("uid") && !s.contains("gid")) o.sandbox.host_gid = o.sandbox.host_uid;
  }
  if (config.contains("tools")) {
    const json& t = config["tools"];
    if (!t.is_object()) return make_error(Errc::invalid_argument, "config: 'tools' must be an object");
    for (const auto& [k, v] : t.items()) {
      if (k == "shell" || k == "fetch" || k == "allow_sensitive_reads") {
        if (!v.is_boolean()) return make_error(Errc::invalid_argument, "config: tools." + k + " must be true|false");
        (k == "shell" ? o.enable_shell : k == "fetch" ? o.enable_fetch : o.fs.allow_sensitive_reads) = v.get<bool>();
      } else if (k == "shell_timeout_s") {
        auto n = positive(v, "tools." + k);
        if (!n) return n.error();
        o.shell_default_timeout_s = static_cast<double>(*n);
      } else {
        return make_error(Errc::invalid_argument, "config: unknown key tools." + k);
      }
    }
  }
  if (config.contains("secrets")) {
    const json& s = config["secrets"];
    if (!s.is_object()) return make_error(Errc::invalid_argument, "config: 'secrets' must be an object");
    for (const auto& [name, v] : s.items()) {
      http::BoundSecret b;
      if (v.is_string()) {
        b.value = v.get<std::string>();  // usable by the redactor only: bound to no host
      } else if (v.is_object() && v.contains("value") && v["value"].is_string()) {
        b.value = v["value"].get<std::string>();
        for (const auto& [k, _] : v.items())
          if (k != "value" && k != "domains") return make_error(Errc::invalid_argument, "config: unknown key secrets." + name + "." + k);
        if (v.contains("domains")) {
          if (!v["domains"].is_array()) return make_error(Errc::invalid_argument, "config: secrets." + name + ".domains must be a list of host names");
          for (const auto& d : v["domains"]) {
            if (!d.is_string() || d.get<std::string>().empty())
              return make_error(Errc::invalid_argument, "config: secrets." + name + ".domains must be a list of host names");
            std::string host = d.get<std::string>();
            for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            b.domains.push_back(std::move(host));
          }
        }
      } else {
        return make_error(Errc::invalid_argument, "config: secrets." + name + " must be a string or {\"value\": ..., \"domains\": [...]}");
      }
      o.fetch.secrets.emplace(name, std::move(b));
    }
  }
  return o;
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
