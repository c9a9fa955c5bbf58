// Cron parsing and next-fire search. See cron.hpp for the accepted syntax.
#include "runtime/http/cron.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <vector>

namespace fh::httpd {

namespace ch = std::chrono;

namespace {

struct FieldDef {
  const char* label;
  int lo, hi;                 // accepted numbers (day-of-week accepts 7 for Sunday)
  const char* const* names;   // 3-letter names for lo.. (nullptr: none)
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", nullptr};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", nullptr};

const FieldDef kFields[5] = {{"minute", 0, 59, nullptr},
                             {"hour", 0, 23, nullptr},
                             {"day-of-month", 1, 31, nullptr},
                             {"month", 1, 12, kMonthNames},
                             {"day-of-week", 0, 7, kDayNames}};

Error cron_error(const FieldDef& f, std::string_view part, std::string_view why) {
  return Error{Errc::invalid_argument,
               "cron " + std::string(f.label) + " field: '" + std::string(part) + "' " + std::string(why), nullptr};
}

// A number or (where the field has them) a name; names count from the field's lowest value.
Result<int> cron_value(const FieldDef& f, std::string_view s) {
  if (s.empty()) return cron_error(f, s, "is empty");
  if (std::isdigit(static_cast<unsigned char>(s[0]))) {
    int v = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return cron_error(f, s, "is not a number");
      v = std::min(v * 10 + (c - '0'), 100000);  // stays out of range without overflowing
    }
    if (v < f.lo || v > f.hi)
      return cron_error(f, s, "is out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
    return v;
  }
  if (f.names && s.size() == 3) {
    for (int i = 0; f.names[i]; ++i) {
      bool same = true;
      for (int k = 0; k < 3; ++k)
        same &= std::toupper(static_cast<unsigned char>(s[static_cast<size_t>(k)])) == f.names[i][k];
      if (same) return f.lo + i;
    }
  }
  return cron_error(f, s, f.names ? "is neither a number nor a known name" : "is not a number");
}

// One field ("1,5-10/2,*/15") as a bit mask over lo..hi.
Result<uint64_t> cron_field(const FieldDef& f, std::string_view text) {
  uint64_t mask = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (item.empty()) return cron_error(f, text, "has an empty list item");
    std::string_view range = item, step_text;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      step_text = item.substr(slash + 1);
      if (step_text.empty()) return cron_error(f, item, "has no step after '/'");
    }
    int first = f.lo, last = f.hi;
    if (range == "*") {
    } else if (auto dash = range.find('-'); dash != std::string_view::npos) {
      auto a = cron_value(f, range.substr(0, dash));
      if (!a) return a.error();
      auto b = cron_value(f, range.substr(dash + 1));
      if (!b) return b.error();
      first = *a, last = *b;
      if (first > last) return cron_error(f, item, "is a range that runs backwards");
    } else {
      auto a = cron_value(f, range);
      if (!a) return a.error();
      first = *a;
      last = step_text.empty() ? *a : f.hi;  // "a/n" means from a to the end
    }
    int step = 1;
    if (!step_text.empty()) {
      FieldDef sf{f.label, 1, f.hi - f.lo + 1, nullptr};
      auto s = cron_value(sf, step_text);
      if (!s) return cron_error(f, item, "has a step that is not 1-" + std::to_string(sf.hi));
      step = *s;
    }
    for (int v = first; v <= last; v += step) mask |= uint64_t{1} << v;
  }
  return mask;
}

template <size_t N>
std::bitset<N> bits_of(uint64_t mask) {
  std::bitset<N> b;
  for (size_t i = 0; i < N; ++i) b[i] = (mask >> i) & 1;
  return b;
}

std::string_view expand_macro(std::string_view e) {
  if (e == "@yearly" || e == "@annually") return "0 0 1 1 *";
  if (e == "@monthly") return "0 0 1 * *";
  if (e == "@weekly") return "0 0 * * 0";
  if (e == "@daily" || e == "@midnight") return "0 0 * * *";
  if (e == "@hourly") return "0 * * * *";
  return {};
}

