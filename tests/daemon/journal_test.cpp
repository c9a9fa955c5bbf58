// The journal (JSON lines, blobs by content hash) and the SQLite runs index.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "runtime/plan/journal.hpp"
#include "tests/daemon/support.hpp"

using fh::json;
namespace fs = std::filesystem;

TEST_CASE("journal: large payloads are stored once and read back") {
  auto dir = fh::test::temp_dir("journal");
  auto j = fh::plan::Journal::open(dir, "run_a");
  REQUIRE(j);
  std::string big(10000, 'm');
  json history = {{"messages", json::array({big})}};
  for (int i = 0; i < 3; ++i) REQUIRE((*j)->append({{"type", "llm_request"}, {"seq", i + 1}, {"request", history}}));
  REQUIRE((*j)->append({{"type", "run_finished"}, {"seq", 4}, {"output", "small"}}));
  // Three identical histories: one blob; the journal itself stays small.
  size_t blobs = 0;
  for (auto& e : fs::directory_iterator(dir + "/blobs")) blobs += e.is_regular_file();
  CHECK(blobs == 1);
  CHECK(fs::file_size((*j)->path()) < 1000);
  auto back = fh::plan::Journal::read((*j)->path(), dir);
  REQUIRE(back);
  REQUIRE(back->size() == 4);
  CHECK((*back)[2]["request"] == history);
  CHECK((*back)[3]["output"] == "small");
  // A torn last line (crash mid-write) is skipped; a corrupt middle line is an error.
  { std::ofstream(j.value()->path(), std::ios::app) << "{\"type\":\"tool_ca"; }
  auto torn = fh::plan::Journal::read((*j)->path(), dir);
  REQUIRE(torn);
  CHECK(torn->size() == 4);
  { std::ofstream(j.value()->path(), std::ios::app) << "\n{\"type\":\"x\"}\n"; }
  CHECK(!fh::plan::Journal::read((*j)->path(), dir));
  // A tampered blob is refused.
  for (auto& e : fs::directory_iterator(dir + "/blobs")) std::ofstream(e.path()) << "\"evil\"";
  auto j2 = fh::plan::Journal::open(dir, "run_b");
  REQUIRE((*j2)->append({{"type", "llm_request"}, {"request", history}}));
  CHECK(!fh::plan::Journal::read((*j2)->path(), dir));
  CHECK(!fh::plan::Journal::open(dir, "../x"));
}

TEST_CASE("journal: runs index lists by state with paging and finds unfinished runs") {
  auto dir = fh::test::temp_dir("index");
  auto ix = fh::plan::RunIndex::open(dir + "/index.sqlite");
  REQUIRE(ix);
  const char* states[] = {"succeeded", "running", "failed", "waiting", "succeeded"};
  for (int i = 0; i < 5; ++i)
    REQUIRE((*ix)->upsert({"r" + std::to_string(i), states[i], "", "2026-01-01T00:00:0" + std::to_string(i) + "Z", "",
                           {{"n", i}}}));
  REQUIRE((*ix)->upsert({"r1", "succeeded", "", "2026-01-01T00:00:01Z", "x", {{"n", 1}}}));
  auto all = (*ix)->list("", 2, "");
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == "r4");
  auto next = (*ix)->list("", 10, (*all)[1].id);
  REQUIRE(next);
  CHECK(next->size() == 3);
  CHECK((*ix)->list("succeeded", 10, "")->size() == 3);
  auto open = (*ix)->unfinished();
  REQUIRE(open);
  REQUIRE(open->size() == 1);
  CHECK(open->front().id == "r3");
  CHECK((*(*ix)->get("r1"))->finished_at == "x");
  CHECK(!(*(*ix)->get("zz")));
}
