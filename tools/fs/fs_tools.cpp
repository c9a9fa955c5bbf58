#include "tools/fs/fs_tools.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "runtime/core/utf8.hpp"
#include "sandbox/permissions.hpp"

namespace fh::tools::fs {

namespace {

using sandbox::PermissionEngine;

constexpr uint64_t confined = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// openat2 confined beneath `dirfd`; returns the fd or -errno.
int open_beneath(int dirfd, const std::string& rel, int flags, mode_t mode = 0) {
  open_how how{};
  // openat2 is strict: O_PATH admits only O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC.
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY));
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = confined;
  long r;
  do {
    r = syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
  } while (r < 0 && errno == EAGAIN);  // RESOLVE_BENEATH may ask to retry on a concurrent rename
  return r < 0 ? -errno : static_cast<int>(r);
}

Error errno_error(int err, const std::string& path) {
  switch (err) {
    case EXDEV: return make_error(Errc::permission_denied, "path '" + path + "' leaves the workspace (refused)");
    case ELOOP: return make_error(Errc::permission_denied, "path '" + path + "' goes through a symlink (refused)");
    case ENOENT: return make_error(Errc::not_found, "no such file or directory: '" + path + "'");
    case ENOTDIR: return make_error(Errc::invalid_argument, "a component of '" + path + "' is not a directory");
    case EISDIR: return make_error(Errc::invalid_argument, "'" + path + "' is a directory");
    case EACCES:
    case EPERM: return make_error(Errc::permission_denied, "access to '" + path + "' denied: " + strerror(err));
    case ENAMETOOLONG: return make_error(Errc::invalid_argument, "path '" + path + "' is too long");
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return make_error(Errc::limit_exceeded, "no space to write '" + path + "': " + strerror(err));
    default: return make_error(Errc::internal, "'" + path + "': " + strerror(err));
  }
}

