#include "providers/gemini/codec.hpp"

#include <algorithm>
#include <cstdio>

#include "providers/http/wire_json.hpp"

namespace fh::provider_gemini {

using api::ChatResult;
using api::ErrorKind;
using api::FinishReason;
using api::ProviderError;
using api::StreamEvent;
using http::wire::count;
using http::wire::find;
using http::wire::num;
using http::wire::str;

namespace {

ProviderError malformed(std::string what) { return http::wire::malformed("gemini", std::move(what)); }

const json* gemini_data(const json& provider_data) { return find(provider_data, "gemini"); }

json user_part(const api::ContentPart& p) {
  if (p.kind == api::ContentPart::Kind::text) return {{"text", p.text}};
  if (!p.data_b64.empty()) return {{"inlineData", {{"mimeType", p.media_type}, {"data", p.data_b64}}}};
  if (std::string mt, data; http::wire::split_data_url(p.url, mt, data))
    return {{"inlineData", {{"mimeType", mt}, {"data", data}}}};
  json fd = {{"fileUri", p.url}};
  if (!p.media_type.empty()) fd["mimeType"] = p.media_type;
  return {{"fileData", std::move(fd)}};
}

// Appends parts as a turn, merging into the previous content when the role repeats (all
// functionResponse parts answering one model turn belong to one user content).
void append_turn(json& contents, const char* role, json parts) {
  if (parts.empty()) return;
  if (!contents.empty() && contents.back()["role"] == role) {
    for (auto& p : parts) contents.back()["parts"].push_back(std::move(p));
    return;
  }
  contents.push_back({{"role", role}, {"parts", std::move(parts)}});
}

json function_response(const std::string& text) {
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object()) return parsed;
  return {{"result", parsed.is_discarded() ? json(text) : parsed}};
}

// "$.a.b[2]" -> sets the value at that path inside `root` (an object); strings repeated at the
// same path are appended (streamed string arguments).
void set_path(json& root, std::string_view path, const json& value) {
  if (path.rfind("$", 0) == 0) path.remove_prefix(1);
  // Each '.' or '[' opens one level: a path deeper than any JSON a reply may hold is dropped whole.
  if (std::count_if(path.begin(), path.end(), [](char c) { return c == '.' || c == '['; }) > http::wire::kMaxDepth) return;
  json* at = &root;
  while (!path.empty()) {
    if (path.front() == '.') {
      path.remove_prefix(1);
      size_t n = path.find_first_of(".[");
      std::string key(path.substr(0, n));
      path.remove_prefix(n == std::string_view::npos ? path.size() : n);
      if (!at->is_object()) *at = json::object();
      at = &(*at)[key];
    } else if (path.front() == '[') {
      size_t close = path.find(']');
      if (close == std::string_view::npos) return;
      std::string idx(path.substr(1, close - 1));
      path.remove_prefix(close + 1);
      unsigned long i = std::strtoul(idx.c_str(), nullptr, 10);
      // Arguments stream in order: an index names an element or the one after the last, never a
      // gap (a hostile "[4096]" in every event would otherwise allocate 4096 nulls each time).
      if (!at->is_array()) *at = json::array();
      if (i > at->size()) return;
      if (i == at->size()) at->push_back(nullptr);
      at = &(*at)[i];
    } else {
      return;
    }
  }
  if (at->is_string() && value.is_string()) *at = at->get<std::string>() + value.get<std::string>();
  else *at = value;
}

json partial_value(const json& pa) {
  if (const json* v = find(pa, "numberValue")) return *v;
  if (const json* v = find(pa, "stringValue")) return *v;
  if (const json* v = find(pa, "boolValue")) return *v;
  if (const json* v = find(pa, "structValue")) return *v;
  if (const json* v = find(pa, "listValue")) return *v;
  return nullptr;
}

std::string hex12(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf, 12);
}

}  // namespace

