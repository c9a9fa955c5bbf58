// fh::api — the interface through which runs reach tools that live outside the Lua VM.
// The tool registry (tools/registry) implements it; the runtime never names a concrete tool.
// call() runs on the caller's executor and is cancelled through the awaiting coroutine's slot.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "runtime/api/chat.hpp"

namespace fh::api {

struct ToolCallContext {
  std::string run_id;
  std::string workspace;  // absolute path of the run's workspace
  std::string call_id;    // the model's tool-call id, when a model asked for it
};

class ToolHost {
 public:
  virtual ~ToolHost() = default;
  // The spec of a tool by name, or not_found.
  virtual Result<ToolSpec> spec(std::string_view name) const = 0;
  virtual std::vector<ToolSpec> list() const = 0;
  // Validates `args` against the tool's schema, then runs it. Expected failures come back as
  // Error{invalid_argument | permission_denied | timeout | ...}.
  virtual boost::asio::awaitable<Result<json>> call(std::string_view name, json args, ToolCallContext ctx) = 0;
};

}  // namespace fh::api