Result<std::string> normalized(const json& args, const char* field = "path", bool allow_root = false) {
  if (!args.is_object() || !args.contains(field) || !args[field].is_string())
    return make_error(Errc::invalid_argument, std::string("argument '") + field + "' must be a string");
  const std::string& raw = args[field].get_ref<const std::string&>();
  if (raw.find('\0') != std::string::npos) return make_error(Errc::invalid_argument, "path contains a NUL byte");
  if (!raw.empty() && raw[0] == '/')
    return make_error(Errc::permission_denied,
                      "absolute path '" + raw + "' refused: paths are relative to the workspace");
  auto n = PermissionEngine::normalize_path(raw);
  if (!n) return make_error(Errc::permission_denied, "path '" + raw + "' leaves the workspace (refused)");
  if (*n == "." && !allow_root) return make_error(Errc::invalid_argument, "path must name a file, not the workspace root");
  return *n;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool match_any(const std::string& path, const std::vector<std::string>& patterns) {
  std::string p = lower(path);
  for (const auto& pat : patterns) {
    if (PermissionEngine::glob_match(pat, p, true) || PermissionEngine::glob_match("**/" + pat, p, true)) return true;
  }
  return false;
}

// Reads a regular file opened beneath the workspace, within the cap, refusing binary data.
Result<std::string> read_text(const Workspace& ws, const std::string& path, const FsOptions& o) {
  Fd f(open_beneath(ws.fd(), path, O_RDONLY | O_NONBLOCK));
  if (f.fd < 0) return errno_error(-f.fd, path);
  struct stat st{};
  if (fstat(f.fd, &st) != 0) return errno_error(errno, path);
  if (S_ISDIR(st.st_mode)) return make_error(Errc::invalid_argument, "'" + path + "' is a directory (use fs.list)");
  if (!S_ISREG(st.st_mode)) return make_error(Errc::permission_denied, "'" + path + "' is not a regular file (refused)");
  if (static_cast<uint64_t>(st.st_size) > o.max_read_bytes)
    return make_error(Errc::limit_exceeded, "'" + path + "' is " + std::to_string(st.st_size) + " bytes; the limit is " +
                                                std::to_string(o.max_read_bytes));
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(f.fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(errno, path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  if (data.find('\0') != std::string::npos || !utf8::valid(data))
    return make_error(Errc::invalid_argument, "'" + path + "' looks binary (not UTF-8 text); fs.read returns text only");
  return data;
}

// Opens (creating when asked) each directory of `dir` beneath the workspace, one component
// at a time, without following symlinks.
Result<Fd> open_dir_chain(const Workspace& ws, const std::string& dir, bool create) {
  Fd cur(fcntl(ws.fd(), F_DUPFD_CLOEXEC, 3));
  if (dir.empty() || dir == ".") return cur;
  size_t i = 0;
  while (i < dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    std::string part = dir.substr(i, j - i);
    int fd = open_beneath(cur.fd, part, O_PATH | O_DIRECTORY);
    if (fd == -ENOENT && create) {
      if (mkdirat(cur.fd, part.c_str(), 0755) != 0 && errno != EEXIST) return errno_error(errno, dir);
      fd = open_beneath(cur.fd, part, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) return errno_error(-fd, dir);
    cur = Fd(fd);
    i = j + 1;
  }
  return cur;
}

// The atomic replace: O_EXCL temp in the same directory, write, fsync, renameat.
Result<uint64_t> atomic_write(const Workspace& ws, const std::string& path, std::string_view content) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto d = open_dir_chain(ws, dir, true);
  if (!d) return d.error();
  const int dfd = d->fd;
  mode_t mode = 0644;
  uid_t owner = static_cast<uid_t>(-1);
  gid_t group = static_cast<gid_t>(-1);
  {
    Fd existing(open_beneath(dfd, name, O_PATH));
    if (existing.fd >= 0) {
      struct stat st{};
      fstat(existing.fd, &st);
      if (!S_ISREG(st.st_mode)) return make_error(Errc::permission_denied, "'" + path + "' is not a regular file (refused)");
      if (st.st_nlink > 1)
        return make_error(Errc::permission_denied, "'" + path + "' has other hard links (refused: it could alias a file elsewhere)");
      mode = st.st_mode & 0777;  // never carry setuid/setgid/sticky bits
      owner = st.st_uid;
      group = st.st_gid;
    } else if (existing.fd != -ENOENT) {
      return errno_error(-existing.fd, path);
    }
  }
  unsigned char rnd[8];
  if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) return make_error(Errc::internal, "getrandom failed");
  std::string tmp = "." + name.substr(0, 200) + ".fh-tmp-";
  for (unsigned char c : rnd) tmp += "0123456789abcdef"[c >> 4], tmp += "0123456789abcdef"[c & 15];
  int tfd = openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (tfd < 0) return errno_error(errno, path);
  Fd t(tfd);
  auto fail = [&](int err) {
    unlinkat(dfd, tmp.c_str(), 0);
    return errno_error(err, path);
  };
  if (geteuid() == 0 && owner != static_cast<uid_t>(-1)) (void)!fchown(t.fd, owner, group);
  fchmod(t.fd, mode);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(t.fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno);
    off += static_cast<size_t>(n);
  }
  if (fsync(t.fd) != 0) return fail(errno);
  if (renameat(dfd, tmp.c_str(), dfd, name.c_str()) != 0) return fail(errno);
  fsync(dfd);  // persist the rename (best effort on O_PATH fds)
  return static_cast<uint64_t>(content.size());
}

Result<Ok> check_writable(const std::string& path, const FsOptions& o) {
  if (is_protected(path, o))
    return make_error(Errc::permission_denied,
                      "'" + path + "' is a protected path (VCS hooks/config, shell rc, editor or runtime config); writes are refused");
  return Ok{};
}

}  // namespace

