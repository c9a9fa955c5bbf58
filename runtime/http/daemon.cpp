// The daemon's runs API and router. See daemon.hpp.
#include "runtime/http/daemon.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "runtime/core/json_text.hpp"
#include "runtime/http/daemon_impl.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace fh::httpd {

namespace {

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 128 || s.front() == '.') return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return s.find("..") == std::string::npos;
}

Response bad(std::string_view msg) { return Response::error(400, "invalid_request", msg); }
}  // namespace

std::string new_id(std::string_view prefix) {
  unsigned char raw[10];
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? ::read(fd, raw, sizeof raw) : -1;
  if (fd >= 0) ::close(fd);
  FH_ASSERT(n == static_cast<ssize_t>(sizeof raw));
  static const char* hex = "0123456789abcdef";
  std::string id(prefix);
  for (unsigned char c : raw) {
    id += hex[c >> 4];
    id += hex[c & 15];
  }
  return id;
}

json RunEntry::describe() const {
  json j = {{"id", id}, {"state", state}, {"output", output}, {"error", error}, {"usage", usage},
            {"cost_usd", cost_usd}, {"unpriced_llm_calls", unpriced_llm_calls}, {"created_at", created_at},
            {"finished_at", finished_at.empty() ? json(nullptr) : json(finished_at)}, {"model", model},
            {"events", events.size()}};
  if (!name.empty()) j["name"] = name;
  if (!trigger.empty()) j["trigger"] = trigger;
  if (!approvals.empty()) {
    json pend = json::array();
    for (const auto& [cid, p] : approvals) pend.push_back({{"call_id", cid}, {"tool", p->tool}});
    j["pending_approvals"] = pend;
  }
  return j;
}

void RunEntry::notify() {
  for (auto& w : waiters) w->cancel();
  waiters.clear();
}

void Daemon::Impl::index_update(const RunEntry& e) {
  if (!index) return;
  json summary = e.describe();
  summary["source"] = e.source;
  summary["input"] = e.input;
  summary["workspace"] = e.workspace;
  summary["limits"] = e.limits;
  auto r = index->upsert({e.id, e.state, e.name, e.created_at, e.finished_at, summary});
  if (!r) log_stderr({{"ts", now_iso()}, {"level", "error"}, {"msg", "index update failed"}, {"error", r.error().message}});
}

void Daemon::Impl::add_event(RunEntry& e, json ev) {
  ev["seq"] = static_cast<int64_t>(e.events.size()) + 1;
  ev["ts"] = now_iso();
  if (e.journal) {
    auto w = e.journal->append(ev);
    if (!w) log_stderr({{"ts", now_iso()}, {"level", "error"}, {"msg", "journal write failed"}, {"run", e.id}, {"error", w.error().message}});
  }
  // Model calls for /metrics come from the journal's effect records, not from llm_result: those
  // are written only for calls actually made, while a resumed run's llm_result events also cover
  // calls served from the journal.
  if (ev.value("type", "") == "effect" && ev.value("kind", "") == "llm" && ev.value("state", "") == "done") {
    json outcome = ev.value("outcome", json(nullptr));
    std::string provider;
    if (outcome.is_object()) {
      const json& side = outcome.contains("ok") ? outcome["ok"] : outcome.value("error", json::object());
      if (side.is_object() && side.contains("provider") && side["provider"].is_string()) provider = side["provider"].get<std::string>();
    }
    if (provider.empty()) provider = ev.value("model", "").substr(0, ev.value("model", "").find('/'));
    metrics.model_call(provider, outcome, ev.value("elapsed_ms", int64_t{0}));
  }
  e.events.push_back(std::move(ev));
  e.notify();
}

