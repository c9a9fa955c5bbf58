// The composition root's shared pieces: config loading and the provider registry every
// command uses. Only apps/ names concrete providers and tools.
#pragma once

#include <memory>
#include <string>

#include "runtime/api/provider.hpp"
#include "sandbox/redactor.hpp"

namespace fh::app {

// Reads a JSON config file ({"default_model": ..., "providers": {...}, ...}); empty path -> {}.
Result<json> load_config(const std::string& path);

// Prints "freehold: MSG" on stderr and returns the exit code.
int fail(int code, const std::string& msg);
// Registers every provider this build has (mock, remote APIs, local).
void register_all_providers(api::ProviderRegistry& reg);
// Every secret this process knows (provider keys from the environment, `api_key` values and the
// `secrets` section of the config), registered so their forms are scrubbed from all output.
std::shared_ptr<sandbox::Redactor> make_secret_redactor(const json& config);
// Reads a whole file; not_found / invalid_argument with the path in the message.
Result<std::string> read_file(const std::string& path, size_t max_bytes = 64u << 20);

}  // namespace fh::app
