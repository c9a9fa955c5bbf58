// Benchmarks: sandboxed process start-up (ProcSandbox::run of /bin/true, and shell.exec through
// the registry) and fs.read cost. Prints one JSON line per measurement.
//   build-tools/tests/tools/bench_tools [iterations]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "tools/builtin.hpp"

namespace asio = boost::asio;
using clk = std::chrono::steady_clock;

namespace {

struct Stats {
  double median_ms, p90_ms, min_ms;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 9 / 10], v.front()};
}

void print(const char* name, const Stats& s, int n) {
  std::printf("{\"bench\": \"%s\", \"n\": %d, \"median_ms\": %.3f, \"p90_ms\": %.3f, \"min_ms\": %.3f}\n", name, n,
              s.median_ms, s.p90_ms, s.min_ms);
}

// Named locals, not temporaries, around co_await: GCC 12 double-destroys some temporaries of
// a co_await full-expression.
asio::awaitable<void> store(fh::tools::Registry& reg, std::string tool, fh::json args,
                            std::optional<fh::Result<fh::json>>& out) {
  fh::api::ToolCallContext ctx;
  auto op = reg.call(tool, std::move(args), std::move(ctx));
  auto r = co_await std::move(op);
  out.emplace(std::move(r));
}

fh::Result<fh::json> call(fh::tools::Registry& reg, asio::io_context& io, const char* tool, fh::json args) {
  std::optional<fh::Result<fh::json>> out;
  asio::co_spawn(io, store(reg, tool, std::move(args), out), asio::detached);
  io.restart();
  io.run();
  return std::move(*out);
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 50;
  std::string ws = std::filesystem::temp_directory_path() / ("fh-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(ws);
  {
    std::ofstream(ws + "/small.txt") << std::string(4096, 'a');
    std::ofstream(ws + "/large.txt") << std::string(1 << 20, 'b');
  }
  auto sb = fh::sandbox::ProcSandbox::make({});
  if (!sb) {
    std::fprintf(stderr, "sandbox refused: %s\n", sb.error().message.c_str());
    return 1;
  }
  std::printf("{\"host\": %s}\n", fh::sandbox::host_features().to_json().dump().c_str());
  fh::sandbox::ExecSpec spec;
  spec.workspace = ws;
  spec.env = fh::sandbox::default_env();
  spec.argv = {"/bin/true"};
  (void)(*sb)->run(spec);  // warm-up (mount preparation caches, page cache)
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    auto t0 = clk::now();
    auto r = (*sb)->run(spec);
    t.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    if (!r || r->exit_code != 0) return 1;
  }
  print("sandbox.run /bin/true", stats(t), n);

  fh::tools::Options o;
  o.workspace = ws;
  o.permissions = fh::sandbox::PermissionEngine::from_json({{"default", "allow"}}).value();
  auto host = fh::tools::make_builtin_host(o);
  if (!host) return 1;
  asio::io_context io;
  t.clear();
  for (int i = 0; i < n; ++i) {
    auto t0 = clk::now();
    auto r = call(**host, io, "shell.exec", {{"argv", {"/bin/true"}}});
    t.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    if (!r) return 1;
  }
  print("shell.exec argv /bin/true", stats(t), n);
  t.clear();
  for (int i = 0; i < n; ++i) {
    auto t0 = clk::now();
    auto r = call(**host, io, "shell.exec", {{"command", "echo hi"}});
    t.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    if (!r) return 1;
  }
  print("shell.exec command 'echo hi'", stats(t), n);
  for (const char* f : {"small.txt", "large.txt"}) {
    t.clear();
    int m = n * 20;
    for (int i = 0; i < m; ++i) {
      auto t0 = clk::now();
      auto r = call(**host, io, "fs.read", {{"path", f}});
      t.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
      if (!r) return 1;
    }
    print((std::string("fs.read via registry ") + f).c_str(), stats(t), m);
  }
  fh::tools::fs::FsOptions fo;
  auto w = fh::tools::fs::Workspace::open(ws);
  t.clear();
  for (int i = 0; i < n * 20; ++i) {
    auto t0 = clk::now();
    auto r = fh::tools::fs::read(*w, {{"path", "small.txt"}}, fo);
    t.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    if (!r) return 1;
  }
  print("fs::read direct small.txt", stats(t), n * 20);
  std::filesystem::remove_all(ws);
  return 0;
}