std::shared_ptr<RunEntry> Daemon::Impl::find(const std::string& id) {
  if (auto it = runs.find(id); it != runs.end()) return it->second;
  if (!index || !valid_name(id)) return nullptr;
  auto got = index->get(id);
  if (!got || !got.value()) return nullptr;
  const auto& r = *got.value();
  auto e = std::make_shared<RunEntry>();
  e->id = r.id;
  e->state = r.state;
  e->name = r.name;
  e->created_at = r.created_at;
  e->finished_at = r.finished_at;
  e->from_disk = true;
  e->finished = true;
  if (r.summary.is_object()) {
    e->output = r.summary.value("output", json(nullptr));
    e->error = r.summary.value("error", json(nullptr));
    e->usage = r.summary.value("usage", json(nullptr));
    e->cost_usd = r.summary.value("cost_usd", json(nullptr));
    if (auto it = r.summary.find("unpriced_llm_calls"); it != r.summary.end() && it->is_number_integer())
      e->unpriced_llm_calls = it->get<int64_t>();
    e->model = r.summary.value("model", "");
    e->trigger = r.summary.value("trigger", "");
  }
  auto evs = plan::Journal::read((fs::path(opt.data_dir) / "runs" / (id + ".jsonl")).string(), opt.data_dir);
  if (evs) e->events = std::move(evs.value());
  return e;
}

Result<std::shared_ptr<RunEntry>> Daemon::Impl::submit(const json& body) {
  auto e = std::make_shared<RunEntry>();
  bool has_source = body.contains("source"), has_name = body.contains("name");
  if (has_source == has_name) return make_error(Errc::invalid_argument, "give exactly one of 'source' and 'name'");
  if (has_source) {
    if (!body["source"].is_string()) return make_error(Errc::invalid_argument, "'source' must be a string");
    e->source = body["source"].get<std::string>();
  } else {
    if (!body["name"].is_string() || !valid_name(body["name"].get<std::string>()))
      return make_error(Errc::invalid_argument, "'name' must be a plan name (letters, digits, _ - .)");
    e->name = body["name"].get<std::string>();
    if (opt.plan_dir.empty()) return make_error(Errc::not_found, "no plan folder is configured");
    std::string file = e->name.size() > 4 && e->name.ends_with(".lua") ? e->name : e->name + ".lua";
    std::ifstream f(fs::path(opt.plan_dir) / file, std::ios::binary);
    if (!f) return make_error(Errc::not_found, "no plan named '" + e->name + "' in the plan folder");
    std::ostringstream ss;
    ss << f.rdbuf();
    e->source = ss.str();
  }
  for (const auto& [k, v] : body.items()) {
    static const std::set<std::string> known = {"source", "name", "input", "model", "workspace", "limits"};
    if (!known.count(k)) return make_error(Errc::invalid_argument, "unknown field '" + k + "'");
  }
  if (body.contains("input")) e->input = body["input"];
  e->model = opt.default_model;
  if (body.contains("model")) {
    if (!body["model"].is_string() || body["model"].get<std::string>().empty())
      return make_error(Errc::invalid_argument, "'model' must be a non-empty string");
    e->model = body["model"].get<std::string>();
  }
  e->workspace = opt.workspace;
  if (body.contains("workspace")) {
    if (!body["workspace"].is_string()) return make_error(Errc::invalid_argument, "'workspace' must be a string");
    fs::path w = body["workspace"].get<std::string>();
    std::error_code ec;
    if (!w.is_absolute() || !fs::is_directory(w, ec))
      return make_error(Errc::invalid_argument, "'workspace' must be an absolute path to a directory");
    e->workspace = w.string();
  }
  e->limits = json::object();
  if (body.contains("limits")) {
    const json& l = body["limits"];
    if (!l.is_object()) return make_error(Errc::invalid_argument, "'limits' must be an object");
    bool spending = false;
    for (const auto& [k, v] : l.items()) {
      if (k == "budget_usd" || k == "max_tokens_total" || k == "allow_unknown_prices") {
        spending = true;
        continue;
      }
      if (k != "memory_mb" && k != "timeout_s" && k != "instructions")
        return make_error(Errc::invalid_argument, "unknown limit '" + k +
                                                      "' (memory_mb, timeout_s, instructions, budget_usd, "
                                                      "max_tokens_total, allow_unknown_prices)");
      if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1e15)
        return make_error(Errc::invalid_argument, "limit '" + k + "' must be a positive number");
    }
    if (spending) {
      if (!opt.budget) return make_error(Errc::invalid_argument, "this daemon has no spending budgets");
      if (auto b = opt.budget(l); !b) return make_error(Errc::invalid_argument, "limits: " + b.error().message);
    }
    e->limits = l;
  }
  e->id = new_id("run_");
  e->created_at = now_iso();
  return e;
}

