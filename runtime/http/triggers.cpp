// The daemon's triggers: cron schedules as timers on the daemon's io_context, and the webhook
// route. A firing submits a run exactly as POST /v1/runs would (same validation, journal, index),
// with the trigger's name recorded on the run. See triggers.hpp for the configuration.
#include <filesystem>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "runtime/core/utc.hpp"
#include "runtime/http/daemon_impl.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace fh::httpd {

namespace {

void trigger_log(const char* level, const std::string& msg, const TriggerSpec& t, json extra = json::object()) {
  json rec = {{"ts", now_iso()}, {"level", level}, {"msg", msg}, {"trigger", t.name}};
  rec.update(extra);
  log_stderr(rec);
}

std::string state_path(const std::string& data_dir) { return (fs::path(data_dir) / "triggers.json").string(); }

// One cron trigger: run a missed firing first if it catches up, then sleep until its next
// minute, fire, repeat. Holds the daemon only weakly while asleep, so a destroyed daemon ends
// the loop; shutdown() cancels the timer.
asio::awaitable<void> cron_loop(std::weak_ptr<Daemon::Impl> weak, size_t index, std::shared_ptr<asio::steady_timer> timer) {
  namespace ch = std::chrono;
  if (auto self = weak.lock(); self && !self->stopping) {
    const TriggerSpec& t = self->opt.triggers[index];
    const auto now = ch::floor<ch::seconds>(self->wall_now());
    const auto last = self->last_fire(t);
    const auto missed = last ? next_fire(*t.cron, *last) : std::nullopt;
    if (!last) {
      self->record_fire(t, now);  // first arming: the baseline a later start compares with
    } else if (t.catch_up && missed && *missed <= now) {
      auto run = self->fire_trigger(t, t.input);
      self->record_fire(t, now);
      if (run) trigger_log("info", "cron trigger missed a firing while the daemon was down; running it now", t,
                           {{"missed", utc_iso(*missed)}, {"run", run.value()->id}});
      else trigger_log("error", "cron trigger could not start its catch-up run", t, {{"error", run.error().message}});
    }
  }
  for (;;) {
    std::optional<ch::sys_seconds> next;
    {
      auto self = weak.lock();
      if (!self || self->stopping) co_return;
      const TriggerSpec& t = self->opt.triggers[index];
      next = next_fire(*t.cron, ch::floor<ch::seconds>(self->wall_now()));
      if (!next) {
        trigger_log("warn", "cron trigger has no firing time in the next ten years", t);
        co_return;
      }
    }
    // Wait until the wall clock reaches `next`. The timer is monotonic and the wall clock may be
    // set meanwhile, so sleep at most a minute at a time and look at the wall clock again.
    for (;;) {
      ch::nanoseconds left;
      {
        auto self = weak.lock();
        if (!self || self->stopping) co_return;
        left = *next - self->wall_now();
      }
      if (left <= ch::nanoseconds::zero()) break;
      timer->expires_after(std::min<ch::nanoseconds>(left, ch::minutes(1)));
      auto [ec] = co_await timer->async_wait(use_tuple);
      if (ec) co_return;  // cancelled: the daemon is stopping
    }
    auto self = weak.lock();
    if (!self || self->stopping) co_return;
    const TriggerSpec& t = self->opt.triggers[index];
    auto run = self->fire_trigger(t, t.input);
    self->record_fire(t, *next);
    if (run) trigger_log("info", "cron trigger fired", t, {{"run", run.value()->id}});
    else trigger_log("error", "cron trigger could not start its run", t, {{"error", run.error().message}});
  }
}

}  // namespace

Result<Ok> Daemon::Impl::start_triggers() {
  for (const auto& t : opt.triggers) {
    if (opt.plan_dir.empty())
      return make_error(Errc::invalid_argument, "trigger '" + t.name + "': no plan folder is configured (--plans or serve.plan_dir)");
    std::error_code ec;
    std::string file = t.plan.ends_with(".lua") ? t.plan : t.plan + ".lua";
    if (!fs::is_regular_file(fs::path(opt.plan_dir) / file, ec))
      return make_error(Errc::not_found, "trigger '" + t.name + "': no plan named '" + t.plan + "' in " + opt.plan_dir);
  }
  // The last firings; an unreadable file is reported and treated as empty (no catch-up then).
  std::ifstream in(state_path(opt.data_dir));
  if (in) {
    json st = json::parse(in, nullptr, false);
    if (st.is_object()) trigger_state = std::move(st);
    else log_stderr({{"ts", now_iso()}, {"level", "warn"}, {"msg", "trigger state file is not a JSON object; ignored"},
                     {"path", state_path(opt.data_dir)}});
  }
  for (size_t i = 0; i < opt.triggers.size(); ++i) {
    if (!opt.triggers[i].cron) continue;
    auto timer = std::make_shared<asio::steady_timer>(ex);
    cron_timers.push_back(timer);
    asio::co_spawn(ex, cron_loop(weak_from_this(), i, timer), asio::detached);
  }
  return Ok{};
}

