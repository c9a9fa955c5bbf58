#include "apps/freehold/app.hpp"

#include <fstream>
#include <sstream>

#include "apps/freehold/register_remote.hpp"
#include "providers/mock/mock.hpp"
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

void register_all_providers(api::ProviderRegistry& reg) {
  provider_mock::register_mock(reg);
  register_remote_providers(reg);
  reg.set_chain_factory([](std::vector<api::ResolvedModel> chain) -> Result<api::ResolvedModel> {
    std::string model = chain.front().model;
    return api::ResolvedModel{provider_router::make_router(std::move(chain)), model};
  });
}

}  // namespace fh::app
