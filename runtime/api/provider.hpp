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

struct ResolvedModel {
  std::shared_ptr<Provider> provider;
  std::string model;  // the part after "provider/"
};

// Makes (or returns a shared) provider for the part of the model string after "prefix/".
using ProviderFactory = std::function<Result<ResolvedModel>(std::string_view rest, const json& config)>;

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
  const json& config() const noexcept { return config_; }
  std::vector<std::string> prefixes() const;

 private:
  std::map<std::string, ProviderFactory, std::less<>> factories_;
  json config_ = json::object();
  ChainFactory chain_;
};

}  // namespace fh::api
