// Tool-call conventions of local models -> unified stream events (see tool_calls.hpp).
#include "providers/local/chat/tool_calls.hpp"

#include <cctype>

namespace fh::local {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kHermes = "<tool_call>";
constexpr std::string_view kHermesEnd = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistral = "[TOOL_CALLS]";
constexpr std::string_view kGranite = "<|tool_call|>";
constexpr std::string_view kFunctionary = ">>>";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

size_t skip_ws(std::string_view s, size_t p) {
  while (p < s.size() && is_ws(s[p])) ++p;
  return p;
}

// Length of the longest suffix of `s` that is a proper prefix of `marker`.
size_t partial_suffix(std::string_view s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

// Finds the end of the JSON object or array starting at s[p]: the index past it, npos when the
// text stops before it closes; `bad` when s[p] does not start one or nesting is absurd.
size_t scan_json(std::string_view s, size_t p, bool& bad) {
  bad = false;
  if (p >= s.size()) return std::string_view::npos;
  if (s[p] != '{' && s[p] != '[') {
    bad = true;
    return std::string_view::npos;
  }
  int depth = 0;
  bool in_str = false;
  for (size_t k = p; k < s.size(); ++k) {
    char c = s[k];
    if (in_str) {
      if (c == '\\') ++k;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') {
      if (++depth > 256) {
        bad = true;
        return std::string_view::npos;
      }
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return k + 1;
    }
  }
  return std::string_view::npos;
}

// {"name": N, "arguments"|"parameters": {...} or a JSON string of one}; false when not a call.
bool call_from_json(const json& j, std::string& name, json& args, std::string* id) {
  if (!j.is_object()) return false;
  const json* obj = &j;
  if (auto f = j.find("function"); f != j.end() && f->is_object()) obj = &*f;  // {"type":"function","function":{...}}
  auto n = obj->find("name");
  if (n == obj->end() || !n->is_string() || n->get<std::string>().empty()) return false;
  name = n->get<std::string>();
  args = json::object();
  for (const char* key : {"arguments", "parameters"}) {
    auto a = obj->find(key);
    if (a == obj->end()) continue;
    if (a->is_string()) {
      json parsed = json::parse(a->get<std::string>(), nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object()) return false;
      args = std::move(parsed);
    } else if (a->is_object()) {
      args = *a;
    } else {
      return false;
    }
    break;
  }
  if (id) {
    auto i = j.find("id");
    *id = i != j.end() && i->is_string() ? i->get<std::string>() : "";
  }
  return true;
}

}  // namespace

std::string_view tool_call_style_name(ToolCallStyle s) noexcept {
  switch (s) {
    case ToolCallStyle::none: return "none";
    case ToolCallStyle::hermes: return "hermes";
    case ToolCallStyle::llama3_json: return "llama3_json";
    case ToolCallStyle::mistral: return "mistral";
    case ToolCallStyle::functionary: return "functionary";
    case ToolCallStyle::granite: return "granite";
  }
  return "none";
}

ToolCallStyle detect_tool_call_style(std::string_view t) {
  auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has(kMistral)) return ToolCallStyle::mistral;
  if (has(kGranite)) return ToolCallStyle::granite;
  if (has(kHermes)) return ToolCallStyle::hermes;
  if (has(">>>") && (has("recipient") || has(">>>all"))) return ToolCallStyle::functionary;
  if (has(kPythonTag) || (has("\"parameters\"") && has("<|start_header_id|>"))) return ToolCallStyle::llama3_json;
  return ToolCallStyle::none;
}

bool prompt_opens_reasoning(std::string_view prompt) {
  size_t open = prompt.rfind(kThinkOpen);
  if (open == std::string_view::npos) return false;
  if (prompt.find(kThinkClose, open) != std::string_view::npos) return false;
  for (size_t k = open + kThinkOpen.size(); k < prompt.size(); ++k)
    if (!is_ws(prompt[k])) return false;
  return true;
}