void Daemon::Impl::start(const std::shared_ptr<RunEntry>& e, std::vector<json> journal_events) {
  auto self = shared_from_this();
  runs[e->id] = e;
  // The journal and the effect log: a resumed run gets its completed effects back.
  e->effects = std::make_shared<EffectLog>();
  e->effects->idempotent_tools.insert(opt.idempotent_tools.begin(), opt.idempotent_tools.end());
  for (const auto& ev : journal_events) {
    if (ev.value("type", "") != "effect" || !ev.contains("key") || !ev["key"].is_string()) continue;
    std::string key = ev["key"].get<std::string>();
    if (ev.value("state", "") == "started") e->effects->in_flight.insert(key);
    else if (ev.value("state", "") == "done") {
      e->effects->in_flight.erase(key);
      e->effects->done[key] = ev.value("outcome", json(nullptr));
    }
  }
  bool resumed = !journal_events.empty();
  e->events = std::move(journal_events);
  e->started = std::chrono::steady_clock::now();
  if (!opt.data_dir.empty()) {
    auto j = plan::Journal::open(opt.data_dir, e->id);
    if (j) e->journal = std::move(j.value());
    else log_stderr({{"ts", now_iso()}, {"level", "error"}, {"msg", "journal open failed"}, {"error", j.error().message}});
  }
  std::weak_ptr<RunEntry> weak = e;
  e->effects->record = [this, weak](json ev) {
    if (auto en = weak.lock()) add_event(*en, std::move(ev));
  };
  if (!resumed) {  // what `freehold replay` needs to run it again from the journal alone
    json sub = {{"type", "run_submitted"}, {"run_id", e->id}, {"source", e->source}, {"input", e->input},
                {"model", e->model}, {"name", e->name}, {"limits", e->limits}};
    if (!e->trigger.empty()) sub["trigger"] = e->trigger;
    add_event(*e, std::move(sub));
  } else
    add_event(*e, {{"type", "run_resumed"}, {"completed_effects", e->effects->done.size()},
                   {"in_flight", e->effects->in_flight.size()}});

  // Per-run services: journaled providers and tools.
  e->providers = std::make_unique<api::ProviderRegistry>();
  e->providers->set_config(providers.config());
  const api::ProviderRegistry* base = &providers;
  auto log = e->effects;
  for (const auto& prefix : providers.prefixes()) {
    e->providers->add(prefix, [base, prefix, log](std::string_view rest, const json&) -> Result<api::ResolvedModel> {
      std::string full = prefix + "/" + std::string(rest);
      auto r = base->resolve(full);
      if (!r) return r.error();
      return api::ResolvedModel{make_journaled_provider(r->provider, full, log), r->model};
    });
  }
  // Fallback chains resolve whole through the base registry (its router), journaled as one call.
  e->providers->set_chain_factory([base, log](std::vector<api::ResolvedModel> chain) -> Result<api::ResolvedModel> {
    std::string full;
    for (auto& c : chain) full += (full.empty() ? "" : ",") + std::string(c.provider->name()) + "/" + c.model;
    auto r = base->resolve(full);
    if (!r) return r.error();
    return api::ResolvedModel{make_journaled_provider(r->provider, full, log), r->model};
  });
  // The run's spending limit holds every model it resolves, outside the journal: a resumed run's
  // replayed calls settle their recorded cost again, so the budget counts what was spent before.
  if (opt.budget && e->limits.is_object() &&
      (e->limits.contains("budget_usd") || e->limits.contains("max_tokens_total"))) {
    auto b = opt.budget(e->limits);
    if (b) e->providers->set_budget(b.value());
    else log_stderr({{"ts", now_iso()}, {"level", "warn"}, {"msg", "run budget ignored"}, {"run", e->id}, {"error", b.error().message}});
  }
  ApproveFn approve = [this, weak](std::string call_id, std::string tool, json args,
                                   std::string reason) -> asio::awaitable<std::string> {
    auto en = weak.lock();
    if (!en || en->finished || stopping) co_return "deny";
    if (call_id.empty() || en->approvals.count(call_id)) call_id = "ask_" + std::to_string(en->next_ask++);
    auto p = std::make_shared<PendingApproval>(ex);
    p->tool = tool;
    p->timer.expires_at(asio::steady_timer::time_point::max());
    en->approvals[call_id] = p;
    en->state = "waiting";
    add_event(*en, {{"type", "approval_required"}, {"call_id", call_id}, {"tool", tool}, {"arguments", args}, {"reason", reason}});
    index_update(*en);
    // Wait for POST /v1/runs/{id}/approvals/{call_id}; cancelling the run ends the wait (deny).
    co_await p->timer.async_wait(use_tuple);
    en->approvals.erase(call_id);
    std::string decision = p->decision.empty() ? "deny" : p->decision;
    if (!en->finished && en->approvals.empty()) en->state = "running";
    add_event(*en, {{"type", "approval"}, {"call_id", call_id}, {"decision", decision}});
    index_update(*en);
    co_return decision;
  };
  if (tool_factory) {
    auto host = tool_factory(e->id, e->workspace, approve);
    if (host) e->tools = make_journaled_tools(host.value(), e->effects);
    else log_stderr({{"ts", now_iso()}, {"level", "warn"}, {"msg", "tools unavailable"}, {"run", e->id}, {"error", host.error().message}});
  }

  plan::RunRequest rr;
  rr.source = e->source;
  rr.chunk_name = e->name.empty() ? "plan.lua" : e->name;
  rr.input = e->input;
  rr.limits = opt.limits;
  if (e->limits.is_object()) {
    if (e->limits.contains("memory_mb"))
      rr.limits.memory_bytes = std::min(opt.max_memory_bytes, static_cast<size_t>(e->limits["memory_mb"].get<double>() * 1048576.0));
    if (e->limits.contains("timeout_s"))
      rr.limits.deadline = std::chrono::milliseconds(static_cast<int64_t>(e->limits["timeout_s"].get<double>() * 1000));
    if (e->limits.contains("instructions"))
      rr.limits.instructions = std::min<uint64_t>(rr.limits.instructions, static_cast<uint64_t>(e->limits["instructions"].get<double>()));
  }
  rr.services.providers = e->providers.get();
  rr.services.tools = e->tools.get();
  rr.services.default_model = e->model;
  rr.services.run_id = e->id;
  rr.services.workspace = e->workspace;
  rr.services.recorder = make_journaled_recorder(e->effects);
  rr.services.on_event = [this, weak](json ev) {
    if (auto en = weak.lock()) add_event(*en, std::move(ev));
  };
  auto strand = asio::make_strand(ex);
  e->run = plan::Run::create(strand, std::move(rr));
  e->state = "running";
  index_update(*e);
  asio::co_spawn(strand, [self, e]() -> asio::awaitable<void> {
    plan::RunResult res = co_await e->run->execute();
    using S = plan::RunResult::Status;
    e->state = res.status == S::succeeded ? "succeeded" : res.status == S::cancelled ? "cancelled" : "failed";
    if (res.status == S::succeeded && !e->effects->unknown.empty()) e->state = "failed";
    if (e->state == "succeeded") {
      e->output = res.output;
    } else {
      std::string msg = e->effects->unknown.empty() ? res.message : e->effects->unknown.front();
      e->error = {{"code", e->effects->unknown.empty() ? std::string(res.status_name()) : "outcome_unknown"},
                  {"message", msg}};
      if (!res.traceback.empty() && e->effects->unknown.empty()) e->error["traceback"] = res.traceback;
    }
    e->usage = api::to_json(res.usage);
    e->cost_usd = res.cost_usd ? json(*res.cost_usd) : json(nullptr);
    e->unpriced_llm_calls = res.unpriced_llm_calls;
    e->finished_at = now_iso();
    e->finished = true;
    self->metrics.run_finished(e->state, std::chrono::duration<double>(std::chrono::steady_clock::now() - e->started).count());
    for (auto& [cid, p] : e->approvals) p->timer.cancel();
    self->add_event(*e, {{"type", "run_state"}, {"state", e->state}, {"replayed_effects", e->effects->replayed}});
    self->index_update(*e);
    e->journal.reset();
    e->run.reset();
    e->notify();
  }, asio::detached);
}

