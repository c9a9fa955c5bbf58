// fh::httpd — triggers: plans the daemon starts by itself, on a cron schedule or when a webhook
// route is posted to. This header holds only their configuration (pure, no Asio); the scheduler
// and the webhook route live in triggers.cpp on the daemon's io_context.
//
// Config (`serve.triggers`, a list):
//   {"name": "nightly", "cron": "0 3 * * *", "plan": "report", "input": {...}, "model": "mock/echo",
//    "catch_up": true}
//   {"name": "gh", "webhook": "/hooks/gh", "plan": "on_push", "model": "..."}
//   {"name": "gh", "webhook": "/hooks/gh", "plan": "on_push",
//    "signature": {"header": "X-Hub-Signature-256", "secret_env": "GH_WEBHOOK_SECRET"}}
// A cron trigger's run gets "input" (default {}); a webhook's run gets
// {"body": <the posted JSON>, "headers": {<selected headers>}}. Cron times are UTC.
//
// The daemon keeps each cron trigger's last firing (or, before the first, the time it was first
// armed) in DATA/triggers.json. A trigger with "catch_up": true whose next firing after that
// time has passed when the daemon starts (it was down, or stopped, at the time) runs once at
// start, with "missed" (the UTC time it should have fired) in its log line; several missed
// firings still make one run. Without catch_up a missed firing is skipped.
//
// A webhook is authenticated by the daemon's bearer token, or, when it has a "signature", by an
// HMAC-SHA256 of the raw request body under a shared secret instead (how GitHub, Gitea and most
// senders sign): the named header holds the 64 hex digits, optionally after "sha256=". The
// secret is read from the environment variable `secret_env` when the configuration is parsed,
// so it is never written into a config file. With "scheme": "stripe" the header is Stripe's
// "t=<unix time>,v1=<hex>[,v1=...]": the HMAC covers "<t>.<body>", any v1 may match, and t must
// be within "tolerance_s" (default 300) of the daemon's clock, so a captured request cannot be
// replayed later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.hpp"
#include "runtime/http/cron.hpp"

namespace fh::httpd {

struct WebhookSignature {
  enum class Scheme { hex, stripe };
  std::string header;  // lower-cased header name, e.g. "x-hub-signature-256"
  std::string secret;  // the HMAC key
  Scheme scheme = Scheme::hex;
  int64_t tolerance_s = 300;  // stripe: largest distance of the signed time from the daemon's clock
};

struct TriggerSpec {
  std::string name;
  std::string plan;              // a named plan of the plan folder
  std::string model;             // empty: the daemon's default
  json input = json::object();   // cron triggers only
  std::optional<CronSpec> cron;  // exactly one of cron and webhook
  bool catch_up = false;         // cron only: run once at start for a firing missed while down
  std::string webhook;           // "/hooks/..."
  std::optional<WebhookSignature> signature;  // webhooks only: HMAC instead of the bearer token
};

// Validates strictly: unknown keys, bad cron, duplicate names or paths, a webhook path not under
// /hooks/, a missing or malformed plan name are errors naming the trigger. Null/absent: no triggers.
Result<std::vector<TriggerSpec>> parse_triggers(const json& list);

// The request headers a webhook's run sees: content type, user agent and the event/delivery ids
// senders put in X-* headers. Anything that could carry a credential (authorization, cookies,
// tokens, signatures, keys) is left out: plan inputs are journaled.
bool webhook_header_passed(const std::string& lower_name);

// Why a webhook's signature header does not authenticate `body`, or empty when it does.
// hex: `header_value` is "sha256=<hex>" or "<hex>" (either case), the HMAC-SHA256 of the body.
// stripe: "t=<unix>,v1=<hex>,..." with a v1 equal to the HMAC of "<t>.<body>", and t within
// tolerance_s of `now_unix` (reason "expired: ..."). Digests are compared in constant time.
std::string webhook_signature_problem(const WebhookSignature& sig, std::string_view header_value, std::string_view body,
                                      int64_t now_unix);

}  // namespace fh::httpd