bool requires_signatures(std::string_view model) noexcept {
  if (model.rfind("models/", 0) == 0) model.remove_prefix(7);
  if (model.rfind("gemini-", 0) != 0 || model.size() < 8) return false;
  char c = model[7];
  if (c < '0' || c > '9') return false;
  int major = 0;
  for (size_t i = 7; i < model.size() && model[i] >= '0' && model[i] <= '9'; ++i) major = major * 10 + (model[i] - '0');
  return major >= 3;
}

json build_request(const api::ChatRequest& req) {
  std::string system = req.system;
  json contents = json::array();
  std::vector<std::pair<std::string, std::string>> call_names;  // unified id -> name
  for (const auto& m : req.messages) {
    switch (m.role) {
      case api::Role::system:
        system += (system.empty() ? "" : "\n\n") + m.text();
        break;
      case api::Role::user: {
        json parts = json::array();
        for (const auto& p : m.content)
          if (p.kind != api::ContentPart::Kind::text || !p.text.empty()) parts.push_back(user_part(p));
        append_turn(contents, "user", std::move(parts));
        break;
      }
      case api::Role::assistant: {
        json parts = json::array();
        const json* md = gemini_data(m.provider_data);
        if (std::string text = m.text(); !text.empty()) {
          json part = {{"text", text}};
          if (md && !str(*md, "text_signature").empty()) part["thoughtSignature"] = str(*md, "text_signature");
          parts.push_back(std::move(part));
        }
        bool any_signature = false;
        for (const auto& c : m.tool_calls)
          if (const json* cd = gemini_data(c.provider_data); cd && !str(*cd, "thought_signature").empty())
            any_signature = true;
        bool first_call = true;
        for (const auto& c : m.tool_calls) {
          json fc = {{"name", c.name}, {"args", http::wire::arguments_object(c.arguments)}};
          const json* cd = gemini_data(c.provider_data);
          if (cd && !str(*cd, "id").empty()) fc["id"] = str(*cd, "id");
          json part = {{"functionCall", std::move(fc)}};
          if (cd && !str(*cd, "thought_signature").empty()) {
            part["thoughtSignature"] = str(*cd, "thought_signature");
          } else if (first_call && !any_signature && requires_signatures(req.model)) {
            // History from another provider: Gemini 3 wants a signature on the first call.
            part["thoughtSignature"] = std::string(kForeignSignature);
          }
          first_call = false;
          parts.push_back(std::move(part));
          call_names.emplace_back(c.id, c.name);
        }
        append_turn(contents, "model", std::move(parts));
        break;
      }
      case api::Role::tool: {
        std::string name = m.name;
        std::string wire_id;
        for (const auto& [id, n] : call_names)
          if (id == m.tool_call_id && name.empty()) name = n;
        for (const auto& prev : req.messages)
          for (const auto& c : prev.tool_calls)
            if (c.id == m.tool_call_id)
              if (const json* cd = gemini_data(c.provider_data)) wire_id = str(*cd, "id");
        json fr = {{"name", name}, {"response", function_response(m.text())}};
        if (!wire_id.empty()) fr["id"] = wire_id;
        append_turn(contents, "user", json::array({{{"functionResponse", std::move(fr)}}}));
        break;
      }
    }
  }
  json body = {{"contents", std::move(contents)}};
  if (!system.empty()) body["systemInstruction"] = {{"parts", json::array({{{"text", system}}})}};
  if (!req.tools.empty()) {
    json decls = json::array();
    for (const auto& t : req.tools) {
      json d = {{"name", t.name}};
      if (!t.description.empty()) d["description"] = t.description;
      d["parametersJsonSchema"] = t.parameters;  // ordinary JSON Schema (captured form)
      decls.push_back(std::move(d));
    }
    body["tools"] = json::array({{{"functionDeclarations", std::move(decls)}}});
  }
  if (req.tool_choice.is_string()) {
    std::string c = req.tool_choice.get<std::string>();
    std::string mode = c == "none" ? "NONE" : c == "required" || c == "any" ? "ANY" : "AUTO";
    body["toolConfig"] = {{"functionCallingConfig", {{"mode", mode}}}};
  } else if (req.tool_choice.is_object() && req.tool_choice.contains("name")) {
    body["toolConfig"] = {{"functionCallingConfig",
                           {{"mode", "ANY"}, {"allowedFunctionNames", json::array({req.tool_choice["name"]})}}}};
  }
  json gen = json::object();
  if (req.temperature) gen["temperature"] = *req.temperature;
  if (req.top_p) gen["topP"] = *req.top_p;
  if (req.max_tokens) gen["maxOutputTokens"] = *req.max_tokens;
  if (req.seed) gen["seed"] = *req.seed;
  if (!req.stop.empty()) gen["stopSequences"] = req.stop;
  if (!req.response_schema.is_null()) {
    gen["responseMimeType"] = "application/json";
    gen["responseJsonSchema"] = req.response_schema;
  }
  body["generationConfig"] = std::move(gen);
  // Passthrough: generationConfig keys merge; anything else (safetySettings, ...) is set as given.
  if (req.extra.is_object())
    for (auto it = req.extra.begin(); it != req.extra.end(); ++it) {
      if (it.key() == "generationConfig" && it.value().is_object()) body["generationConfig"].update(it.value());
      else body[it.key()] = it.value();
    }
  return body;
}