Result<Ok> Daemon::Impl::resume_unfinished() {
  if (!index) return Ok{};
  auto list = index->unfinished();
  if (!list) return list.error();
  for (const auto& r : list.value()) {
    auto e = std::make_shared<RunEntry>();
    e->id = r.id;
    e->name = r.name;
    e->created_at = r.created_at;
    const json& s = r.summary;
    if (!s.is_object() || !s.contains("source") || !s["source"].is_string()) {
      e->state = "failed";
      e->finished = true;
      e->error = {{"code", "outcome_unknown"}, {"message", "the run cannot be resumed: its plan was not recorded"}};
      e->finished_at = now_iso();
      index_update(*e);
      continue;
    }
    e->source = s["source"].get<std::string>();
    e->input = s.value("input", json::object());
    e->model = s.value("model", opt.default_model);
    e->workspace = s.value("workspace", opt.workspace);
    e->limits = s.value("limits", json::object());
    e->trigger = s.value("trigger", "");
    std::vector<json> evs;
    auto jr = plan::Journal::read((fs::path(opt.data_dir) / "runs" / (r.id + ".jsonl")).string(), opt.data_dir);
    if (jr) evs = std::move(jr.value());
    // Keep the event numbering dense: events are renumbered in file order.
    for (size_t i = 0; i < evs.size(); ++i) evs[i]["seq"] = static_cast<int64_t>(i) + 1;
    log_stderr({{"ts", now_iso()}, {"level", "info"}, {"msg", "resuming run"}, {"run", r.id}, {"events", evs.size()}});
    start(e, std::move(evs));
  }
  return Ok{};
}

