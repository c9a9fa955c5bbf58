// fh::tools::http — the http.fetch tool: {url, method?, headers?, body?} → {status, headers, body}.
// http/https only (also for redirects), proxy variables ignored, every resolved address checked at
// connect time (address_policy.hpp) so loopback, private, link-local, metadata and mapped
// addresses are refused also after redirects and DNS rebinding; size, time and redirect caps.
// The body is returned as untrusted text; the tool is marked untrusted_output + outbound for the
// registry's taint gate.
// Depends on: tools/registry, providers/http (the curl layer). Asio only in fetch_tool.cpp.
// Executor/cancel: runs on the caller's executor; cancellation aborts the transfer.
#pragma once

#include <chrono>
#include <functional>

#include "tools/registry/registry.hpp"

struct sockaddr;

namespace fh::tools::http {

struct FetchOptions {
  uint64_t max_body_bytes = 2ull << 20;
  long max_redirects = 5;
  std::chrono::milliseconds total{30000};
  std::chrono::milliseconds connect{10000};
  // Tests only: replaces the address policy (returns the refusal reason, "" = allow).
  std::function<std::string(const ::sockaddr*)> policy_override;
};

ToolDef tool_def(FetchOptions o = {});

}  // namespace fh::tools::http