api::Usage usage_from_wire(const json& u) {
  api::Usage out;
  // promptTokenCount includes cached content; tool-use prompt tokens are input too.
  out.input_tokens = count(u, "promptTokenCount") + count(u, "toolUsePromptTokenCount");
  out.cached_input_tokens = count(u, "cachedContentTokenCount");
  out.reasoning_tokens = count(u, "thoughtsTokenCount");
  // candidatesTokenCount excludes thoughts; they are billed as output.
  out.output_tokens = count(u, "candidatesTokenCount") + out.reasoning_tokens;
  return out;
}

FinishReason map_finish(std::string_view w) noexcept {
  if (w == "STOP" || w.empty()) return FinishReason::stop;
  if (w == "MAX_TOKENS") return FinishReason::length;
  if (w == "SAFETY" || w == "RECITATION" || w == "LANGUAGE" || w == "BLOCKLIST" || w == "PROHIBITED_CONTENT" ||
      w == "SPII" || w == "IMAGE_SAFETY" || w == "IMAGE_PROHIBITED_CONTENT" || w == "IMAGE_RECITATION")
    return FinishReason::content_filter;
  // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, OTHER, NO_IMAGE,
  // IMAGE_OTHER, FINISH_REASON_UNSPECIFIED and words added later.
  return FinishReason::error;
}

ProviderError error_from_status(int status, const json& err) {
  ProviderError e;
  e.provider = "gemini";
  int code = static_cast<int>(num(err, "code"));
  e.status = status ? status : code;
  std::string st = str(err, "status");
  e.message = str(err, "message");
  if (e.message.empty()) e.message = "gemini error" + (e.status ? " (HTTP " + std::to_string(e.status) + ")" : std::string());
  std::string reason;
  std::optional<int64_t> retry_delay;
  if (const json* details = find(err, "details"); details && details->is_array()) {
    for (const auto& d : *details) {
      std::string type = str(d, "@type");
      if (type.find("google.rpc.RetryInfo") != std::string::npos)
        retry_delay = http::parse_go_duration_ms(str(d, "retryDelay"));
      if (type.find("google.rpc.ErrorInfo") != std::string::npos) reason = str(d, "reason");
    }
  }
  int s = e.status;
  if (reason == "API_KEY_INVALID" || st == "UNAUTHENTICATED" || s == 401) {
    e.kind = ErrorKind::auth;
  } else if (st == "PERMISSION_DENIED" || s == 403) {
    e.kind = ErrorKind::permission;
  } else if (st == "NOT_FOUND" || s == 404) {
    e.kind = ErrorKind::not_found;
  } else if (st == "RESOURCE_EXHAUSTED" || s == 429) {
    e.kind = ErrorKind::rate_limit;
    // A daily or billing quota does not come back in seconds: only a RetryInfo makes it retryable.
    e.retryable = retry_delay.has_value() || e.message.find("per minute") != std::string::npos;
  } else if (st == "UNAVAILABLE" || s == 503) {
    e.kind = ErrorKind::overloaded;
    e.retryable = true;
  } else if (st == "DEADLINE_EXCEEDED" || s == 504) {
    e.kind = ErrorKind::timeout;
    e.retryable = true;
  } else if (st == "INTERNAL" || s >= 500 || (s == 0 && st.empty())) {
    e.kind = ErrorKind::server;
    e.retryable = true;
  } else if (e.message.find("exceeds the maximum number of tokens") != std::string::npos ||
             e.message.find("input token count") != std::string::npos) {
    e.kind = ErrorKind::context_length;
  } else {
    e.kind = ErrorKind::invalid_request;  // INVALID_ARGUMENT, FAILED_PRECONDITION, ...
  }
  if (e.retryable && retry_delay) e.retry_after_ms = *retry_delay;
  return e;
}

