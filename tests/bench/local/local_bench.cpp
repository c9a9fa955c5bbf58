// The local provider's agent loop: 8 steps of a growing conversation on one model, with and
// without reuse of the cached prefix. Prints tokens evaluated, wall time and time to first token.
//   bench_local [MODEL.gguf] [steps]
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "providers/local/provider.hpp"

namespace asio = boost::asio;
using namespace fh;

int main(int argc, char** argv) {
  const std::string model = argc > 1 ? argv[1] : provider_local::default_model_path().string();
  const int steps = argc > 2 ? std::atoi(argv[2]) : 8;
  std::printf("| prefix reuse | steps | prompt tokens | evaluated | wall ms | mean TTFT ms | first TTFT ms |\n|---|---|---|---|---|---|---|\n");
  for (bool reuse : {true, false}) {
    provider_local::LocalConfig cfg;
    cfg.reuse_prefix = reuse;
    cfg.max_slots = 1;
    auto p = provider_local::make_local_provider(model, cfg);
    api::ChatRequest req;
    req.system = "You are a storyteller.";
    req.messages.push_back(api::Message::user("Tell me about a cat."));
    req.max_tokens = 24;
    req.temperature = 0;
    const auto before = provider_local::slot_stats();
    double ttft_sum = 0, first_ttft = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) {
      asio::io_context io;
      std::optional<api::ProviderResult<api::ChatResult>> out;
      const auto c0 = std::chrono::steady_clock::now();
      std::optional<double> ttft;
      api::StreamSink sink = [&](const api::StreamEvent&) {
        if (!ttft) ttft = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c0).count();
      };
      asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.emplace(co_await p->chat(req, sink)); }, asio::detached);
      io.run();
      if (!out || !out->ok()) {
        std::fprintf(stderr, "step %d failed: %s\n", i, out ? out->error().message.c_str() : "?");
        return 1;
      }
      ttft_sum += ttft.value_or(0);
      if (i == 0) first_ttft = ttft.value_or(0);
      req.messages.push_back(api::Message::assistant((*out)->text));
      req.messages.push_back(api::Message::user("And then what happened?"));
    }
    const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto after = provider_local::slot_stats();
    std::printf("| %s | %d | %lld | %lld | %.1f | %.2f | %.2f |\n", reuse ? "on" : "off", steps,
                static_cast<long long>(after.prompt_tokens - before.prompt_tokens),
                static_cast<long long>(after.evaluated_tokens - before.evaluated_tokens), wall, ttft_sum / steps, first_ttft);
  }
  return 0;
}
