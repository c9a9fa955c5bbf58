// fh::api — the Provider interface and the registry that maps "provider/model" strings to one.
// A provider's chat() runs on the caller's executor and completes there; it is cancelled through
// the awaiting coroutine's cancellation slot. Providers never see Lua, the journal or the CLI.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "runtime/api/chat.hpp"

namespace fh::api {

template <class T>
using ProviderResult = Result<T, ProviderError>;

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const noexcept = 0;
  // Streams events to `sink` on the caller's executor; returns the assembled result.
  virtual boost::asio::awaitable<ProviderResult<ChatResult>> chat(ChatRequest req, StreamSink sink = {}) = 0;
};

// An outcome already known, as an awaitable. A provider's chat() may be a plain function: it
// reads or encodes the request, clears it (a by-value parameter of a plain function is the
// caller's temporary, alive until the caller's co_await ends) and returns the awaitable that does
// the waiting, so no frame of its own lives through the call; this covers its early returns.
boost::asio::awaitable<ProviderResult<ChatResult>> ready(ProviderResult<ChatResult> r);

struct ResolvedModel {
  std::shared_ptr<Provider> provider;
  std::string model;  // the part after "provider/"
};

// Makes (or returns a shared) provider for the part of the model string after "prefix/".
using ProviderFactory = std::function<Result<ResolvedModel>(std::string_view rest, const json& config)>;

// A run's spending limit (budget_usd, max_tokens_total), implemented by the composition root
// (the router's SpendBudget). A registry with a budget holds every model it resolves to it: each
// call reserves its worst case before it is sent and is refused when that does not fit.
class Budget {
 public:
  virtual ~Budget() = default;
  // One model or a fallback chain, served under the budget (a chain: with the router's retries).
  virtual ResolvedModel hold(std::vector<ResolvedModel> chain) = 0;
};

class ProviderRegistry {
 public:
  void add(std::string prefix, ProviderFactory f) { factories_[std::move(prefix)] = std::move(f); }
  // "openai/gpt-4.1-mini" -> the openai factory with "gpt-4.1-mini". config is the provider's
  // section of the user's config file (or null).
  Result<ResolvedModel> resolve(std::string_view model) const;
  void set_config(json config) { config_ = std::move(config); }
  // "a/m1,b/m2": a fallback chain. The composition root installs the router that serves it; the
  // chain never reaches a provider the user did not list.
  using ChainFactory = std::function<Result<ResolvedModel>(std::vector<ResolvedModel>)>;
  void set_chain_factory(ChainFactory f) { chain_ = std::move(f); }
  // Every model resolved from now on is held to `b` (null: none); a chain is then served by the
  // budget's router instead of the chain factory.
  void set_budget(std::shared_ptr<Budget> b) { budget_ = std::move(b); }
  const json& config() const noexcept { return config_; }
  std::vector<std::string> prefixes() const;

 private:
  std::map<std::string, ProviderFactory, std::less<>> factories_;
  json config_ = json::object();
  ChainFactory chain_;
  std::shared_ptr<Budget> budget_;
  Result<ResolvedModel> resolve_one(std::string_view model) const;
};

}  // namespace fh::api
