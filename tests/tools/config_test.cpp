// options_from_config: the user's config sections for tools, sandbox and permissions.
#include <doctest/doctest.h>

#include "tools/builtin.hpp"

using fh::json;
using namespace fh::tools;

TEST_CASE("options_from_config reads permissions, sandbox limits and tool switches") {
  auto o = options_from_config(json::parse(R"({
    "permissions": {"default": "deny", "rules": [{"action": "allow", "tool": "fs.read"}]},
    "sandbox": {"level": "strict", "uid": 60000, "memory_mb": 256, "pids": 32, "output_kb": 64, "tmp_mb": 8},
    "tools": {"shell": false, "fetch": true, "shell_timeout_s": 5, "allow_sensitive_reads": true}})"),
                               "/ws");
  REQUIRE_MESSAGE(o.ok(), (o.ok() ? "" : o.error().message));
  CHECK(o->workspace == "/ws");
  CHECK(o->sandbox.level == fh::sandbox::Level::strict);
  CHECK(o->sandbox.host_uid == 60000);
  CHECK(o->sandbox.host_gid == 60000);
  CHECK(o->shell_limits.memory == 256ull << 20);
  CHECK(o->shell_limits.pids == 32);
  CHECK(o->shell_limits.stdout_cap == 64u << 10);
  CHECK(o->shell_limits.tmp_size == 8ull << 20);
  CHECK(!o->enable_shell);
  CHECK(o->enable_fetch);
  CHECK(o->shell_default_timeout_s == 5);
  CHECK(o->fs.allow_sensitive_reads);
  REQUIRE(o->permissions.has_value());
  CHECK(o->permissions->evaluate("fs.write", {{"path", "x"}}).decision == fh::sandbox::Decision::deny);
}

TEST_CASE("options_from_config refuses bad values and unknown keys; null keeps defaults") {
  CHECK(!options_from_config(json::parse(R"({"sandbox": {"level": "off"}})"), "/ws").ok());
  CHECK(!options_from_config(json::parse(R"({"sandbox": {"uid": 0}})"), "/ws").ok());
  CHECK(!options_from_config(json::parse(R"({"sandbox": {"uid": -5}})"), "/ws").ok());
  CHECK(!options_from_config(json::parse(R"({"sandbox": {"colour": 1}})"), "/ws").ok());
  CHECK(!options_from_config(json::parse(R"({"tools": {"shell": "yes"}})"), "/ws").ok());
  CHECK(!options_from_config(json::parse(R"({"permissions": {"default": "maybe"}})"), "/ws").ok());
  auto d = options_from_config(nullptr, "/ws");
  REQUIRE(d.ok());
  CHECK(d->enable_shell);
  CHECK(d->sandbox.host_uid == 65534);
  CHECK(!d->permissions.has_value());
}
