// Test support for the daemon: an in-process daemon on its own io_context thread, a test tool
// host ("append" allowed, "danger" asks), and a small blocking HTTP client (Beast) for requests,
// raw bytes and SSE.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/http/daemon.hpp"

namespace fh::test {

// Tools for daemon tests: append {path, line} writes one line (O_APPEND) under the workspace;
// danger {x} returns {"ok": x} and needs approval.
httpd::ToolHostFactory test_tools();
api::ProviderRegistry& test_providers();  // mock only

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased
  std::string body;
  json j() const { return json::parse(body, nullptr, false); }
};

struct Client {
  uint16_t port = 0;
  std::string token;
  std::string host_header;  // default 127.0.0.1:PORT
  // One request on a fresh connection. `extra` headers override the defaults (empty value: omit).
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             std::map<std::string, std::string> extra = {}) const;
  Reply get(const std::string& target) const { return call("GET", target); }
  Reply post(const std::string& target, const json& body) const { return call("POST", target, body.dump()); }
  // Raw bytes; returns everything the server sent until it closed (or 3 s passed).
  std::string raw(const std::string& bytes, int timeout_ms = 3000) const;
  // Waits until GET /v1/runs/{id} satisfies pred (or times out); returns the last description.
  json wait_run(const std::string& id, const std::function<bool(const json&)>& pred, int timeout_ms = 10000) const;
  // Reads an SSE stream to its end: (id, event, data) frames.
  struct Frame { int64_t id = 0; std::string event; json data; };
  std::vector<Frame> events(const std::string& run_id, const std::string& last_event_id = "") const;
};

struct DaemonFixture {
  explicit DaemonFixture(httpd::DaemonOptions opt = {}, httpd::ServerOptions sopt = {});
  ~DaemonFixture();
  std::string data_dir;
  Client client;
  httpd::DaemonOptions opt;
  struct Impl;
  std::unique_ptr<Impl> impl;
};

std::string temp_dir(const std::string& tag);
std::vector<Client::Frame> parse_sse(const std::string& body);

}  // namespace fh::test
