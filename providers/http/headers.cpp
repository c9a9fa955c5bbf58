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

int month_index(std::string_view m) {
  static const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == names[i]) return i;
  return -1;
}
}  // namespace

std::optional<int64_t> retry_after_ms(const Headers& h, std::chrono::system_clock::time_point now) {
  if (auto v = number(header_value(h, "retry-after-ms"))) return static_cast<int64_t>(*v);
  std::string_view ra = header_value(h, "retry-after");
  if (ra.empty()) return std::nullopt;
  if (auto v = number(ra)) return static_cast<int64_t>(*v * 1000.0);
  // HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT"
  std::tm tm{};
  char mon[4] = {0};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  std::string s(ra);
  if (std::sscanf(s.c_str(), "%*3s, %d %3s %d %d:%d:%d GMT", &day, mon, &year, &hh, &mm, &ss) != 6) return std::nullopt;
  int m = month_index(mon);
  if (m < 0) return std::nullopt;
  tm.tm_mday = day; tm.tm_mon = m; tm.tm_year = year - 1900; tm.tm_hour = hh; tm.tm_min = mm; tm.tm_sec = ss;
  auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count();
  return d > 0 ? d : 0;
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
  return static_cast<int64_t>(std::ceil(total));
}

std::optional<int64_t> rfc3339_delay_ms(std::string_view s, std::chrono::system_clock::time_point now) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, hh = 0, mm = 0;
  double sec = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &hh, &mm, &sec) != 6) return std::nullopt;
  if (str.empty() || str.back() != 'Z') return std::nullopt;
  tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d; tm.tm_hour = hh; tm.tm_min = mm; tm.tm_sec = 0;
  auto at = std::chrono::system_clock::from_time_t(timegm(&tm)) +
            std::chrono::milliseconds(static_cast<int64_t>(sec * 1000.0));
  auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count();
  return delta > 0 ? delta : 0;
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
