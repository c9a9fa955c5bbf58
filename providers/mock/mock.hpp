// fh::provider_mock — in-process deterministic models for tests, examples and benchmarks.
//   mock/echo[?latency_ms=N]            answers with the last user message
//   mock/script?file=F[&latency_ms=N][&mode=turn|sequence]
//       plays the replies in JSON file F: {"replies": [reply, ...]} (or a bare array), where
//       reply = {"text", "reasoning", "tool_calls": [{"id","name","arguments"}], "finish_reason",
//                "usage", "stream": ["chunk", ...], "latency_ms", "error": {kind,message,status,...}}.
//       mode=turn (default) picks reply k for a request with k assistant messages in its history,
//       so concurrent runs stay independent; mode=sequence plays them in order per model string.
// Runs on the caller's executor; latency is a timer, cancelled through the caller's slot.
#pragma once

#include "runtime/api/provider.hpp"

namespace fh::provider_mock {

// Registers the "mock" prefix.
void register_mock(api::ProviderRegistry& reg);

}  // namespace fh::provider_mock
