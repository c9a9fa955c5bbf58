// fh::provider_local — the in-process GGUF model behind the Provider interface.
//
// "local/PATH.gguf", "local/NAME" (a name from config `providers.local.models`, or a model pulled
// into Ollama's store on this machine) and "local/default" (the small model shipped in the repo).
// A model file is loaded once per process (memory-mapped) and shared by every run; each run
// decodes in its own KV-cache slot, and a slot whose cached tokens are a prefix of the next prompt
// is reused, so an agent loop's step only evaluates the new tokens. Decoding runs on the compute
// thread one token per job, and the tokens come back to the caller's executor as stream events.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "runtime/api/provider.hpp"

namespace fh::provider_local {

struct LocalConfig {
  int n_ctx = 0;          // 0: the model's training context, at least 2048, at most 4096
  int n_threads = 0;      // kernel threads per slot; 0: all cores
  int max_slots = 4;      // KV-cache slots per model (concurrent generations)
  bool reuse_prefix = true;  // serve a prompt's cached prefix from a slot (false: re-evaluate all)
  json models = json::object();  // name -> path
};

LocalConfig config_from_json(const json& section);

// Resolves the part after "local/" to a GGUF path: "default", a configured name, an existing
// file, or an Ollama model ("llama3.2", "qwen2.5:0.5b").
Result<std::filesystem::path> resolve_model_path(std::string_view rest, const LocalConfig& cfg);

// The path of the model shipped with freehold (providers/local/models/).
std::filesystem::path default_model_path();

std::shared_ptr<api::Provider> make_local_provider(std::filesystem::path gguf, LocalConfig cfg);

// Registers the "local" prefix.
void register_local(api::ProviderRegistry& reg);

// Process-wide statistics of the prefix cache (tests and benchmarks read them).
struct SlotStats {
  int64_t prompt_tokens = 0;     // prompt tokens requested
  int64_t reused_tokens = 0;     // of those, served from a slot's cache
  int64_t evaluated_tokens = 0;  // prompt tokens actually evaluated
};
SlotStats slot_stats();

}  // namespace fh::provider_local