Result<std::shared_ptr<RunEntry>> Daemon::Impl::fire_trigger(const TriggerSpec& t, json input) {
  if (stopping) return make_error(Errc::unavailable, "the daemon is shutting down");
  json body = {{"name", t.plan}, {"input", std::move(input)}};
  if (!t.model.empty()) body["model"] = t.model;
  auto sub = submit(body);
  if (!sub) return sub.error();
  sub.value()->trigger = t.name;
  start(sub.value(), {});
  return sub.value();
}

std::optional<std::chrono::sys_seconds> Daemon::Impl::last_fire(const TriggerSpec& t) const {
  auto it = trigger_state.find(t.name);
  if (it == trigger_state.end() || !it->is_object()) return std::nullopt;
  auto v = it->find("last_fire_unix");
  if (v == it->end() || !v->is_number_integer()) return std::nullopt;
  return std::chrono::sys_seconds(std::chrono::seconds(v->get<int64_t>()));
}

void Daemon::Impl::record_fire(const TriggerSpec& t, std::chrono::sys_seconds when) {
  trigger_state[t.name] = {{"last_fire_unix", int64_t(when.time_since_epoch().count())}, {"last_fire", utc_iso(when)}};
  auto w = plan::write_all_sync(state_path(opt.data_dir), trigger_state.dump(1) + "\n");
  if (!w) log_stderr({{"ts", now_iso()}, {"level", "error"}, {"msg", "cannot write the trigger state"}, {"error", w.error().message}});
}

const TriggerSpec* Daemon::Impl::find_webhook(const std::string& path) const {
  for (const auto& t : opt.triggers)
    if (!t.webhook.empty() && t.webhook == path) return &t;
  return nullptr;
}

asio::awaitable<void> Daemon::Impl::webhook(const Request& req, Responder& res, const TriggerSpec& t) {
  if (stopping) {
    co_await res.send(Response::error(503, "shutting_down", "the daemon is shutting down"));
    co_return;
  }
  if (t.signature) {
    const std::string given = req.header(t.signature->header);
    const bool stripe = t.signature->scheme == WebhookSignature::Scheme::stripe;
    if (given.empty()) {
      co_await res.send(Response::error(401, "missing_signature",
                                        "this webhook needs a " + t.signature->header + " header: " +
                                            (stripe ? "t=<unix time>,v1=<the HMAC-SHA256 of \"<t>.<body>\", in hex>"
                                                    : "the HMAC-SHA256 of the body, in hex")));
      co_return;
    }
    const int64_t now = std::chrono::floor<std::chrono::seconds>(wall_now()).time_since_epoch().count();
    const std::string problem = webhook_signature_problem(*t.signature, given, req.body, now);
    if (!problem.empty()) {
      const bool expired = problem.starts_with("expired");
      co_await res.send(Response::error(401, expired ? "expired_signature" : "bad_signature",
                                        "the " + t.signature->header + " header " + problem));
      co_return;
    }
  }
  json body = req.body.empty() ? json(nullptr) : json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    co_await res.send(Response::error(400, "invalid_json", "the request body is not valid JSON"));
    co_return;
  }
  json headers = json::object();
  for (const auto& [name, value] : req.headers)
    if (webhook_header_passed(name)) headers[name] = value;
  auto run = fire_trigger(t, {{"body", std::move(body)}, {"headers", std::move(headers)}});
  if (!run) {
    bool missing = run.error().code == Errc::not_found;
    co_await res.send(Response::error(missing ? 404 : 400, missing ? "plan_not_found" : "invalid_request", run.error().message));
    co_return;
  }
  co_await res.send(Response::json_body(202, run.value()->describe()));
}

}  // namespace fh::httpd