std::vector<std::string> FsOptions::default_protected_paths() {
  return {".git",           ".git/hooks",    ".git/hooks/**", ".git/config",  ".git/info/**",   ".gitmodules",
          ".bashrc",        ".bash_profile", ".bash_login",   ".bash_logout", ".profile",       ".zshrc",
          ".zshenv",        ".zprofile",     ".zlogin",       ".cshrc",       ".tcshrc",        ".envrc",
          ".vscode",        ".vscode/**",    ".idea",         ".idea/**",     ".freehold",      ".freehold/**",
          ".config/freehold/**", "freehold.json", ".gitconfig", ".ssh/**"};
}

std::vector<std::string> FsOptions::default_sensitive_paths() {
  return {".env", ".env.*", "*.pem", "*.key", "*.p12", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
          ".ssh/**", ".netrc", ".git-credentials", ".pypirc", ".npmrc", ".aws/**", ".docker/config.json"};
}

Result<Workspace> Workspace::open(const std::string& root) {
  if (root.empty()) return make_error(Errc::invalid_argument, "no workspace directory configured");
  int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::not_found, "workspace '" + root + "' cannot be opened: " + strerror(errno));
  return Workspace(fd);
}

Workspace& Workspace::operator=(Workspace&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Workspace::~Workspace() {
  if (fd_ >= 0) close(fd_);
}

bool is_protected(const std::string& normalized, const FsOptions& o) { return match_any(normalized, o.protected_paths); }
bool is_sensitive(const std::string& normalized, const FsOptions& o) { return match_any(normalized, o.sensitive_paths); }

Result<json> read(const Workspace& ws, const json& args, const FsOptions& o) {
  auto path = normalized(args);
  if (!path) return path.error();
  if (!o.allow_sensitive_reads && is_sensitive(*path, o))
    return make_error(Errc::permission_denied, "'" + *path + "' may hold secrets; reading it needs an explicit allow in the config");
  auto text = read_text(ws, *path, o);
  if (!text) return text.error();
  return json{{"content", std::move(*text)}};
}

Result<json> write(const Workspace& ws, const json& args, const FsOptions& o) {
  auto path = normalized(args);
  if (!path) return path.error();
  if (!args.contains("content") || !args["content"].is_string())
    return make_error(Errc::invalid_argument, "argument 'content' must be a string");
  const std::string& content = args["content"].get_ref<const std::string&>();
  if (content.size() > o.max_write_bytes)
    return make_error(Errc::limit_exceeded, "content is " + std::to_string(content.size()) + " bytes; the limit is " +
                                                std::to_string(o.max_write_bytes));
  if (auto c = check_writable(*path, o); !c) return c.error();
  auto n = atomic_write(ws, *path, content);
  if (!n) return n.error();
  return json{{"bytes", *n}};
}

Result<json> edit(const Workspace& ws, const json& args, const FsOptions& o) {
  auto path = normalized(args);
  if (!path) return path.error();
  if (!args.contains("old") || !args["old"].is_string() || !args.contains("new") || !args["new"].is_string())
    return make_error(Errc::invalid_argument, "arguments 'old' and 'new' must be strings");
  const std::string& old_s = args["old"].get_ref<const std::string&>();
  const std::string& new_s = args["new"].get_ref<const std::string&>();
  if (old_s.empty()) return make_error(Errc::invalid_argument, "argument 'old' must not be empty");
  if (auto c = check_writable(*path, o); !c) return c.error();
  auto text = read_text(ws, *path, o);
  if (!text) return text.error();
  size_t count = 0, first = std::string::npos;
  for (size_t p = text->find(old_s); p != std::string::npos; p = text->find(old_s, p + old_s.size())) {
    if (count++ == 0) first = p;
  }
  if (count != 1)
    return make_error(Errc::invalid_argument, "'old' occurs " + std::to_string(count) + " times in '" + *path +
                                                  "'; it must occur exactly once (include more surrounding text)");
  std::string out = text->substr(0, first) + new_s + text->substr(first + old_s.size());
  if (out.size() > o.max_write_bytes) return make_error(Errc::limit_exceeded, "edited file would exceed the write limit");
  auto n = atomic_write(ws, *path, out);
  if (!n) return n.error();
  return json{{"replacements", 1}};
}

Result<json> list(const Workspace& ws, const json& args, const FsOptions& o) {
  json a = args.is_object() ? args : json::object();
  if (!a.contains("path")) a["path"] = ".";
  auto path = normalized(a, "path", true);
  if (!path) return path.error();
  int fd = *path == "." ? fcntl(ws.fd(), F_DUPFD_CLOEXEC, 3) : open_beneath(ws.fd(), *path, O_RDONLY | O_DIRECTORY);
  if (*path == "." && fd >= 0) {  // the workspace fd is O_PATH; reopen it for reading
    int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(fd);
    fd = rfd < 0 ? -errno : rfd;
  }
  if (fd < 0) return errno_error(-fd, *path);
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return errno_error(errno, *path);
  }
  json entries = json::array();
  std::vector<std::string> names;
  bool truncated = false;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (names.size() >= o.max_list_entries) {
      truncated = true;
      break;
    }
    names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    struct stat st{};
    json ent{{"name", utf8::valid(n) ? n : std::string("(non-UTF-8 name)")}};
    if (fstatat(dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ent["type"] = "unknown";
    } else {
      ent["type"] = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : "other";
      ent["size"] = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    }
    entries.push_back(std::move(ent));
  }
  closedir(d);
  json out{{"entries", std::move(entries)}};
  if (truncated) out["truncated"] = true;
  return out;
}

