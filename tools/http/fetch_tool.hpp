// fh::tools::http — the http.fetch tool: {url, method?, headers?, body?} → {status, headers, body}.
// http/https only (also for redirects), proxy variables ignored, every resolved address checked at
// connect time (address_policy.hpp) so loopback, private, link-local, metadata and mapped
// addresses are refused also after redirects and DNS rebinding; size, time and redirect caps.
// The body is returned as untrusted text; the tool is marked untrusted_output + outbound for the
// registry's taint gate. `secret: NAME` sends a configured credential as a bearer token to the
// secret's bound domains only (SECURITY.md §4.7): never to another host, never after a redirect
// that leaves the host, and its value never reaches the plan or the model.
// Depends on: tools/registry, providers/http (the curl layer). Asio only in fetch_tool.cpp.
// Executor/cancel: runs on the caller's executor; cancellation aborts the transfer.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tools/registry/registry.hpp"

struct sockaddr;

namespace fh::tools::http {

// A credential plan code refers to by name only (`secret = "github"`); its value is injected at the
// HTTP layer, and only for https URLs whose host is one of `domains` ("api.github.com" exactly, or
// ".github.com" for any subdomain).
struct BoundSecret {
  std::string value;
  std::vector<std::string> domains;
};

struct FetchOptions {
  uint64_t max_body_bytes = 2ull << 20;
  long max_redirects = 5;
  std::chrono::milliseconds total{30000};
  std::chrono::milliseconds connect{10000};
  std::map<std::string, BoundSecret> secrets;
  bool secrets_over_plain_http = false;  // tests only: a local server has no TLS
  // Tests only: replaces the address policy (returns the refusal reason, "" = allow).
  std::function<std::string(const ::sockaddr*)> policy_override;
};

ToolDef tool_def(FetchOptions o = {});

}  // namespace fh::tools::http
