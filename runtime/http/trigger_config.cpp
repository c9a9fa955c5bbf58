// Trigger configuration: strict validation of `serve.triggers` (see triggers.hpp).
#include <cctype>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "runtime/core/sha256.hpp"
#include "runtime/http/security.hpp"
#include "runtime/http/triggers.hpp"

namespace fh::httpd {

namespace {

// Trigger and plan names: letters, digits, '_', '-', '.'; no leading dot, no "..".
bool trigger_word_ok(const std::string& s) {
  if (s.empty() || s.size() > 128 || s.front() == '.' || s.find("..") != std::string::npos) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

// "/hooks/a/b-c": segments of letters, digits, '_', '-', '.'; no empty segment, no dot segments.
bool webhook_path_ok(const std::string& p) {
  static const std::string prefix = "/hooks/";
  if (p.size() <= prefix.size() || p.size() > 256 || p.compare(0, prefix.size(), prefix) != 0) return false;
  std::string seg;
  for (size_t i = prefix.size(); i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      if (seg.empty() || seg == "." || seg == "..") return false;
      seg.clear();
      continue;
    }
    char c = p[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
    seg += c;
  }
  return true;
}

Error trigger_error(const std::string& who, const std::string& msg) {
  return Error{Errc::invalid_argument, "trigger " + who + ": " + msg, nullptr};
}

}  // namespace

bool webhook_header_passed(const std::string& n) {
  if (n == "content-type" || n == "user-agent") return true;
  if (n.rfind("x-", 0) != 0) return false;
  for (const char* secret : {"auth", "token", "secret", "signature", "key", "cookie", "password", "session"})
    if (n.find(secret) != std::string::npos) return false;
  return true;
}

std::string webhook_signature_problem(const WebhookSignature& sig, std::string_view value, std::string_view body,
                                      int64_t now_unix) {
  if (sig.scheme == WebhookSignature::Scheme::hex) {
    if (value.starts_with("sha256=")) value.remove_prefix(7);
    if (value.size() != 64) return "is not 64 hex digits";
    return constant_time_equal(ascii_lower(value), to_hex(hmac_sha256(sig.secret, body))) ? "" : "does not match the body";
  }
  // stripe: comma-separated key=value items; t once, v1 one or more times, others ignored.
  std::string t;
  std::vector<std::string_view> v1;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (item.starts_with("t=")) {
      if (!t.empty()) return "has two timestamps";
      t = item.substr(2);
    } else if (item.starts_with("v1=")) {
      if (v1.size() == 8) return "has too many v1 signatures";
      v1.push_back(item.substr(3));
    }
  }
  if (t.empty() || t.size() > 12 || t.find_first_not_of("0123456789") != std::string::npos)
    return "has no timestamp (t=<unix seconds>)";
  if (v1.empty()) return "has no v1 signature";
  std::string signed_payload = t;
  signed_payload += '.';
  signed_payload += body;
  const std::string want = to_hex(hmac_sha256(sig.secret, signed_payload));
  bool match = false;
  for (std::string_view v : v1) match |= v.size() == 64 && constant_time_equal(ascii_lower(v), want);
  if (!match) return "does not match the body";
  const int64_t age = now_unix - std::stoll(t);
  if (age > sig.tolerance_s || age < -sig.tolerance_s)
    return "expired: signed " + std::to_string(age) + " s from the daemon's clock (tolerance " + std::to_string(sig.tolerance_s) + " s)";
  return "";
}

namespace {

Result<WebhookSignature> parse_signature(const json& j, const std::string& who) {
  static const std::string usage = "'signature' must be {\"header\": \"X-Hub-Signature-256\", \"secret_env\": \"VAR\"}";
  if (!j.is_object()) return trigger_error(who, usage);
  for (const auto& [k, v] : j.items())
    if (k != "header" && k != "secret_env" && k != "scheme" && k != "tolerance_s")
      return trigger_error(who, "unknown key 'signature." + k + "' (header, secret_env, scheme, tolerance_s)");
  if (!j.contains("header") || !j["header"].is_string() || !j.contains("secret_env") || !j["secret_env"].is_string())
    return trigger_error(who, usage);
  WebhookSignature sig;
  sig.header = j["header"].get<std::string>();
  if (sig.header.empty() || sig.header.size() > 64) return trigger_error(who, "'signature.header' must be a header name");
  for (char c : sig.header)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
      return trigger_error(who, "'signature.header' must be a header name (letters, digits, -)");
  sig.header = ascii_lower(sig.header);
  const std::string var = j["secret_env"].get<std::string>();
  const char* secret = var.empty() ? nullptr : std::getenv(var.c_str());
  if (!secret || !*secret)
    return trigger_error(who, "the environment variable '" + var + "' named by 'signature.secret_env' is not set or empty");
  sig.secret = secret;
  if (sig.secret.size() < 16) return trigger_error(who, "the webhook secret in $" + var + " is shorter than 16 characters");
  if (j.contains("scheme")) {
    const json& sc = j["scheme"];
    if (sc == "stripe") sig.scheme = WebhookSignature::Scheme::stripe;
    else if (sc != "hex") return trigger_error(who, "'signature.scheme' must be \"hex\" (the default) or \"stripe\"");
  }
  if (j.contains("tolerance_s")) {
    const json& tol = j["tolerance_s"];
    if (sig.scheme != WebhookSignature::Scheme::stripe) return trigger_error(who, "'signature.tolerance_s' is for the stripe scheme");
    if (!tol.is_number_integer() || tol.get<int64_t>() < 1 || tol.get<int64_t>() > 86400)
      return trigger_error(who, "'signature.tolerance_s' must be a whole number of seconds from 1 to 86400");
    sig.tolerance_s = tol.get<int64_t>();
  }
  return sig;
}

}  // namespace

Result<std::vector<TriggerSpec>> parse_triggers(const json& list) {
  std::vector<TriggerSpec> out;
  if (list.is_null()) return out;
  if (!list.is_array()) return make_error(Errc::invalid_argument, "'triggers' must be a list");
  std::set<std::string> names, paths;
  static const std::set<std::string> known = {"name", "cron", "webhook", "plan", "input", "model", "signature", "catch_up"};
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    std::string who = "#" + std::to_string(i + 1);
    if (!t.is_object()) return trigger_error(who, "must be an object");
    if (!t.contains("name") || !t["name"].is_string() || !trigger_word_ok(t["name"].get<std::string>()))
      return trigger_error(who, "needs a 'name' (letters, digits, _ - .)");
    TriggerSpec s;
    s.name = t["name"].get<std::string>();
    who = "'" + s.name + "'";
    if (!names.insert(s.name).second) return trigger_error(who, "the name is used twice");
    for (const auto& [k, v] : t.items())
      if (!known.count(k)) return trigger_error(who, "unknown key '" + k + "' (name, cron, webhook, plan, input, model, signature, catch_up)");
    if (!t.contains("plan")) return trigger_error(who, "needs a 'plan' (a plan name of the plan folder)");
    if (!t["plan"].is_string() || !trigger_word_ok(t["plan"].get<std::string>()))
      return trigger_error(who, "'plan' must be a plan name (letters, digits, _ - .)");
    s.plan = t["plan"].get<std::string>();
    if (t.contains("model")) {
      if (!t["model"].is_string() || t["model"].get<std::string>().empty())
        return trigger_error(who, "'model' must be a non-empty string");
      s.model = t["model"].get<std::string>();
    }
    bool has_cron = t.contains("cron"), has_hook = t.contains("webhook");
    if (has_cron == has_hook) return trigger_error(who, "give exactly one of 'cron' and 'webhook'");
    if (has_cron) {
      if (!t["cron"].is_string()) return trigger_error(who, "'cron' must be a string");
      auto spec = parse_cron(t["cron"].get<std::string>());
      if (!spec) return trigger_error(who, spec.error().message);
      s.cron = std::move(spec.value());
      if (t.contains("input")) s.input = t["input"];
      if (t.contains("signature")) return trigger_error(who, "'signature' is for webhook triggers");
      if (t.contains("catch_up")) {
        if (!t["catch_up"].is_boolean()) return trigger_error(who, "'catch_up' must be true or false");
        s.catch_up = t["catch_up"].get<bool>();
      }
    } else {
      if (!t["webhook"].is_string() || !webhook_path_ok(t["webhook"].get<std::string>()))
        return trigger_error(who, "'webhook' must be a path under /hooks/ (e.g. /hooks/github; letters, digits, _ - . and /)");
      s.webhook = t["webhook"].get<std::string>();
      if (!paths.insert(s.webhook).second) return trigger_error(who, "webhook path " + s.webhook + " is used twice");
      if (t.contains("input")) return trigger_error(who, "'input' is for cron triggers; a webhook's input is its request");
      if (t.contains("catch_up")) return trigger_error(who, "'catch_up' is for cron triggers");
      if (t.contains("signature")) {
        auto sig = parse_signature(t["signature"], who);
        if (!sig) return sig.error();
        s.signature = std::move(sig.value());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace fh::httpd
