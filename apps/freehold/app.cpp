#include "apps/freehold/app.hpp"

#include <iostream>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apps/freehold/register_remote.hpp"
#include "providers/mock/mock.hpp"
#include "providers/local/provider.hpp"
#include "providers/router/router.hpp"

namespace fh::app {

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(Errc::not_found, "cannot open '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) return make_error(Errc::limit_exceeded, "'" + path + "' is larger than the limit");
  return s;
}

Result<json> load_config(const std::string& path) {
  if (path.empty()) return json::object();
  auto text = read_file(path);
  if (!text) return text.error();
  json j = json::parse(text.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::invalid_argument, "config '" + path + "' is not a JSON object");
  return j;
}

namespace {
void collect_secrets(const json& j, bool under_secrets, sandbox::Redactor& r, int depth) {
  if (depth > 16) return;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (under_secrets && k == "domains" && v.is_array()) continue;  // where a secret may go is not itself secret
      const bool secretish = under_secrets || k == "api_key" || k == "secrets" || k == "token" || k == "password";
      if (v.is_string() && secretish) r.add(v.get<std::string>());
      else collect_secrets(v, secretish && (v.is_object() || v.is_array()), r, depth + 1);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string() && under_secrets) r.add(v.get<std::string>());
      else collect_secrets(v, under_secrets, r, depth + 1);
    }
  }
}
}  // namespace

std::shared_ptr<sandbox::Redactor> make_secret_redactor(const json& config) {
  auto r = std::make_shared<sandbox::Redactor>();
  for (const char* var : {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY"})
    if (const char* v = std::getenv(var)) r->add(v);
  collect_secrets(config, false, *r, 0);
  return r;
}

void register_all_providers(api::ProviderRegistry& reg) {
  provider_mock::register_mock(reg);
  register_remote_providers(reg);
  provider_local::register_local(reg);
  reg.set_chain_factory([](std::vector<api::ResolvedModel> chain) -> Result<api::ResolvedModel> {
    std::string model = chain.front().model;
    return api::ResolvedModel{provider_router::make_router(std::move(chain)), model};
  });
}

int fail(int code, const std::string& msg) {
  std::cerr << "freehold: " << msg << "\n";
  return code;
}

}  // namespace fh::app
