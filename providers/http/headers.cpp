#include "providers/http/headers.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace fh::http {

std::string_view header_value(const Headers& h, std::string_view name) noexcept {
  for (const auto& [k, v] : h) {
    if (k.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(k[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (eq) return v;
  }
  return {};
}

namespace {
std::optional<double> number(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty() || s.size() > 30) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

// Hints are untrusted: a delay past a year is clamped to a year (it means "not soon" either way)
// and never reaches int64 or chrono arithmetic that could overflow.
constexpr double kMaxDelayMs = 365.0 * 24 * 3'600'000;

int64_t clamp_ms(double ms) { return ms >= kMaxDelayMs ? static_cast<int64_t>(kMaxDelayMs) : ms > 0 ? static_cast<int64_t>(ms) : 0; }

// Milliseconds from `now` until the UTC time `tm` plus `extra_ms` (0 when past); none for a date
// outside the years 1970..9999 or with out-of-range fields.
std::optional<int64_t> delay_until(std::tm tm, double extra_ms, std::chrono::system_clock::time_point now) {
  if (tm.tm_year < 70 || tm.tm_year > 8099 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60 ||
      !(extra_ms >= 0 && extra_ms < 61'000))
    return std::nullopt;
  // In seconds first: a far date does not fit system_clock's nanoseconds.
  double secs = static_cast<double>(timegm(&tm)) - static_cast<double>(std::chrono::system_clock::to_time_t(now));
  auto sub = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return clamp_ms(secs * 1000.0 + extra_ms - static_cast<double>(sub));
}

int month_index(std::string_view m) {
  static const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == names[i]) return i;
  return -1;
}
}  // namespace

std::optional<int64_t> retry_after_ms(const Headers& h, std::chrono::system_clock::time_point now) {
  if (auto v = number(header_value(h, "retry-after-ms"))) return clamp_ms(*v);
  std::string_view ra = header_value(h, "retry-after");
  if (ra.empty()) return std::nullopt;
  if (auto v = number(ra)) return clamp_ms(*v * 1000.0);
  // HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT" (field widths bound every number)
  std::tm tm{};
  char mon[4] = {0};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  std::string s(ra);
  if (std::sscanf(s.c_str(), "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &day, mon, &year, &hh, &mm, &ss) != 6) return std::nullopt;
  int m = month_index(mon);
  if (m < 0) return std::nullopt;
  tm.tm_mday = day; tm.tm_mon = m; tm.tm_year = year - 1900; tm.tm_hour = hh; tm.tm_min = mm; tm.tm_sec = ss;
  return delay_until(tm, 0, now);
}

std::optional<int64_t> parse_go_duration_ms(std::string_view s) {
  double total = 0;
  bool any = false;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    auto v = number(s.substr(0, i));
    if (!v) return std::nullopt;
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && std::isalpha(static_cast<unsigned char>(s[u]))) ++u;
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double scale;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "us" || unit == "µs") scale = 0.001;
    else if (unit == "ns") scale = 0.000001;
    else return std::nullopt;
    total += *v * scale;
    any = true;
  }
  if (!any) return std::nullopt;
  return clamp_ms(std::ceil(total));
}

std::optional<int64_t> rfc3339_delay_ms(std::string_view s, std::chrono::system_clock::time_point now) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, hh = 0, mm = 0;
  double sec = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%lfZ", &y, &mo, &d, &hh, &mm, &sec) != 6) return std::nullopt;
  if (str.empty() || str.back() != 'Z') return std::nullopt;
  tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d; tm.tm_hour = hh; tm.tm_min = mm; tm.tm_sec = 0;
  return delay_until(tm, sec * 1000.0, now);  // NaN, negative or huge seconds are refused there
}

std::optional<int64_t> retry_hint_in_message(std::string_view message) {
  static constexpr std::string_view kKey = "try again in ";
  auto p = message.find(kKey);
  if (p == std::string_view::npos) return std::nullopt;
  auto rest = message.substr(p + kKey.size());
  size_t n = 0;
  while (n < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[n])) || rest[n] == '.')) ++n;
  auto tok = rest.substr(0, n);
  while (!tok.empty() && tok.back() == '.') tok.remove_suffix(1);
  return parse_go_duration_ms(tok);
}

}  // namespace fh::http
