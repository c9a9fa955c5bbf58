#include "providers/openai/codec.hpp"

#include "providers/http/wire_json.hpp"

namespace fh::provider_openai {

using api::ChatResult;
using api::ErrorKind;
using api::FinishReason;
using api::ProviderError;
using api::StreamEvent;

using http::wire::arguments_text;
using http::wire::count;
using http::wire::find;
using http::wire::num;
using http::wire::parse_arguments;
using http::wire::str;

namespace {

json content_parts(const api::Message& m) {
  bool only_text = true;
  for (const auto& p : m.content) only_text = only_text && p.kind == api::ContentPart::Kind::text;
  if (only_text) return m.text();
  json parts = json::array();
  for (const auto& p : m.content) {
    if (p.kind == api::ContentPart::Kind::text) {
      parts.push_back({{"type", "text"}, {"text", p.text}});
    } else {
      std::string url = !p.url.empty() ? p.url : "data:" + p.media_type + ";base64," + p.data_b64;
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
    }
  }
  return parts;
}

ProviderError malformed(std::string what) { return http::wire::malformed("openai", std::move(what)); }

}  // namespace

json build_request(const api::ChatRequest& req, const WireOptions& o) {
  json msgs = json::array();
  if (!req.system.empty()) msgs.push_back({{"role", o.system_role}, {"content", req.system}});
  for (const auto& m : req.messages) {
    switch (m.role) {
      case api::Role::system: msgs.push_back({{"role", o.system_role}, {"content", m.text()}}); break;
      case api::Role::user: msgs.push_back({{"role", "user"}, {"content", content_parts(m)}}); break;
      case api::Role::assistant: {
        json a = {{"role", "assistant"}};
        std::string text = m.text();
        a["content"] = text.empty() && !m.tool_calls.empty() ? json(nullptr) : json(text);
        if (!m.tool_calls.empty()) {
          json calls = json::array();
          for (const auto& c : m.tool_calls)
            calls.push_back({{"id", c.id}, {"type", "function"},
                             {"function", {{"name", c.name}, {"arguments", arguments_text(c.arguments)}}}});
          a["tool_calls"] = std::move(calls);
        }
        msgs.push_back(std::move(a));
        break;
      }
      case api::Role::tool:
        msgs.push_back({{"role", "tool"}, {"tool_call_id", m.tool_call_id}, {"content", m.text()}});
        break;
    }
  }
  json body = {{"model", req.model}, {"messages", std::move(msgs)}};
  if (!req.tools.empty()) {
    json tools = json::array();
    for (const auto& t : req.tools) {
      json fn = {{"name", t.name}};
      if (!t.description.empty()) fn["description"] = t.description;
      fn["parameters"] = t.parameters;
      tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    body["tools"] = std::move(tools);
  }
  if (req.tool_choice.is_string()) {
    body["tool_choice"] = req.tool_choice;
  } else if (req.tool_choice.is_object() && req.tool_choice.contains("name")) {
    body["tool_choice"] = {{"type", "function"}, {"function", {{"name", req.tool_choice["name"]}}}};
  }
  if (!req.response_schema.is_null()) {
    std::string name = str(req.response_schema, "title");
    body["response_format"] = {{"type", "json_schema"},
                               {"json_schema", {{"name", name.empty() ? "response" : name},
                                                {"schema", req.response_schema}}}};
  }
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (req.max_tokens) body[o.max_tokens_field] = *req.max_tokens;
  if (req.seed) body["seed"] = *req.seed;
  if (!req.stop.empty()) body["stop"] = req.stop;
  if (o.stream) {
    body["stream"] = true;
    if (o.include_usage) body["stream_options"] = {{"include_usage", true}};
  }
  // Provider-specific passthrough (e.g. parallel_tool_calls, reasoning_effort) wins last.
  if (req.extra.is_object())
    for (auto it = req.extra.begin(); it != req.extra.end(); ++it) body[it.key()] = it.value();
  return body;
}

api::Usage usage_from_wire(const json& u) {
  api::Usage out;
  out.input_tokens = count(u, "prompt_tokens");
  out.output_tokens = count(u, "completion_tokens");
  if (const json* d = find(u, "prompt_tokens_details")) {
    out.cached_input_tokens = count(*d, "cached_tokens");
    out.cache_write_tokens = count(*d, "cache_write_tokens");
  }
  if (const json* d = find(u, "completion_tokens_details")) out.reasoning_tokens = count(*d, "reasoning_tokens");
  return out;
}

FinishReason map_finish(std::string_view w, bool refusal) noexcept {
  if (refusal) return FinishReason::refusal;
  if (w == "length" || w == "model_length") return FinishReason::length;  // model_length: Mistral
  if (w == "error") return FinishReason::error;                          // Mistral
  if (w == "tool_calls" || w == "function_call") return FinishReason::tool_calls;
  if (w == "content_filter") return FinishReason::content_filter;
  return FinishReason::stop;
}

api::ProviderResult<ChatResult> decode_response(std::string_view body) {
  json j = http::wire::parse(body);
  if (j.is_discarded() || !j.is_object()) return malformed(http::wire::parse_problem(body, "body is not a JSON object"));
  if (const json* err = find(j, "error")) return error_from_object(200, *err);
  ChatResult r;
  r.provider = "openai";
  r.model = str(j, "model");
  if (const json* u = find(j, "usage")) r.usage = usage_from_wire(*u);
  const json* choices = find(j, "choices");
  if (!choices || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
    return malformed("no choices");
  const json& c0 = (*choices)[0];
  const json* msg = find(c0, "message");
  if (!msg || !msg->is_object()) return malformed("choice without message");
  r.text = str(*msg, "content");
  std::string refusal = str(*msg, "refusal");
  if (!refusal.empty() && r.text.empty()) r.text = refusal;
  std::string reasoning = str(*msg, "reasoning_content");
  r.reasoning = reasoning.empty() ? str(*msg, "reasoning") : reasoning;
  if (const json* calls = find(*msg, "tool_calls"); calls && calls->is_array()) {
    for (size_t i = 0; i < calls->size(); ++i) {
      const json& c = (*calls)[i];
      const json* fn = find(c, "function");
      if (!fn) continue;
      api::ToolCall tc;
      tc.id = str(c, "id");
      if (tc.id.empty()) tc.id = "call_" + std::to_string(i);
      tc.name = str(*fn, "name");
      const json* args = find(*fn, "arguments");
      tc.arguments = !args ? json::object() : args->is_string() ? parse_arguments(args->get<std::string>()) : *args;
      r.tool_calls.push_back(std::move(tc));
    }
  }
  r.provider_finish_reason = str(c0, "finish_reason");
  r.finish_reason = map_finish(r.provider_finish_reason, !refusal.empty());
  api::normalize_finish(r);
  return r;
}

ProviderError error_from_object(int status, const json& err) {
  ProviderError e;
  e.provider = "openai";
  e.status = status;
  std::string type = str(err, "type"), code = str(err, "code");
  e.message = err.is_string() ? err.get<std::string>() : str(err, "message");
  if (e.message.empty()) e.message = "openai error" + (status ? " (HTTP " + std::to_string(status) + ")" : std::string());
  auto has = [&](std::string_view w) { return type == w || code == w; };
  if (has("insufficient_quota")) {
    e.kind = ErrorKind::rate_limit;  // billing: waiting does not help
    e.retryable = false;
  } else if (has("context_length_exceeded") || e.message.find("maximum context length") != std::string::npos) {
    e.kind = ErrorKind::context_length;
  } else if (status == 401 || has("invalid_api_key") || has("authentication_error")) {
    e.kind = ErrorKind::auth;
  } else if (status == 403 || has("request_forbidden") || has("permission_error")) {
    e.kind = ErrorKind::permission;
  } else if (status == 404 || has("model_not_found")) {
    e.kind = ErrorKind::not_found;
  } else if (status == 429 || has("rate_limit_exceeded") || has("tokens") || has("requests")) {
    e.kind = ErrorKind::rate_limit;
    e.retryable = true;
  } else if (status == 408) {
    e.kind = ErrorKind::timeout;
    e.retryable = true;
  } else if (status == 503 || status == 529 || has("overloaded_error") || has("server_overloaded")) {
    e.kind = ErrorKind::overloaded;
    e.retryable = true;
  } else if (status >= 500 || status == 409 || has("server_error") || has("api_error")) {
    e.kind = ErrorKind::server;
    e.retryable = true;
  } else if (status == 0 && !has("invalid_request_error")) {
    e.kind = ErrorKind::server;  // an unclassified error inside a stream
    e.retryable = true;
  } else {
    e.kind = ErrorKind::invalid_request;
  }
  if (e.retryable) e.retry_after_ms = http::retry_hint_in_message(e.message);
  return e;
}

ProviderError decode_error(int status, std::string_view body, const http::Headers& headers,
                           std::chrono::system_clock::time_point now) {
  json j = http::wire::parse(body);
  json err = json::object();
  if (!j.is_discarded() && j.is_object()) {
    if (const json* e = find(j, "error")) err = *e;
  }
  if (!err.is_object() && !err.is_string()) err = json::object();
  if (err.is_object() && !err.contains("message")) {
    std::string snippet = http::wire::snippet(body);
    err["message"] = "HTTP " + std::to_string(status) + (snippet.empty() ? "" : ": " + snippet);
  }
  ProviderError e = error_from_object(status, err);
  // x-should-retry overrides the status, except that it cannot make a hopeless error retryable.
  bool hopeless = (e.kind == ErrorKind::rate_limit && !e.retryable) || e.kind == ErrorKind::auth ||
                  e.kind == ErrorKind::permission || e.kind == ErrorKind::invalid_request ||
                  e.kind == ErrorKind::context_length;
  if (auto should = http::header_value(headers, "x-should-retry"); should == "false") e.retryable = false;
  else if (should == "true" && !hopeless) e.retryable = true;
  if (e.retryable) {
    if (auto ra = http::retry_after_ms(headers, now)) e.retry_after_ms = *ra;
  } else {
    e.retry_after_ms.reset();
  }
  return e;
}

void StreamDecoder::fail(ProviderError e, const Emit& emit) {
  error_ = e;
  StreamEvent ev;
  ev.type = StreamEvent::Type::error;
  ev.error = std::move(e);
  emit(ev);
}

void StreamDecoder::on_data(std::string_view data, const Emit& emit) {
  if (done_ || error_) return;
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  json j = http::wire::parse(data);
  if (j.is_discarded() || !j.is_object()) return fail(malformed(http::wire::parse_problem(data, "stream chunk is not JSON")), emit);
  if (const json* err = find(j, "error")) return fail(error_from_object(0, *err), emit);
  if (std::string m = str(j, "model"); !m.empty()) model_ = m;
  if (const json* choices = find(j, "choices"); choices && choices->is_array()) {
    for (const auto& ch : *choices) {
      if (!ch.is_object() || num(ch, "index") != 0) continue;  // n > 1: choice 0 is the answer
      if (const json* d = find(ch, "delta"); d && d->is_object()) {
        StreamEvent ev;
        if (std::string t = str(*d, "reasoning_content").empty() ? str(*d, "reasoning") : str(*d, "reasoning_content");
            !t.empty()) {
          ev.type = StreamEvent::Type::reasoning;
          ev.text = std::move(t);
          emit(ev);
        }
        if (std::string t = str(*d, "content"); !t.empty()) {
          ev.type = StreamEvent::Type::text;
          ev.text = std::move(t);
          emit(ev);
        }
        if (std::string t = str(*d, "refusal"); !t.empty()) {
          refusal_ = true;
          ev.type = StreamEvent::Type::text;
          ev.text = std::move(t);
          emit(ev);
        }
        if (const json* calls = find(*d, "tool_calls"); calls && calls->is_array()) {
          for (size_t k = 0; k < calls->size(); ++k) {
            const json& c = (*calls)[k];
            int64_t idx = find(c, "index") ? num(c, "index") : static_cast<int64_t>(k);
            if (idx < 0 || idx >= 1024) return fail(malformed("tool call index out of range"), emit);
            auto i = static_cast<size_t>(idx);
            if (started_.size() <= i) started_.resize(i + 1, false), ended_.resize(i + 1, false), depth_.resize(i + 1);
            const json* fn = find(c, "function");
            if (!started_[i]) {
              // The first delta of a call carries id and name (once; later repeats are ignored).
              StreamEvent s;
              s.type = StreamEvent::Type::tool_call_start;
              s.index = static_cast<int>(i);
              s.id = str(c, "id");
              if (s.id.empty()) s.id = "call_" + std::to_string(i);
              s.name = fn ? str(*fn, "name") : std::string{};
              started_[i] = true;
              emit(s);
            }
            if (fn) {
              const json* a = find(*fn, "arguments");
              std::string frag = !a ? std::string{} : a->is_string() ? a->get<std::string>() : a->dump();
              if (!frag.empty()) {
                // The assembler parses the joined fragments: refuse them nested too deep.
                depth_[i].feed(frag);
                if (depth_[i].too_deep()) return fail(malformed("tool call arguments nest too deeply"), emit);
                StreamEvent s;
                s.type = StreamEvent::Type::tool_call_delta;
                s.index = static_cast<int>(i);
                s.arguments = std::move(frag);
                emit(s);
              }
            }
          }
        }
      }
      if (std::string fr = str(ch, "finish_reason"); !fr.empty()) {
        for (size_t i = 0; i < started_.size(); ++i) {
          if (started_[i] && !ended_[i]) {
            ended_[i] = true;
            StreamEvent s;
            s.type = StreamEvent::Type::tool_call_end;
            s.index = static_cast<int>(i);
            emit(s);
          }
        }
        provider_finish_ = fr;
        StreamEvent f;
        f.type = StreamEvent::Type::finish;
        f.finish_reason = map_finish(fr, refusal_);
        emit(f);
      }
    }
  }
  if (const json* u = find(j, "usage"); u && u->is_object()) {
    StreamEvent ev;
    ev.type = StreamEvent::Type::usage;
    ev.usage = usage_from_wire(*u);
    emit(ev);
  }
}

ChatResult StreamDecoder::base() const {
  ChatResult r;
  r.provider = "openai";
  r.model = model_;
  r.provider_finish_reason = provider_finish_;
  return r;
}

Result<std::vector<std::string>> decode_models(std::string_view body) {
  json j = http::wire::parse(body);
  const json* data = j.is_discarded() ? nullptr : find(j, "data");
  if (!data || !data->is_array()) return make_error(Errc::invalid_argument, "models list: no data array");
  std::vector<std::string> out;
  for (const auto& m : *data)
    if (std::string id = str(m, "id"); !id.empty()) out.push_back(id);
  return out;
}

}  // namespace fh::provider_openai
