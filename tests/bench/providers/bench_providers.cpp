// Provider-layer benchmarks (docs/BENCHMARKS.md, "Remote providers"):
//   bench_providers sse [MB]            SSE decode throughput, and SSE + OpenAI codec + assembler
//   bench_providers latency [N]         per-request time: raw fetch vs provider vs router, local mock
//   bench_providers concurrent [N] [random]  N streaming requests at once on one client loop thread
//   bench_providers raw|provider|router [N]   N sequential requests of one kind (for process timing)
// The mock server runs on its own thread and io_context; the client side runs on this thread.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "providers/http/http.hpp"
#include "providers/http/sse.hpp"
#include "providers/openai/client.hpp"
#include "providers/router/router.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"

namespace asio = boost::asio;
using namespace fh;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
// Process CPU seconds: on a shared, loaded machine CPU time is steadier than wall time.
double cpu_now() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

const char* kStreams[] = {"openai_chat_stream_text_basic.sse", "openai_chat_stream_json_object.sse",
                          "openai_chat_stream_tool_calls_parallel.sse", "anthropic_stream_text_then_tool_use.sse",
                          "anthropic_stream_tool_use_only.sse"};

int bench_sse(double mb) {
  std::string corpus;
  for (const char* f : kStreams) corpus += fh::test::read_fixture(f);
  std::string openai_only = fh::test::read_fixture("openai_chat_stream_json_object.sse");
  const size_t target = static_cast<size_t>(mb * 1024 * 1024);
  std::string big, big_openai;
  while (big.size() < target) big += corpus;
  while (big_openai.size() < target) big_openai += openai_only;
  const size_t chunk = 4096;

  // 1) SSE framing only.
  size_t events = 0;
  http::SseDecoder::Callback count = [&](http::SseEvent&&) { ++events; };
  auto t0 = Clock::now();
  double c0 = cpu_now();
  http::SseDecoder d;
  for (size_t i = 0; i < big.size(); i += chunk) d.feed(std::string_view(big).substr(i, chunk), count);
  d.finish(count);
  double s1 = secs(Clock::now() - t0), c1 = cpu_now() - c0;
  std::printf("sse_decode: %.1f MB in %.3f s = %.1f MB/s wall, %.1f MB/s per CPU-second (%zu events, 4 KiB chunks)\n",
              big.size() / 1048576.0, s1, big.size() / 1048576.0 / s1, big.size() / 1048576.0 / c1, events);

  // 2) SSE + OpenAI codec (JSON parse per chunk) + assembler, repeated transcripts.
  t0 = Clock::now();
  c0 = cpu_now();
  size_t streams = 0;
  for (size_t off = 0; off < big_openai.size(); off += openai_only.size()) {
    auto dres = fh::test::decode_openai(openai_only, 4096);
    streams += dres.done;
  }
  double s2 = secs(Clock::now() - t0), c2 = cpu_now() - c0;
  std::printf("sse+openai_codec+assembler: %.1f MB in %.3f s = %.1f MB/s wall, %.1f MB/s per CPU-second (%zu streams)\n",
              big_openai.size() / 1048576.0, s2, big_openai.size() / 1048576.0 / s2, big_openai.size() / 1048576.0 / c2,
              streams);

  // 3) Byte-at-a-time framing (worst case split).
  std::string small = big.substr(0, std::min<size_t>(big.size(), 4 * 1024 * 1024));
  events = 0;
  t0 = Clock::now();
  http::SseDecoder d1;
  for (size_t i = 0; i < small.size(); ++i) d1.feed(std::string_view(small).substr(i, 1), count);
  double s3 = secs(Clock::now() - t0);
  std::printf("sse_decode_1byte_chunks: %.1f MB in %.3f s = %.1f MB/s\n", small.size() / 1048576.0, s3,
              small.size() / 1048576.0 / s3);
  return 0;
}

// A mock server on its own thread.
struct Server {
  asio::io_context ctx;
  std::optional<fh::test::MockServer> mock;
  std::thread thread;
  explicit Server(std::string body, bool random_split = false) {
    mock.emplace(ctx.get_executor(), [body, random_split](const fh::test::MockRequest&) {
      fh::test::MockResponse r;
      r.body = body;
      if (random_split) r.split = fh::test::MockResponse::Split::random;
      return r;
    });
    thread = std::thread([this] { ctx.run(); });
  }
  ~Server() {
    asio::post(ctx, [this] { mock->stop(); });
    ctx.stop();
    thread.join();
  }
};

api::ChatRequest hello() {
  api::ChatRequest r;
  r.model = "gpt-4o";
  r.messages.push_back(api::Message::user("hello"));
  return r;
}

enum class Kind { raw, provider, router };

