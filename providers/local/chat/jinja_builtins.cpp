// Filters, tests and string/dict methods of the template interpreter, with Python semantics.
#include "providers/local/chat/jinja_builtins.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace fh::local::jinja {
namespace {

[[noreturn]] void fail(const BuiltinEnv& env, const std::string& msg) { throw TemplateError(msg, env.line); }

void check_size(const BuiltinEnv& env, size_t n) {
  if (n > env.max_size)
    throw LimitError("value exceeds the output size limit of " + std::to_string(env.max_size) + " bytes", env.line);
}

// Lists a builtin makes are capped like the interpreter's (a value is ~100 bytes).
void check_items(const BuiltinEnv& env, size_t n) {
  if (n > env.max_size / 64)
    throw LimitError("list exceeds " + std::to_string(env.max_size / 64) + " items", env.line);
}

// Returns a copy: callers pass temporaries as `def`.
Value arg(CallArgs& a, size_t pos, const char* kw, const Value& def) {
  for (auto& [k, v] : a.kw)
    if (k == kw) return v;
  return pos < a.pos.size() ? a.pos[pos] : def;
}

bool has_arg(CallArgs& a, size_t pos, const char* kw) {
  for (auto& [k, v] : a.kw)
    if (k == kw) return true;
  return pos < a.pos.size();
}

const std::string& need_str(const Value& v, const BuiltinEnv& env, const char* what) {
  if (!v.is_string()) fail(env, std::string(what) + " needs a string, got " + type_name(v));
  return v.s;
}

bool py_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto in_set = [&](char c) { return chars.is_string() ? chars.s.find(c) != std::string::npos : py_space(c); };
  size_t a = 0, b = s.size();
  if (left)
    while (a < b && in_set(s[a])) ++a;
  if (right)
    while (b > a && in_set(s[b - 1])) --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count,
                        const BuiltinEnv& env) {
  std::string out;
  size_t pos = 0;
  int64_t done = 0;
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    auto chars = utf8_chars(s);
    for (auto& c : chars) {
      if (count < 0 || done < count) { out += to; ++done; }
      out += c;
      check_size(env, out.size());
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos || (count >= 0 && done >= count)) break;
    out.append(s, pos, hit - pos);
    out += to;
    check_size(env, out.size());
    pos = hit + from.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

Value split(const std::string& s, const Value& sep, int64_t maxsplit, const BuiltinEnv& env) {
  List out;
  if (!sep.is_string()) {
    size_t k = 0;
    while (true) {
      while (k < s.size() && py_space(s[k])) ++k;
      if (k >= s.size()) break;
      if (maxsplit >= 0 && int64_t(out.size()) >= maxsplit) {
        std::string rest = s.substr(k);
        while (!rest.empty() && py_space(rest.back())) rest.pop_back();
        out.push_back(Value::string(rest));
        break;
      }
      size_t e = k;
      while (e < s.size() && !py_space(s[e])) ++e;
      check_items(env, out.size() + 1);
      out.push_back(Value::string(s.substr(k, e - k)));
      k = e;
    }
    return Value::list(std::move(out));
  }
  if (sep.s.empty()) fail(env, "split: empty separator");
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(sep.s, pos);
    if (hit == std::string::npos || (maxsplit >= 0 && int64_t(out.size()) >= maxsplit)) break;
    check_items(env, out.size() + 2);
    out.push_back(Value::string(s.substr(pos, hit - pos)));
    pos = hit + sep.s.size();
  }
  out.push_back(Value::string(s.substr(pos)));
  return Value::list(std::move(out));
}

std::string title_case(const std::string& s) {
  std::string out;
  bool start = true;
  for (char c : s) {
    bool boundary = py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (boundary) {
      out += c;
      start = true;
    } else {
      out += start ? char(std::toupper(static_cast<unsigned char>(c))) : char(std::tolower(static_cast<unsigned char>(c)));
      start = false;
    }
  }
  return out;
}

// Python's str.title(): a letter is upper-cased after a non-letter, lower-cased after a letter.
std::string py_title(const std::string& s) {
  std::string out;
  bool prev_letter = false;
  for (char c : s) {
    bool letter = std::isalpha(static_cast<unsigned char>(c)) != 0;
    if (letter) out += prev_letter ? char(std::tolower(static_cast<unsigned char>(c))) : char(std::toupper(static_cast<unsigned char>(c)));
    else out += c;
    prev_letter = letter || (static_cast<unsigned char>(c) >= 0x80);
  }
  return out;
}

