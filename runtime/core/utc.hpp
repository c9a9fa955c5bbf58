// UTC time as ISO 8601 text to the second ("2026-11-27T23:05:00Z"), for logs, state files and
// tool results. Depends on the standard library only.
#pragma once

#include <chrono>
#include <string>

namespace fh {

std::string utc_iso(std::chrono::sys_seconds t);

}  // namespace fh
