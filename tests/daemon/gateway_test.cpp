// The OpenAI-compatible gateway over real HTTP (the official npm SDK test is node/openai_sdk_test.mjs).
#include <doctest/doctest.h>

#include <fstream>

#include "tests/daemon/support.hpp"

using fh::json;
using fh::test::DaemonFixture;

namespace {
std::string script_model(const std::string& dir) {
  json replies = {{"replies", json::array({
                       {{"tool_calls", json::array({{{"id", "call_1"}, {"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}})},
                        {"usage", {{"input_tokens", 11}, {"output_tokens", 7}}}},
                       {{"text", "Sunny in Paris"}, {"usage", {{"input_tokens", 20}, {"output_tokens", 4}}}}})}};
  std::ofstream(dir + "/script.json") << replies.dump();
  return "mock/script?file=" + dir + "/script.json";
}
}  // namespace

TEST_CASE("gateway: chat completion not streamed") {
  DaemonFixture f;
  auto r = f.client.post("/v1/chat/completions",
                         {{"model", "mock/echo"}, {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "ping"}}}}});
  REQUIRE(r.status == 200);
  auto j = r.j();
  CHECK(j["object"] == "chat.completion");
  CHECK(j["model"] == "mock/echo");
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  CHECK(j["choices"][0]["message"]["content"] == "ping");
  CHECK(j["choices"][0]["finish_reason"] == "stop");
  CHECK(j["usage"]["total_tokens"].get<int64_t>() ==
        j["usage"]["prompt_tokens"].get<int64_t>() + j["usage"]["completion_tokens"].get<int64_t>());
}

TEST_CASE("gateway: streamed completion ends with usage and [DONE]") {
  DaemonFixture f;
  auto r = f.client.post("/v1/chat/completions", {{"model", "mock/echo"}, {"stream", true},
                                                  {"stream_options", {{"include_usage", true}}},
                                                  {"messages", {{{"role", "user"}, {"content", "stream me please"}}}}});
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "text/event-stream");
  std::string text;
  bool done = false, usage = false, finish = false;
  size_t pos = 0;
  while ((pos = r.body.find("data: ", pos)) != std::string::npos) {
    size_t end = r.body.find("\n\n", pos);
    std::string data = r.body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") { done = true; continue; }
    json c = json::parse(data);
    CHECK(c["object"] == "chat.completion.chunk");
    if (c.contains("usage")) usage = true;
    if (!c["choices"].empty()) {
      text += c["choices"][0]["delta"].value("content", "");
      if (c["choices"][0]["finish_reason"] == "stop") finish = true;
    }
  }
  CHECK(text == "stream me please");
  CHECK(done);
  CHECK(usage);
  CHECK(finish);
}

TEST_CASE("gateway: tool calls and their results round-trip") {
  DaemonFixture f;
  std::string model = script_model(f.data_dir);
  json tools = json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}});
  json msgs = json::array({{{"role", "user"}, {"content", "weather?"}}});
  auto r = f.client.post("/v1/chat/completions", {{"model", model}, {"messages", msgs}, {"tools", tools}});
  REQUIRE(r.status == 200);
  auto m = r.j()["choices"][0]["message"];
  CHECK(r.j()["choices"][0]["finish_reason"] == "tool_calls");
  REQUIRE(m["tool_calls"].size() == 1);
  CHECK(m["tool_calls"][0]["function"]["name"] == "get_weather");
  CHECK(json::parse(m["tool_calls"][0]["function"]["arguments"].get<std::string>())["city"] == "Paris");
  CHECK(r.j()["usage"]["prompt_tokens"] == 11);
  msgs.push_back(m);
  msgs.push_back({{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "{\"sky\":\"clear\"}"}});
  auto r2 = f.client.post("/v1/chat/completions", {{"model", model}, {"messages", msgs}, {"tools", tools}});
  REQUIRE(r2.status == 200);
  CHECK(r2.j()["choices"][0]["message"]["content"] == "Sunny in Paris");
}

TEST_CASE("gateway: plans as models and model list and errors") {
  auto plans = fh::test::temp_dir("gwplans");
  std::ofstream(plans + "/shout.lua") << "local m = input.messages\nreturn string.upper(m[#m].content)";
  fh::httpd::DaemonOptions o;
  o.plan_dir = plans;
  DaemonFixture f(o);
  auto r = f.client.post("/v1/chat/completions", {{"model", "plan/shout"}, {"messages", {{{"role", "user"}, {"content", "hi there"}}}}});
  REQUIRE(r.status == 200);
  CHECK(r.j()["choices"][0]["message"]["content"] == "HI THERE");
  auto s = f.client.post("/v1/chat/completions", {{"model", "plan/shout"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "abc"}}}}});
  CHECK(s.body.find("\"ABC\"") != std::string::npos);
  CHECK(s.body.find("data: [DONE]") != std::string::npos);
  auto models = f.client.get("/v1/models").j();
  CHECK(models["object"] == "list");
  bool has_plan = false;
  for (auto& m : models["data"]) has_plan |= m["id"] == "plan/shout";
  CHECK(has_plan);
  CHECK(f.client.post("/v1/chat/completions", {{"model", "nope/x"}, {"messages", {{{"role", "user"}, {"content", "a"}}}}}).status == 404);
  CHECK(f.client.post("/v1/chat/completions", {{"model", "plan/missing"}, {"messages", {{{"role", "user"}, {"content", "a"}}}}}).status == 404);
  CHECK(f.client.post("/v1/chat/completions", {{"model", "mock/echo"}}).status == 400);
  CHECK(f.client.post("/v1/chat/completions", {{"model", "mock/echo"}, {"messages", {{{"role", "wizard"}, {"content", "a"}}}}}).status == 400);
  CHECK(f.client.post("/v1/chat/completions", {{"messages", json::array()}}).status == 400);
  CHECK(f.client.get("/v1/chat/completions").status == 405);
}