asio::awaitable<void> Daemon::Impl::stream_events(const Request& req, Responder& res, std::shared_ptr<RunEntry> e) {
  // Resume after Last-Event-ID (or ?after=N): events are numbered 1.. in order.
  size_t next = 0;
  std::string last = req.has_header("last-event-id") ? req.header("last-event-id")
                                                     : (req.query.count("after") ? req.query.at("after") : "");
  if (!last.empty()) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(last.c_str(), &end, 10);
    if (end == last.c_str() || *end != '\0') {
      co_await res.send(bad("Last-Event-ID must be an event number"));
      co_return;
    }
    next = static_cast<size_t>(std::min<unsigned long long>(v, e->events.size()));
  }
  if (!co_await res.begin_stream(200, sse_headers()))
    co_return;
  for (;;) {
    // Send what is there; then wait for more (or a keep-alive tick).
    while (next < e->events.size()) {
      const json& ev = e->events[next++];
      std::string frame = "id: " + std::to_string(next) + "\nevent: " + ev.value("type", "event") +
                          "\ndata: " + json_text(ev) + "\n\n";
      if (!co_await res.write(std::move(frame))) co_return;
    }
    if (e->finished || res.stopping() || stopping) break;
    auto t = std::make_shared<asio::steady_timer>(ex, std::chrono::seconds(15));
    e->waiters.push_back(t);
    auto [ec] = co_await t->async_wait(use_tuple);
    if (!ec && !co_await res.write(std::string(": keep-alive\n\n"))) co_return;
  }
  co_await res.end_stream();
}

