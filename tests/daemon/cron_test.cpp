// Cron parsing and next-fire times (runtime/http/cron.hpp): every field form, names, the day-of-
// month / day-of-week OR rule, month ends, leap years and refused expressions.
#include <doctest/doctest.h>

#include <string>

#include "runtime/http/cron.hpp"

namespace ch = std::chrono;
using fh::httpd::next_fire;
using fh::httpd::parse_cron;

namespace {
ch::sys_seconds at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return ch::sys_days(ch::year(y) / ch::month(mo) / ch::day(d)) + ch::hours(h) + ch::minutes(mi) + ch::seconds(s);
}
// The next firing after `from` of `expr` (the expression must parse).
ch::sys_seconds next(const std::string& expr, ch::sys_seconds from) {
  auto spec = parse_cron(expr);
  REQUIRE_MESSAGE(spec.ok(), expr, ": ", spec ? "" : spec.error().message);
  auto t = next_fire(spec.value(), from);
  REQUIRE(t.has_value());
  return *t;
}
std::string refusal(const std::string& expr) {
  auto spec = parse_cron(expr);
  return spec ? std::string("(accepted)") : spec.error().message;
}
}  // namespace

TEST_CASE("cron: every minute fires at the next whole minute, strictly after") {
  CHECK(next("* * * * *", at(2026, 3, 1, 10, 0)) == at(2026, 3, 1, 10, 1));
  CHECK(next("* * * * *", at(2026, 3, 1, 10, 0, 59)) == at(2026, 3, 1, 10, 1));
  CHECK(next("* * * * *", at(2026, 12, 31, 23, 59, 30)) == at(2027, 1, 1, 0, 0));
}

TEST_CASE("cron: numbers, lists, ranges and steps") {
  auto from = at(2026, 3, 1, 10, 7);  // a Sunday
  CHECK(next("30 * * * *", from) == at(2026, 3, 1, 10, 30));
  CHECK(next("5 * * * *", from) == at(2026, 3, 1, 11, 5));
  CHECK(next("5,10,50 * * * *", from) == at(2026, 3, 1, 10, 10));
  CHECK(next("20-25 * * * *", from) == at(2026, 3, 1, 10, 20));
  CHECK(next("*/5 * * * *", from) == at(2026, 3, 1, 10, 10));
  CHECK(next("*/15 * * * *", at(2026, 3, 1, 10, 45)) == at(2026, 3, 1, 11, 0));
  CHECK(next("10-40/10 * * * *", at(2026, 3, 1, 10, 30)) == at(2026, 3, 1, 10, 40));
  CHECK(next("10-40/10 * * * *", at(2026, 3, 1, 10, 40)) == at(2026, 3, 1, 11, 10));
  CHECK(next("7/20 * * * *", at(2026, 3, 1, 10, 28)) == at(2026, 3, 1, 10, 47));  // a/n: a to the end
  CHECK(next("0 9-17/4 * * *", from) == at(2026, 3, 1, 13, 0));
  CHECK(next("0 0 * * *", from) == at(2026, 3, 2, 0, 0));
  CHECK(next("0 12 15 * *", from) == at(2026, 3, 15, 12, 0));
  CHECK(next("0 0 1 */3 *", from) == at(2026, 4, 1, 0, 0));  // months 1,4,7,10
  CHECK(next("1,2-4,*/30 * * * *", at(2026, 3, 1, 10, 4)) == at(2026, 3, 1, 10, 30));
}

TEST_CASE("cron: month and weekday names, any case, and 7 as Sunday") {
  auto from = at(2026, 3, 1, 10, 7);  // Sunday 1 March 2026
  CHECK(next("0 0 1 jun *", from) == at(2026, 6, 1));
  CHECK(next("0 0 1 JAN,Jul *", from) == at(2026, 7, 1));
  CHECK(next("0 0 * * MON", from) == at(2026, 3, 2));
  CHECK(next("0 0 * * mon-fri", at(2026, 3, 6, 12)) == at(2026, 3, 9));  // Friday noon -> Monday
  CHECK(next("0 0 * * 7", from) == at(2026, 3, 8));
  CHECK(next("0 0 * * 0", from) == at(2026, 3, 8));
  CHECK(next("0 0 * * 5-7", at(2026, 3, 2)) == at(2026, 3, 6));
  CHECK(next("0 0 * * sat", from) == at(2026, 3, 7));
}

TEST_CASE("cron: day-of-month and day-of-week, the OR rule") {
  auto from = at(2026, 3, 1, 12);  // Sunday
  // Both restricted: either matches (the 13th, or any Friday).
  CHECK(next("0 0 13 * 5", from) == at(2026, 3, 6));
  CHECK(next("0 0 13 * 5", at(2026, 3, 6, 1)) == at(2026, 3, 13));
  CHECK(next("0 0 13 * 5", at(2026, 3, 13, 1)) == at(2026, 3, 20));
  // Weekday '*': only the day of month counts.
  CHECK(next("0 0 13 * *", from) == at(2026, 3, 13));
  // Day of month '*': only the weekday counts.
  CHECK(next("0 0 * * 5", from) == at(2026, 3, 6));
  // A field that starts with '*' (a step) counts as '*': both must match. Odd days that are Mondays.
  CHECK(next("0 0 */2 * 1", from) == at(2026, 3, 9));
  CHECK(next("0 0 */2 * 1", at(2026, 3, 9, 1)) == at(2026, 3, 23));
}