ProviderError decode_error(int status, std::string_view body, const http::Headers& headers,
                           std::chrono::system_clock::time_point now) {
  json j = http::wire::parse(body);
  if (!j.is_discarded() && j.is_array() && !j.empty()) j = j[0];  // [{"error": {...}}] front ends
  json err = json::object();
  if (!j.is_discarded())
    if (const json* e = find(j, "error"); e && e->is_object()) err = *e;
  if (!err.contains("message")) {
    std::string snippet = http::wire::snippet(body);
    err["message"] = "HTTP " + std::to_string(status) + (snippet.empty() ? "" : ": " + snippet);
  }
  ProviderError e = error_from_status(status, err);
  if (e.retryable && !e.retry_after_ms)
    if (auto ra = http::retry_after_ms(headers, now)) e.retry_after_ms = *ra;
  return e;
}

void StreamDecoder::fail(ProviderError e, const Emit& emit) {
  error_ = e;
  StreamEvent ev;
  ev.type = StreamEvent::Type::error;
  ev.error = std::move(e);
  emit(ev);
}

void StreamDecoder::close_partial(const Emit& emit) {
  for (auto& c : calls_) {
    if (!c.partial) continue;
    c.partial = false;
    StreamEvent d;
    d.type = StreamEvent::Type::tool_call_delta;
    d.index = c.index;
    d.arguments = c.args.dump();
    emit(d);
    StreamEvent end;
    end.type = StreamEvent::Type::tool_call_end;
    end.index = c.index;
    emit(end);
  }
}