int64_t to_int(const Value& v, int64_t def) {
  switch (v.kind) {
    case Value::Kind::integer: return v.i;
    case Value::Kind::boolean: return v.b;
    case Value::Kind::number: return std::isfinite(v.f) && std::fabs(v.f) < 9e18 ? int64_t(v.f) : def;
    case Value::Kind::string: {
      std::string t = strip(v.s, Value::none(), true, true);
      if (t.empty()) return def;
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(t.c_str(), &end, 10);
      if (end && *end == 0 && errno == 0) return x;
      double d = std::strtod(t.c_str(), &end);
      if (end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9e18) return int64_t(d);
      return def;
    }
    default: return def;
  }
}

// Attribute lookup for selectattr/map: "a.b" walks nested keys.
Value attr_path(const Value& v, const std::string& path, const BuiltinEnv& env) {
  Value cur = v;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur.is_undefined()) return cur;
    cur = get_item(cur, Value::string(part), env);
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

bool less_than(const Value& a, const Value& b, const BuiltinEnv& env) {
  if (a.is_numeric() && b.is_numeric()) return a.as_double() < b.as_double();
  if (a.is_string() && b.is_string()) return a.s < b.s;
  fail(env, "'<' not supported between " + type_name(a) + " and " + type_name(b));
}

Value select_impl(const Value& seq, CallArgs& args, const BuiltinEnv& env, bool by_attr, bool keep) {
  List out;
  size_t first = by_attr ? 1 : 0;
  std::string attr;
  if (by_attr) {
    if (args.pos.empty() || !args.pos[0].is_string()) fail(env, "selectattr/rejectattr need an attribute name");
    attr = args.pos[0].s;
  }
  std::string test;
  CallArgs targs;
  if (args.pos.size() > first) {
    test = need_str(args.pos[first], env, "select test name");
    for (size_t k = first + 1; k < args.pos.size(); ++k) targs.pos.push_back(args.pos[k]);
  }
  for (auto& item : iterate(seq, env)) {
    Value probe = by_attr ? attr_path(item, attr, env) : item;
    bool ok = test.empty() ? truthy(probe) : apply_test(test, probe, targs, env);
    if (ok == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

}  // namespace

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::undefined: return "undefined";
    case Value::Kind::none: return "none";
    case Value::Kind::boolean: return "bool";
    case Value::Kind::integer: return "int";
    case Value::Kind::number: return "float";
    case Value::Kind::string: return "str";
    case Value::Kind::list: return "list";
    case Value::Kind::dict: return v.d->is_namespace ? "namespace" : "dict";
    case Value::Kind::callable: return "function";
  }
  return "?";
}

List iterate(const Value& v, const BuiltinEnv& env) {
  switch (v.kind) {
    case Value::Kind::undefined: return {};
    case Value::Kind::list: return *v.l;
    case Value::Kind::dict: {
      List out;
      for (auto& [k, x] : v.d->items) out.push_back(Value::string(k));
      return out;
    }
    case Value::Kind::string: {
      check_items(env, utf8_length(v.s));
      List out;
      for (auto& c : utf8_chars(v.s)) out.push_back(Value::string(c));
      return out;
    }
    default: fail(env, "'" + type_name(v) + "' object is not iterable");
  }
}

Value get_item(const Value& obj, const Value& key, const BuiltinEnv& env) {
  switch (obj.kind) {
    case Value::Kind::undefined: fail(env, "cannot index an undefined value");
    case Value::Kind::dict: {
      if (!key.is_string()) return Value::undefined();
      const Value* p = obj.d->find(key.s);
      return p ? *p : Value::undefined();
    }
    case Value::Kind::list: {
      if (key.kind != Value::Kind::integer) return Value::undefined();
      int64_t n = int64_t(obj.l->size()), k = key.i < 0 ? key.i + n : key.i;
      return k >= 0 && k < n ? (*obj.l)[size_t(k)] : Value::undefined();
    }
    case Value::Kind::string: {
      // Walks the characters instead of splitting the string: s[i] in a loop stays cheap.
      if (key.kind != Value::Kind::integer) return Value::undefined();
      int64_t n = 0;
      for (size_t p = 0; p < obj.s.size(); p += utf8_char_len(obj.s, p)) ++n;
      int64_t k = key.i < 0 ? key.i + n : key.i;
      if (k < 0 || k >= n) return Value::undefined();
      size_t p = 0;
      for (; k > 0; --k) p += utf8_char_len(obj.s, p);
      return Value::string(obj.s.substr(p, utf8_char_len(obj.s, p)));
    }
    default: return Value::undefined();
  }
}

