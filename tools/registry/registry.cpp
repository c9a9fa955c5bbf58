#include "tools/registry/registry.hpp"
#include "runtime/core/json_text.hpp"

// valijson reports a malformed schema by exception (else it aborts).
#define VALIJSON_USE_EXCEPTIONS 1

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace fh::tools {

namespace asio = boost::asio;

struct Registry::Entry {
  ToolDef def;
  std::unique_ptr<valijson::Schema> schema;
};

namespace {

asio::awaitable<Result<json>> run_sync(SyncHandler fn, json args, api::ToolCallContext ctx) {
  co_return fn(args, ctx);
}

// Follows valijson's error context ("<root>", "[path]", "[0]") into the tool's schema, to
// tell the model what was expected at that place.
std::string pointer_of(const std::vector<std::string>& context) {
  std::string ptr;
  for (size_t i = 1; i < context.size(); ++i) {
    const std::string& c = context[i];
    if (c.size() >= 2 && c.front() == '[' && c.back() == ']') {
      std::string name = c.substr(1, c.size() - 2);
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
      ptr += "/" + name;
    }
  }
  return ptr.empty() ? "/" : ptr;
}

const json* schema_at(const json& schema, const std::string& ptr) {
  const json* s = &schema;
  size_t i = 1;
  while (i < ptr.size()) {
    size_t j = ptr.find('/', i);
    if (j == std::string::npos) j = ptr.size();
    std::string part = ptr.substr(i, j - i);
    i = j + 1;
    if (s->contains("properties") && (*s)["properties"].contains(part)) {
      s = &(*s)["properties"][part];
    } else if (s->contains("items") && !part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      s = &(*s)["items"];
    } else {
      return nullptr;
    }
  }
  return s;
}

std::string describe_expected(const json& sub) {
  std::string out;
  for (const char* k : {"type", "enum", "minLength", "maxLength", "minimum", "maximum", "minItems", "pattern"}) {
    if (sub.contains(k)) out += std::string(out.empty() ? "" : ", ") + k + " " + json_text(sub[k]);
  }
  return out;
}

void scrub_json(json& j, const sandbox::Redactor& r) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    if (r.contains_secret(s)) s = r.scrub(s);
  } else if (j.is_structured()) {
    for (auto& v : j) scrub_json(v, r);
  }
}

}  // namespace

Handler make_sync_handler(SyncHandler fn) {
  return [fn = std::move(fn)](json args, api::ToolCallContext ctx) { return run_sync(fn, std::move(args), std::move(ctx)); };
}

Registry::Registry() = default;
Registry::~Registry() = default;

Result<Ok> Registry::add(ToolDef def) {
  if (def.spec.name.empty()) return make_error(Errc::invalid_argument, "tool name must not be empty");
  if (!def.handler) return make_error(Errc::invalid_argument, "tool '" + def.spec.name + "' has no handler");
  if (!def.spec.parameters.is_object())
    return make_error(Errc::invalid_argument, "tool '" + def.spec.name + "': parameters must be a JSON Schema object");
  auto e = std::make_shared<Entry>();
  e->schema = std::make_unique<valijson::Schema>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(def.spec.parameters);
    parser.populateSchema(adapter, *e->schema);
  } catch (const std::exception& ex) {
    return make_error(Errc::invalid_argument, "tool '" + def.spec.name + "': invalid JSON Schema: " + ex.what());
  }
  std::string name = def.spec.name;
  e->def = std::move(def);
  std::lock_guard lock(mu_);
  if (tools_.count(name)) return make_error(Errc::invalid_argument, "tool '" + name + "' is already defined");
  tools_.emplace(std::move(name), std::move(e));
  return Ok{};
}

bool Registry::remove(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = tools_.find(name);
  if (it == tools_.end()) return false;
  tools_.erase(it);
  return true;
}

void Registry::set_permissions(sandbox::PermissionEngine engine) {
  std::lock_guard lock(mu_);
  permissions_ = std::move(engine);
}
void Registry::set_approver(Approver approver) {
  std::lock_guard lock(mu_);
  approver_ = std::move(approver);
}
void Registry::set_redactor(std::shared_ptr<const sandbox::Redactor> redactor) {
  std::lock_guard lock(mu_);
  redactor_ = std::move(redactor);
}

void Registry::end_run(std::string_view run_id) {
  std::lock_guard lock(mu_);
  tainted_runs_.erase(std::string(run_id));
}

std::shared_ptr<const Registry::Entry> Registry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = tools_.find(name);
  return it == tools_.end() ? nullptr : it->second;
}

Result<api::ToolSpec> Registry::spec(std::string_view name) const {
  auto e = find(name);
  if (!e) return make_error(Errc::not_found, "unknown tool '" + std::string(name) + "'");
  return e->def.spec;
}

std::vector<api::ToolSpec> Registry::list() const {
  std::lock_guard lock(mu_);
  std::vector<api::ToolSpec> out;
  for (const auto& [n, e] : tools_) out.push_back(e->def.spec);
  return out;
}