bool day_matches(const CronSpec& s, const ch::year_month_day& ymd, ch::weekday wd) {
  bool dom = s.days[unsigned(ymd.day())], dow = s.weekdays[wd.c_encoding()];
  return (s.days_star || s.weekdays_star) ? (dom && dow) : (dom || dow);
}

}  // namespace

Result<CronSpec> parse_cron(std::string_view expr) {
  CronSpec spec;
  spec.text = std::string(expr);
  if (expr.size() > 256) return make_error(Errc::invalid_argument, "cron expression is longer than 256 characters");
  std::string_view body = expr;
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) body.remove_prefix(1);
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
  if (!body.empty() && body.front() == '@') {
    auto m = expand_macro(body);
    if (m.empty()) return make_error(Errc::invalid_argument, "unknown cron macro '" + std::string(body) + "'");
    body = m;
  }
  std::vector<std::string_view> fields;
  for (size_t i = 0; i < body.size();) {
    if (std::isspace(static_cast<unsigned char>(body[i]))) { ++i; continue; }
    size_t j = i;
    while (j < body.size() && !std::isspace(static_cast<unsigned char>(body[j]))) ++j;
    fields.push_back(body.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5)
    return make_error(Errc::invalid_argument, "cron expression needs 5 fields (minute hour day-of-month month "
                                              "day-of-week), got " + std::to_string(fields.size()));
  uint64_t masks[5];
  for (size_t i = 0; i < 5; ++i) {
    auto m = cron_field(kFields[i], fields[i]);
    if (!m) return m.error();
    masks[i] = *m;
  }
  if (masks[4] & (uint64_t{1} << 7)) masks[4] = (masks[4] | 1) & 0x7f;  // 7 is Sunday too
  spec.minutes = bits_of<60>(masks[0]);
  spec.hours = bits_of<24>(masks[1]);
  spec.days = bits_of<32>(masks[2]);
  spec.months = bits_of<13>(masks[3]);
  spec.weekdays = bits_of<7>(masks[4]);
  spec.days_star = fields[2].front() == '*';
  spec.weekdays_star = fields[4].front() == '*';
  // With the weekday field a '*' only the day of month decides: it must exist in some month.
  if (spec.weekdays_star) {
    static const unsigned longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (unsigned m = 1; m <= 12; ++m)
      for (unsigned d = 1; d <= longest[m] && !possible; ++d) possible = spec.months[m] && spec.days[d];
    if (!possible) return make_error(Errc::invalid_argument, "cron expression '" + spec.text + "' never fires (no such day in its months)");
  }
  return spec;
}

std::optional<ch::sys_seconds> next_fire(const CronSpec& s, ch::sys_seconds after) {
  auto t = ch::floor<ch::minutes>(after) + ch::minutes(1);
  const auto limit = t + ch::days(3653);
  // Skip whole months, days and hours that cannot match before stepping minutes.
  while (t <= limit) {
    auto day = ch::floor<ch::days>(t);
    ch::year_month_day ymd{day};
    if (!s.months[unsigned(ymd.month())]) {
      auto next_month = ch::year_month(ymd.year(), ymd.month()) + ch::months(1);
      t = ch::sys_days(next_month / 1);
      continue;
    }
    if (!day_matches(s, ymd, ch::weekday(day))) {
      t = day + ch::days(1);
      continue;
    }
    ch::hh_mm_ss hms(t - day);
    auto h = static_cast<size_t>(hms.hours().count());
    if (!s.hours[h]) {
      t = day + ch::hours(static_cast<int64_t>(h) + 1);
      continue;
    }
    if (!s.minutes[static_cast<size_t>(hms.minutes().count())]) {
      t += ch::minutes(1);
      continue;
    }
    return ch::time_point_cast<ch::seconds>(t);
  }
  return std::nullopt;
}

}  // namespace fh::httpd
