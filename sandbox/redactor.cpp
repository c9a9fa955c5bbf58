#include "sandbox/redactor.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace fh::sandbox {

std::string base64_encode(std::string_view in, bool url_safe, bool pad) {
  static constexpr char std_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char url_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* tab = url_safe ? url_tab : std_tab;
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += tab[(v >> 18) & 63];
    out += tab[(v >> 12) & 63];
    out += tab[(v >> 6) & 63];
    out += tab[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += tab[(v >> 18) & 63];
    out += tab[(v >> 12) & 63];
    if (rest == 2) out += tab[(v >> 6) & 63];
    if (pad) out.append(3 - rest, '=');
  }
  return out;
}

std::string url_encode(std::string_view in, bool upper_hex, bool plus_for_space) {
  const char* hex = upper_hex ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ' && plus_for_space) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool Redactor::add(std::string_view secret) {
  if (secret.size() < 6) return false;
  std::vector<std::string> f;
  f.emplace_back(secret);
  // base64 of the secret embedded at each alignment inside a longer stream: encode with 0..2
  // leading filler bytes and keep only the characters that depend on the secret alone.
  for (bool url : {false, true}) {
    for (size_t lead = 0; lead < 3; ++lead) {
      std::string padded = std::string(lead, '\0') + std::string(secret);
      std::string enc = base64_encode(padded, url, false);
      size_t skip = lead == 0 ? 0 : lead == 1 ? 2 : 3;  // chars touched by the filler
      size_t total_bits = padded.size() * 8;
      size_t full_chars = total_bits / 6;  // chars fully determined by input bits
      if (full_chars <= skip + 4) continue;
      f.push_back(enc.substr(skip, full_chars - skip));
    }
    f.push_back(base64_encode(secret, url, true));
  }
  for (bool upper : {true, false})
    for (bool plus : {false, true}) f.push_back(url_encode(secret, upper, plus));
  std::unique_lock lock(mu_);
  for (auto& s : f)
    if (s.size() >= 6 && std::find(forms_.begin(), forms_.end(), s) == forms_.end()) forms_.push_back(std::move(s));
  std::sort(forms_.begin(), forms_.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return true;
}

std::string Redactor::scrub(std::string_view text) const {
  std::shared_lock lock(mu_);
  std::string out(text);
  for (const std::string& f : forms_) {
    size_t pos = 0;
    while ((pos = out.find(f, pos)) != std::string::npos) {
      out.replace(pos, f.size(), mask);
      pos += mask.size();
    }
  }
  return out;
}

bool Redactor::contains_secret(std::string_view text) const {
  std::shared_lock lock(mu_);
  return std::any_of(forms_.begin(), forms_.end(), [&](const std::string& f) { return text.find(f) != std::string_view::npos; });
}

size_t Redactor::size() const {
  std::shared_lock lock(mu_);
  return forms_.size();
}

}  // namespace fh::sandbox
