// `freehold chat --model M [--base-url URL] [--system S] [--stream] [--json] PROMPT`: one model call
// (CLI contract in docs/ARCHITECTURE.md). A comma-separated model list is a fallback chain; every
// call goes through the router (retries with backoff, fallback to listed providers only).
// Output: text (streamed as it arrives with --stream); --json prints the ChatResult; --stream --json
// prints one StreamEvent a line, then the ChatResult with "type": "result". A failed call exits 1
// (2 for a bad model string) and with --json prints {"type": "error", "error": {...}} last.
// Runs its own io_context on the calling thread; SIGINT/SIGTERM cancel the call.
#pragma once

#include <iosfwd>
#include <string>

#include "runtime/api/provider.hpp"

namespace CLI {
class App;
}

namespace fh::app {

struct ChatOptions {
  std::string model, base_url, system, prompt;
  bool stream = false;
  bool json = false;
};

void add_chat_command(CLI::App& app, fh::api::ProviderRegistry& reg, int& exit_code);

// The command itself, with its streams given (tests call this directly).
int run_chat(const ChatOptions& o, const fh::api::ProviderRegistry& reg, std::ostream& out, std::ostream& err);

}  // namespace fh::app
