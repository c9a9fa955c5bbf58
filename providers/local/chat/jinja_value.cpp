// Python-like value semantics for the template interpreter (see jinja_value.hpp).
#include "providers/local/chat/jinja_value.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace fh::local::jinja {

Value Value::list(List x) {
  Value v;
  v.kind = Kind::list;
  v.l = std::make_shared<List>(std::move(x));
  return v;
}

Value Value::dict() {
  Value v;
  v.kind = Kind::dict;
  v.d = std::make_shared<Dict>();
  return v;
}

Value Value::callable(NativeFn f) {
  Value v;
  v.kind = Kind::callable;
  v.fn = std::make_shared<NativeFn>(std::move(f));
  return v;
}

const Value* Dict::find(std::string_view k) const {
  for (auto& [key, v] : items)
    if (key == k) return &v;
  return nullptr;
}

Value* Dict::find(std::string_view k) {
  for (auto& [key, v] : items)
    if (key == k) return &v;
  return nullptr;
}

void Dict::set(std::string k, Value v) {
  if (Value* p = find(k)) {
    *p = std::move(v);
    return;
  }
  items.emplace_back(std::move(k), std::move(v));
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none: return false;
    case Value::Kind::boolean: return v.b;
    case Value::Kind::integer: return v.i != 0;
    case Value::Kind::number: return v.f != 0;
    case Value::Kind::string: return !v.s.empty();
    case Value::Kind::list: return !v.l->empty();
    case Value::Kind::dict: return v.d->is_namespace || !v.d->items.empty();
    case Value::Kind::callable: return true;
  }
  return false;
}

// Python's float repr: the shortest digit string that round-trips, fixed notation for
// 1e-4 <= |x| < 1e16, otherwise scientific with a two-digit exponent minimum.
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  size_t epos = s.find('e');
  int exp = std::atoi(s.c_str() + epos + 1);
  std::string digits;
  for (size_t k = 0; k < epos; ++k)
    if (s[k] != '.') digits += s[k];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    } else if (size_t(exp) + 1 >= digits.size()) {
      out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += e;
  }
  return neg ? "-" + out : out;
}

static std::string repr_string(const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) { out += '\\'; out += q; }
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += char(c);
    }
  }
  out += q;
  return out;
}

// Containers nested deeper than this print as "..." and compare unequal: the interpreter keeps
// values far shallower, this only keeps the recursion off the stack's end.
constexpr int kMaxRecursion = 1024;

static std::string repr_at(const Value& v, int depth) {
  if (depth > kMaxRecursion && (v.is_list() || v.is_dict())) return "...";
  switch (v.kind) {
    case Value::Kind::string: return repr_string(v.s);
    case Value::Kind::list: {
      std::string out = v.tuple ? "(" : "[";
      for (size_t k = 0; k < v.l->size(); ++k) {
        if (k) out += ", ";
        out += repr_at((*v.l)[k], depth + 1);
      }
      if (v.tuple && v.l->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    case Value::Kind::dict: {
      if (v.d->is_namespace) return "<Namespace>";
      std::string out = "{";
      bool first = true;
      for (auto& [k, x] : v.d->items) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(k) + ": " + repr_at(x, depth + 1);
      }
      return out + "}";
    }
    default: return to_str(v);
  }
}

std::string repr(const Value& v) { return repr_at(v, 0); }

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::undefined: return "";
    case Value::Kind::none: return "None";
    case Value::Kind::boolean: return v.b ? "True" : "False";
    case Value::Kind::integer: return std::to_string(v.i);
    case Value::Kind::number: return float_repr(v.f);
    case Value::Kind::string: return v.s;
    case Value::Kind::list:
    case Value::Kind::dict: return repr(v);
    case Value::Kind::callable: return "<function>";
  }
  return "";
}

static bool equals_at(const Value& a, const Value& b, int depth) {
  if (depth > kMaxRecursion) return false;
  if (a.is_numeric() && b.is_numeric()) {
    if (a.kind != Value::Kind::number && b.kind != Value::Kind::number) {
      int64_t x = a.kind == Value::Kind::integer ? a.i : int64_t(a.b);
      int64_t y = b.kind == Value::Kind::integer ? b.i : int64_t(b.b);
      return x == y;
    }
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none: return true;
    case Value::Kind::string: return a.s == b.s;
    case Value::Kind::list: {
      if (a.l->size() != b.l->size()) return false;
      for (size_t k = 0; k < a.l->size(); ++k)
        if (!equals_at((*a.l)[k], (*b.l)[k], depth + 1)) return false;
      return true;
    }
    case Value::Kind::dict: {
      if (a.d == b.d) return true;
      if (a.d->items.size() != b.d->items.size()) return false;
      for (auto& [k, x] : a.d->items) {
        const Value* y = b.d->find(k);
        if (!y || !equals_at(x, *y, depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::callable: return a.fn == b.fn;
    default: return false;
  }
}

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }

static void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

static void json_dump(std::string& out, const Value& v, int indent, int depth) {
  if (depth > 512) throw std::runtime_error("tojson: value nested too deeply");
  auto newline = [&](int d) {
    out += '\n';
    out.append(size_t(indent) * size_t(d), ' ');
  };
  switch (v.kind) {
    case Value::Kind::none: out += "null"; return;
    case Value::Kind::boolean: out += v.b ? "true" : "false"; return;
    case Value::Kind::integer: out += std::to_string(v.i); return;
    case Value::Kind::number:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
      else out += float_repr(v.f);
      return;
    case Value::Kind::string: json_string(out, v.s); return;
    case Value::Kind::list: {
      if (v.l->empty()) { out += "[]"; return; }
      out += '[';
      for (size_t k = 0; k < v.l->size(); ++k) {
        if (k) out += indent >= 0 ? "," : ", ";
        if (indent >= 0) newline(depth + 1);
        json_dump(out, (*v.l)[k], indent, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::dict: {
      if (v.d->items.empty()) { out += "{}"; return; }
      out += '{';
      bool first = true;
      for (auto& [k, x] : v.d->items) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) newline(depth + 1);
        json_string(out, k);
        out += ": ";
        json_dump(out, x, indent, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out += '}';
      return;
    }
    case Value::Kind::undefined: throw std::runtime_error("tojson: Object of type Undefined is not JSON serializable");
    case Value::Kind::callable: throw std::runtime_error("tojson: a function is not JSON serializable");
  }
}

std::string to_json_text(const Value& v, int indent) {
  std::string out;
  json_dump(out, v, indent, 0);
  return out;
}

Value from_json(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return Value::none();
    case json::value_t::boolean: return Value::boolean(j.get<bool>());
    case json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      return u > uint64_t(INT64_MAX) ? Value::number(double(u)) : Value::integer(int64_t(u));
    }
    case json::value_t::number_float: return Value::number(j.get<double>());
    case json::value_t::string: return Value::string(j.get<std::string>());
    case json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (auto& x : j) l.push_back(from_json(x));
      return Value::list(std::move(l));
    }
    case json::value_t::object: {
      Value d = Value::dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.d->items.emplace_back(it.key(), from_json(it.value()));
      return d;
    }
    default: return Value::none();
  }
}

size_t utf8_char_len(std::string_view s, size_t k) {
  unsigned char c = static_cast<unsigned char>(s[k]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  return k + n > s.size() ? 1 : n;
}

std::vector<std::string> utf8_chars(std::string_view s) {
  std::vector<std::string> out;
  for (size_t k = 0; k < s.size();) {
    const size_t n = utf8_char_len(s, k);
    out.emplace_back(s.substr(k, n));
    k += n;
  }
  return out;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace fh::local::jinja
