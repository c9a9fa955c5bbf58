// fh::httpd — triggers: plans the daemon starts by itself, on a cron schedule or when a webhook
// route is posted to. This header holds only their configuration (pure, no Asio); the scheduler
// and the webhook route live in triggers.cpp on the daemon's io_context.
//
// Config (`serve.triggers`, a list):
//   {"name": "nightly", "cron": "0 3 * * *", "plan": "report", "input": {...}, "model": "mock/echo"}
//   {"name": "gh", "webhook": "/hooks/gh", "plan": "on_push", "model": "..."}
// A cron trigger's run gets "input" (default {}); a webhook's run gets
// {"body": <the posted JSON>, "headers": {<selected headers>}}. Cron times are UTC.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/core/result.hpp"
#include "runtime/http/cron.hpp"

namespace fh::httpd {

struct TriggerSpec {
  std::string name;
  std::string plan;              // a named plan of the plan folder
  std::string model;             // empty: the daemon's default
  json input = json::object();   // cron triggers only
  std::optional<CronSpec> cron;  // exactly one of cron and webhook
  std::string webhook;           // "/hooks/..."
};

// Validates strictly: unknown keys, bad cron, duplicate names or paths, a webhook path not under
// /hooks/, a missing or malformed plan name are errors naming the trigger. Null/absent: no triggers.
Result<std::vector<TriggerSpec>> parse_triggers(const json& list);

// The request headers a webhook's run sees: content type, user agent and the event/delivery ids
// senders put in X-* headers. Anything that could carry a credential (authorization, cookies,
// tokens, signatures, keys) is left out: plan inputs are journaled.
bool webhook_header_passed(const std::string& lower_name);

}  // namespace fh::httpd
