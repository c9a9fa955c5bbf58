// fh::plan — the run journal and the runs index.
//
// A Journal appends one JSON line per run event to DATA/runs/<id>.jsonl and fsyncs at effect
// boundaries (run start, model results, tool calls and results, run end), so after a crash the
// file holds every completed effect. Large payloads (message histories, big tool results) are
// stored once by content hash in DATA/blobs/<sha256> and referenced as {"$blob": "<sha256>"},
// so a journal grows linearly with the run. The RunIndex is a SQLite table of runs and their
// states (DATA/index.sqlite).
//
// Depends on: fh::core and SQLite. Blocking file I/O, called on the run's strand (small writes).
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/result.hpp"
#include "runtime/core/sha256.hpp"

struct sqlite3;

namespace fh::plan {

using fh::sha256_hex;  // content addresses of blobs

// Writes `data` to a temporary name beside `path`, fsyncs it and renames it over `path`, so a
// crash leaves the old file or the new one (blobs, the daemon's trigger state).
Result<Ok> write_all_sync(const std::string& path, const std::string& data);

class Journal {
 public:
  // Opens (creating folders as needed) DATA/runs/<run_id>.jsonl for appending.
  static Result<std::unique_ptr<Journal>> open(const std::string& data_dir, const std::string& run_id);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends one event; payload fields longer than blob_threshold go to the blob store.
  Result<Ok> append(const json& event);
  const std::string& path() const noexcept { return path_; }
  static bool is_effect_boundary(const json& event);
  size_t blob_threshold = 4096;

  // Reads a journal back, resolving blob references. A torn last line (a crash mid-write) is
  // skipped; any other malformed line is an error naming it.
  static Result<std::vector<json>> read(const std::string& path, const std::string& data_dir);

 private:
  Journal() = default;
  Result<json> externalize(const json& v);
  std::string data_dir_, path_;
  int fd_ = -1;
};

struct IndexedRun {
  std::string id, state, name, created_at, finished_at;
  json summary;  // the run's JSON description at its last update
};

class RunIndex {
 public:
  static Result<std::unique_ptr<RunIndex>> open(const std::string& db_path);
  ~RunIndex();
  RunIndex(const RunIndex&) = delete;
  RunIndex& operator=(const RunIndex&) = delete;
  Result<Ok> upsert(const IndexedRun& r);
  Result<std::optional<IndexedRun>> get(const std::string& id);
  // Newest first (by created_at, then id); `after` is the id of the last run of the previous page.
  Result<std::vector<IndexedRun>> list(const std::string& state, size_t limit, const std::string& after);
  // Runs not in a final state (pending, running, waiting): the ones a restart must resume.
  Result<std::vector<IndexedRun>> unfinished();

 private:
  RunIndex() = default;
  sqlite3* db_ = nullptr;
};

}  // namespace fh::plan
