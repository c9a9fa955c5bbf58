// fh::tools::time — time.now {} → {iso, unix}: the current UTC time (ISO 8601, seconds) and
// Unix seconds. Depends on: tools/registry. Synchronous.
#pragma once

#include "tools/registry/registry.hpp"

namespace fh::tools::time {

// `now` is injectable for tests; by default the system clock.
ToolDef tool_def(std::function<std::chrono::system_clock::time_point()> now = {});
json now_json(std::chrono::system_clock::time_point t);

}  // namespace fh::tools::time