void StreamDecoder::on_data(std::string_view data, const Emit& emit) {
  if (done_ || error_) return;
  json j = http::wire::parse(data);
  if (!j.is_discarded() && j.is_array() && j.size() == 1) j = j[0];
  if (j.is_discarded() || !j.is_object()) return fail(malformed(http::wire::parse_problem(data, "stream chunk is not a JSON object")), emit);
  if (const json* err = find(j, "error")) return fail(error_from_status(0, *err), emit);
  if (std::string m = str(j, "modelVersion"); !m.empty()) model_ = m;
  if (std::string id = str(j, "responseId"); !id.empty()) response_id_ = id;
  const json* cands = find(j, "candidates");
  const json* c0 = cands && cands->is_array() && !cands->empty() ? &(*cands)[0] : nullptr;
  if (c0 && c0->is_object()) {
    const json* content = find(*c0, "content");
    const json* parts = content ? find(*content, "parts") : nullptr;
    if (parts && parts->is_array()) {
      for (const auto& p : *parts) {
        if (!p.is_object()) continue;
        std::string sig = str(p, "thoughtSignature");
        if (const json* fc = find(p, "functionCall"); fc && fc->is_object()) {
          std::string name = str(*fc, "name");
          const json* pa = find(*fc, "partialArgs");
          if (name.empty() && !calls_.empty() && calls_.back().partial) {
            // Continuation of a call whose arguments stream in pieces.
            if (pa && pa->is_array())
              for (const auto& a : *pa) set_path(calls_.back().args, str(a, "jsonPath"), partial_value(a));
            if (!sig.empty()) calls_.back().data["thought_signature"] = sig;
            continue;
          }
          close_partial(emit);
          if (calls_.size() >= 1024) return fail(malformed("too many function calls"), emit);
          Call call;
          call.index = static_cast<int>(calls_.size());
          std::string wire_id = str(*fc, "id");
          call.data = json::object();
          if (!wire_id.empty()) call.data["id"] = wire_id;
          if (!sig.empty()) call.data["thought_signature"] = sig;
          StreamEvent s;
          s.type = StreamEvent::Type::tool_call_start;
          s.index = call.index;
          s.id = !wire_id.empty() ? wire_id
                                  : "call_" + hex12(http::wire::fnv1a(response_id_ + "/" + std::to_string(call.index) +
                                                                      "/" + name));
          s.name = name;
          emit(s);
          if (pa && pa->is_array()) {
            call.partial = true;
            call.args = json::object();
            for (const auto& a : *pa) set_path(call.args, str(a, "jsonPath"), partial_value(a));
            calls_.push_back(std::move(call));
            continue;
          }
          const json* args = find(*fc, "args");
          StreamEvent d;
          d.type = StreamEvent::Type::tool_call_delta;
          d.index = call.index;
          d.arguments = args && args->is_object() ? args->dump() : "{}";
          emit(d);
          StreamEvent end;
          end.type = StreamEvent::Type::tool_call_end;
          end.index = call.index;
          emit(end);
          calls_.push_back(std::move(call));
          continue;
        }
        if (const json* t = find(p, "text"); t && t->is_string()) {
          bool thought = find(p, "thought") && p["thought"].is_boolean() && p["thought"].get<bool>();
          if (!sig.empty() && !thought) text_signature_ = sig;
          std::string text = t->get<std::string>();
          if (text.empty()) continue;
          StreamEvent ev;
          ev.type = thought ? StreamEvent::Type::reasoning : StreamEvent::Type::text;
          ev.text = std::move(text);
          emit(ev);
        } else if (!sig.empty()) {
          text_signature_ = sig;  // a signature-only part
        }
      }
    }
  }
  if (const json* u = find(j, "usageMetadata"); u && u->is_object()) {
    StreamEvent ev;
    ev.type = StreamEvent::Type::usage;
    ev.usage = usage_from_wire(*u);
    emit(ev);
  }
  std::string fr = c0 ? str(*c0, "finishReason") : std::string{};
  std::string blocked;
  if (const json* pf = find(j, "promptFeedback")) blocked = str(*pf, "blockReason");
  if (!fr.empty() || (!blocked.empty() && !c0)) {
    close_partial(emit);
    provider_finish_ = !fr.empty() ? fr : blocked;
    StreamEvent f;
    f.type = StreamEvent::Type::finish;
    f.finish_reason = !fr.empty() ? map_finish(fr) : FinishReason::content_filter;
    emit(f);
    done_ = true;
  }
}

ChatResult StreamDecoder::base() const {
  ChatResult r;
  r.provider = "gemini";
  r.model = model_;
  r.provider_finish_reason = provider_finish_;
  if (!text_signature_.empty()) r.provider_data = {{"gemini", {{"text_signature", text_signature_}}}};
  return r;
}

void StreamDecoder::finish(ChatResult& r) const {
  for (const auto& c : calls_) {
    auto i = static_cast<size_t>(c.index);
    if (i < r.tool_calls.size() && c.data.is_object() && !c.data.empty())
      r.tool_calls[i].provider_data = {{"gemini", c.data}};
  }
}

api::ProviderResult<ChatResult> decode_response(std::string_view body) {
  // A whole response has the shape of one streamed chunk: decode it the same way.
  StreamDecoder dec;
  api::StreamAssembler as;
  std::optional<ProviderError> err;
  dec.on_data(body, [&](const StreamEvent& e) {
    if (e.type == StreamEvent::Type::error) err = e.error;
    else as.add(e);
  });
  if (err) return *err;
  if (!dec.done()) return malformed("response without finishReason");
  ChatResult r = as.finish(dec.base());
  dec.finish(r);
  return r;
}

}  // namespace fh::provider_gemini