// N sequential requests of one kind; returns per-request times (ms).
std::vector<double> run_sequential(Kind kind, int n, const std::string& base) {
  asio::io_context ctx;
  std::vector<double> ms;
  auto cfg = provider_openai::config_from({{"api_key", "k"}, {"base_url", base + "/v1"}}).value();
  auto provider = std::make_shared<provider_openai::OpenAiProvider>(cfg);
  auto router = provider_router::make_router({{provider, "gpt-4o"}});
  int failures = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
          auto t0 = Clock::now();
          if (kind == Kind::raw) {
            // The same POST, body bytes handed to a no-op consumer: the HTTP layer alone.
            http::Request q;
            q.method = "POST";
            q.url = base + "/v1/chat/completions";
            q.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
            q.body = provider_openai::build_request(hello(), {.stream = true}).dump();
            size_t bytes = 0;
            q.on_chunk = [&](const http::ResponseHead&, std::string_view c) { bytes += c.size(); return true; };
            auto r = co_await http::fetch(std::move(q));
            failures += !r || bytes == 0;
          } else {
            std::shared_ptr<api::Provider> p = kind == Kind::router ? router : std::shared_ptr<api::Provider>(provider);
            size_t events = 0;
            auto r = co_await p->chat(hello(), [&](const api::StreamEvent&) { ++events; });
            failures += !r.ok();
          }
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      },
      asio::detached);
  ctx.run();
  if (failures) std::fprintf(stderr, "%d failures\n", failures);
  return ms;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int bench_latency(int n) {
  Server server(fh::test::read_fixture("openai_chat_stream_text_basic.sse"));
  std::string base = server.mock->base_url();
  run_sequential(Kind::raw, 50, base);  // warm-up
  for (int round = 0; round < 3; ++round) {
    auto raw = run_sequential(Kind::raw, n, base);
    auto prov = run_sequential(Kind::provider, n, base);
    auto rout = run_sequential(Kind::router, n, base);
    std::printf("round %d: median ms raw %.3f | provider %.3f (+%.3f) | router %.3f (+%.3f); p90 raw %.3f provider %.3f router %.3f\n",
                round, median(raw), median(prov), median(prov) - median(raw), median(rout), median(rout) - median(raw),
                pct(raw, 0.9), pct(prov, 0.9), pct(rout, 0.9));
  }
  return 0;
}

int bench_concurrent(int n, bool random_split) {
  Server server(fh::test::read_fixture("openai_chat_stream_text_basic.sse"), random_split);
  std::string base = server.mock->base_url();
  asio::io_context ctx;  // the one client loop thread: this one
  auto cfg = provider_openai::config_from({{"api_key", "k"}, {"base_url", base + "/v1"}}).value();
  auto router = provider_router::make_router({{std::make_shared<provider_openai::OpenAiProvider>(cfg), "gpt-4o"}});
  int ok = 0, failed = 0;
  size_t events = 0;
  std::vector<double> lat, ttft;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          auto r = co_await router->chat(hello(), [&](const api::StreamEvent&) { ++events; });
          if (r.ok()) {
            ++ok;
            lat.push_back(static_cast<double>(r->latency_ms));
            ttft.push_back(static_cast<double>(r->ttft_ms));
          } else {
            ++failed;
            if (failed < 4) std::fprintf(stderr, "failure: %s\n", r.error().message.c_str());
          }
        },
        asio::detached);
  }
  ctx.run();
  double s = secs(Clock::now() - t0);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("concurrent (%s chunks): %d streams (%d ok, %d failed) on one loop thread in %.3f s = %.0f streams/s, %zu events; "
              "latency median %.0f ms p99 %.0f ms; ttft median %.0f ms; peak RSS %.1f MB (client + server)\n",
              random_split ? "random 1-64 byte" : "whole-body", n, ok, failed, s, n / s, events, median(lat), pct(lat, 0.99), median(ttft), ru.ru_maxrss / 1024.0);
  return failed ? 1 : 0;
}

int run_kind(Kind k, int n) {
  Server server(fh::test::read_fixture("openai_chat_stream_text_basic.sse"));
  auto v = run_sequential(k, n, server.mock->base_url());
  std::printf("%zu requests, median %.3f ms\n", v.size(), median(v));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "sse";
  double arg = argc > 2 ? std::atof(argv[2]) : 0;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;  // 1000 streams need 2000+ descriptors (client and server here)
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (mode == "sse") return bench_sse(arg > 0 ? arg : 64);
  if (mode == "latency") return bench_latency(arg > 0 ? static_cast<int>(arg) : 300);
  if (mode == "concurrent")
    return bench_concurrent(arg > 0 ? static_cast<int>(arg) : 1000, argc > 3 && std::string(argv[3]) == "random");
  if (mode == "raw") return run_kind(Kind::raw, arg > 0 ? static_cast<int>(arg) : 300);
  if (mode == "provider") return run_kind(Kind::provider, arg > 0 ? static_cast<int>(arg) : 300);
  if (mode == "router") return run_kind(Kind::router, arg > 0 ? static_cast<int>(arg) : 300);
  std::fprintf(stderr, "usage: bench_providers sse|latency|concurrent|raw|provider|router [N]\n");
  return 2;
}
