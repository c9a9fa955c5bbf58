// The composition root's shared pieces: config loading and the provider registry every
// command uses. Only apps/ names concrete providers and tools.
#pragma once

#include <string>

#include "runtime/api/provider.hpp"

namespace fh::app {

// Reads a JSON config file ({"default_model": ..., "providers": {...}, ...}); empty path -> {}.
Result<json> load_config(const std::string& path);
// Registers every provider this build has (mock, remote APIs, local).
void register_all_providers(api::ProviderRegistry& reg);
// Reads a whole file; not_found / invalid_argument with the path in the message.
Result<std::string> read_file(const std::string& path, size_t max_bytes = 64u << 20);

}  // namespace fh::app