Value get_attr(const Value& obj, const std::string& name, const BuiltinEnv& env) {
  if (obj.is_undefined()) fail(env, "cannot read attribute '" + name + "' of an undefined value");
  if (obj.is_dict()) {
    const Value* p = obj.d->find(name);
    return p ? *p : Value::undefined();
  }
  return Value::undefined();
}

bool contains(const Value& c, const Value& item, const BuiltinEnv& env) {
  switch (c.kind) {
    case Value::Kind::undefined: return false;
    case Value::Kind::string:
      if (!item.is_string()) fail(env, "'in <string>' requires a string as left operand, not " + type_name(item));
      return c.s.find(item.s) != std::string::npos;
    case Value::Kind::list:
      for (auto& x : *c.l)
        if (equals(x, item)) return true;
      return false;
    case Value::Kind::dict: return item.is_string() && c.d->find(item.s) != nullptr;
    default: fail(env, "argument of type '" + std::string(c.is_none() ? "NoneType" : type_name(c)) + "' is not iterable");
  }
}

bool apply_test(const std::string& name, const Value& v, CallArgs& args, const BuiltinEnv& env) {
  using K = Value::Kind;
  static const Value none = Value::none();
  auto other = [&]() -> const Value& {
    if (args.pos.empty()) fail(env, "test '" + name + "' needs an argument");
    return args.pos[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind == K::boolean;
  if (name == "true") return v.kind == K::boolean && v.b;
  if (name == "false") return v.kind == K::boolean && !v.b;
  if (name == "integer") return v.kind == K::integer;
  if (name == "float") return v.kind == K::number;
  if (name == "number") return v.is_numeric();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict() && !v.d->is_namespace;
  if (name == "iterable") return v.kind == K::list || v.kind == K::dict || v.kind == K::string || v.kind == K::undefined;
  if (name == "sequence") return v.kind == K::list || v.kind == K::dict || v.kind == K::string || v.kind == K::undefined;
  if (name == "callable") return v.kind == K::callable;
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return equals(v, other());
  if (name == "ne" || name == "!=") return !equals(v, other());
  if (name == "lt" || name == "lessthan" || name == "<") return less_than(v, other(), env);
  if (name == "gt" || name == "greaterthan" || name == ">") return less_than(other(), v, env);
  if (name == "le" || name == "<=") return !less_than(other(), v, env);
  if (name == "ge" || name == ">=") return !less_than(v, other(), env);
  if (name == "in") return contains(other(), v, env);
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.kind != K::integer) fail(env, "test '" + name + "' needs an integer");
    if (name == "odd") return v.i % 2 != 0;
    if (name == "even") return v.i % 2 == 0;
    int64_t d = to_int(other(), 0);
    if (d == 0) fail(env, "divisibleby 0");
    return d == -1 || v.i % d == 0;  // INT64_MIN % -1 would trap
  }
  if (name == "lower") return v.is_string() && lower(v.s) == v.s;
  if (name == "upper") return v.is_string() && upper(v.s) == v.s;
  fail(env, "unsupported template construct: test '" + name + "'");
}

