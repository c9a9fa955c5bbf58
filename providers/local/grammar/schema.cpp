// JSON Schema -> Grammar. One rule per schema node; $ref targets compile once (recursion is a
// rule referring to itself). Every failure names the keyword and the JSON pointer of the node.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "providers/local/grammar/grammar.hpp"
#include "runtime/core/json_text.hpp"

namespace fh::grammar {
namespace {

constexpr int kMaxDepth = 64;              // schema nesting (objects in objects, $ref chains)
constexpr int kAnyDepth = 3;               // nesting of values generated for `{}` / `true`
constexpr int64_t kMaxItemsLimit = 4096;   // minItems / maxItems expand into rules
constexpr int64_t kMinLengthLimit = 65536;
constexpr size_t kMaxRules = 200000;
constexpr size_t kMaxEnumBytes = size_t(4) << 20;

// Keywords that only annotate: ignoring them cannot make an instance invalid.
const std::set<std::string, std::less<>> kAnnotations = {
    "title", "description", "$schema", "$id", "id", "$comment", "examples", "default",
    "deprecated", "readOnly", "writeOnly", "$anchor", "nullable", "$defs", "definitions"};

// Keywords this compiler understands (the rest is an error).
const std::set<std::string, std::less<>> kKnown = {
    "type", "properties", "required", "additionalProperties", "items", "additionalItems", "enum",
    "const", "anyOf", "oneOf", "allOf", "minItems", "maxItems", "minLength", "maxLength", "$ref",
    "minProperties", "maxProperties", "uniqueItems"};

const json kTrue = true;  // the schema that accepts anything

std::string escape_pointer(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

bool type_matches(const std::string& t, const json& v) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "integer") {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    const double d = v.get<double>();  // whole, and in int64 range before the cast (1e300 is not)
    return std::fabs(d) < 9.2e18 && d == double(int64_t(d));
  }
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  return false;
}

class Compiler {
 public:
  Compiler(Grammar& g, const json& root) : g_(g), root_(root) {}

  std::optional<Error> err;

  // The rule for `s` at JSON pointer `at`; -1 after an error (then `err` is set).
  int32_t compile(const json& s, const std::string& at, int depth) {
    if (err) return -1;
    if (depth > kMaxDepth) return fail(at, "", "schema nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (s.is_boolean()) {
      if (s.get<bool>()) return any(kAnyDepth);
      return fail(at, "", "schema `false` has no instance");
    }
    if (!s.is_object()) return fail(at, "", "a schema must be an object or a boolean");
    for (const auto& [k, v] : s.items()) {
      if (kAnnotations.count(k)) continue;
      if (!kKnown.count(k)) return fail(at, k, "unsupported JSON Schema keyword '" + k + "'");
    }
    auto has_other = [&](std::initializer_list<std::string_view> allowed) -> std::string {
      for (const auto& [k, v] : s.items())
        if (!kAnnotations.count(k) && std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return k;
      return {};
    };
    if (auto it = s.find("$ref"); it != s.end()) {
      if (auto k = has_other({"$ref"}); !k.empty())
        return fail(at, k, "'$ref' beside '" + k + "' is not supported");
      return ref(*it, at, depth);
    }
    for (const char* comb : {"anyOf", "oneOf", "allOf"}) {
      auto it = s.find(comb);
      if (it == s.end()) continue;
      if (auto k = has_other({comb}); !k.empty())
        return fail(at, k, std::string("'") + comb + "' beside '" + k + "' is not supported");
      if (!it->is_array() || it->empty()) return fail(at, comb, std::string("'") + comb + "' must be a non-empty array");
      if (std::string_view(comb) == "allOf") {
        if (it->size() != 1) return fail(at, comb, "'allOf' with more than one schema is not supported");
        return compile((*it)[0], at + "/allOf/0", depth + 1);
      }
      // oneOf is compiled as anyOf: exact only when the alternatives do not overlap.
      Rule r{{}, at + "/" + comb};
      for (size_t i = 0; i < it->size(); ++i) {
        const int32_t sub = compile((*it)[i], at + "/" + comb + "/" + std::to_string(i), depth + 1);
        if (sub < 0) return -1;
        r.alts.push_back({{Elem::ref, sub}});
      }
      return add(std::move(r));
    }
    std::vector<std::string> types;
    if (auto it = s.find("type"); it != s.end()) {
      if (it->is_string()) types.push_back(it->get<std::string>());
      else if (it->is_array() && !it->empty())
        for (const json& t : *it) {
          if (!t.is_string()) return fail(at, "type", "'type' entries must be strings");
          types.push_back(t.get<std::string>());
        }
      else return fail(at, "type", "'type' must be a string or a non-empty array of strings");
      for (const std::string& t : types)
        if (t != "null" && t != "boolean" && t != "integer" && t != "number" && t != "string" && t != "array" && t != "object")
          return fail(at, "type", "unknown type '" + t + "'");
    }
    if (s.contains("enum") || s.contains("const")) return enumeration(s, types, at);
    if (types.empty()) {  // infer from the keywords present
      if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) types = {"object"};
      else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) types = {"array"};
      else if (s.contains("minLength") || s.contains("maxLength")) types = {"string"};
      else return any(kAnyDepth);
    }
    Rule r{{}, at};
    for (const std::string& t : types) {
      const int32_t sub = of_type(t, s, at, depth);
      if (sub < 0) return -1;
      r.alts.push_back({{Elem::ref, sub}});
    }
    return r.alts.size() == 1 ? r.alts[0][0].id : add(std::move(r));
  }

