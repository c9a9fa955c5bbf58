// fh::local::jinja — an interpreter for the Jinja subset that real chat templates use, with the
// settings Hugging Face renders them with (trim_blocks, lstrip_blocks, loopcontrols, an immutable
// sandbox, its tojson: json.dumps(ensure_ascii=False, sort_keys=False), raise_exception and
// strftime_now). Depends on: fh::core only. Pure computation, single-threaded, no I/O.
// Untrusted templates: anything unsupported or wrong is an fh::Error naming the construct and the
// line; nesting depth, output size, loop iterations and total work are bounded; nothing crashes.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "providers/local/chat/jinja_value.hpp"
#include "runtime/core/result.hpp"

namespace fh::local::jinja {

struct RenderOptions {
  size_t max_output = 4u << 20;       // bytes of output (also caps any single string or list)
  int max_depth = 128;                // syntax nesting and macro recursion
  int64_t max_iterations = 1000000;   // loop iterations in total
  // Evaluation steps in total: one per statement and expression evaluated, plus one per 8 bytes
  // of every string (copying it costs that much) and one per 16 items of every list or dict
  // (builtins scan them) an expression yields. Bounds the time of templates whose loops and recursion stay in the limits.
  int64_t max_steps = 20000000;
  std::optional<std::time_t> now;     // strftime_now's clock (UTC); unset = the real time
};

// Renders `tmpl` with the variables of the JSON object `context`. Errors: invalid_argument for a
// syntax error, an unsupported construct, a runtime type error or raise_exception() (its message
// is in the error message; detail {"line": N, "raised": true|false}); limit_exceeded for limits.
Result<std::string> render(std::string_view tmpl, const json& context, const RenderOptions& opts = {});
// The same with a context built as values (a dict), which keeps the caller's key order; fh::json
// objects are ordered by key, Python dicts by insertion, and templates can observe the difference.
Result<std::string> render(std::string_view tmpl, const Value& context, const RenderOptions& opts = {});

}  // namespace fh::local::jinja
