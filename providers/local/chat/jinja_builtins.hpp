// fh::local::jinja internal: filters, tests and methods of strings, dicts and lists.
// Internal to providers/local/chat. Each throws TemplateError (with `line`) on misuse.
#pragma once

#include <optional>
#include <string>

#include "providers/local/chat/jinja_ast.hpp"

namespace fh::local::jinja {

struct BuiltinEnv {
  int line = 0;
  size_t max_size = 0;  // cap on the size of any string or list a builtin creates
};

Value apply_filter(const std::string& name, const Value& v, CallArgs& args, const BuiltinEnv& env);
bool apply_test(const std::string& name, const Value& v, CallArgs& args, const BuiltinEnv& env);
// obj.name(args) for str / dict / list methods; nullopt when obj has no such method.
std::optional<Value> call_method(const Value& obj, const std::string& name, CallArgs& args, const BuiltinEnv& env);

std::string type_name(const Value& v);
// Python iteration: list items, dict keys, string characters, undefined -> empty.
List iterate(const Value& v, const BuiltinEnv& env);
Value get_item(const Value& obj, const Value& key, const BuiltinEnv& env);
Value get_attr(const Value& obj, const std::string& name, const BuiltinEnv& env);
bool contains(const Value& container, const Value& item, const BuiltinEnv& env);

}  // namespace fh::local::jinja
