#include "runtime/plan/journal.hpp"
#include "runtime/core/json_text.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace fh::plan {

// ---- Journal ----
Result<Ok> write_all_sync(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::internal, "cannot write '" + tmp + "': " + std::strerror(errno));
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return make_error(Errc::internal, "cannot write '" + path + "'");
  return Ok{};
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& data_dir, const std::string& run_id) {
  if (run_id.empty() || run_id.find('/') != std::string::npos || run_id.find("..") != std::string::npos)
    return make_error(Errc::invalid_argument, "bad run id '" + run_id + "'");
  std::error_code ec;
  fs::create_directories(fs::path(data_dir) / "runs", ec);
  fs::create_directories(fs::path(data_dir) / "blobs", ec);
  if (ec) return make_error(Errc::internal, "cannot create '" + data_dir + "/runs': " + ec.message());
  std::unique_ptr<Journal> j(new Journal());
  j->data_dir_ = data_dir;
  j->path_ = (fs::path(data_dir) / "runs" / (run_id + ".jsonl")).string();
  j->fd_ = ::open(j->path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (j->fd_ < 0) return make_error(Errc::internal, "cannot open journal '" + j->path_ + "': " + std::strerror(errno));
  // A line torn by a crash is cut off, so appended lines start on a line of their own.
  off_t size = ::lseek(j->fd_, 0, SEEK_END);
  if (size > 0) {
    int rfd = ::open(j->path_.c_str(), O_RDONLY | O_CLOEXEC);
    off_t keep = size;
    char c = 0;
    while (rfd >= 0 && keep > 0 && ::pread(rfd, &c, 1, keep - 1) == 1 && c != '\n') --keep;
    if (rfd >= 0) ::close(rfd);
    if (keep != size && ::ftruncate(j->fd_, keep) != 0)
      return make_error(Errc::internal, "cannot repair journal '" + j->path_ + "'");
  }
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

bool Journal::is_effect_boundary(const json& event) {
  // "sync": false: a record whose loss in a power cut is harmless on its own (a clock read); the
  // next boundary's fdatasync writes it out with everything before it.
  if (auto it = event.find("sync"); it != event.end() && it->is_boolean() && !it->get<bool>()) return false;
  static const char* types[] = {"run_started", "llm_result", "llm_error", "tool_call", "tool_result",
                                "run_finished", "effect", "approval"};
  std::string t = event.value("type", "");
  for (const char* x : types)
    if (t == x) return true;
  return false;
}

Result<json> Journal::externalize(const json& v) {
  std::string text = json_text(v);
  if (text.size() < blob_threshold) return v;
  std::string hash = sha256_hex(text);
  auto path = fs::path(data_dir_) / "blobs" / hash;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    auto w = write_all_sync(path.string(), text);
    if (!w) return w.error();
  }
  return json{{"$blob", hash}};
}

Result<Ok> Journal::append(const json& event) {
  json line = event;
  if (line.is_object()) {
    for (const char* key : {"request", "result", "input", "output", "arguments", "data", "outcome", "source"}) {
      auto it = line.find(key);
      if (it == line.end()) continue;
      auto ext = externalize(*it);
      if (!ext) return ext.error();
      *it = std::move(ext.value());
    }
  }
  std::string text = json_text(line) + "\n";
  // One write() per line on an O_APPEND descriptor: lines never interleave.
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(Errc::internal, "journal write failed: " + std::string(std::strerror(errno)));
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (is_effect_boundary(event) && ::fdatasync(fd_) != 0)
    return make_error(Errc::internal, "journal fsync failed: " + std::string(std::strerror(errno)));
  return Ok{};
}

Result<std::vector<json>> Journal::read(const std::string& path, const std::string& data_dir) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(Errc::not_found, "cannot open journal '" + path + "'");
  std::vector<std::string> lines;
  std::string line;
  bool last_complete = true;
  while (std::getline(f, line)) {
    last_complete = !f.eof();
    lines.push_back(std::move(line));
  }
  std::vector<json> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    json ev = json::parse(lines[i], nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) {
      if (i + 1 == lines.size() && !last_complete) break;  // torn by a crash
      return make_error(Errc::invalid_argument, path + ":" + std::to_string(i + 1) + ": not a JSON object");
    }
    for (auto& [key, v] : ev.items()) {
      if (!v.is_object() || v.size() != 1 || !v.contains("$blob") || !v["$blob"].is_string()) continue;
      std::string hash = v["$blob"].get<std::string>();
      if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos)
        return make_error(Errc::invalid_argument, path + ":" + std::to_string(i + 1) + ": bad blob reference");
      std::ifstream b(fs::path(data_dir) / "blobs" / hash, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
      json val = json::parse(text, nullptr, false);
      if (!b || val.is_discarded() || sha256_hex(text) != hash)
        return make_error(Errc::invalid_argument, "blob " + hash + " is missing or corrupt");
      v = std::move(val);
    }
    out.push_back(std::move(ev));
  }
  return out;
}

