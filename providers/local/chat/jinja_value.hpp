// fh::local::jinja values — the Python-like value model the template interpreter computes with.
// Depends on: fh::core (fh::json) only. Plain values; single-threaded; no I/O.
// Python semantics where chat templates observe them: truthiness, str() ("True", "None"),
// repr() of containers, floor division, undefined distinct from none, and lists/dicts shared by
// reference (a namespace() mutated inside a loop is seen outside it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/result.hpp"

namespace fh::local::jinja {

struct Value;
struct Dict;
using List = std::vector<Value>;

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};
using NativeFn = std::function<Value(CallArgs&)>;

struct Value {
  enum class Kind { undefined, none, boolean, integer, number, string, list, dict, callable };
  Kind kind = Kind::undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> l;
  std::shared_ptr<Dict> d;
  std::shared_ptr<NativeFn> fn;
  bool tuple = false;  // a list that Python would show as a tuple: ('a', 1)

  static Value undefined() { return {}; }
  static Value none() { Value v; v.kind = Kind::none; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::boolean; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::integer; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::number; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::string; v.s = std::move(x); return v; }
  static Value list(List x = {});
  static Value make_tuple(List x) { Value v = list(std::move(x)); v.tuple = true; return v; }
  static Value dict();
  static Value callable(NativeFn f);

  bool is_undefined() const { return kind == Kind::undefined; }
  bool is_none() const { return kind == Kind::none; }
  bool is_string() const { return kind == Kind::string; }
  bool is_list() const { return kind == Kind::list; }
  bool is_dict() const { return kind == Kind::dict; }
  bool is_numeric() const { return kind == Kind::integer || kind == Kind::number || kind == Kind::boolean; }
  double as_double() const { return kind == Kind::number ? f : kind == Kind::integer ? double(i) : double(b); }
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;
  const Value* find(std::string_view k) const;
  Value* find(std::string_view k);
  void set(std::string k, Value v);
};

// Python-style conversions. These never throw.
bool truthy(const Value& v);
std::string to_str(const Value& v);    // str(): "True", "None", "[1, 'a']", undefined -> ""
std::string repr(const Value& v);      // repr(): strings quoted the way Python quotes them
bool equals(const Value& a, const Value& b);
// json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=False): what HF's tojson filter does.
std::string to_json_text(const Value& v, int indent);  // indent < 0: single line ", " / ": "
std::string float_repr(double d);

Value from_json(const json& j);
// Unicode-aware string helpers (strings are UTF-8; Python indexes code points).
std::vector<std::string> utf8_chars(std::string_view s);
size_t utf8_char_len(std::string_view s, size_t k);  // bytes of the character utf8_chars cuts at k
size_t utf8_length(std::string_view s);

}  // namespace fh::local::jinja
