// fh::sandbox — the permission engine: rules `deny > ask > allow` over tool names and the
// subject of a call (a workspace path, a command line, a domain), loaded only from the user's
// config JSON (never from the workspace or from model output). An `ask` verdict carries the
// exact normalized call; the caller resolves it through an approver bound to that call.
// Depends on: fh::core only. Pure values, thread-safe after construction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.hpp"

namespace fh::sandbox {

enum class Decision { allow, ask, deny };
std::string_view decision_name(Decision d) noexcept;

// One rule. Config form:
//   {"action": "allow|ask|deny", "tool": "fs.write", "path": "src/**"}
//   {"action": "allow", "tool": "shell.exec", "command": "git status"}
//   {"action": "ask",   "tool": "http.fetch", "domain": "*.github.com"}
// `tool` is a glob over tool names ("fs.*", "*"). At most one subject field per rule; a rule
// without one matches every call of its tools.
struct Rule {
  Decision action = Decision::deny;
  std::string tool = "*";
  enum class Kind { any, path, command, domain } kind = Kind::any;
  std::string pattern;
};

// What a call is about, extracted from its arguments for rule matching.
struct CallSubject {
  Rule::Kind kind = Rule::Kind::any;
  std::string value;      // normalized path / command line / lower-case host
  bool compound = false;  // a shell command line with metacharacters (; | & $ ` > < ...)
};

struct Verdict {
  Decision decision = Decision::deny;
  std::string reason;    // which rule (or the default) decided
  std::string call_key;  // the exact normalized call: tool + canonical args (+ workspace)
  CallSubject subject;
};

class PermissionEngine {
 public:
  // The built-in defaults when the user has no config: reads and time allowed, everything
  // else (writes, edits, shell, fetch) asks.
  PermissionEngine();
  // Parses {"default": "ask", "rules": [ ... ]}. Unknown fields or bad values are errors.
  static Result<PermissionEngine> from_json(const json& config);
  // Loads a user config file (the caller chooses the trusted location). The file must be a
  // regular file not writable by group/other.
  static Result<PermissionEngine> from_file(const std::string& path);

  Verdict evaluate(std::string_view tool, const json& args, std::string_view workspace = {}) const;

  const std::vector<Rule>& rules() const noexcept { return rules_; }
  Decision default_decision() const noexcept { return default_; }

  // Exposed for tests and the tools: the subject of a call and the glob matcher.
  static CallSubject subject_of(std::string_view tool, const json& args);
  static bool glob_match(std::string_view pattern, std::string_view text, bool slash_is_special);
  // Lexical normalization of a workspace-relative path ("a/./b/../c" -> "a/c"); nullopt when
  // the path is absolute or climbs out of the workspace.
  static std::optional<std::string> normalize_path(std::string_view p);

 private:
  std::vector<Rule> rules_;
  Decision default_ = Decision::ask;
};

}  // namespace fh::sandbox