 private:
  int32_t fail(const std::string& at, const std::string& keyword, std::string msg) {
    if (!err) {
      const std::string where = at.empty() ? "/" : at;
      err = make_error(Errc::invalid_argument, "json schema: " + msg + " at " + where,
                       json{{"keyword", keyword}, {"at", where}});
    }
    return -1;
  }

  int32_t add(Rule r) {
    if (g_.rule_count() >= kMaxRules) return fail("", "", "schema too large (grammar rule limit)");
    return g_.add_rule(std::move(r));
  }
  Elem leaf(Leaf l) { return {Elem::leaf, g_.add_leaf(std::move(l))}; }
  Elem lit(std::string_view text) { return leaf(literal_leaf(text)); }
  int32_t leaf_rule(Leaf l, std::string name) { return add(Rule{{{leaf(std::move(l))}}, std::move(name)}); }

  // A non-negative integer keyword, or `fallback` when absent; -2 after an error.
  int64_t count_kw(const json& s, const char* k, int64_t fallback, int64_t limit, const std::string& at) {
    auto it = s.find(k);
    if (it == s.end()) return fallback;
    if (!it->is_number_integer() || it->get<int64_t>() < 0) return fail(at, k, std::string("'") + k + "' must be a non-negative integer"), -2;
    if (it->get<int64_t>() > limit)
      return fail(at, k, std::string("'") + k + "' above " + std::to_string(limit) + " is not supported"), -2;
    return it->get<int64_t>();
  }