std::string synthesize_tool_call_id(size_t index, std::string_view name, std::string_view arguments) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  mix(std::to_string(index));
  mix(name);
  mix(arguments);
  static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string id;
  for (int k = 0; k < 9; ++k) {
    id += digits[h % 62];
    h /= 62;
    if (k == 4) h ^= h >> 17 ^ 0x9e3779b97f4a7c15ull;
  }
  return id;
}

ToolCallStream::ToolCallStream(ToolCallStyle style, ToolCallStreamOptions opts) : style_(style), opts_(opts) {
  if (opts_.parse_reasoning && opts_.starts_in_reasoning) mode_ = Mode::reasoning;
  else if (style_ == ToolCallStyle::functionary) mode_ = Mode::recipient;
}

std::vector<api::StreamEvent> ToolCallStream::push(std::string_view delta) {
  std::vector<api::StreamEvent> out;
  if (finished_) return out;
  buf_.append(delta);
  process(false, out);
  return out;
}

std::vector<api::StreamEvent> ToolCallStream::finish() {
  std::vector<api::StreamEvent> out;
  if (finished_) return out;
  process(true, out);
  finished_ = true;
  return out;
}

void ToolCallStream::emit_text(std::string_view s, std::vector<api::StreamEvent>& out) {
  if (strip_ws_) {
    size_t p = skip_ws(s, 0);
    s.remove_prefix(p);
    if (s.empty()) return;
    strip_ws_ = false;
  }
  if (s.empty()) return;
  if (!out.empty() && out.back().type == api::StreamEvent::Type::text) {
    out.back().text.append(s);
    return;
  }
  api::StreamEvent e;
  e.type = api::StreamEvent::Type::text;
  e.text = std::string(s);
  out.push_back(std::move(e));
}

void ToolCallStream::emit_reasoning(std::string_view s, std::vector<api::StreamEvent>& out) {
  if (!reasoning_started_) {
    s.remove_prefix(skip_ws(s, 0));
    if (s.empty()) return;
    reasoning_started_ = true;
  }
  if (!out.empty() && out.back().type == api::StreamEvent::Type::reasoning) {
    out.back().text.append(s);
    return;
  }
  api::StreamEvent e;
  e.type = api::StreamEvent::Type::reasoning;
  e.text = std::string(s);
  out.push_back(std::move(e));
}

void ToolCallStream::emit_call(Call c, std::vector<api::StreamEvent>& out) {
  std::string args = c.arguments.dump();
  int index = calls_++;
  if (c.id.empty()) c.id = synthesize_tool_call_id(size_t(index), c.name, args);
  api::StreamEvent start;
  start.type = api::StreamEvent::Type::tool_call_start;
  start.index = index;
  start.id = c.id;
  start.name = c.name;
  out.push_back(std::move(start));
  api::StreamEvent delta;
  delta.type = api::StreamEvent::Type::tool_call_delta;
  delta.index = index;
  delta.arguments = std::move(args);
  out.push_back(std::move(delta));
  api::StreamEvent end;
  end.type = api::StreamEvent::Type::tool_call_end;
  end.index = index;
  out.push_back(std::move(end));
  strip_ws_ = true;
}

void ToolCallStream::process(bool final, std::vector<api::StreamEvent>& out) {
  // Each step consumes from buf_ and returns true when it changed mode and another step may run.
  for (int guard = 0; guard < 1000000; ++guard) {
    bool again = false;
    switch (mode_) {
      case Mode::text: again = step_text(final, out); break;
      case Mode::reasoning: again = step_reasoning(final, out); break;
      case Mode::call: again = step_call(final, out); break;
      case Mode::recipient: again = step_recipient(final, out); break;
    }
    if (!again) return;
  }
}