asio::awaitable<void> Daemon::Impl::handle(const Request& req, Responder& res) {
  // Route first (to know whether the route needs the token), then the security checks.
  std::vector<std::string> parts;
  {
    std::string_view p(req.path);
    while (!p.empty()) {
      if (p.front() == '/') { p.remove_prefix(1); continue; }
      auto slash = p.find('/');
      parts.emplace_back(p.substr(0, slash));
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash);
    }
  }
  enum class Route { none, healthz, runs, run, events, cancel, approve, chat, models, metrics, hook } route = Route::none;
  std::string allow;
  auto is = [&](std::initializer_list<const char*> want) {
    if (want.size() != parts.size()) return false;
    size_t i = 0;
    for (const char* w : want) {
      if (std::string_view(w) != "*" && parts[i] != w) return false;
      ++i;
    }
    return true;
  };
  if (is({"healthz"})) route = Route::healthz, allow = "GET";
  else if (is({"metrics"})) route = Route::metrics, allow = "GET";
  else if (is({"v1", "runs"})) route = Route::runs, allow = "GET, POST";
  else if (is({"v1", "runs", "*"})) route = Route::run, allow = "GET";
  else if (is({"v1", "runs", "*", "events"})) route = Route::events, allow = "GET";
  else if (is({"v1", "runs", "*", "cancel"})) route = Route::cancel, allow = "POST";
  else if (is({"v1", "runs", "*", "approvals", "*"})) route = Route::approve, allow = "POST";
  else if (is({"v1", "chat", "completions"})) route = Route::chat, allow = "POST";
  else if (is({"v1", "models"})) route = Route::models, allow = "GET";
  else if (!parts.empty() && parts[0] == "hooks") route = Route::hook, allow = "POST";

  // CORS only when configured, and only for listed origins.
  if (opt.security.cors && req.has_header("origin")) {
    auto origin = req.header("origin");
    if (std::find(opt.security.allowed_origins.begin(), opt.security.allowed_origins.end(), origin) !=
        opt.security.allowed_origins.end()) {
      res.extra_headers = {{"access-control-allow-origin", origin}, {"vary", "Origin"}};
      if (req.method == "OPTIONS" && route != Route::none) {
        Response r;
        r.status = 204;
        r.headers = {{"access-control-allow-methods", allow},
                     {"access-control-allow-headers", "authorization, content-type, last-event-id"},
                     {"access-control-max-age", "600"}};
        co_await res.send(std::move(r));
        co_return;
      }
    }
  }
  // A signed webhook authenticates by its body's HMAC (checked in webhook()), not the token.
  const TriggerSpec* hook = route == Route::hook ? find_webhook(req.path) : nullptr;
  const bool signed_hook = hook && hook->signature;
  if (auto refusal = check_request(req, opt.security, route != Route::healthz && !signed_hook)) {
    co_await res.send(std::move(*refusal));
    co_return;
  }
  if (route == Route::none) {
    co_await res.send(Response::error(404, "not_found", "no route for " + req.path));
    co_return;
  }
  if (route == Route::hook && !hook) {
    co_await res.send(Response::error(404, "hook_not_found", "no webhook trigger at " + req.path));
    co_return;
  }
  bool method_ok = allow.find(req.method) != std::string::npos && !req.method.empty();
  if (!method_ok || (req.method != "GET" && req.method != "POST")) {
    auto r = Response::error(405, "method_not_allowed", req.method + " is not allowed on " + req.path);
    r.headers.emplace_back("allow", allow);
    co_await res.send(std::move(r));
    co_return;
  }
  if (auto refusal = check_content_type(req)) {
    co_await res.send(std::move(*refusal));
    co_return;
  }
  if (hook) {  // any JSON value is a webhook body, so it skips the object check below
    co_await webhook(req, res, *hook);
    co_return;
  }
  // Bodies of writes are JSON objects (an empty body counts as {}).
  json body = json::object();
  if (req.method == "POST" && !req.body.empty()) {
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      co_await res.send(Response::error(400, "invalid_json", "the request body is not valid JSON"));
      co_return;
    }
    if (!body.is_object()) {
      co_await res.send(bad("the request body must be a JSON object"));
      co_return;
    }
  }
  std::shared_ptr<RunEntry> e;
  if (route == Route::run || route == Route::events || route == Route::cancel || route == Route::approve) {
    e = find(parts[2]);
    if (!e) {
      co_await res.send(Response::error(404, "run_not_found", "no run '" + parts[2] + "'"));
      co_return;
    }
  }
  switch (route) {
    case Route::healthz: {
      size_t active = 0;
      for (auto& [id, r] : runs) active += r->finished ? 0 : 1;
      json j = {{"ok", true}, {"runs_active", active}};
      co_await res.send(Response::json_body(200, j));
      co_return;
    }
    case Route::metrics: {
      std::map<std::string, int64_t> by_state;
      for (auto& [id, r] : runs) by_state[r->state]++;
      Response r;
      r.headers.emplace_back("content-type", "text/plain; version=0.0.4; charset=utf-8");
      r.body = metrics.render(by_state, gateway_calls);
      co_await res.send(std::move(r));
      co_return;
    }
    case Route::runs:
      if (req.method == "POST") {
        if (stopping) {
          co_await res.send(Response::error(503, "shutting_down", "the daemon is shutting down"));
          co_return;
        }
        auto sub = submit(body);
        if (!sub) {
          co_await res.send(Response::error(sub.error().code == Errc::not_found ? 404 : 400,
                                            sub.error().code == Errc::not_found ? "plan_not_found" : "invalid_request",
                                            sub.error().message));
          co_return;
        }
        start(sub.value(), {});
        co_await res.send(Response::json_body(201, sub.value()->describe()));
        co_return;
      } else {
        std::string state = req.query.count("state") ? req.query.at("state") : "";
        static const std::set<std::string> states = {"", "pending", "running", "waiting", "succeeded", "failed", "cancelled"};
        if (!states.count(state)) {
          co_await res.send(bad("unknown state filter '" + state + "'"));
          co_return;
        }
        size_t limit = 50;
        if (req.query.count("limit")) {
          const std::string& l = req.query.at("limit");
          char* end = nullptr;
          unsigned long v = std::strtoul(l.c_str(), &end, 10);
          if (l.empty() || *end != '\0' || v == 0 || v > 500) {
            co_await res.send(bad("limit must be 1..500"));
            co_return;
          }
          limit = v;
        }
        std::string after = req.query.count("after") ? req.query.at("after") : "";
        json data = json::array();
        bool more = false;
        if (index) {
          auto list = index->list(state, limit + 1, after);
          if (!list) {
            co_await res.send(Response::error(500, "internal", list.error().message));
            co_return;
          }
          auto& rows = list.value();
          more = rows.size() > limit;
          if (more) rows.resize(limit);
          for (auto& row : rows) {
            if (auto it = runs.find(row.id); it != runs.end()) data.push_back(it->second->describe());
            else {
              json d = row.summary.is_object() ? row.summary : json::object();
              for (const char* k : {"source", "input", "workspace", "limits"}) d.erase(k);
              d["id"] = row.id;
              d["state"] = row.state;
              data.push_back(std::move(d));
            }
          }
        }
        json out = {{"data", data}, {"has_more", more}};
        out["next_after"] = more && !data.empty() ? data.back()["id"] : json(nullptr);
        co_await res.send(Response::json_body(200, out));
        co_return;
      }
    case Route::run:
      co_await res.send(Response::json_body(200, e->describe()));
      co_return;
    case Route::events:
      co_await stream_events(req, res, e);
      co_return;
    case Route::cancel:
      if (e->finished) {
        co_await res.send(Response::error(409, "run_finished", "run '" + e->id + "' has already finished (" + e->state + ")"));
        co_return;
      }
      add_event(*e, {{"type", "cancel_requested"}});
      for (auto& [cid, p] : e->approvals) p->timer.cancel();
      if (e->run) e->run->cancel();
      co_await res.send(Response::json_body(202, e->describe()));
      co_return;
    case Route::approve: {
      auto it = e->approvals.find(parts[4]);
      if (it == e->approvals.end()) {
        co_await res.send(Response::error(404, "approval_not_found", "run '" + e->id + "' is not waiting on call '" + parts[4] + "'"));
        co_return;
      }
      std::string decision;
      if (body.contains("decision") && body["decision"].is_string()) decision = body["decision"].get<std::string>();
      else if (body.contains("approved") && body["approved"].is_boolean()) decision = body["approved"].get<bool>() ? "once" : "deny";
      if (decision == "approve") decision = "once";
      if (decision != "once" && decision != "session" && decision != "deny") {
        co_await res.send(bad("give {\"decision\": \"approve\"|\"once\"|\"session\"|\"deny\"} or {\"approved\": true|false}"));
        co_return;
      }
      it->second->decision = decision;
      it->second->timer.cancel();
      json j = {{"run_id", e->id}, {"call_id", parts[4]}, {"decision", decision}};
      co_await res.send(Response::json_body(200, j));
      co_return;
    }
    case Route::chat:
      ++gateway_calls;
      co_await chat_completions(req, res);
      co_return;
    case Route::models:
      co_await res.send(list_models());
      co_return;
    case Route::hook:
    case Route::none: break;
  }
  co_await res.send(Response::error(404, "not_found", "no route"));
}

