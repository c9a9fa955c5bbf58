// fh::core's UTC text.
#include <doctest/doctest.h>

#include "runtime/core/utc.hpp"

TEST_CASE("utc_iso prints UTC to the second") {
  using std::chrono::seconds;
  using std::chrono::sys_seconds;
  CHECK(fh::utc_iso(sys_seconds(seconds(0))) == "1970-01-01T00:00:00Z");
  CHECK(fh::utc_iso(sys_seconds(seconds(1795000000))) == "2026-11-18T11:06:40Z");
  CHECK(fh::utc_iso(sys_seconds(seconds(951782400))) == "2000-02-29T00:00:00Z");  // leap day
}