bool ToolCallStream::step_reasoning(bool final, std::vector<api::StreamEvent>& out) {
  size_t close = buf_.find(kThinkClose);
  if (close != std::string::npos) {
    std::string_view body(buf_.data(), close);
    while (!body.empty() && is_ws(body.back())) body.remove_suffix(1);
    emit_reasoning(body, out);
    buf_.erase(0, close + kThinkClose.size());
    mode_ = Mode::text;
    strip_ws_ = true;
    return true;
  }
  std::string_view all(buf_);
  if (final) {
    while (!all.empty() && is_ws(all.back())) all.remove_suffix(1);
    emit_reasoning(all, out);
    buf_.clear();
    return false;
  }
  // Hold back a possible "</think>" prefix and the whitespace before it.
  size_t keep = partial_suffix(all, kThinkClose);
  size_t end = all.size() - keep;
  while (end > 0 && is_ws(all[end - 1])) --end;
  emit_reasoning(all.substr(0, end), out);
  buf_.erase(0, end);
  return false;
}

bool ToolCallStream::step_text(bool final, std::vector<api::StreamEvent>& out) {
  std::vector<std::string_view> markers;
  if (opts_.parse_reasoning) markers.push_back(kThinkOpen);
  switch (style_) {
    case ToolCallStyle::hermes: markers.push_back(kHermes); break;
    case ToolCallStyle::mistral: markers.push_back(kMistral); break;
    case ToolCallStyle::granite: markers.push_back(kGranite); break;
    case ToolCallStyle::functionary: markers.push_back(kFunctionary); break;
    case ToolCallStyle::llama3_json: markers.push_back(kPythonTag); break;
    case ToolCallStyle::none: break;
  }
  if (style_ == ToolCallStyle::llama3_json && strip_ws_) {
    // A Llama 3 call is the whole reply: it starts with '{' (separators ';' between calls).
    size_t p = 0;
    while (p < buf_.size() && (is_ws(buf_[p]) || (calls_ > 0 && buf_[p] == ';'))) ++p;
    if (p < buf_.size() && buf_[p] == '{') {
      buf_.erase(0, p);
      mode_ = Mode::call;
      return true;
    }
    if (p == buf_.size() && !final) return false;  // only whitespace so far: undecided
  }
  size_t best = std::string::npos;
  std::string_view which;
  for (auto m : markers) {
    size_t at = buf_.find(m);
    if (at < best) {
      best = at;
      which = m;
    }
  }
  if (best != std::string::npos) {
    emit_text(std::string_view(buf_).substr(0, best), out);
    buf_.erase(0, best);
    if (which == kThinkOpen) {
      buf_.erase(0, kThinkOpen.size());
      mode_ = Mode::reasoning;
    } else if (which == kFunctionary) {
      buf_.erase(0, kFunctionary.size());
      mode_ = Mode::recipient;
    } else {
      mode_ = Mode::call;
    }
    return true;
  }
  size_t keep = 0;
  if (!final)
    for (auto m : markers) keep = std::max(keep, partial_suffix(buf_, m));
  emit_text(std::string_view(buf_).substr(0, buf_.size() - keep), out);
  buf_.erase(0, buf_.size() - keep);
  return false;
}

bool ToolCallStream::step_recipient(bool final, std::vector<api::StreamEvent>& out) {
  size_t nl = buf_.find('\n');
  size_t n = nl == std::string::npos ? buf_.size() : nl;
  bool valid = n > 0 && n <= 128;
  for (size_t k = 0; k < n && valid; ++k) valid = is_name_char(buf_[k]);
  if (nl == std::string::npos && !final && (n == 0 || valid)) return false;  // wait for the line end
  if (!valid || nl == std::string::npos) {
    // Not a recipient line: plain text (with its ">>>" unless this is the reply's start).
    if (calls_ > 0 || !strip_ws_) emit_text(kFunctionary, out);
    mode_ = Mode::text;
    return true;
  }
  std::string name = buf_.substr(0, nl);
  buf_.erase(0, nl + 1);
  if (name == "all") {
    mode_ = Mode::text;
  } else {
    call_name_ = std::move(name);
    mode_ = Mode::call;
  }
  return true;
}

