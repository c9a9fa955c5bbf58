// `freehold chat` in-process: the command against the mock server, in every output mode.
#include <doctest/doctest.h>

#include <iostream>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <CLI/CLI.hpp>

#include "apps/freehold/cmd_chat.hpp"
#include "apps/freehold/register_remote.hpp"
#include "tests/providers/support/decode.hpp"
#include "tests/providers/support/mock_server.hpp"
#include "tests/providers/support/server_thread.hpp"

using namespace fh;
using fh::test::MockRequest;
using fh::test::MockResponse;
using fh::test::MockServer;
using fh::test::read_fixture;
using fh::test::ServerThread;

namespace {
std::vector<json> lines(const std::string& s) {
  std::vector<json> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  return out;
}
}  // namespace

TEST_CASE("chat command: --stream --json prints the events / then the result with type result") {
  std::string bytes = read_fixture("anthropic_stream_text_then_tool_use.sse");
  ServerThread st([&](const MockRequest&) {
    MockResponse r;
    r.body = bytes;
    r.split = MockResponse::Split::random;
    return r;
  });
  api::ProviderRegistry reg;
  app::register_remote_providers(reg);
  reg.set_config({{"providers", {{"anthropic", {{"api_key", "k"}}}}}});
  std::ostringstream out, err;
  app::ChatOptions o{"anthropic/claude-sonnet-4", st.server->base_url(), "Be terse.", "Weather in Paris?", true, true};
  CHECK(app::run_chat(o, reg, out, err) == 0);
  auto got = lines(out.str());
  auto expected = fh::test::decode_anthropic(bytes);
  REQUIRE(got.size() == expected.events.size() + 1);
  for (size_t i = 0; i < expected.events.size(); ++i) CHECK(got[i] == api::to_json(expected.events[i]));
  json last = got.back();
  CHECK(last["type"] == "result");
  CHECK(last["provider"] == "anthropic");
  CHECK(last["finish_reason"] == "tool_calls");
  CHECK(last["tool_calls"][0]["arguments"] == json{{"location", "Paris"}});
  for (const char* k : {"model", "text", "reasoning", "provider_finish_reason", "usage", "cost_usd", "latency_ms", "ttft_ms"})
    CHECK(last.contains(k));
  json sent = json::parse(st.server->requests().at(0).body);
  CHECK(sent["system"] == "Be terse.");
  CHECK(sent["model"] == "claude-sonnet-4");
}

TEST_CASE("chat command: --json prints the ChatResult - plain prints the text") {
  ServerThread st([&](const MockRequest&) {
    MockResponse r;
    r.headers = {{"content-type", "application/json"}};
    r.body = read_fixture("openai_chat_response_text_basic.json");
    r.chunked = false;
    return r;
  });
  api::ProviderRegistry reg;
  app::register_remote_providers(reg);
  std::ostringstream out, err;
  app::ChatOptions o{"openai/gpt-4o", st.server->base_url() + "/v1", "", "hi", false, true};
  CHECK(app::run_chat(o, reg, out, err) == 0);
  json j = json::parse(out.str());
  CHECK(j["provider"] == "openai");
  CHECK(j["model"] == "gpt-4o-2024-08-06");
  CHECK(j["usage"]["input_tokens"] == 14);
  CHECK(!j.contains("type"));
  std::ostringstream out2;
  o.json = false;
  CHECK(app::run_chat(o, reg, out2, err) == 0);
  CHECK(out2.str().rfind("I'm unable to provide real-time weather updates.", 0) == 0);
}

TEST_CASE("chat command: a failed call exits 1 and prints the error JSON last") {
  ServerThread st([&](const MockRequest&) {
    MockResponse r;
    r.status = 401;
    r.headers = {{"content-type", "application/json"}};
    r.body = read_fixture("openai_error_401_invalid_api_key.json");
    r.chunked = false;
    return r;
  });
  api::ProviderRegistry reg;
  app::register_remote_providers(reg);
  for (bool stream : {false, true}) {
    std::ostringstream out, err;
    app::ChatOptions o{"openai/gpt-4o", st.server->base_url() + "/v1", "", "hi", stream, true};
    CHECK(app::run_chat(o, reg, out, err) == 1);
    auto got = lines(out.str());
    REQUIRE(got.size() == 1);  // exactly one error line, never two
    CHECK(got.back()["type"] == "error");
    CHECK(got.back()["error"]["kind"] == "auth");
    CHECK(got.back()["error"]["status"] == 401);
    CHECK(err.str().find("auth") != std::string::npos);
  }
  std::ostringstream out, err;
  app::ChatOptions bad{"nosuch/model", "", "", "hi", false, true};
  CHECK(app::run_chat(bad, reg, out, err) == 2);
  CHECK(lines(out.str()).back()["type"] == "error");
}

TEST_CASE("chat command: registered through CLI11 with the contract's options") {
  ServerThread st([&](const MockRequest&) {
    MockResponse r;
    r.body = read_fixture("openai_chat_stream_logprobs.sse");
    return r;
  });
  api::ProviderRegistry reg;
  app::register_remote_providers(reg);
  CLI::App app{"freehold"};
  int code = -1;
  app::add_chat_command(app, reg, code);
  std::string url = st.server->base_url() + "/v1";
  std::vector<std::string> args = {"freehold", "chat", "--model", "openai/gpt-4o", "--base-url", url, "--stream", "Say Foo"};
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  app.parse(static_cast<int>(argv.size()), argv.data());
  std::cout.rdbuf(old);
  CHECK(code == 0);
  CHECK(captured.str() == "Foo!\n");
}