Value apply_filter(const std::string& name, const Value& v, CallArgs& args, const BuiltinEnv& env) {
  using K = Value::Kind;
  static const Value none = Value::none();
  static const Value undef = Value::undefined();
  if (name == "tojson") {
    const Value& ind = arg(args, 0, "indent", none);
    try {
      return Value::string(to_json_text(v, ind.kind == K::integer ? int(std::clamp<int64_t>(ind.i, 0, 64)) : -1));
    } catch (const std::runtime_error& e) {
      fail(env, e.what());
    }
  }
  if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
    if (name == "safe") return v;
    std::string out;
    for (char c : to_str(v)) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    check_size(env, out.size());
    return Value::string(out);
  }
  if (name == "string") return v.is_string() ? v : Value::string(to_str(v));
  if (name == "trim") return Value::string(strip(to_str(v), arg(args, 0, "chars", none), true, true));
  if (name == "upper") return Value::string(upper(to_str(v)));
  if (name == "lower") return Value::string(lower(to_str(v)));
  if (name == "capitalize") {
    std::string s = lower(to_str(v));
    if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
    return Value::string(s);
  }
  if (name == "title") return Value::string(title_case(to_str(v)));
  if (name == "length" || name == "count") {
    switch (v.kind) {
      case K::string: return Value::integer(int64_t(utf8_length(v.s)));
      case K::list: return Value::integer(int64_t(v.l->size()));
      case K::dict: return Value::integer(int64_t(v.d->items.size()));
      case K::undefined: return Value::integer(0);
      default: fail(env, "object of type '" + type_name(v) + "' has no len()");
    }
  }
  if (name == "default" || name == "d") {
    bool boolean = truthy(arg(args, 1, "boolean", none));
    bool use_default = v.is_undefined() || (boolean && !truthy(v));
    if (!use_default) return v;
    return has_arg(args, 0, "default_value") ? arg(args, 0, "default_value", none) : Value::string("");
  }
  if (name == "first" || name == "last") {
    List items = iterate(v, env);
    if (items.empty()) return Value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::list(iterate(v, env));
  if (name == "items") {
    if (v.is_undefined()) return Value::list();
    if (!v.is_dict()) fail(env, "items filter needs a mapping, got " + type_name(v));
    List out;
    for (auto& [k, x] : v.d->items) out.push_back(Value::make_tuple({Value::string(k), x}));
    return Value::list(std::move(out));
  }
  if (name == "join") {
    const Value& sep = arg(args, 0, "d", Value::string(""));
    const Value& attr = arg(args, 1, "attribute", none);
    std::string out;
    bool first = true;
    for (auto& x : iterate(v, env)) {
      if (!first) out += to_str(sep);
      first = false;
      out += to_str(attr.is_string() ? attr_path(x, attr.s, env) : x);
      check_size(env, out.size());
    }
    return Value::string(out);
  }
  if (name == "int") return Value::integer(to_int(v, to_int(arg(args, 0, "default", Value::integer(0)), 0)));
  if (name == "float") {
    if (v.is_numeric()) return Value::number(v.as_double());
    if (v.is_string()) {
      char* end = nullptr;
      double d = std::strtod(v.s.c_str(), &end);
      if (end && *end == 0 && !v.s.empty()) return Value::number(d);
    }
    const Value& def = arg(args, 0, "default", Value::number(0));
    return Value::number(def.as_double());
  }
  if (name == "abs") {
    if (v.kind == K::integer) {
      if (v.i == INT64_MIN) fail(env, "integer overflow");
      return Value::integer(v.i < 0 ? -v.i : v.i);
    }
    if (v.kind == K::number) return Value::number(std::fabs(v.f));
    fail(env, "abs needs a number");
  }
  if (name == "replace") {
    const Value& from = arg(args, 0, "old", none);
    const Value& to = arg(args, 1, "new", none);
    const Value& cnt = arg(args, 2, "count", none);
    return Value::string(replace_all(to_str(v), to_str(from), to_str(to), cnt.kind == K::integer ? cnt.i : -1, env));
  }
  if (name == "selectattr") return select_impl(v, args, env, true, true);
  if (name == "rejectattr") return select_impl(v, args, env, true, false);
  if (name == "select") return select_impl(v, args, env, false, true);
  if (name == "reject") return select_impl(v, args, env, false, false);
  if (name == "map") {
    List out;
    const Value& attr = arg(args, 99, "attribute", none);
    if (attr.is_string()) {
      const Value& def = arg(args, 99, "default", undef);
      for (auto& x : iterate(v, env)) {
        Value y = attr_path(x, attr.s, env);
        out.push_back(y.is_undefined() && !def.is_undefined() ? def : y);
      }
      return Value::list(std::move(out));
    }
    if (args.pos.empty() || !args.pos[0].is_string()) fail(env, "map needs attribute= or a filter name");
    CallArgs fargs;
    for (size_t k = 1; k < args.pos.size(); ++k) fargs.pos.push_back(args.pos[k]);
    for (auto& x : iterate(v, env)) out.push_back(apply_filter(args.pos[0].s, x, fargs, env));
    return Value::list(std::move(out));
  }
  if (name == "unique") {
    List out;
    for (auto& x : iterate(v, env)) {
      bool seen = false;
      for (auto& y : out)
        if (equals(x, y)) seen = true;
      if (!seen) out.push_back(x);
    }
    return Value::list(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto chars = utf8_chars(v.s);
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value::string(out);
    }
    List items = iterate(v, env);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "sort") {
    List items = iterate(v, env);
    bool rev = truthy(arg(args, 0, "reverse", none));
    const Value& attr = arg(args, 2, "attribute", none);
    auto key = [&](const Value& x) { return attr.is_string() ? attr_path(x, attr.s, env) : x; };
    std::stable_sort(items.begin(), items.end(),
                     [&](const Value& a, const Value& b) { return rev ? less_than(key(b), key(a), env) : less_than(key(a), key(b), env); });
    return Value::list(std::move(items));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) fail(env, "dictsort needs a mapping");
    auto items = v.d->items;
    std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) { return lower(a.first) < lower(b.first); });
    List out;
    for (auto& [k, x] : items) out.push_back(Value::make_tuple({Value::string(k), x}));
    return Value::list(std::move(out));
  }
  if (name == "sum") {
    bool flt = false;
    int64_t si = 0;
    double sf = 0;
    for (auto& x : iterate(v, env)) {
      if (!x.is_numeric()) fail(env, "sum needs numbers");
      if (x.kind == K::number) flt = true;
      if (x.kind != K::number) {
        int64_t add = x.kind == K::integer ? x.i : int64_t(x.b);
        if (__builtin_add_overflow(si, add, &si)) fail(env, "integer overflow");
      }
      sf += x.as_double();
    }
    return flt ? Value::number(sf) : Value::integer(si);
  }
  if (name == "min" || name == "max") {
    List items = iterate(v, env);
    if (items.empty()) return Value::undefined();
    Value best = items[0];
    for (auto& x : items)
      if (name == "min" ? less_than(x, best, env) : less_than(best, x, env)) best = x;
    return best;
  }
  if (name == "round") {
    int64_t prec = to_int(arg(args, 0, "precision", Value::integer(0)), 0);
    double scale = std::pow(10.0, double(std::clamp<int64_t>(prec, 0, 15)));
    const double r = std::round(v.as_double() * scale) / scale;
    return Value::number(std::isfinite(r) ? r : v.as_double());  // 1e300 * scale overflows
  }
  if (name == "indent") {
    int64_t width = to_int(arg(args, 0, "width", Value::integer(4)), 4);
    bool first = truthy(arg(args, 1, "first", none));
    std::string pad(size_t(std::clamp<int64_t>(width, 0, 256)), ' ');
    std::string s = to_str(v), out = first ? pad : "";
    for (size_t k = 0; k < s.size(); ++k) {
      out += s[k];
      if (s[k] == '\n' && k + 1 < s.size() && s[k + 1] != '\n') out += pad;
      check_size(env, out.size());
    }
    return Value::string(out);
  }
  fail(env, "unsupported template construct: filter '" + name + "'");
}