  int32_t enumeration(const json& s, const std::vector<std::string>& types, const std::string& at) {
    std::vector<json> values;
    if (auto it = s.find("const"); it != s.end()) values.push_back(*it);
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array() || it->empty()) return fail(at, "enum", "'enum' must be a non-empty array");
      if (s.contains("const")) {  // both: the const must be among the enum values
        if (std::find(it->begin(), it->end(), values[0]) == it->end()) values.clear();
      } else {
        values.assign(it->begin(), it->end());
      }
    }
    std::vector<std::string> options;
    size_t bytes = 0;
    for (const json& v : values) {
      if (!types.empty() && std::none_of(types.begin(), types.end(), [&](const std::string& t) { return type_matches(t, v); }))
        continue;
      options.push_back(json_text(v));
      bytes += options.back().size();
      if (bytes > kMaxEnumBytes) return fail(at, "enum", "'enum' too large (over 4 MiB of JSON)");
    }
    if (options.empty()) return fail(at, "enum", "no 'enum'/'const' value matches 'type'");
    return leaf_rule(literals_leaf(options), at + "/enum");
  }

  int32_t of_type(const std::string& t, const json& s, const std::string& at, int depth) {
    if (t == "null") return leaf_rule(literal_leaf("null"), "null");
    if (t == "boolean") return leaf_rule(literals_leaf({"true", "false"}), "boolean");
    if (t == "integer") return leaf_rule(Leaf{LeafKind::integer, {}, {}, 0, -1}, "integer");
    if (t == "number") return leaf_rule(Leaf{LeafKind::number, {}, {}, 0, -1}, "number");
    if (t == "string") {
      const int64_t lo = count_kw(s, "minLength", 0, kMinLengthLimit, at);
      const int64_t hi = count_kw(s, "maxLength", -1, INT64_MAX / 2, at);
      if (lo == -2 || hi == -2) return -1;
      if (hi >= 0 && lo > hi) return fail(at, "minLength", "'minLength' above 'maxLength': no instance");
      return leaf_rule(string_leaf(lo, hi), at);
    }
    if (t == "array") return array(s, at, depth);
    return object(s, at, depth);
  }

  int32_t array(const json& s, const std::string& at, int depth) {
    if (auto it = s.find("uniqueItems"); it != s.end() && !(it->is_boolean() && !it->get<bool>()))
      return fail(at, "uniqueItems", "'uniqueItems' is not supported");
    const int64_t lo = count_kw(s, "minItems", 0, kMaxItemsLimit, at);
    const int64_t hi = count_kw(s, "maxItems", -1, kMaxItemsLimit, at);
    if (lo == -2 || hi == -2) return -1;
    if (hi >= 0 && lo > hi) return fail(at, "minItems", "'minItems' above 'maxItems': no instance");
    Rule arr{{}, at};
    if (lo == 0) arr.alts.push_back({lit("[]")});
    if (hi != 0) {
      auto iit = s.find("items");
      const json& items = iit != s.end() ? *iit : kTrue;
      if (items.is_array()) return fail(at, "items", "tuple 'items' (an array of schemas) is not supported");
      const int32_t item = compile(items, at + "/items", depth + 1);
      if (item < 0) return -1;
      // tail[k-1]: what may follow the k-th item.
      const int64_t n = hi >= 0 ? hi : std::max<int64_t>(lo, 1);
      std::vector<int32_t> tail;
      for (int64_t k = 1; k <= n; ++k) {
        tail.push_back(add(Rule{{}, at + "/items tail"}));
        if (tail.back() < 0) return -1;
      }
      for (int64_t k = 1; k <= n; ++k) {
        Rule& r = g_.rule(tail[size_t(k - 1)]);
        if (k < n) r.alts.push_back({lit(","), {Elem::ref, item}, {Elem::ref, tail[size_t(k)]}});
        else if (hi < 0) r.alts.push_back({lit(","), {Elem::ref, item}, {Elem::ref, tail[size_t(k - 1)]}});
        if (k >= lo) g_.rule(tail[size_t(k - 1)]).alts.push_back({});
      }
      arr.alts.push_back({lit("["), {Elem::ref, item}, {Elem::ref, tail[0]}, lit("]")});
    }
    return add(std::move(arr));
  }

  int32_t object(const json& s, const std::string& at, int depth) {
    std::vector<std::string> order;
    if (auto it = s.find("required"); it != s.end()) {
      if (!it->is_array()) return fail(at, "required", "'required' must be an array of strings");
      for (const json& n : *it) {
        if (!n.is_string()) return fail(at, "required", "'required' must be an array of strings");
        if (std::find(order.begin(), order.end(), n.get<std::string>()) == order.end()) order.push_back(n.get<std::string>());
      }
    }
    const size_t n_required = order.size();
    const json empty = json::object();
    const json* props = &empty;
    if (auto it = s.find("properties"); it != s.end()) {
      if (!it->is_object()) return fail(at, "properties", "'properties' must be an object");
      props = &*it;
    }
    for (const auto& [k, v] : props->items())
      if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
    const int64_t min_p = count_kw(s, "minProperties", 0, INT64_MAX, at);
    const int64_t max_p = count_kw(s, "maxProperties", -1, INT64_MAX, at);
    if (min_p == -2 || max_p == -2) return -1;
    if (min_p > int64_t(n_required)) return fail(at, "minProperties", "'minProperties' above the number of required properties is not supported");
    if (max_p >= 0 && max_p < int64_t(order.size())) return fail(at, "maxProperties", "'maxProperties' below the number of properties is not supported");
    // first[i] / next[i]: properties i.. when nothing / something has been written yet.
    const size_t n = order.size();
    std::vector<int32_t> first(n + 1), next(n + 1);
    first[n] = add(Rule{{{}}, at + " end"});
    next[n] = first[n];
    for (size_t i = n; i-- > 0;) {
      const std::string& key = order[i];
      auto pit = props->find(key);
      const json& sub = pit != props->end() ? *pit : kTrue;  // a reference: never copy a subtree
      const int32_t value = compile(sub, at + "/properties/" + escape_pointer(key), depth + 1);
      if (value < 0) return -1;
      const std::string name = json_text(json(key)) + ":";
      const bool optional = i >= n_required;
      Rule f{{{lit(name), {Elem::ref, value}, {Elem::ref, next[i + 1]}}}, at + "/" + key};
      Rule x{{{lit("," + name), {Elem::ref, value}, {Elem::ref, next[i + 1]}}}, at + "/" + key};
      if (optional) {
        f.alts.push_back({{Elem::ref, first[i + 1]}});
        x.alts.push_back({{Elem::ref, next[i + 1]}});
      }
      first[i] = add(std::move(f));
      next[i] = add(std::move(x));
      if (first[i] < 0 || next[i] < 0) return -1;
    }
    return add(Rule{{{lit("{"), {Elem::ref, first[0]}, lit("}")}}, at});
  }

  // Resolves a local JSON pointer reference ("#", "#/$defs/a", "#/definitions/a/properties/b").
  int32_t ref(const json& r, const std::string& at, int depth) {
    if (!r.is_string()) return fail(at, "$ref", "'$ref' must be a string");
    const std::string target = r.get<std::string>();
    if (auto it = refs_.find(target); it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#' || (target.size() > 1 && target[1] != '/'))
      return fail(at, "$ref", "only local '$ref' (#/...) is supported, not '" + target + "'");
    const json* node = &root_;
    for (size_t pos = 2; target.size() > 1 && pos <= target.size();) {
      size_t end = target.find('/', pos);
      if (end == std::string::npos) end = target.size();
      std::string tok;
      for (size_t i = pos; i < end; ++i) {
        if (target[i] == '~' && i + 1 < end && (target[i + 1] == '0' || target[i + 1] == '1')) tok += target[++i] == '0' ? '~' : '/';
        else tok += target[i];
      }
      pos = end + 1;
      if (node->is_object() && node->contains(tok)) node = &(*node)[tok];
      else return fail(at, "$ref", "'$ref' target '" + target + "' not found");
    }
    const int32_t placeholder = add(Rule{{}, target});
    if (placeholder < 0) return -1;
    refs_[target] = placeholder;
    const int32_t body = compile(*node, target.substr(1), depth + 1);
    if (body < 0) return -1;
    g_.rule(placeholder).alts.push_back({{Elem::ref, body}});
    return placeholder;
  }

  // Any JSON value nested at most `depth` levels.
  int32_t any(int depth) {
    if (any_[size_t(depth)] >= 0) return any_[size_t(depth)];
    Rule r{{}, "any"};
    r.alts.push_back({leaf(string_leaf(0, -1))});
    r.alts.push_back({leaf(Leaf{LeafKind::number, {}, {}, 0, -1})});
    r.alts.push_back({leaf(literals_leaf({"true", "false", "null"}))});
    if (depth > 0) {
      const int32_t inner = any(depth - 1);
      if (inner < 0) return -1;
      const int32_t members = add(Rule{{}, "any members"});
      const int32_t elems = add(Rule{{}, "any elements"});
      if (members < 0 || elems < 0) return -1;
      g_.rule(members).alts = {{lit(","), leaf(string_leaf(0, -1)), lit(":"), {Elem::ref, inner}, {Elem::ref, members}}, {}};
      g_.rule(elems).alts = {{lit(","), {Elem::ref, inner}, {Elem::ref, elems}}, {}};
      r.alts.push_back({lit("{}")});
      r.alts.push_back({lit("{"), leaf(string_leaf(0, -1)), lit(":"), {Elem::ref, inner}, {Elem::ref, members}, lit("}")});
      r.alts.push_back({lit("[]")});
      r.alts.push_back({lit("["), {Elem::ref, inner}, {Elem::ref, elems}, lit("]")});
    }
    return any_[size_t(depth)] = add(std::move(r));
  }

  Grammar& g_;
  const json& root_;
  std::map<std::string, int32_t> refs_;
  std::array<int32_t, kAnyDepth + 1> any_{-1, -1, -1, -1};
};

}  // namespace

Result<Grammar> Grammar::json_schema(const json& schema) {
  Grammar g;
  Compiler c(g, schema);
  const int32_t root = c.compile(schema, "", 0);
  if (c.err) return std::move(*c.err);
  g.set_root(root);
  if (auto r = g.finalize(); !r) return std::move(r.error());
  return g;
}

}  // namespace fh::grammar