// ---- RunIndex ----
namespace {
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};
Error db_error(sqlite3* db, const std::string& what) {
  return make_error(Errc::internal, what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
}
std::string col(sqlite3_stmt* s, int i) {
  auto* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}
IndexedRun row(sqlite3_stmt* s) {
  IndexedRun r{col(s, 0), col(s, 1), col(s, 2), col(s, 3), col(s, 4), json::parse(col(s, 5), nullptr, false)};
  if (r.summary.is_discarded()) r.summary = nullptr;
  return r;
}
constexpr const char* kCols = "id, state, name, created_at, finished_at, summary";
}  // namespace

Result<std::unique_ptr<RunIndex>> RunIndex::open(const std::string& db_path) {
  std::unique_ptr<RunIndex> ix(new RunIndex());
  if (sqlite3_open(db_path.c_str(), &ix->db_) != SQLITE_OK) return db_error(ix->db_, "cannot open index '" + db_path + "'");
  sqlite3_busy_timeout(ix->db_, 2000);
  const char* schema =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, state TEXT NOT NULL, name TEXT, "
      "created_at TEXT NOT NULL, finished_at TEXT, summary TEXT);"
      "CREATE INDEX IF NOT EXISTS runs_state ON runs(state, created_at);"
      "CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at, id);";
  char* err = nullptr;
  if (sqlite3_exec(ix->db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    return make_error(Errc::internal, "index schema: " + m);
  }
  return ix;
}

RunIndex::~RunIndex() { sqlite3_close(db_); }

Result<Ok> RunIndex::upsert(const IndexedRun& r) {
  Stmt st;
  const char* sql =
      "INSERT INTO runs (id, state, name, created_at, finished_at, summary) VALUES (?,?,?,?,?,?) "
      "ON CONFLICT(id) DO UPDATE SET state=excluded.state, finished_at=excluded.finished_at, summary=excluded.summary";
  if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) != SQLITE_OK) return db_error(db_, "index upsert");
  std::string summary = json_text(r.summary);
  const std::string* vals[] = {&r.id, &r.state, &r.name, &r.created_at, &r.finished_at, &summary};
  for (int i = 0; i < 6; ++i) sqlite3_bind_text(st.s, i + 1, vals[i]->c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) return db_error(db_, "index upsert");
  return Ok{};
}

Result<std::optional<IndexedRun>> RunIndex::get(const std::string& id) {
  Stmt st;
  std::string sql = std::string("SELECT ") + kCols + " FROM runs WHERE id = ?";
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) return db_error(db_, "index get");
  sqlite3_bind_text(st.s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st.s);
  if (rc == SQLITE_ROW) return std::optional<IndexedRun>(row(st.s));
  if (rc == SQLITE_DONE) return std::optional<IndexedRun>();
  return db_error(db_, "index get");
}

Result<std::vector<IndexedRun>> RunIndex::list(const std::string& state, size_t limit, const std::string& after) {
  std::string sql = std::string("SELECT ") + kCols + " FROM runs WHERE (?1 = '' OR state = ?1) AND "
                    "(?2 = '' OR (created_at, id) < (SELECT created_at, id FROM runs WHERE id = ?2)) "
                    "ORDER BY created_at DESC, id DESC LIMIT ?3";
  Stmt st;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) return db_error(db_, "index list");
  sqlite3_bind_text(st.s, 1, state.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 2, after.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 3, static_cast<sqlite3_int64>(limit));
  std::vector<IndexedRun> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(row(st.s));
  if (rc != SQLITE_DONE) return db_error(db_, "index list");
  return out;
}

Result<std::vector<IndexedRun>> RunIndex::unfinished() {
  std::string sql = std::string("SELECT ") + kCols +
                    " FROM runs WHERE state IN ('pending','running','waiting') ORDER BY created_at, id";
  Stmt st;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) return db_error(db_, "index unfinished");
  std::vector<IndexedRun> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(row(st.s));
  if (rc != SQLITE_DONE) return db_error(db_, "index unfinished");
  return out;
}

}  // namespace fh::plan
