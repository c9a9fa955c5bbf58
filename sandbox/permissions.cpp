#include "sandbox/permissions.hpp"
#include "runtime/core/json_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace fh::sandbox {

std::string_view decision_name(Decision d) noexcept {
  switch (d) {
    case Decision::allow: return "allow";
    case Decision::ask: return "ask";
    case Decision::deny: return "deny";
  }
  return "deny";
}

namespace {

std::optional<Decision> parse_decision(const json& j) {
  if (!j.is_string()) return std::nullopt;
  const auto& s = j.get_ref<const std::string&>();
  if (s == "allow") return Decision::allow;
  if (s == "ask") return Decision::ask;
  if (s == "deny") return Decision::deny;
  return std::nullopt;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Shell-quotes one argv word so the joined command line is unambiguous.
std::string quote_word(const std::string& w) {
  bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_./=:,+@%").find(c) != std::string_view::npos;
  });
  if (plain) return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string host_of_url(const std::string& url) {
  auto p = url.find("://");
  std::string rest = p == std::string::npos ? url : url.substr(p + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest[0] == '[') return lower(rest.substr(1, rest.find(']') - 1));
  return lower(rest.substr(0, rest.find(':')));
}

}  // namespace

PermissionEngine::PermissionEngine() {
  for (const char* t : {"fs.read", "fs.list", "time.now"}) rules_.push_back(Rule{Decision::allow, t, Rule::Kind::any, ""});
  default_ = Decision::ask;
}

Result<PermissionEngine> PermissionEngine::from_json(const json& config) {
  if (!config.is_object()) return make_error(Errc::invalid_argument, "permissions config must be an object");
  PermissionEngine e;
  e.rules_.clear();
  e.default_ = Decision::deny;
  for (const auto& [k, v] : config.items()) {
    if (k == "default") {
      auto d = parse_decision(v);
      if (!d) return make_error(Errc::invalid_argument, "permissions.default must be allow|ask|deny");
      e.default_ = *d;
    } else if (k != "rules") {
      return make_error(Errc::invalid_argument, "permissions: unknown field '" + k + "'");
    }
  }
  if (config.contains("rules")) {
    const json& rules = config["rules"];
    if (!rules.is_array()) return make_error(Errc::invalid_argument, "permissions.rules must be an array");
    for (size_t i = 0; i < rules.size(); ++i) {
      const json& r = rules[i];
      std::string where = "permissions.rules[" + std::to_string(i) + "]";
      if (!r.is_object()) return make_error(Errc::invalid_argument, where + " must be an object");
      Rule rule;
      int subjects = 0;
      for (const auto& [k, v] : r.items()) {
        if (k == "action") {
          auto d = parse_decision(v);
          if (!d) return make_error(Errc::invalid_argument, where + ".action must be allow|ask|deny");
          rule.action = *d;
        } else if (k == "tool" || k == "path" || k == "command" || k == "domain") {
          if (!v.is_string() || v.get_ref<const std::string&>().empty())
            return make_error(Errc::invalid_argument, where + "." + k + " must be a non-empty string");
          if (k == "tool") {
            rule.tool = v.get<std::string>();
          } else {
            ++subjects;
            rule.kind = k == "path" ? Rule::Kind::path : k == "command" ? Rule::Kind::command : Rule::Kind::domain;
            rule.pattern = k == "domain" ? lower(v.get<std::string>()) : v.get<std::string>();
          }
        } else {
          return make_error(Errc::invalid_argument, where + ": unknown field '" + k + "'");
        }
      }
      if (!r.contains("action")) return make_error(Errc::invalid_argument, where + ".action is required");
      if (subjects > 1) return make_error(Errc::invalid_argument, where + ": at most one of path|command|domain");
      e.rules_.push_back(std::move(rule));
    }
  }
  return e;
}

Result<PermissionEngine> PermissionEngine::from_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return make_error(Errc::not_found, "permissions file not readable: " + path);
  struct stat st{};
  fstat(fd, &st);
  if (!S_ISREG(st.st_mode) || (st.st_mode & 022) != 0 || st.st_size > (1 << 20)) {
    close(fd);
    return make_error(Errc::permission_denied, "permissions file must be a regular file not writable by others: " + path);
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  ssize_t n = read(fd, text.data(), text.size());
  close(fd);
  if (n != st.st_size) return make_error(Errc::internal, "short read of " + path);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(Errc::invalid_argument, "permissions file is not JSON: " + path);
  if (j.contains("permissions")) j = j["permissions"];
  return from_json(j);
}

