#include "providers/anthropic/codec.hpp"

#include "providers/http/wire_json.hpp"

namespace fh::provider_anthropic {

using api::ChatResult;
using api::ErrorKind;
using api::FinishReason;
using api::ProviderError;
using api::StreamEvent;

using http::wire::count;
using http::wire::find;
using http::wire::str;

namespace {

ProviderError malformed(std::string what) { return http::wire::malformed("anthropic", std::move(what)); }

json image_block(const api::ContentPart& p) {
  if (!p.data_b64.empty())
    return {{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", p.media_type}, {"data", p.data_b64}}}};
  // data: URLs become base64 sources; anything else is a URL source.
  if (std::string mt, data; http::wire::split_data_url(p.url, mt, data))
    return {{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", mt}, {"data", data}}}};
  return {{"type", "image"}, {"source", {{"type", "url"}, {"url", p.url}}}};
}

json text_blocks(const api::Message& m) {
  json blocks = json::array();
  for (const auto& p : m.content) {
    if (p.kind == api::ContentPart::Kind::text) {
      if (!p.text.empty()) blocks.push_back({{"type", "text"}, {"text", p.text}});
    } else {
      blocks.push_back(image_block(p));
    }
  }
  return blocks;
}

// Appends blocks to the conversation, merging into the previous turn when the role repeats
// (the API merges consecutive same-role turns; tool results must lead their user turn).
void append_turn(json& msgs, const char* role, json blocks) {
  if (blocks.empty()) return;
  if (!msgs.empty() && msgs.back()["role"] == role) {
    json& prev = msgs.back()["content"];
    if (prev.is_string()) prev = json::array({{{"type", "text"}, {"text", prev.get<std::string>()}}});
    for (auto& b : blocks) prev.push_back(std::move(b));
    return;
  }
  msgs.push_back({{"role", role}, {"content", std::move(blocks)}});
}

}  // namespace

json build_request(const api::ChatRequest& req, const WireOptions& o) {
  std::string system = req.system;
  json msgs = json::array();
  for (const auto& m : req.messages) {
    switch (m.role) {
      case api::Role::system:
        system += (system.empty() ? "" : "\n\n") + m.text();
        break;
      case api::Role::user: {
        bool only_text = m.content.size() == 1 && m.content[0].kind == api::ContentPart::Kind::text;
        if (only_text && (msgs.empty() || msgs.back()["role"] != "user"))
          msgs.push_back({{"role", "user"}, {"content", m.content[0].text}});
        else
          append_turn(msgs, "user", text_blocks(m));
        break;
      }
      case api::Role::assistant: {
        json blocks = json::array();
        // Thinking blocks of this turn go back first, unchanged (signatures included).
        if (const json* pd = find(m.provider_data, "anthropic"))
          if (const json* th = find(*pd, "thinking_blocks"); th && th->is_array())
            for (const auto& b : *th) blocks.push_back(b);
        for (auto& b : text_blocks(m)) blocks.push_back(std::move(b));
        for (const auto& c : m.tool_calls)
          blocks.push_back({{"type", "tool_use"}, {"id", c.id}, {"name", c.name},
                            {"input", c.arguments.is_object() ? c.arguments : json::object()}});
        append_turn(msgs, "assistant", std::move(blocks));
        break;
      }
      case api::Role::tool: {
        json block = {{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.text()}};
        json blocks = json::array({std::move(block)});
        append_turn(msgs, "user", std::move(blocks));
        break;
      }
    }
  }
  json body = {{"model", req.model}, {"max_tokens", req.max_tokens.value_or(o.default_max_tokens)},
               {"messages", std::move(msgs)}};
  if (!system.empty()) body["system"] = system;
  if (!req.tools.empty()) {
    json tools = json::array();
    for (const auto& t : req.tools) {
      json tool = {{"name", t.name}};
      if (!t.description.empty()) tool["description"] = t.description;
      tool["input_schema"] = t.parameters;
      tools.push_back(std::move(tool));
    }
    body["tools"] = std::move(tools);
  }
  if (req.tool_choice.is_string()) {
    std::string c = req.tool_choice.get<std::string>();
    if (c == "auto") body["tool_choice"] = {{"type", "auto"}};
    else if (c == "required") body["tool_choice"] = {{"type", "any"}};
    else if (c == "none") body["tool_choice"] = {{"type", "none"}};
  } else if (req.tool_choice.is_object() && req.tool_choice.contains("name")) {
    body["tool_choice"] = {{"type", "tool"}, {"name", req.tool_choice["name"]}};
  }
  if (!req.response_schema.is_null())
    body["output_config"] = {{"format", {{"type", "json_schema"}, {"schema", req.response_schema}}}};
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (!req.stop.empty()) body["stop_sequences"] = req.stop;
  if (o.stream) body["stream"] = true;
  // The unified passthrough may say parallel_tool_calls: false (OpenAI's word); Anthropic says it
  // inside tool_choice.
  if (req.extra.is_object()) {
    for (auto it = req.extra.begin(); it != req.extra.end(); ++it) {
      if (it.key() != "parallel_tool_calls") {
        body[it.key()] = it.value();
      } else if (it.value() == false && !req.tools.empty()) {
        if (!body.contains("tool_choice")) body["tool_choice"] = {{"type", "auto"}};
        if (body["tool_choice"]["type"] != "none") body["tool_choice"]["disable_parallel_tool_use"] = true;
      }
    }
  }
  return body;
}

api::Usage usage_from_wire(const json& u) {
  api::Usage out;
  int64_t input = count(u, "input_tokens"), read = count(u, "cache_read_input_tokens"),
          write = count(u, "cache_creation_input_tokens");
  out.input_tokens = input + read + write;
  out.cached_input_tokens = read;
  out.cache_write_tokens = write;
  out.output_tokens = count(u, "output_tokens");
  if (const json* d = find(u, "output_tokens_details")) {
    out.reasoning_tokens = count(*d, "thinking_tokens");
    if (!out.reasoning_tokens) out.reasoning_tokens = count(*d, "reasoning_tokens");
  }
  return out;
}

FinishReason map_stop_reason(std::string_view s) noexcept {
  if (s == "max_tokens" || s == "model_context_window_exceeded") return FinishReason::length;
  if (s == "tool_use") return FinishReason::tool_calls;
  if (s == "refusal") return FinishReason::refusal;
  return FinishReason::stop;  // end_turn, stop_sequence, pause_turn
}

api::ProviderResult<ChatResult> decode_response(std::string_view body) {
  json j = http::wire::parse(body);
  if (j.is_discarded() || !j.is_object()) return malformed(http::wire::parse_problem(body, "body is not a JSON object"));
  if (str(j, "type") == "error") return error_from_object(200, j.value("error", json::object()));
  ChatResult r;
  r.provider = "anthropic";
  r.model = str(j, "model");
  json thinking = json::array();
  if (const json* content = find(j, "content"); content && content->is_array()) {
    for (const auto& b : *content) {
      std::string type = str(b, "type");
      if (type == "text") {
        r.text += str(b, "text");
      } else if (type == "tool_use") {
        api::ToolCall c;
        c.id = str(b, "id");
        c.name = str(b, "name");
        const json* in = find(b, "input");
        c.arguments = in ? *in : json::object();
        r.tool_calls.push_back(std::move(c));
      } else if (type == "thinking") {
        r.reasoning += str(b, "thinking");
        thinking.push_back({{"type", "thinking"}, {"thinking", str(b, "thinking")}, {"signature", str(b, "signature")}});
      } else if (type == "redacted_thinking") {
        thinking.push_back({{"type", "redacted_thinking"}, {"data", str(b, "data")}});
      }
    }
  } else {
    return malformed("no content array");
  }
  if (!thinking.empty()) r.provider_data = {{"anthropic", {{"thinking_blocks", thinking}}}};
  if (const json* u = find(j, "usage")) r.usage = usage_from_wire(*u);
  r.provider_finish_reason = str(j, "stop_reason");
  r.finish_reason = map_stop_reason(r.provider_finish_reason);
  api::normalize_finish(r);
  return r;
}

ProviderError error_from_object(int status, const json& err) {
  ProviderError e;
  e.provider = "anthropic";
  e.status = status;
  std::string type = str(err, "type");
  e.message = str(err, "message");
  if (e.message.empty()) e.message = "anthropic error" + (status ? " (HTTP " + std::to_string(status) + ")" : std::string());
  if (type == "invalid_request_error" || status == 400 || status == 413 || status == 422) {
    bool too_long = e.message.find("prompt is too long") != std::string::npos ||
                    e.message.find("context window") != std::string::npos ||
                    e.message.find("context length") != std::string::npos;
    e.kind = too_long ? ErrorKind::context_length : ErrorKind::invalid_request;
  } else if (type == "authentication_error" || status == 401) {
    e.kind = ErrorKind::auth;
  } else if (type == "billing_error" || type == "permission_error" || status == 402 || status == 403) {
    e.kind = ErrorKind::permission;
  } else if (type == "not_found_error" || status == 404) {
    e.kind = ErrorKind::not_found;
  } else if (type == "rate_limit_error" || status == 429) {
    e.kind = ErrorKind::rate_limit;
    e.retryable = true;
  } else if (type == "overloaded_error" || status == 529 || status == 503) {
    e.kind = ErrorKind::overloaded;
    e.retryable = true;
  } else if (type == "timeout_error" || status == 504 || status == 408) {
    e.kind = ErrorKind::timeout;
    e.retryable = true;
  } else {
    e.kind = ErrorKind::server;  // api_error, 5xx, anything unknown
    e.retryable = true;
  }
  return e;
}

ProviderError decode_error(int status, std::string_view body, const http::Headers& headers,
                           std::chrono::system_clock::time_point now) {
  json j = http::wire::parse(body);
  json err = json::object();
  if (!j.is_discarded() && j.is_object())
    if (const json* e = find(j, "error"); e && e->is_object()) err = *e;
  if (!err.contains("message")) {
    std::string snippet = http::wire::snippet(body);
    err["message"] = "HTTP " + std::to_string(status) + (snippet.empty() ? "" : ": " + snippet);
  }
  ProviderError e = error_from_object(status, err);
  bool hopeless = e.kind == ErrorKind::auth || e.kind == ErrorKind::permission ||
                  e.kind == ErrorKind::invalid_request || e.kind == ErrorKind::context_length ||
                  e.kind == ErrorKind::not_found;
  if (auto should = http::header_value(headers, "x-should-retry"); should == "false") e.retryable = false;
  else if (should == "true" && !hopeless) e.retryable = true;
  if (e.retryable) {
    e.retry_after_ms = http::retry_after_ms(headers, now);
    if (!e.retry_after_ms && e.kind == ErrorKind::rate_limit) {
      // No retry-after: the soonest rate-limit window reset (RFC 3339 timestamps) tells when.
      for (const char* h : {"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset",
                            "anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-output-tokens-reset"}) {
        if (auto d = http::rfc3339_delay_ms(http::header_value(headers, h), now))
          if (!e.retry_after_ms || *d < *e.retry_after_ms) e.retry_after_ms = *d;
      }
    }
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

void StreamDecoder::close_open_tools(const Emit& emit) {
  for (auto& [idx, b] : blocks_) {
    if (b.tool_index >= 0 && b.open) {
      b.open = false;
      StreamEvent ev;
      ev.type = StreamEvent::Type::tool_call_end;
      ev.index = b.tool_index;
      emit(ev);
    }
  }
}

void StreamDecoder::on_event(std::string_view name, std::string_view data, const Emit& emit) {
  if (done_ || error_) return;
  json j = http::wire::parse(data);
  if (j.is_discarded() || !j.is_object()) return fail(malformed(http::wire::parse_problem(data, "stream event is not JSON")), emit);
  std::string type = str(j, "type");
  if (type.empty()) type = std::string(name);
  if (type == "ping") return;
  if (type == "error") return fail(error_from_object(0, j.value("error", json::object())), emit);
  if (type == "message_start") {
    const json* m = find(j, "message");
    if (!m) return fail(malformed("message_start without message"), emit);
    model_ = str(*m, "model");
    if (const json* u = find(*m, "usage"); u && u->is_object()) start_usage_ = *u;
    return;
  }
  if (type == "message_stop") {
    done_ = true;
    return;
  }
  if (type == "message_delta") {
    if (const json* d = find(j, "delta")) {
      if (std::string sr = str(*d, "stop_reason"); !sr.empty()) stop_reason_ = sr;
    }
    close_open_tools(emit);
    json u = start_usage_;
    if (const json* du = find(j, "usage"); du && du->is_object())
      for (auto it = du->begin(); it != du->end(); ++it)
        if (!it->is_null()) u[it.key()] = it.value();  // final cumulative counts win
    StreamEvent ev;
    ev.type = StreamEvent::Type::usage;
    ev.usage = usage_from_wire(u);
    emit(ev);
    if (!stop_reason_.empty()) {
      StreamEvent f;
      f.type = StreamEvent::Type::finish;
      f.finish_reason = map_stop_reason(stop_reason_);
      emit(f);
    }
    return;
  }
  const json* idx_j = find(j, "index");
  if (!idx_j || !idx_j->is_number_integer()) return;  // unknown event shape: ignore, as the spec allows
  int64_t idx = idx_j->get<int64_t>();
  if (type == "content_block_start") {
    const json* cb = find(j, "content_block");
    if (!cb) return fail(malformed("content_block_start without content_block"), emit);
    Block b;
    b.type = str(*cb, "type");
    if (b.type == "tool_use" || b.type == "server_tool_use") {
      if (next_tool_ >= 1024) return fail(malformed("too many tool calls"), emit);
      b.tool_index = next_tool_++;
      StreamEvent ev;
      ev.type = StreamEvent::Type::tool_call_start;
      ev.index = b.tool_index;
      ev.id = str(*cb, "id");
      ev.name = str(*cb, "name");
      emit(ev);
    } else if (b.type == "text") {
      if (std::string t = str(*cb, "text"); !t.empty()) {
        StreamEvent ev;
        ev.type = StreamEvent::Type::text;
        ev.text = std::move(t);
        emit(ev);
      }
    } else if (b.type == "thinking") {
      b.wire = {{"type", "thinking"}, {"thinking", str(*cb, "thinking")}, {"signature", str(*cb, "signature")}};
    } else if (b.type == "redacted_thinking") {
      b.wire = {{"type", "redacted_thinking"}, {"data", str(*cb, "data")}};
    }
    blocks_[idx] = std::move(b);
    return;
  }
  auto it = blocks_.find(idx);
  if (it == blocks_.end()) return;  // a delta for a block never started: ignore
  Block& b = it->second;
  if (type == "content_block_delta") {
    const json* d = find(j, "delta");
    if (!d) return;
    std::string dt = str(*d, "type");
    StreamEvent ev;
    if (dt == "text_delta") {
      ev.type = StreamEvent::Type::text;
      ev.text = str(*d, "text");
      if (!ev.text.empty()) emit(ev);
    } else if (dt == "input_json_delta" && b.tool_index >= 0) {
      ev.type = StreamEvent::Type::tool_call_delta;
      ev.index = b.tool_index;
      ev.arguments = str(*d, "partial_json");
      // The assembler parses the joined fragments: refuse them nested too deep.
      b.args_depth.feed(ev.arguments);
      if (b.args_depth.too_deep()) return fail(malformed("tool input nests too deeply"), emit);
      if (!ev.arguments.empty()) emit(ev);  // an empty total is `{}` (the assembler's rule)
    } else if (dt == "thinking_delta") {
      ev.type = StreamEvent::Type::reasoning;
      ev.text = str(*d, "thinking");
      // Only a thinking block has these fields (a redacted_thinking block has none to extend).
      if (b.type == "thinking") b.wire["thinking"] = str(b.wire, "thinking") + ev.text;
      if (!ev.text.empty()) emit(ev);
    } else if (dt == "signature_delta") {
      if (b.type == "thinking") b.wire["signature"] = str(b.wire, "signature") + str(*d, "signature");
    }
    return;
  }
  if (type == "content_block_stop") {
    if (b.tool_index >= 0 && b.open) {
      StreamEvent ev;
      ev.type = StreamEvent::Type::tool_call_end;
      ev.index = b.tool_index;
      emit(ev);
    }
    b.open = false;
  }
}

ChatResult StreamDecoder::base() const {
  ChatResult r;
  r.provider = "anthropic";
  r.model = model_;
  r.provider_finish_reason = stop_reason_;
  json thinking = json::array();
  for (const auto& [idx, b] : blocks_)
    if (b.wire.is_object()) thinking.push_back(b.wire);
  if (!thinking.empty()) r.provider_data = {{"anthropic", {{"thinking_blocks", thinking}}}};
  return r;
}

}  // namespace fh::provider_anthropic
