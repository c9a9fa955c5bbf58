// The file tools: SECURITY.md §5 "F" cases (and the F4–F6 mitigations of the threat table),
// plus behaviour: atomic writes, caps, binary refusal, edit-exactly-once, listing.
#include <doctest/doctest.h>

#include "tests/tools/util.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/sandbox/test_util.hpp"
#include "tools/fs/fs_tools.hpp"

using namespace fh::tools::fs;
using fh::Errc;
using fh::json;
using fh::test::TempDir;

namespace {
Workspace open_ws(const TempDir& d) {
  auto ws = Workspace::open(d.path());
  REQUIRE(ws.ok());
  return std::move(ws).value();
}
using tools_test::code_of;
}  // namespace

TEST_CASE("F1 ../ and absolute paths are refused; openat2 itself says EXDEV") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  for (const char* p : {"../../etc/passwd", "/etc/passwd", "a/../../etc/passwd", "..", "/"}) {
    auto r = read(ws, {{"path", p}}, o);
    CHECK_MESSAGE(code_of(r) == Errc::permission_denied, p);
  }
  // The kernel check beneath the lexical one.
  open_how how{};
  how.flags = O_RDONLY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  CHECK(syscall(SYS_openat2, ws.fd(), "../../etc/passwd", &how, sizeof how) < 0);
  CHECK(errno == EXDEV);
  CHECK(code_of(write(ws, {{"path", "../escape.txt"}, {"content", "x"}}, o)) == Errc::permission_denied);
  CHECK(!std::filesystem::exists(std::filesystem::path(d.path()).parent_path() / "escape.txt"));
}

TEST_CASE("F2 symlinks (absolute, relative, directory) are not followed; control: plain open follows") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  std::filesystem::create_symlink("/etc/passwd", d / "abs");
  std::filesystem::create_symlink("../../../../../../etc/passwd", d / "rel");
  std::filesystem::create_symlink("/etc", d / "dirlink");
  for (const char* p : {"abs", "rel", "dirlink/passwd"}) {
    auto r = read(ws, {{"path", p}}, o);
    CHECK_MESSAGE(code_of(r) == Errc::permission_denied, p);
    if (!r.ok()) CHECK(r.error().message.find("symlink") != std::string::npos);
  }
  // Negative control: the links do resolve for an unconfined open.
  CHECK(fh::test::read_text(d / "dirlink/passwd").find("root:") != std::string::npos);
  CHECK(code_of(list(ws, {{"path", "dirlink"}}, o)) == Errc::permission_denied);
  CHECK(code_of(read(ws, {{"path", "proc_link"}}, o)) == Errc::not_found);
}

TEST_CASE("F3 symlink-swap race: 0 escapes (control: naive open escapes)") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  std::filesystem::create_directories(d / "real");
  fh::test::write_text(d / "real/passwd", "inside\n");
  std::filesystem::create_symlink("/etc", d / "evil");
  std::atomic<bool> stop{false};
  // Swap d/x between the real directory and a symlink to /etc, as fast as possible.
  std::thread swapper([&] {
    const std::string x = d / "x", real = d / "real", evil = d / "evil";
    rename(real.c_str(), x.c_str());
    while (!stop) {
      syscall(SYS_renameat2, AT_FDCWD, evil.c_str(), AT_FDCWD, x.c_str(), 2 /*RENAME_EXCHANGE*/);
    }
  });
  int escapes = 0, naive_escapes = 0, ok = 0;
  for (int i = 0; i < 20000; ++i) {
    auto r = read(ws, {{"path", "x/passwd"}}, o);
    if (r.ok()) {
      ++ok;
      if (r.value()["content"].get<std::string>().find("root:") != std::string::npos) ++escapes;
    }
    if (i % 4 == 0 && fh::test::read_text(d / "x/passwd").find("root:") != std::string::npos) ++naive_escapes;
  }
  stop = true;
  swapper.join();
  MESSAGE("confined reads ok=" << ok << " escapes=" << escapes << "; naive escapes=" << naive_escapes);
  CHECK(escapes == 0);
  CHECK(ok > 0);
  CHECK(naive_escapes > 0);
}