TEST_CASE("cron: month ends and leap years") {
  CHECK(next("0 0 31 * *", at(2026, 4, 1)) == at(2026, 5, 31));   // April has no 31st
  CHECK(next("0 0 31 * *", at(2026, 5, 31)) == at(2026, 7, 31));  // nor June
  CHECK(next("0 0 30 * *", at(2026, 1, 30, 1)) == at(2026, 3, 30));  // February skipped
  CHECK(next("59 23 28-31 2 *", at(2027, 2, 28)) == at(2027, 2, 28, 23, 59));
  CHECK(next("59 23 28-31 2 *", at(2027, 2, 28, 23, 59)) == at(2028, 2, 28, 23, 59));
  CHECK(next("0 0 29 2 *", at(2026, 1, 1)) == at(2028, 2, 29));
  CHECK(next("0 0 29 2 *", at(2096, 3, 1)) == at(2104, 2, 29));  // 2100 is not a leap year
  CHECK(next("0 0 29 2 *", at(2000, 1, 1)) == at(2000, 2, 29));  // 2000 is
  CHECK(next("0 0 1 1 *", at(2026, 12, 31, 23, 59)) == at(2027, 1, 1));
  CHECK(next("@yearly", at(2026, 6, 1)) == at(2027, 1, 1));
  CHECK(next("@monthly", at(2026, 1, 31, 5)) == at(2026, 2, 1));
  CHECK(next("@weekly", at(2026, 3, 1, 0, 0)) == at(2026, 3, 8));
  CHECK(next("@daily", at(2026, 3, 1, 0, 0, 1)) == at(2026, 3, 2));
  CHECK(next("@hourly", at(2026, 3, 1, 0, 59, 59)) == at(2026, 3, 1, 1));
}

TEST_CASE("cron: a weekday restriction that never meets its days gives no time") {
  // February 30th never exists, whatever the weekday field says: refused when parsed. A rare but
  // real combination (AND rule: Feb 29 that is a Sunday) is found years ahead.
  auto spec = parse_cron("0 0 30 2 */2");
  CHECK_FALSE(spec.ok());  // impossible day caught at parse time
  auto hard = parse_cron("0 0 29 2 */7");  // Feb 29 that is a Sunday: exists (2032), within ten years
  REQUIRE(hard.ok());
  auto t = next_fire(hard.value(), at(2026, 1, 1));
  REQUIRE(t.has_value());
  CHECK(*t == at(2032, 2, 29));
}

TEST_CASE("cron: invalid expressions are refused with the field named") {
  CHECK(refusal("* * * *").find("5 fields") != std::string::npos);
  CHECK(refusal("* * * * * *").find("got 6") != std::string::npos);
  CHECK(refusal("").find("got 0") != std::string::npos);
  CHECK(refusal("60 * * * *").find("minute field: '60' is out of range 0-59") != std::string::npos);
  CHECK(refusal("* 24 * * *").find("hour field") != std::string::npos);
  CHECK(refusal("* * 0 * *").find("day-of-month field") != std::string::npos);
  CHECK(refusal("* * 32 * *").find("day-of-month field") != std::string::npos);
  CHECK(refusal("* * * 13 *").find("month field") != std::string::npos);
  CHECK(refusal("* * * * 8").find("day-of-week field") != std::string::npos);
  CHECK(refusal("* * * foo *").find("month field: 'foo'") != std::string::npos);
  CHECK(refusal("* * * * mon-").find("is empty") != std::string::npos);
  CHECK(refusal("jan * * * *").find("minute field: 'jan' is not a number") != std::string::npos);
  CHECK(refusal("5-1 * * * *").find("backwards") != std::string::npos);
  CHECK(refusal("*/0 * * * *").find("step") != std::string::npos);
  CHECK(refusal("*/61 * * * *").find("step") != std::string::npos);
  CHECK(refusal("*/ * * * *").find("no step") != std::string::npos);
  CHECK(refusal("1,,2 * * * *").find("empty list item") != std::string::npos);
  CHECK(refusal("1, * * * *").find("empty list item") != std::string::npos);
  CHECK(refusal("-1 * * * *").find("minute field") != std::string::npos);
  CHECK(refusal("1x * * * *").find("not a number") != std::string::npos);
  CHECK(refusal("99999999999999 * * * *").find("out of range") != std::string::npos);
  CHECK(refusal("@reboot").find("unknown cron macro") != std::string::npos);
  CHECK(refusal("0 0 31 2,4 *").find("never fires") != std::string::npos);
  CHECK(refusal(std::string(300, '*')).find("longer than 256") != std::string::npos);
  // Accepted edge forms.
  CHECK(parse_cron("  0   0  *  *  *  ").ok());
  CHECK(parse_cron("0 0 31 2 1").ok());  // both restricted: Mondays still fire
}