// ---- Daemon ----
Daemon::Daemon(asio::any_io_executor ex, const api::ProviderRegistry& providers, DaemonOptions opt, ToolHostFactory tools)
    : impl_(std::make_shared<Impl>(std::move(ex), providers, std::move(opt), std::move(tools))) {}

Daemon::~Daemon() { shutdown(); }

Result<Ok> Daemon::open() {
  auto& o = impl_->opt;
  if (o.data_dir.empty()) return make_error(Errc::invalid_argument, "no data folder");
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec) return make_error(Errc::permission_denied, "cannot create data folder '" + o.data_dir + "': " + ec.message());
  fs::permissions(o.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (o.security.token.empty()) {
    auto tok = load_or_create_token((fs::path(o.data_dir) / "token").string());
    if (!tok) return tok.error();
    o.security.token = tok.value();
  }
  auto ix = plan::RunIndex::open((fs::path(o.data_dir) / "index.sqlite").string());
  if (!ix) return ix.error();
  impl_->index = std::move(ix.value());
  // Triggers first: a trigger naming a missing plan refuses the start before any run resumes.
  if (auto r = impl_->start_triggers(); !r) return r;
  if (o.resume) return impl_->resume_unfinished();
  return Ok{};
}

void Daemon::set_port(uint16_t port) { impl_->opt.security.port = port; }
const std::string& Daemon::token() const { return impl_->opt.security.token; }

Handler Daemon::handler() {
  std::weak_ptr<Impl> weak = impl_;
  return [weak](const Request& req, Responder& res) -> asio::awaitable<void> {
    auto impl = weak.lock();
    if (!impl) {
      co_await res.send(Response::error(503, "shutting_down", "the daemon is shutting down"));
      co_return;
    }
    co_await impl->handle(req, res);
  };
}

void Daemon::shutdown() {
  auto& im = *impl_;
  if (im.stopping) return;
  im.stopping = true;
  for (auto& t : im.cron_timers) t->cancel();
  for (auto& [id, e] : im.runs) {
    e->notify();  // event streams end; runs keep going until the caller stops the loop
  }
}

size_t Daemon::active_runs() const {
  size_t n = 0;
  for (auto& [id, e] : impl_->runs) n += e->finished ? 0 : 1;
  return n;
}

}  // namespace fh::httpd