TEST_CASE("F4 a hard-linked target is never written (the outside file stays intact)") {
  TempDir outside, d;
  auto ws = open_ws(d);
  FsOptions o;
  fh::test::write_text(outside / "victim", "original\n");
  REQUIRE(link((outside / "victim").c_str(), (d / "hl").c_str()) == 0);
  auto r = write(ws, {{"path", "hl"}, {"content", "pwned"}}, o);
  CHECK(code_of(r) == Errc::permission_denied);
  CHECK(code_of(edit(ws, {{"path", "hl"}, {"old", "original"}, {"new", "pwned"}}, o)) == Errc::permission_denied);
  CHECK(fh::test::read_text(outside / "victim") == "original\n");
}

TEST_CASE("F5 FIFOs and devices are refused without blocking") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  REQUIRE(mkfifo((d / "fifo").c_str(), 0644) == 0);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(code_of(read(ws, {{"path", "fifo"}}, o)) == Errc::permission_denied);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  if (mknod((d / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0)
    CHECK(code_of(read(ws, {{"path", "null"}}, o)) == Errc::permission_denied);
  CHECK(code_of(write(ws, {{"path", "fifo"}, {"content", "x"}}, o)) == Errc::permission_denied);
}

TEST_CASE("F6 writes through symlinks never land outside") {
  TempDir outside, d;
  auto ws = open_ws(d);
  FsOptions o;
  fh::test::write_text(outside / "victim", "original\n");
  std::filesystem::create_symlink(outside / "victim", d / "link");
  std::filesystem::create_symlink(outside.path(), d / "dirlink");
  CHECK(code_of(write(ws, {{"path", "link"}, {"content", "pwned"}}, o)) == Errc::permission_denied);
  CHECK(code_of(write(ws, {{"path", "dirlink/new"}, {"content", "pwned"}}, o)) == Errc::permission_denied);
  CHECK(fh::test::read_text(outside / "victim") == "original\n");
  CHECK(!std::filesystem::exists(outside / "new"));
  CHECK(std::filesystem::is_symlink(d / "link"));  // not replaced either
}

TEST_CASE("F7 protected paths: .git/hooks, .git/config, rc files, editor config are refused") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  std::filesystem::create_directories(d / ".git/hooks");
  for (const char* p : {".git/hooks/post-checkout", ".git/config", "a/../.git/hooks/pre-commit", ".bashrc", ".profile",
                        ".vscode/settings.json", ".idea/workspace.xml", "sub/.git/hooks/x", ".freehold/config.json",
                        ".GIT/config"}) {
    auto r = write(ws, {{"path", p}, {"content", "evil"}}, o);
    CHECK_MESSAGE(code_of(r) == Errc::permission_denied, p);
  }
  CHECK(!std::filesystem::exists(d / ".git/hooks/post-checkout"));
  fh::test::write_text(d / ".git/config", "[core]\n");
  CHECK(code_of(edit(ws, {{"path", ".git/config"}, {"old", "[core]"}, {"new", "[core]\n\tfsmonitor=evil"}}, o)) ==
        Errc::permission_denied);
  // Negative control: an ordinary nested path with similar names is fine.
  CHECK(write(ws, {{"path", "src/hooks/x.txt"}, {"content", "ok"}}, o).ok());
  CHECK(write(ws, {{"path", "git/config"}, {"content", "ok"}}, o).ok());
}

TEST_CASE("fs.read: secret-looking files need an explicit allow") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  fh::test::write_text(d / ".env", "OPENAI_API_KEY=sk-x\n");
  fh::test::write_text(d / "server.pem", "-----BEGIN-----\n");
  CHECK(code_of(read(ws, {{"path", ".env"}}, o)) == Errc::permission_denied);
  CHECK(code_of(read(ws, {{"path", "server.pem"}}, o)) == Errc::permission_denied);
  o.allow_sensitive_reads = true;
  CHECK(read(ws, {{"path", ".env"}}, o).ok());
}

