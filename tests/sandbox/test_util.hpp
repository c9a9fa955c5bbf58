// Shared helpers for the sandbox and tools suites: temp dirs, probe output, process counts.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace fh::test {

class TempDir {
 public:
  explicit TempDir(const char* prefix = "fh-test") {
    std::string t = std::string("/tmp/") + prefix + "-XXXXXX";
    char* p = mkdtemp(t.data());
    if (!p) std::abort();
    path_ = p;
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// "name=errno" lines printed by the sandbox probe.
inline std::map<std::string, std::string> parse_kv(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

// Host processes whose real uid is `uid` (from /proc/<pid>/status).
inline int count_processes_of_uid(uid_t uid) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream ss(line.substr(4));
        uid_t r = 0;
        ss >> r;
        if (r == uid) ++n;
        break;
      }
    }
  }
  closedir(d);
  return n;
}

}  // namespace fh::test