Result<Ok> Registry::validate(std::string_view name, const json& args) const {
  auto e = find(name);
  if (!e) return make_error(Errc::not_found, "unknown tool '" + std::string(name) + "'");
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(args);
  bool ok = false;
  try {
    ok = validator.validate(*e->schema, target, &results);
  } catch (const std::exception& ex) {
    return make_error(Errc::invalid_argument, "arguments could not be validated: " + std::string(ex.what()));
  }
  if (ok) return Ok{};
  // Collect each error with its JSON pointer; name the field and what the schema expects there.
  json errors = json::array();
  std::string msg = "invalid arguments for tool '" + std::string(name) + "'";
  valijson::ValidationResults::Error err;
  std::vector<std::string> seen;
  while (results.popError(err)) {
    std::string ptr = pointer_of(err.context);
    std::string line = ptr + ": " + err.description;
    if (const json* sub = schema_at(e->def.spec.parameters, ptr); sub && ptr != "/") {
      std::string exp = describe_expected(*sub);
      if (!exp.empty()) line += " (expected " + exp + ")";
    }
    errors.push_back(json{{"path", ptr}, {"message", err.description}});
    if (std::find(seen.begin(), seen.end(), line) == seen.end() && seen.size() < 8) seen.push_back(line);
  }
  for (const auto& l : seen) msg += "; " + l;
  msg += ". Fix the arguments to match the tool's parameters schema and call it again.";
  return make_error(Errc::invalid_argument, msg, json{{"errors", errors}, {"schema", e->def.spec.parameters}});
}

asio::awaitable<Result<json>> Registry::call(std::string_view name_view, json args, api::ToolCallContext ctx) {
  const std::string name(name_view);
  auto entry = find(name);
  if (!entry) {
    std::string known;
    for (const auto& s : list()) known += (known.empty() ? "" : ", ") + s.name;
    co_return make_error(Errc::not_found, "unknown tool '" + name + "' (available: " + known + ")");
  }
  // 1. The schema, before anything runs.
  if (auto v = validate(name, args); !v) co_return v.error();

  // 2. Permissions: deny > ask > allow; `ask` goes to the approver with the exact call.
  sandbox::Verdict verdict;
  Approver approver;
  std::shared_ptr<const sandbox::Redactor> redactor;
  bool session_ok = false;
  {
    std::lock_guard lock(mu_);
    verdict = permissions_.evaluate(name, args, ctx.workspace);
    approver = approver_;
    redactor = redactor_;
    session_ok = session_approvals_.count(verdict.call_key) > 0;
    if (entry->def.outbound && verdict.decision == sandbox::Decision::allow && tainted_runs_.count(ctx.run_id)) {
      verdict.decision = sandbox::Decision::ask;
      verdict.reason = "taint gate: this run read untrusted content and '" + name + "' can send data out";
    }
  }
  if (verdict.decision == sandbox::Decision::deny)
    co_return make_error(Errc::permission_denied, "tool call '" + name + "' denied by policy: " + verdict.reason,
                         json{{"reason", verdict.reason}, {"subject", verdict.subject.value}});
  if (verdict.decision == sandbox::Decision::ask && !session_ok) {
    if (!approver)
      co_return make_error(Errc::permission_denied,
                           "tool call '" + name + "' needs approval (" + verdict.reason + ") and no approver is available",
                           json{{"reason", verdict.reason}, {"subject", verdict.subject.value}});
    ApprovalRequest req{name, args, verdict.call_key, verdict.subject.value, verdict.reason, ctx.call_id};
    auto ask = approver(std::move(req));  // named: GCC 12 mishandles temporaries around co_await
    Approval a = co_await std::move(ask);
    if (a == Approval::deny)
      co_return make_error(Errc::permission_denied, "tool call '" + name + "' was not approved",
                           json{{"reason", verdict.reason}, {"subject", verdict.subject.value}});
    if (a == Approval::session) {
      std::lock_guard lock(mu_);
      session_approvals_[verdict.call_key] = true;
    }
  }

  // 3. Run under the per-call timeout; the loser of the race is cancelled (a shell call's
  //    sandbox is killed through its cancellation slot).
  using namespace asio::experimental::awaitable_operators;
  // A cancellation that arrived while we validated or waited for approval must not be lost:
  // the tool's own coroutine starts with a fresh cancellation state.
  if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
    co_return make_error(Errc::cancelled, "tool call '" + name + "' was cancelled");
  auto timer_ex = co_await asio::this_coro::executor;  // a named local: GCC 12 double-destroys co_await temporaries in call arguments
  asio::steady_timer timer(timer_ex, entry->def.timeout);
  std::variant<Result<json>, std::monostate> raced{std::monostate{}};
  try {
    auto tool_op = entry->def.handler(std::move(args), ctx);
    auto timer_op = timer.async_wait(asio::use_awaitable);
    raced = co_await (std::move(tool_op) || std::move(timer_op));
  } catch (const boost::system::system_error& ex) {
    if (ex.code() == asio::error::operation_aborted)
      co_return make_error(Errc::cancelled, "tool call '" + name + "' was cancelled");
    co_return make_error(Errc::internal, "tool '" + name + "' failed: " + ex.what());
  } catch (const std::exception& ex) {
    co_return make_error(Errc::internal, "tool '" + name + "' failed: " + ex.what());
  }
  if (raced.index() == 1)
    co_return make_error(Errc::timeout, "tool call '" + name + "' timed out after " +
                                            std::to_string(entry->def.timeout.count()) + " ms");
  Result<json> r = std::move(std::get<0>(raced));
  if (entry->def.untrusted_output && r.ok()) {
    std::lock_guard lock(mu_);
    tainted_runs_[ctx.run_id] = true;
  }
  // 4. Nothing a tool returns may carry a registered secret.
  if (redactor && redactor->size() > 0) {
    if (r.ok()) {
      scrub_json(r.value(), *redactor);
    } else {
      r.error().message = redactor->scrub(r.error().message);
      scrub_json(r.error().detail, *redactor);
    }
  }
  co_return r;
}

}  // namespace fh::tools