ToolCallStream::Scan ToolCallStream::scan_call(bool final, size_t& consumed, std::vector<Call>& calls) {
  std::string_view s(buf_);
  bool bad = false;
  auto parse_calls = [&](std::string_view text, bool allow_array) -> bool {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return false;
    std::vector<json> items;
    if (j.is_array() && allow_array) items.assign(j.begin(), j.end());
    else items.push_back(j);
    if (items.empty()) return false;
    for (auto& item : items) {
      Call c;
      if (!call_from_json(item, c.name, c.arguments, &c.id)) return false;
      calls.push_back(std::move(c));
    }
    return true;
  };
  switch (style_) {
    case ToolCallStyle::hermes: {
      size_t end = s.find(kHermesEnd, kHermes.size());
      std::string_view body = s.substr(kHermes.size(), end == std::string_view::npos ? std::string_view::npos : end - kHermes.size());
      // A body that cannot be a JSON object leaves only the marker as text; otherwise the call
      // is undecided until the closing tag (or the end of the output).
      size_t p = skip_ws(body, 0);
      if (p < body.size() && body[p] != '{') {
        consumed = kHermes.size();
        return Scan::invalid;
      }
      if (end == std::string_view::npos && !final) return Scan::incomplete;
      consumed = end == std::string_view::npos ? s.size() : end + kHermesEnd.size();
      return parse_calls(body, true) ? Scan::complete : Scan::invalid;
    }
    case ToolCallStyle::granite:
    case ToolCallStyle::llama3_json: {
      size_t p = 0;
      if (s.substr(0, kGranite.size()) == kGranite) p = kGranite.size();
      else if (s.substr(0, kPythonTag.size()) == kPythonTag) p = kPythonTag.size();
      p = skip_ws(s, p);
      if (p >= s.size() && !final) return Scan::incomplete;
      size_t end = scan_json(s, p, bad);
      if (bad || (end == std::string_view::npos && final)) {
        consumed = bad ? std::max<size_t>(p, 1) : s.size();
        return Scan::invalid;
      }
      if (end == std::string_view::npos) return Scan::incomplete;
      consumed = end;
      return parse_calls(s.substr(p, end - p), style_ == ToolCallStyle::granite) ? Scan::complete : Scan::invalid;
    }
    case ToolCallStyle::mistral: {
      size_t p = skip_ws(s, kMistral.size());
      if (p >= s.size()) {
        consumed = s.size();
        return final ? Scan::invalid : Scan::incomplete;
      }
      if (s[p] == '[' || s[p] == '{') {
        size_t end = scan_json(s, p, bad);
        if (bad || (end == std::string_view::npos && final)) {
          consumed = bad ? kMistral.size() : s.size();
          return Scan::invalid;
        }
        if (end == std::string_view::npos) return Scan::incomplete;
        consumed = end;
        return parse_calls(s.substr(p, end - p), true) ? Scan::complete : Scan::invalid;
      }
      // name[ARGS]{...} or name[CALL_ID]id[ARGS]{...}
      size_t q = p;
      while (q < s.size() && is_name_char(s[q])) ++q;
      Call c;
      c.name = std::string(s.substr(p, q - p));
      auto expect = [&](std::string_view tag) -> int {  // 1 matched, 0 incomplete, -1 mismatch
        size_t n = std::min(tag.size(), s.size() - q);
        if (s.substr(q, n) != tag.substr(0, n)) return -1;
        if (n < tag.size()) return 0;
        q += tag.size();
        return 1;
      };
      if (q >= s.size()) {
        consumed = s.size();
        return final ? Scan::invalid : Scan::incomplete;
      }
      if (c.name.empty()) {
        consumed = kMistral.size();
        return Scan::invalid;
      }
      int m = expect("[CALL_ID]");
      if (m == 1) {
        size_t id0 = q;
        while (q < s.size() && is_name_char(s[q])) ++q;
        c.id = std::string(s.substr(id0, q - id0));
        if (q >= s.size()) {
          consumed = s.size();
          return final ? Scan::invalid : Scan::incomplete;
        }
      } else if (m == 0) {  // the text ends inside "[CALL_ID]" (or "[ARGS]": same first byte)
        consumed = s.size();
        return final ? Scan::invalid : Scan::incomplete;
      }
      m = expect("[ARGS]");
      if (m != 1) {
        consumed = m == 0 ? s.size() : q;
        return m == 0 && !final ? Scan::incomplete : Scan::invalid;
      }
      q = skip_ws(s, q);
      size_t end = scan_json(s, q, bad);
      if (bad || (end == std::string_view::npos && final)) {
        consumed = bad ? q : s.size();
        return Scan::invalid;
      }
      if (end == std::string_view::npos) return Scan::incomplete;
      consumed = end;
      json args = json::parse(s.substr(q, end - q), nullptr, false);
      if (args.is_discarded() || !args.is_object()) return Scan::invalid;
      c.arguments = std::move(args);
      calls.push_back(std::move(c));
      return Scan::complete;
    }
    case ToolCallStyle::functionary: {
      size_t p = skip_ws(s, 0);
      if (p >= s.size() && !final) return Scan::incomplete;
      if (p < s.size() && s[p] == '{') {
        size_t end = scan_json(s, p, bad);
        if (end == std::string_view::npos && !bad && !final) return Scan::incomplete;
        if (!bad && end != std::string_view::npos) {
          json args = json::parse(s.substr(p, end - p), nullptr, false);
          if (!args.is_discarded() && args.is_object()) {
            consumed = end;
            calls.push_back(Call{"", call_name_, std::move(args)});
            return Scan::complete;
          }
        }
      }
      // Not JSON: Functionary's python tool takes raw code up to the next ">>>" or the end.
      size_t next = s.find(kFunctionary);
      if (next == std::string_view::npos && !final) return Scan::incomplete;
      consumed = next == std::string_view::npos ? s.size() : next;
      if (call_name_ == "python") {
        calls.push_back(Call{"", call_name_, json{{"code", std::string(s.substr(0, consumed))}}});
        return Scan::complete;
      }
      return Scan::invalid;
    }
    case ToolCallStyle::none: break;
  }
  consumed = s.size();
  return Scan::invalid;
}

