// fh::local::jinja internal: the syntax tree the parser builds and the evaluator walks.
// Internal to providers/local/chat; not a public interface.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "providers/local/chat/jinja_value.hpp"

namespace fh::local::jinja {

// Thrown inside the interpreter only; render() turns it into an fh::Error.
struct TemplateError : std::runtime_error {
  int line;
  bool raised;  // raise_exception() from the template itself
  TemplateError(std::string msg, int ln, bool from_raise = false)
      : std::runtime_error(std::move(msg)), line(ln), raised(from_raise) {}
};

// A limit of RenderOptions was hit: render() reports limit_exceeded.
struct LimitError : TemplateError {
  using TemplateError::TemplateError;
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  enum class K {
    literal, name, list, tuple, dict, attr, subscript, slice, call, filter, test,
    op_not, neg, binop, compare, and_, or_, cond, concat
  };
  K k = K::literal;
  int line = 0;
  Value lit;
  std::string name;                  // name, attr, filter/test name, operator
  std::vector<ExprP> args;           // list/tuple items, dict keys+values interleaved, call args
  std::vector<std::string> kwnames;  // keyword argument names, aligned with kwargs
  std::vector<ExprP> kwargs;
  ExprP a, b, c;                     // operands (slice: start, stop, step in args)
  bool negated = false;              // `is not`, `not in`
};

struct Node;
using NodeP = std::unique_ptr<Node>;
using Body = std::vector<NodeP>;

struct Node {
  enum class K { text, output, if_, for_, set, set_block, macro, call_block, break_, continue_, filter_block };
  K k = K::text;
  int line = 0;
  std::string text;
  ExprP expr;                      // output, set value, for iterable, call target, filter
  std::vector<ExprP> conds;        // if / elif conditions (aligned with bodies)
  std::vector<Body> bodies;        // if branches, last one may be the else branch
  std::vector<std::string> targets;  // for/set targets (names)
  std::string attr;                // set ns.attr
  ExprP filter;                    // for ... if cond
  Body body, else_body;
  std::string name;                // macro name
  std::vector<std::string> params;
  std::vector<ExprP> defaults;     // aligned with params; null when no default
  std::vector<std::string> caller_params;
};

struct Template {
  Body body;
};

// Parses a template; throws TemplateError.
std::unique_ptr<Template> parse_template(std::string_view source, int max_depth);

}  // namespace fh::local::jinja
