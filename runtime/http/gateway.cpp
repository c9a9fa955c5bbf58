// The OpenAI-compatible gateway: /v1/chat/completions (streaming and not, tools, usage) and
// /v1/models. Requests are translated into the unified ChatRequest and served by the provider
// registry (fallback chains through its router) or, for "plan/<name>", by running that plan with
// the messages as input: its text output becomes the completion.
#include <filesystem>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "runtime/core/json_text.hpp"
#include "runtime/http/daemon_impl.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace fh::httpd {

namespace {
Result<std::string> content_text(const json& c, std::vector<api::ContentPart>* parts) {
  if (c.is_null()) return std::string();
  if (c.is_string()) {
    if (parts) parts->push_back({api::ContentPart::Kind::text, c.get<std::string>(), "", "", ""});
    return c.get<std::string>();
  }
  if (!c.is_array()) return make_error(Errc::invalid_argument, "message content must be a string or an array of parts");
  std::string all;
  for (const auto& p : c) {
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
      return make_error(Errc::invalid_argument, "content parts must be objects with a 'type'");
    std::string type = p["type"].get<std::string>();
    if (type == "text") {
      if (!p.contains("text") || !p["text"].is_string()) return make_error(Errc::invalid_argument, "text part without text");
      all += p["text"].get<std::string>();
      if (parts) parts->push_back({api::ContentPart::Kind::text, p["text"].get<std::string>(), "", "", ""});
    } else if (type == "image_url") {
      const json& iu = p.value("image_url", json::object());
      std::string url = iu.is_object() ? iu.value("url", "") : "";
      if (url.empty()) return make_error(Errc::invalid_argument, "image_url part without url");
      if (parts) parts->push_back({api::ContentPart::Kind::image, "", url, "", ""});
    } else {
      return make_error(Errc::invalid_argument, "unsupported content part type '" + type + "'");
    }
  }
  return all;
}

// OpenAI request JSON -> ChatRequest (model left to the caller).
Result<api::ChatRequest> to_chat_request(const json& b) {
  api::ChatRequest req;
  if (!b.contains("messages") || !b["messages"].is_array() || b["messages"].empty())
    return make_error(Errc::invalid_argument, "'messages' must be a non-empty array");
  for (const auto& m : b["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return make_error(Errc::invalid_argument, "every message needs a string 'role'");
    std::string role = m["role"].get<std::string>();
    if (role == "system" || role == "developer") {
      auto t = content_text(m.value("content", json(nullptr)), nullptr);
      if (!t) return t.error();
      req.system += (req.system.empty() ? "" : "\n\n") + t.value();
      continue;
    }
    api::Message msg;
    if (role == "user") msg.role = api::Role::user;
    else if (role == "assistant") msg.role = api::Role::assistant;
    else if (role == "tool") msg.role = api::Role::tool;
    else return make_error(Errc::invalid_argument, "unknown role '" + role + "'");
    auto t = content_text(m.value("content", json(nullptr)), &msg.content);
    if (!t) return t.error();
    if (msg.role == api::Role::assistant && m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      if (!m["tool_calls"].is_array()) return make_error(Errc::invalid_argument, "'tool_calls' must be an array");
      for (const auto& c : m["tool_calls"]) {
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
          return make_error(Errc::invalid_argument, "a tool call needs a 'function' object");
        api::ToolCall tc;
        tc.id = c.value("id", "");
        tc.name = c["function"].value("name", "");
        json args = c["function"].value("arguments", json("{}"));
        if (args.is_string()) {
          json parsed = json::parse(args.get<std::string>(), nullptr, false);
          tc.arguments = parsed.is_discarded() ? args : parsed;
        } else {
          tc.arguments = args;
        }
        msg.tool_calls.push_back(std::move(tc));
      }
    }
    if (msg.role == api::Role::tool) {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
        return make_error(Errc::invalid_argument, "a tool message needs 'tool_call_id'");
      msg.tool_call_id = m["tool_call_id"].get<std::string>();
      if (m.contains("name") && m["name"].is_string()) msg.name = m["name"].get<std::string>();
    }
    req.messages.push_back(std::move(msg));
  }
  if (b.contains("tools") && !b["tools"].is_null()) {
    if (!b["tools"].is_array()) return make_error(Errc::invalid_argument, "'tools' must be an array");
    for (const auto& t : b["tools"]) {
      if (!t.is_object() || !t.contains("function") || !t["function"].is_object() || !t["function"].contains("name") ||
          !t["function"]["name"].is_string())
        return make_error(Errc::invalid_argument, "every tool needs function.name");
      api::ToolSpec s;
      s.name = t["function"]["name"].get<std::string>();
      s.description = t["function"].value("description", "");
      if (t["function"].contains("parameters") && t["function"]["parameters"].is_object())
        s.parameters = t["function"]["parameters"];
      req.tools.push_back(std::move(s));
    }
  }
  if (b.contains("tool_choice")) {
    const json& tc = b["tool_choice"];
    if (tc.is_string()) req.tool_choice = tc;
    else if (tc.is_object() && tc.contains("function") && tc["function"].is_object())
      req.tool_choice = {{"name", tc["function"].value("name", "")}};
  }
  auto number = [&](const char* k) -> std::optional<double> {
    if (b.contains(k) && b[k].is_number()) return b[k].get<double>();
    return std::nullopt;
  };
  req.temperature = number("temperature");
  req.top_p = number("top_p");
  if (auto m = number("max_completion_tokens")) req.max_tokens = static_cast<int64_t>(*m);
  else if (auto m2 = number("max_tokens")) req.max_tokens = static_cast<int64_t>(*m2);
  if (b.contains("seed") && b["seed"].is_number_integer()) req.seed = b["seed"].get<uint64_t>();
  if (b.contains("stop")) {
    if (b["stop"].is_string()) req.stop.push_back(b["stop"].get<std::string>());
    else if (b["stop"].is_array())
      for (const auto& s : b["stop"])
        if (s.is_string()) req.stop.push_back(s.get<std::string>());
  }
  if (b.contains("response_format") && b["response_format"].is_object()) {
    const json& rf = b["response_format"];
    if (rf.value("type", "") == "json_schema" && rf.contains("json_schema") && rf["json_schema"].is_object())
      req.response_schema = rf["json_schema"].value("schema", json::object());
  }
  return req;
}

std::string finish_name(api::FinishReason f) {
  switch (f) {
    case api::FinishReason::length: return "length";
    case api::FinishReason::tool_calls: return "tool_calls";
    case api::FinishReason::content_filter:
    case api::FinishReason::refusal: return "content_filter";
    default: return "stop";
  }
}

json usage_json(const api::Usage& u) {
  return {{"prompt_tokens", u.input_tokens}, {"completion_tokens", u.output_tokens},
          {"total_tokens", u.input_tokens + u.output_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_input_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}}};
}

json completion_json(const std::string& id, int64_t created, const std::string& model, const api::ChatResult& r) {
  json msg = {{"role", "assistant"}, {"content", r.text.empty() && !r.tool_calls.empty() ? json(nullptr) : json(r.text)}};
  if (!r.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& c : r.tool_calls)
      calls.push_back({{"id", c.id}, {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", c.arguments.is_string() ? c.arguments.get<std::string>() : json_text(c.arguments)}}}});
    msg["tool_calls"] = calls;
  }
  return {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
          {"choices", json::array({{{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", finish_name(r.finish_reason)}}})},
          {"usage", usage_json(r.usage)}};
}

int status_for(api::ErrorKind k) {
  switch (k) {
    case api::ErrorKind::invalid_request:
    case api::ErrorKind::context_length: return 400;
    case api::ErrorKind::not_found: return 404;
    case api::ErrorKind::rate_limit: return 429;
    case api::ErrorKind::budget_exceeded: return 402;
    case api::ErrorKind::timeout: return 504;
    case api::ErrorKind::overloaded: return 503;
    default: return 502;
  }
}

// Streams chunks produced by a coroutine running beside the handler (a provider's sink is
// synchronous; the socket is not).
struct Pump {
  explicit Pump(asio::any_io_executor ex) : timer(ex) {}
  std::deque<json> chunks;
  bool done = false;
  asio::steady_timer timer;
  void push(json c) {
    chunks.push_back(std::move(c));
    timer.cancel();
  }
};
}  // namespace

Response Daemon::Impl::list_models() {
  std::set<std::string> ids = {"mock/echo"};
  ids.insert(opt.models.begin(), opt.models.end());
  if (!opt.default_model.empty()) ids.insert(opt.default_model);
  std::error_code ec;
  if (!opt.plan_dir.empty())
    for (const auto& f : fs::directory_iterator(opt.plan_dir, ec))
      if (f.path().extension() == ".lua") ids.insert("plan/" + f.path().stem().string());
  json data = json::array();
  for (const auto& id : ids) data.push_back({{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "freehold"}});
  return Response::json_body(200, {{"object", "list"}, {"data", data}});
}

asio::awaitable<void> Daemon::Impl::chat_completions(const Request& req, Responder& res) {
  json b = json::parse(req.body, nullptr, false);
  if (!b.is_object() || !b.contains("model") || !b["model"].is_string()) {
    co_await res.send(Response::error(400, "invalid_request", "'model' (a string) is required"));
    co_return;
  }
  std::string model = b["model"].get<std::string>();
  auto creq = to_chat_request(b);
  if (!creq) {
    co_await res.send(Response::error(400, "invalid_request", creq.error().message));
    co_return;
  }
  bool stream = b.value("stream", false) == true;
  bool include_usage = b.contains("stream_options") && b["stream_options"].is_object() &&
                       b["stream_options"].value("include_usage", false) == true;
  std::string id = new_id("chatcmpl-");
  int64_t created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto chunk = [&](json delta, json finish) {
    return json{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}}})}};
  };
  auto pump = std::make_shared<Pump>(ex);
  auto result = std::make_shared<std::optional<api::ProviderResult<api::ChatResult>>>();
  asio::cancellation_signal cancel;

  if (model.rfind("plan/", 0) == 0) {
    // A plan as a model: a daemon run (visible in the runs API) with the messages as input.
    json body = {{"name", model.substr(5)}, {"input", {{"messages", b["messages"]}}}};
    if (b.contains("tools")) body["input"]["tools"] = b["tools"];
    auto sub = submit(body);
    if (!sub) {
      co_await res.send(Response::error(404, "model_not_found", sub.error().message));
      co_return;
    }
    auto e = sub.value();
    start(e, {});
    while (!e->finished) {
      auto t = std::make_shared<asio::steady_timer>(ex, std::chrono::seconds(30));
      e->waiters.push_back(t);
      co_await t->async_wait(use_tuple);
      if (res.stopping() && !e->finished) {  // the client left: stop the run
        if (e->run) e->run->cancel();
        co_return;
      }
    }
    if (e->state != "succeeded") {
      co_await res.send(Response::error(502, "plan_failed", e->error.is_object() ? e->error.value("message", "plan failed") : "plan failed"));
      co_return;
    }
    api::ChatResult r;
    r.text = e->output.is_string() ? e->output.get<std::string>() : json_text(e->output);
    if (auto u = api::usage_from_json(e->usage)) r.usage = u.value();
    *result = r;
    if (stream) {
      pump->push(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
      pump->push(chunk({{"content", r.text}}, nullptr));
    }
    pump->done = true;
  } else {
    auto resolved = providers.resolve(model);
    if (!resolved) {
      co_await res.send(Response::error(404, "model_not_found", resolved.error().message));
      co_return;
    }
    creq->model = resolved->model;
    // Run the provider call beside this handler; its stream events become chunks.
    api::StreamSink sink;
    if (stream) {
      pump->push(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
      sink = [pump, chunk](const api::StreamEvent& ev) mutable {
        switch (ev.type) {
          case api::StreamEvent::Type::text:
            if (!ev.text.empty()) pump->push(chunk({{"content", ev.text}}, nullptr));
            break;
          case api::StreamEvent::Type::tool_call_start:
            pump->push(chunk({{"tool_calls", json::array({{{"index", ev.index}, {"id", ev.id}, {"type", "function"},
                                                           {"function", {{"name", ev.name}, {"arguments", ""}}}}})}}, nullptr));
            break;
          case api::StreamEvent::Type::tool_call_delta:
            pump->push(chunk({{"tool_calls", json::array({{{"index", ev.index}, {"function", {{"arguments", ev.arguments}}}}})}}, nullptr));
            break;
          default: break;
        }
      };
    }
    auto provider = resolved->provider;
    auto self = shared_from_this();
    asio::co_spawn(ex, [self, provider, creq = std::move(creq.value()), sink, pump, result]() mutable -> asio::awaitable<void> {
      auto t0 = std::chrono::steady_clock::now();
      *result = co_await provider->chat(std::move(creq), std::move(sink));
      const auto& r = **result;
      if (r || r.error().kind != api::ErrorKind::cancelled) {  // a client that left is not a model error
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        std::string name = r && !r->provider.empty() ? r->provider : std::string(provider->name());
        self->metrics.model_call(name, r ? json{{"ok", api::to_json(r.value())}} : json{{"error", api::to_json(r.error())}}, ms);
      }
      pump->done = true;
      pump->timer.cancel();
    }, asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  }

  if (!stream) {
    while (!pump->done) {
      pump->timer.expires_at(asio::steady_timer::time_point::max());
      co_await pump->timer.async_wait(use_tuple);
    }
    const auto& r = **result;
    if (!r) {
      co_await res.send(Response::error(status_for(r.error().kind), std::string(api::error_kind_name(r.error().kind)), r.error().message));
      co_return;
    }
    co_await res.send(Response::json_body(200, completion_json(id, created, model, r.value())));
    co_return;
  }
  if (!co_await res.begin_stream(200, sse_headers())) {
    cancel.emit(asio::cancellation_type::terminal);
    co_return;
  }
  for (;;) {
    while (!pump->chunks.empty()) {
      json c = std::move(pump->chunks.front());
      pump->chunks.pop_front();
      if (!co_await res.write("data: " + json_text(c) + "\n\n")) {
        if (!pump->done) cancel.emit(asio::cancellation_type::terminal);
        while (!pump->done) {  // let the call unwind before its state goes away
          pump->timer.expires_at(asio::steady_timer::time_point::max());
          co_await pump->timer.async_wait(use_tuple);
        }
        co_return;
      }
    }
    if (pump->done) break;
    pump->timer.expires_at(asio::steady_timer::time_point::max());
    co_await pump->timer.async_wait(use_tuple);
  }
  const auto& r = **result;
  if (!r) {
    json err = {{"error", {{"message", r.error().message}, {"type", api::error_kind_name(r.error().kind)}, {"code", api::error_kind_name(r.error().kind)}}}};
    co_await res.write("data: " + json_text(err) + "\n\n");
  } else {
    co_await res.write("data: " + chunk(json::object(), finish_name(r->finish_reason)).dump() + "\n\n");
    if (include_usage) {
      json u = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                {"choices", json::array()}, {"usage", usage_json(r->usage)}};
      co_await res.write("data: " + json_text(u) + "\n\n");
    }
  }
  co_await res.write(std::string("data: [DONE]\n\n"));
  co_await res.end_stream();
}

}  // namespace fh::httpd