std::vector<ToolDef> tool_defs(FsOptions o, std::string default_workspace) {
  auto wrap = [o, default_workspace](Result<json> (*fn)(const Workspace&, const json&, const FsOptions&)) {
    return make_sync_handler([o, default_workspace, fn](const json& args, const api::ToolCallContext& ctx) -> Result<json> {
      auto ws = Workspace::open(ctx.workspace.empty() ? default_workspace : ctx.workspace);
      if (!ws) return ws.error();
      return fn(*ws, args, o);
    });
  };
  const json path_prop{{"type", "string"}, {"minLength", 1}, {"description", "path relative to the workspace"}};
  std::vector<ToolDef> defs;
  defs.push_back(ToolDef{api::ToolSpec{"fs.read", "Read a UTF-8 text file from the workspace.",
                                       json{{"type", "object"},
                                            {"properties", {{"path", path_prop}}},
                                            {"required", {"path"}},
                                            {"additionalProperties", false}}},
                         wrap(&read), std::chrono::seconds(30)});
  defs.push_back(ToolDef{
      api::ToolSpec{"fs.write", "Create or replace a text file in the workspace (atomic).",
                    json{{"type", "object"},
                         {"properties", {{"path", path_prop}, {"content", {{"type", "string"}}}}},
                         {"required", {"path", "content"}},
                         {"additionalProperties", false}}},
      wrap(&write), std::chrono::seconds(30)});
  defs.push_back(ToolDef{api::ToolSpec{"fs.list", "List a workspace directory: name, type and size of each entry.",
                                       json{{"type", "object"},
                                            {"properties", {{"path", {{"type", "string"}, {"description", "directory relative to the workspace; default \".\""}}}}},
                                            {"additionalProperties", false}}},
                         wrap(&list), std::chrono::seconds(30)});
  defs.push_back(ToolDef{
      api::ToolSpec{"fs.edit", "Replace the one occurrence of `old` with `new` in a workspace text file.",
                    json{{"type", "object"},
                         {"properties", {{"path", path_prop}, {"old", {{"type", "string"}, {"minLength", 1}}}, {"new", {{"type", "string"}}}}},
                         {"required", {"path", "old", "new"}},
                         {"additionalProperties", false}}},
      wrap(&edit), std::chrono::seconds(30)});
  return defs;
}

}  // namespace fh::tools::fs
