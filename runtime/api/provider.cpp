#include "runtime/api/provider.hpp"

namespace fh::api {

Result<ResolvedModel> ProviderRegistry::resolve(std::string_view model) const {
  if (model.find(',') == std::string_view::npos) {
    auto one = resolve_one(model);
    if (!one || !budget_) return one;
    return budget_->hold({std::move(one.value())});
  }
  if (!chain_ && !budget_) return make_error(Errc::invalid_argument, "fallback chains (a/m1,b/m2) are not configured");
  std::vector<ResolvedModel> chain;
  size_t start = 0;
  while (start <= model.size()) {
    size_t comma = model.find(',', start);
    if (comma == std::string_view::npos) comma = model.size();
    auto one = resolve_one(model.substr(start, comma - start));
    if (!one) return one.error();
    chain.push_back(std::move(one.value()));
    start = comma + 1;
  }
  if (budget_) return budget_->hold(std::move(chain));
  return chain_(std::move(chain));
}

Result<ResolvedModel> ProviderRegistry::resolve_one(std::string_view model) const {
  auto slash = model.find('/');
  if (model.empty() || slash == std::string_view::npos || slash == 0)
    return make_error(Errc::invalid_argument,
                      "model '" + std::string(model) + "' must be written provider/model (e.g. mock/echo)");
  auto prefix = model.substr(0, slash);
  auto it = factories_.find(prefix);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [k, _] : factories_) known += (known.empty() ? "" : ", ") + k;
    return make_error(Errc::not_found,
                      "unknown provider '" + std::string(prefix) + "' (known: " + known + ")");
  }
  json cfg = nullptr;
  if (config_.is_object()) {
    if (auto p = config_.find("providers"); p != config_.end() && p->is_object()) {
      if (auto c = p->find(std::string(prefix)); c != p->end()) cfg = *c;
    }
  }
  return it->second(model.substr(slash + 1), cfg);
}

std::vector<std::string> ProviderRegistry::prefixes() const {
  std::vector<std::string> out;
  for (const auto& [k, _] : factories_) out.push_back(k);
  return out;
}

boost::asio::awaitable<ProviderResult<ChatResult>> ready(ProviderResult<ChatResult> r) { co_return r; }

}  // namespace fh::api