bool PermissionEngine::glob_match(std::string_view pat, std::string_view text, bool slash_is_special) {
  // Iterative glob with backtracking: '**' matches anything, '*' anything but '/' when
  // slash_is_special (anything otherwise), '?' one character.
  size_t p = 0, t = 0, star_p = std::string_view::npos, star_t = 0;
  bool star_any = false;
  while (t < text.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star_any = !slash_is_special || (p + 1 < pat.size() && pat[p + 1] == '*');
      while (p < pat.size() && pat[p] == '*') ++p;
      star_p = p;
      star_t = t;
    } else if (p < pat.size() && (pat[p] == text[t] || (pat[p] == '?' && text[t] != '/'))) {
      ++p;
      ++t;
    } else if (star_p != std::string_view::npos && (star_any || text[star_t] != '/')) {
      p = star_p;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

std::optional<std::string> PermissionEngine::normalize_path(std::string_view p) {
  if (p.empty() || p[0] == '/') return std::nullopt;
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& s : parts) out += (out.empty() ? "" : "/") + s;
  return out.empty() ? std::string(".") : out;
}

CallSubject PermissionEngine::subject_of(std::string_view tool, const json& args) {
  CallSubject s;
  if (!args.is_object()) return s;
  if (tool.substr(0, 3) == "fs." && args.contains("path") && args["path"].is_string()) {
    s.kind = Rule::Kind::path;
    auto n = normalize_path(args["path"].get<std::string>());
    s.value = n ? *n : args["path"].get<std::string>();
  } else if (args.contains("argv") && args["argv"].is_array()) {
    s.kind = Rule::Kind::command;
    for (const auto& a : args["argv"]) {
      if (!s.value.empty()) s.value += ' ';
      s.value += a.is_string() ? quote_word(a.get<std::string>()) : json_text(a);
    }
  } else if (args.contains("command") && args["command"].is_string()) {
    s.kind = Rule::Kind::command;
    s.value = args["command"].get<std::string>();
    s.compound = s.value.find_first_of(";|&$`<>()\n\r\\*?[]{}~'\"#") != std::string::npos;
  } else if (args.contains("url") && args["url"].is_string()) {
    s.kind = Rule::Kind::domain;
    s.value = host_of_url(args["url"].get<std::string>());
  }
  return s;
}

Verdict PermissionEngine::evaluate(std::string_view tool, const json& args, std::string_view workspace) const {
  Verdict v;
  v.subject = subject_of(tool, args);
  // nlohmann's json objects are ordered maps, so dump() is canonical.
  v.call_key = std::string(tool) + "\n" + json_text(args) + "\n" + std::string(workspace);
  std::optional<Decision> best;
  std::string why;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& r = rules_[i];
    if (!glob_match(r.tool, tool, false)) continue;
    bool match = false;
    switch (r.kind) {
      case Rule::Kind::any: match = true; break;
      case Rule::Kind::path:
        match = v.subject.kind == Rule::Kind::path && glob_match(r.pattern, v.subject.value, true);
        break;
      case Rule::Kind::command:
        // A compound shell line never matches an allow rule: "git status; curl ..." must not
        // ride on "git status*".
        match = v.subject.kind == Rule::Kind::command && !(r.action == Decision::allow && v.subject.compound) &&
                glob_match(r.pattern, v.subject.value, false);
        break;
      case Rule::Kind::domain: {
        const std::string& h = v.subject.value;
        match = v.subject.kind == Rule::Kind::domain &&
                (glob_match(r.pattern, h, false) ||
                 (r.pattern.rfind("*.", 0) == 0 && h == r.pattern.substr(2)));
        break;
      }
    }
    if (!match) continue;
    // deny > ask > allow: the strictest matching rule wins, whatever the order.
    if (!best || static_cast<int>(r.action) > static_cast<int>(*best)) {
      best = r.action;
      why = "rule " + std::to_string(i) + " (" + std::string(decision_name(r.action)) + " " + r.tool +
            (r.pattern.empty() ? "" : " " + r.pattern) + ")";
    }
  }
  v.decision = best ? *best : default_;
  v.reason = best ? why : "default (" + std::string(decision_name(default_)) + ")";
  return v;
}

}  // namespace fh::sandbox
