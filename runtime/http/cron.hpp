// fh::httpd — cron expressions for the daemon's scheduled triggers: parse the standard five fields
// (minute hour day-of-month month day-of-week) and compute the next firing time in UTC.
//
// Pure: no Asio, no clock reads, no I/O (the scheduler in triggers.cpp owns the timer and the clock).
// Fields accept `*`, numbers, lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n`, `a/n` (a to the end),
// month names JAN..DEC and weekday names SUN..SAT (any case); day-of-week 7 is Sunday as well as 0.
// Macros: @yearly @annually @monthly @weekly @daily @midnight @hourly.
// Day matching follows Vixie cron: when both day fields are restricted a day matches if EITHER
// does; when one of them starts with `*` (so also `*/2`) both must match.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/core/result.hpp"

namespace fh::httpd {

struct CronSpec {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0 = Sunday .. 6
  bool days_star = false, weekdays_star = false;  // field began with '*' (see the OR rule above)
  std::string text;                               // as written, for logs and errors
};

// A clear Error (Errc::invalid_argument) names the field and the bad part. Expressions that can
// never fire (e.g. "0 0 30 2 *") are refused too.
Result<CronSpec> parse_cron(std::string_view expr);

// The first whole minute strictly after `after` that the spec matches (UTC). Searches at most
// ten years ahead (a leap day behind a skipped leap year is eight); nullopt past that.
std::optional<std::chrono::sys_seconds> next_fire(const CronSpec& spec, std::chrono::sys_seconds after);

}  // namespace fh::httpd
