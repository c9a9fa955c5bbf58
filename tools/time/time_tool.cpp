#include "tools/time/time_tool.hpp"

#include "runtime/core/utc.hpp"

namespace fh::tools::time {

json now_json(std::chrono::system_clock::time_point t) {
  const std::chrono::sys_seconds secs{std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())};
  return json{{"iso", utc_iso(secs)}, {"unix", secs.time_since_epoch().count()}};
}

ToolDef tool_def(std::function<std::chrono::system_clock::time_point()> now) {
  if (!now) now = [] { return std::chrono::system_clock::now(); };
  return ToolDef{api::ToolSpec{"time.now", "The current UTC time: ISO 8601 and Unix seconds.",
                               json{{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}}},
                 make_sync_handler([now](const json&, const api::ToolCallContext&) -> Result<json> { return now_json(now()); }),
                 std::chrono::seconds(5)};
}

}  // namespace fh::tools::time