bool ToolCallStream::step_call(bool final, std::vector<api::StreamEvent>& out) {
  size_t consumed = 0;
  std::vector<Call> calls;
  Scan r = scan_call(final, consumed, calls);
  if (r == Scan::incomplete) {
    if (!final) return false;
    r = Scan::invalid;
    consumed = buf_.size();
  }
  consumed = std::min(std::max<size_t>(consumed, 1), buf_.size());
  if (r == Scan::complete) {
    for (auto& c : calls) emit_call(std::move(c), out);
  } else {
    // Malformed: the text stays text, verbatim (functionary: with its ">>>name\n" header).
    std::string raw = style_ == ToolCallStyle::functionary ? std::string(kFunctionary) + call_name_ + "\n" : "";
    raw.append(buf_, 0, consumed);
    bool saved = strip_ws_;
    strip_ws_ = false;
    emit_text(raw, out);
    strip_ws_ = saved && raw.empty();
  }
  buf_.erase(0, consumed);
  mode_ = Mode::text;
  return !buf_.empty() || final;
}

ParsedOutput parse_model_output(std::string_view output, ToolCallStyle style, ToolCallStreamOptions opts) {
  ToolCallStream s(style, opts);
  auto events = s.push(output);
  auto tail = s.finish();
  events.insert(events.end(), tail.begin(), tail.end());
  ParsedOutput r;
  for (auto& e : events) {
    switch (e.type) {
      case api::StreamEvent::Type::text: r.text += e.text; break;
      case api::StreamEvent::Type::reasoning: r.reasoning += e.text; break;
      case api::StreamEvent::Type::tool_call_start: r.tool_calls.push_back(api::ToolCall{e.id, e.name, json::object(), nullptr}); break;
      case api::StreamEvent::Type::tool_call_delta:
        if (!r.tool_calls.empty()) r.tool_calls.back().arguments = json::parse(e.arguments, nullptr, false);
        break;
      default: break;
    }
  }
  return r;
}

}  // namespace fh::local