TEST_CASE("fs.write is atomic, creates parents, keeps the mode, leaves no temp files") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  auto r = write(ws, {{"path", "a/b/c.txt"}, {"content", "hello"}}, o);
  REQUIRE(r.ok());
  CHECK(r.value()["bytes"] == 5);
  CHECK(fh::test::read_text(d / "a/b/c.txt") == "hello");
  chmod((d / "a/b/c.txt").c_str(), 0600);
  REQUIRE(write(ws, {{"path", "a/b/c.txt"}, {"content", "again"}}, o).ok());
  struct stat st{};
  stat((d / "a/b/c.txt").c_str(), &st);
  CHECK((st.st_mode & 0777) == 0600);
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(d / "a/b")) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);
  o.max_write_bytes = 4;
  CHECK(code_of(write(ws, {{"path", "big"}, {"content", "12345"}}, o)) == Errc::limit_exceeded);
  CHECK(code_of(write(ws, {{"path", "a/b"}, {"content", "x"}}, o)) == Errc::permission_denied);  // a directory
}

TEST_CASE("fs.read: size cap, binary refusal, directories, missing files") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  o.max_read_bytes = 16;
  fh::test::write_text(d / "small.txt", "héllo\n");
  fh::test::write_text(d / "big.txt", std::string(17, 'x'));
  fh::test::write_text(d / "bin", std::string("\x7f" "ELF\0\1\2", 7));
  fh::test::write_text(d / "latin1", "caf\xe9");
  auto r = read(ws, {{"path", "small.txt"}}, o);
  REQUIRE(r.ok());
  CHECK(r.value()["content"] == "héllo\n");
  CHECK(code_of(read(ws, {{"path", "big.txt"}}, o)) == Errc::limit_exceeded);
  CHECK(code_of(read(ws, {{"path", "bin"}}, o)) == Errc::invalid_argument);
  CHECK(code_of(read(ws, {{"path", "latin1"}}, o)) == Errc::invalid_argument);
  CHECK(code_of(read(ws, {{"path", "nope"}}, o)) == Errc::not_found);
  std::filesystem::create_directories(d / "dir");
  CHECK(code_of(read(ws, {{"path", "dir"}}, o)) == Errc::invalid_argument);
  CHECK(code_of(read(ws, {{"path", 5}}, o)) == Errc::invalid_argument);
}

TEST_CASE("fs.edit replaces exactly one occurrence") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  fh::test::write_text(d / "f.txt", "alpha beta alpha gamma");
  auto twice = edit(ws, {{"path", "f.txt"}, {"old", "alpha"}, {"new", "x"}}, o);
  CHECK(code_of(twice) == Errc::invalid_argument);
  if (!twice.ok()) CHECK(twice.error().message.find("2 times") != std::string::npos);
  CHECK(code_of(edit(ws, {{"path", "f.txt"}, {"old", "delta"}, {"new", "x"}}, o)) == Errc::invalid_argument);
  auto once = edit(ws, {{"path", "f.txt"}, {"old", "beta"}, {"new", "BETA"}}, o);
  REQUIRE(once.ok());
  CHECK(once.value()["replacements"] == 1);
  CHECK(fh::test::read_text(d / "f.txt") == "alpha BETA alpha gamma");
}

TEST_CASE("fs.list: sorted entries with type and size; symlinks reported, not followed") {
  TempDir d;
  auto ws = open_ws(d);
  FsOptions o;
  fh::test::write_text(d / "b.txt", "123");
  std::filesystem::create_directories(d / "a");
  std::filesystem::create_symlink("/etc", d / "c");
  auto r = list(ws, json::object(), o);
  REQUIRE(r.ok());
  const json& e = r.value()["entries"];
  REQUIRE(e.size() == 3);
  CHECK(e[0] == json{{"name", "a"}, {"type", "dir"}, {"size", 0}});
  CHECK(e[1] == json{{"name", "b.txt"}, {"type", "file"}, {"size", 3}});
  CHECK(e[2]["type"] == "symlink");
  o.max_list_entries = 2;
  CHECK(list(ws, {{"path", "."}}, o).value()["truncated"] == true);
  CHECK(code_of(list(ws, {{"path", "b.txt"}}, o)) == Errc::invalid_argument);
}
