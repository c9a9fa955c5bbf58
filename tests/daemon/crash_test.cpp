// Durable resume: 100 runs in flight (mock model calls and a tool that appends a line to a file),
// the daemon SIGKILLed mid-way and restarted: every run finishes and no line is written twice.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/daemon/support.hpp"

using fh::json;
namespace fs = std::filesystem;

namespace {
pid_t spawn_server(const std::string& data, const std::string& ws, const std::string& port_file) {
  fs::remove(port_file);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(FH_DAEMON_TEST_SERVER, FH_DAEMON_TEST_SERVER, data.c_str(), ws.c_str(), port_file.c_str(), nullptr);
    ::_exit(127);
  }
  return pid;
}

uint16_t wait_port(const std::string& port_file) {
  for (int i = 0; i < 1000; ++i) {
    std::ifstream f(port_file);
    int port = 0;
    if (f >> port && port > 0) return static_cast<uint16_t>(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}
}  // namespace

TEST_CASE("daemon crash: 100 runs survive SIGKILL and finish with no effect done twice") {
  auto data = fh::test::temp_dir("crash-data"), ws = fh::test::temp_dir("crash-ws");
  std::string port_file = data + "/../" + fs::path(data).filename().string() + ".port";
  pid_t pid = spawn_server(data, ws, port_file);
  REQUIRE(pid > 0);
  fh::test::Client c;
  c.port = wait_port(port_file);
  REQUIRE(c.port != 0);
  std::ifstream(data + "/token") >> c.token;
  const char* plan =
      "for i = 1, 4 do\n"
      "  local r = llm.chat{messages = {{role = 'user', content = input.run .. ' step ' .. i}}}\n"
      "  local ok, err = tool.call('append', {path = 'lines.txt', line = r.text})\n"
      "  if not ok then error(tostring(err)) end\n"
      "end\n"
      "return input.run";
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    auto r = c.post("/v1/runs", {{"source", plan}, {"input", {{"run", "r" + std::to_string(i)}}},
                                 {"model", "mock/echo?latency_ms=1000"}});
    REQUIRE(r.status == 201);
    ids.push_back(r.j()["id"]);
  }
  // Kill it mid-way: some lines written, not all.
  for (int i = 0; i < 2000 && read_lines(ws + "/lines.txt").size() < 100; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  size_t before = read_lines(ws + "/lines.txt").size();
  MESSAGE("lines written before SIGKILL: " << before);
  CHECK(before < 400);  // killed before every run was done

  pid = spawn_server(data, ws, port_file);
  c.port = wait_port(port_file);
  REQUIRE(c.port != 0);
  std::map<std::string, json> final;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (auto& id : ids) {
    json d = c.wait_run(id, [](const json& j) {
      std::string s = j.value("state", "");
      return s == "succeeded" || s == "failed" || s == "cancelled";
    }, static_cast<int>(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count())));
    final[id] = d;
  }
  // Resumed runs got their completed effects from the journal.
  int resumed = 0;
  int64_t replayed = 0;
  for (auto& id : ids) {
    for (auto& fr : c.events(id)) {
      resumed += fr.event == "run_resumed";
      if (fr.event == "run_state") replayed += fr.data.value("replayed_effects", 0);
    }
  }
  MESSAGE("runs resumed " << resumed << ", effects served from journals " << replayed);
  CHECK(resumed > 0);
  CHECK(replayed > 0);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, &status, 0);

  auto lines = read_lines(ws + "/lines.txt");
  std::map<std::string, int> count;
  for (auto& l : lines) count[l]++;
  int dup = 0;
  for (auto& [l, n] : count) dup += n > 1;
  CHECK(dup == 0);
  int succeeded = 0, unknown = 0;
  for (int i = 0; i < 100; ++i) {
    const json& d = final[ids[i]];
    std::string state = d.value("state", "");
    CHECK((state == "succeeded" || state == "failed"));
    std::string run = "r" + std::to_string(i);
    if (state == "succeeded") {
      ++succeeded;
      CHECK(d["output"] == run);
      for (int k = 1; k <= 4; ++k) CHECK(count[run + " step " + std::to_string(k)] == 1);
    } else if (state == "failed") {
      ++unknown;
      CHECK(d["error"]["code"] == "outcome_unknown");
      CHECK(d["error"]["message"].get<std::string>().find("'append'") != std::string::npos);
    }
  }
  MESSAGE("succeeded " << succeeded << ", outcome unknown " << unknown << ", lines " << lines.size());
  // Every run finished. How many had an append in flight at the kill depends on the machine (the
  // journal's fsyncs run on the loop thread; under ASan the window is wider): those end as
  // outcome_unknown, by design, and most runs must still have resumed to success.
  CHECK(succeeded + unknown == 100);
  CHECK(succeeded >= 50);
}
