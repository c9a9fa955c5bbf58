// lua::Recorder: with a recorder, os.time/os.date/os.clock reads, math.random streams and
// task.sleep deadlines are recorded under per-branch keys, and a second execution with the same
// recorder gets the recorded values back; without one they stay live.
#include <doctest/doctest.h>

#include <chrono>
#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "runtime/plan/run.hpp"

using fh::json;
namespace asio = boost::asio;

namespace {
// An in-memory recorder, as the daemon's journal would be.
struct MapRecorder : fh::lua::Recorder {
  std::map<std::string, json> values;
  int served = 0;
  json recall(const std::string& key, json live) override {
    if (auto it = values.find(key); it != values.end()) {
      ++served;
      return it->second;
    }
    values[key] = live;
    return live;
  }
};

struct RecordedRun {
  fh::plan::RunResult result;
  double wall_ms = 0;
};

RecordedRun run_recorded(const std::string& source, std::shared_ptr<fh::lua::Recorder> recorder) {
  fh::plan::RunRequest req;
  req.source = source;
  req.services.run_id = "rec";
  req.services.recorder = std::move(recorder);
  asio::io_context io(1);
  auto run = fh::plan::Run::create(asio::make_strand(io), std::move(req));
  RecordedRun out;
  auto t0 = std::chrono::steady_clock::now();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.result = co_await run->execute(); }, asio::detached);
  io.run();
  out.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

// Two branches that draw random numbers and read the clocks; the first sleeps before drawing, so
// on a second execution (its sleep already over) the branches interleave the other way round.
const char* kClockPlan = R"(
  local function draws() return {math.random(1, 1000000000), math.random(), math.random(0)} end
  local a, b = task.all(
    function() task.sleep(0.05) return {draws(), os.time(), os.clock()} end,
    function() return {draws(), os.date("!%Y-%m-%dT%H:%M:%S"), os.clock()} end)
  local main = draws()
  local seeded = (function() math.randomseed(42) return math.random(1, 1000000) end)()
  return {a = a, b = b, main = main, t = os.time(), d = os.date("*t").year, seeded = seeded,
          pure = os.time{year = 2020, month = 1, day = 1, hour = 12}, pure_date = os.date("!%Y", 0)})";
}  // namespace

TEST_CASE("recorder: a second execution reads the same clocks, random numbers and branch streams") {
  auto rec = std::make_shared<MapRecorder>();
  auto first = run_recorded(kClockPlan, rec);
  REQUIRE(first.result.status == fh::plan::RunResult::Status::succeeded);
  CHECK(first.wall_ms >= 50);
  // Per-branch keys; the pure forms (os.time(t), os.date(fmt, t), math.randomseed(x)) are not recorded.
  for (const char* k : {"sleep:m.1#1", "random:m.1#2", "time:m.1#3", "clock:m.1#4", "random:m.2#1", "time:m.2#2",
                        "clock:m.2#3", "random:m#1", "time:m#2", "time:m#3"})
    CHECK_MESSAGE(rec->values.count(k) == 1, k);
  CHECK(rec->values.size() == 10);

  auto second = run_recorded(kClockPlan, rec);
  REQUIRE(second.result.status == fh::plan::RunResult::Status::succeeded);
  CHECK(second.result.output == first.result.output);
  CHECK(rec->served == 10);
  CHECK(rec->values.size() == 10);
  CHECK(second.wall_ms < 45);  // the recorded sleep had finished: it is not slept again

  // A plain run draws other numbers; math.randomseed(x) is the same sequence with or without.
  auto live = run_recorded(kClockPlan, nullptr);
  REQUIRE(live.result.status == fh::plan::RunResult::Status::succeeded);
  CHECK(live.result.output["a"][0] != first.result.output["a"][0]);
  CHECK(live.result.output["seeded"] == first.result.output["seeded"]);
  CHECK(live.result.output["pure"] == first.result.output["pure"]);
}

TEST_CASE("recorder: recorded values are served, and a sleep waits only for what is left of it") {
  auto rec = std::make_shared<MapRecorder>();
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  rec->values["time:m#1"] = 86400;            // 1970-01-02
  rec->values["sleep:m#2"] = now_ms - 1000;   // finished before the "crash"
  rec->values["sleep:m#3"] = now_ms + 150;    // 150 ms were left of it
  rec->values["clock:m#4"] = 1e6;             // a far later os.clock from before a restart
  auto r = run_recorded(R"(
    local t = os.time()
    task.sleep(30)
    task.sleep(30)
    local c1 = os.clock()
    local c2 = os.clock()
    return {t = t, c1 = c1, later = c2 >= c1})", rec);
  REQUIRE(r.result.status == fh::plan::RunResult::Status::succeeded);
  CHECK(r.result.output["t"] == 86400);
  CHECK(r.result.output["c1"] == 1e6);
  CHECK(r.result.output["later"] == true);  // live reads after the served ones do not go back
  CHECK(r.wall_ms >= 100);
  CHECK(r.wall_ms < 2000);

  // A journal value of the wrong type is a clear error, never a crash.
  auto bad = std::make_shared<MapRecorder>();
  bad->values["time:m#1"] = "noon";
  auto b = run_recorded("return os.time()", bad);
  CHECK(b.result.status == fh::plan::RunResult::Status::failed);
  CHECK(b.result.message.find("recorded time value is not an integer") != std::string::npos);
  bad->values["random:m#1"] = json::array({1});
  bad->values["time:m#1"] = 5;
  auto b2 = run_recorded("return math.random()", bad);
  CHECK(b2.result.status == fh::plan::RunResult::Status::failed);
  CHECK(b2.result.message.find("random seed") != std::string::npos);
}