std::optional<Value> call_method(const Value& obj, const std::string& name, CallArgs& args, const BuiltinEnv& env) {
  static const Value none = Value::none();
  if (obj.is_string()) {
    const std::string& s = obj.s;
    if (name == "startswith" || name == "endswith") {
      const Value& p = arg(args, 0, "prefix", none);
      List cands = p.is_list() ? *p.l : List{p};
      for (auto& c : cands) {
        const std::string& t = need_str(c, env, name.c_str());
        if (name == "startswith" ? s.compare(0, t.size(), t) == 0
                                 : (s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0))
          return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (name == "strip") return Value::string(strip(s, arg(args, 0, "chars", none), true, true));
    if (name == "lstrip") return Value::string(strip(s, arg(args, 0, "chars", none), true, false));
    if (name == "rstrip") return Value::string(strip(s, arg(args, 0, "chars", none), false, true));
    if (name == "split") {
      const Value& m = arg(args, 1, "maxsplit", Value::integer(-1));
      return split(s, arg(args, 0, "sep", none), m.kind == Value::Kind::integer ? m.i : -1, env);
    }
    if (name == "replace") {
      const Value& cnt = arg(args, 2, "count", Value::integer(-1));
      return Value::string(replace_all(s, need_str(arg(args, 0, "old", none), env, "replace"),
                                       need_str(arg(args, 1, "new", none), env, "replace"),
                                       cnt.kind == Value::Kind::integer ? cnt.i : -1, env));
    }
    if (name == "upper") return Value::string(upper(s));
    if (name == "lower") return Value::string(lower(s));
    if (name == "title") return Value::string(py_title(s));
    if (name == "capitalize") return apply_filter("capitalize", obj, args, env);
    if (name == "find") {
      size_t p = s.find(need_str(arg(args, 0, "sub", none), env, "find"));
      return Value::integer(p == std::string::npos ? -1 : int64_t(utf8_length(s.substr(0, p))));
    }
    if (name == "count") {
      const Value sub = arg(args, 0, "sub", none);  // a named copy: need_str returns a reference into it
      const std::string& t = need_str(sub, env, "count");
      if (t.empty()) return Value::integer(int64_t(utf8_length(s)) + 1);
      int64_t n = 0;
      for (size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
      return Value::integer(n);
    }
    if (name == "join") {
      std::string out;
      bool first = true;
      for (auto& x : iterate(arg(args, 0, "iterable", none), env)) {
        if (!first) out += s;
        first = false;
        out += need_str(x, env, "join");
        check_size(env, out.size());
      }
      return Value::string(out);
    }
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum") {
      if (s.empty()) return Value::boolean(false);
      for (unsigned char c : s) {
        bool ok = name == "isdigit" ? std::isdigit(c) : name == "isalpha" ? std::isalpha(c)
                 : name == "isspace" ? py_space(char(c)) : std::isalnum(c);
        if (!ok) return Value::boolean(false);
      }
      return Value::boolean(true);
    }
    if (name == "format") {
      // "{}" / "{0}" positional replacement, the form chat templates use.
      std::string out;
      size_t next = 0;
      for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '{' && k + 1 < s.size() && s[k + 1] == '{') { out += '{'; ++k; continue; }
        if (s[k] == '}' && k + 1 < s.size() && s[k + 1] == '}') { out += '}'; ++k; continue; }
        if (s[k] == '{') {
          size_t close = s.find('}', k);
          if (close == std::string::npos) fail(env, "format: unmatched '{'");
          std::string field = s.substr(k + 1, close - k - 1);
          Value x;
          if (field.empty()) x = next < args.pos.size() ? args.pos[next++] : Value::undefined();
          else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
            size_t idx = size_t(std::strtoul(field.c_str(), nullptr, 10));
            x = idx < args.pos.size() ? args.pos[idx] : Value::undefined();
          } else {
            x = arg(args, 999, field.c_str(), Value::undefined());
          }
          if (x.is_undefined()) fail(env, "format: no argument for '{" + field + "}'");
          out += to_str(x);
          check_size(env, out.size());
          k = close;
          continue;
        }
        out += s[k];
      }
      return Value::string(out);
    }
    return std::nullopt;
  }
  if (obj.is_dict() && !obj.d->is_namespace) {
    if (name == "get") {
      const Value& k = arg(args, 0, "key", none);
      const Value* p = k.is_string() ? obj.d->find(k.s) : nullptr;
      return p ? *p : arg(args, 1, "default", none);
    }
    if (name == "items") return apply_filter("items", obj, args, env);
    if (name == "keys") return Value::list(iterate(obj, env));
    if (name == "values") {
      List out;
      for (auto& [k, x] : obj.d->items) out.push_back(x);
      return Value::list(std::move(out));
    }
    if (name == "update" || name == "pop" || name == "setdefault" || name == "clear")
      fail(env, "unsupported: dict." + name + "() (templates render in an immutable sandbox)");
    return std::nullopt;
  }
  if (obj.is_list()) {
    if (name == "append" || name == "extend" || name == "pop" || name == "insert" || name == "remove" ||
        name == "clear" || name == "sort" || name == "reverse")
      fail(env, "unsupported: list." + name + "() (templates render in an immutable sandbox)");
    if (name == "index") {
      const Value& x = arg(args, 0, "value", none);
      for (size_t k = 0; k < obj.l->size(); ++k)
        if (equals((*obj.l)[k], x)) return Value::integer(int64_t(k));
      fail(env, "list.index: value not in list");
    }
    if (name == "count") {
      int64_t n = 0;
      for (auto& x : *obj.l) n += equals(x, arg(args, 0, "value", none));
      return Value::integer(n);
    }
  }
  return std::nullopt;
}

}  // namespace fh::local::jinja
