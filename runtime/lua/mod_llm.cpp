// llm.chat / llm.stream — one model call through the provider registry.
// Arguments are validated and copied out of Lua before yielding; provider failures come back as
// `nil, err`; misuse (unknown field, bad type, unknown provider) raises at the plan's line.
#include <deque>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "runtime/api/provider.hpp"
#include "runtime/api/tool.hpp"
#include "runtime/exec/event.hpp"
#include "runtime/lua/convert.hpp"
#include "runtime/lua/vm.hpp"

namespace asio = boost::asio;

namespace fh::lua {

namespace {
struct Call {
  api::ResolvedModel target;
  std::string model_string;
  api::ChatRequest req;
};

[[noreturn]] void raise(lua_State* L, const std::string& where, const std::string& msg) {
  luaL_error(L, "%s: %s", where.c_str(), msg.c_str());
  std::abort();  // not reached: luaL_error throws
}

// A C++ value owned by a Lua userdata: destroyed by __gc; the metatable is locked from plans.
template <class T>
int l_box_gc(lua_State* L) {
  static_cast<T*>(lua_touserdata(L, 1))->~T();
  return 0;
}
template <class T>
T* push_box(lua_State* L, const char* metatable, T value) {
  auto* box = new (lua_newuserdatauv(L, sizeof(T), 0)) T(std::move(value));
  if (luaL_newmetatable(L, metatable)) {
    lua_pushcfunction(L, l_box_gc<T>);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  return box;
}

// A plan-defined tool's spec, converted once (at its first use by a model call) and kept in the
// tool's entry: a plan names the same tools on every step of an agent loop.
struct SpecBox { api::ToolSpec spec; };

// Looks up a tool spec by name: plan-defined tools first (tool.define), then the host's.
std::optional<api::ToolSpec> find_tool(lua_State* L, const std::string& name) {
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.tools");
  if (lua_istable(L, -1)) {
    lua_pushlstring(L, name.data(), name.size());
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      int entry = lua_gettop(L);
      lua_pushliteral(L, "compiled");
      if (lua_rawget(L, entry) == LUA_TUSERDATA) {
        api::ToolSpec spec = static_cast<SpecBox*>(lua_touserdata(L, -1))->spec;
        lua_pop(L, 3);
        return spec;
      }
      lua_pop(L, 1);
      lua_pushliteral(L, "spec");
      lua_rawget(L, entry);
      auto j = to_json(L, -1);
      lua_pop(L, 1);
      std::optional<api::ToolSpec> out;
      if (j) {
        if (auto spec = api::tool_spec_from_json(*j)) out = std::move(spec.value());
      }
      if (out) {
        push_box(L, "fh.toolspec", SpecBox{*out});
        lua_pushliteral(L, "compiled");
        lua_insert(L, -2);
        lua_rawset(L, entry);
      }
      lua_pop(L, 2);
      return out;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (auto* host = Engine::of(L).services().tools) {
    auto spec = host->spec(name);
    if (spec) return spec.value();
  }
  return std::nullopt;
}

// ---- Reading a call's table straight into a ChatRequest ----
// An agent passes its whole history on every call, so this runs once per message per step. It
// reads the Lua tables directly (raw access, no metamethods) instead of going Lua -> JSON ->
// Message; the rules are message_from_json's, and the rare shapes (content parts, provider_data)
// still go through it.
struct CallReader {
  lua_State* L;
  const char* where;
  std::optional<std::string> prompt;  // appended after `messages`, whatever the table order

  [[noreturn]] void fail(const std::string& msg) { raise(L, where, msg); }

  json value(int idx, const char* field) {
    auto j = to_json(L, idx);
    if (!j) fail(std::string(field) + ": " + j.error().message);
    return std::move(j.value());
  }
  // The string at `idx`, or "" for anything else (message_from_json's str_field rule).
  static std::string str(lua_State* L, int idx) {
    if (lua_type(L, idx) != LUA_TSTRING) return {};
    size_t n = 0;
    const char* s = lua_tolstring(L, idx, &n);
    return {s, n};
  }
  std::string str_at(int t, const char* key) {
    lua_pushstring(L, key);
    lua_rawget(L, t);
    std::string s = str(L, -1);
    lua_pop(L, 1);
    return s;
  }
  bool is_null(int idx) {
    int t = lua_type(L, idx);
    return t == LUA_TNIL || (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == json_null_sentinel());
  }
  // A table whose keys are exactly 1..n; returns n (0 for an empty table), or -1.
  lua_Integer sequence_length(int idx) {
    auto n = static_cast<lua_Integer>(lua_rawlen(L, idx));
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      ++count;
      bool in_range = lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= n;
      lua_pop(L, 1);
      if (!in_range) { lua_pop(L, 1); return -1; }
    }
    return count == n ? n : -1;
  }

  api::ToolCall tool_call(int t, size_t i) {
    auto ctx = [i] { return "messages[" + std::to_string(i) + "]: "; };
    if (!lua_istable(L, t)) fail(ctx() + "a tool call must be an object");
    api::ToolCall c;
    c.id = str_at(t, "id");
    c.name = str_at(t, "name");
    if (c.name.empty()) fail(ctx() + "a tool call needs a name");
    lua_pushliteral(L, "arguments");
    lua_rawget(L, t);
    if (lua_type(L, -1) == LUA_TSTRING) {
      std::string s = str(L, -1);
      auto parsed = json::parse(s, nullptr, false);
      c.arguments = parsed.is_discarded() ? json(std::move(s)) : std::move(parsed);
    } else if (!lua_isnil(L, -1)) {
      c.arguments = value(-1, "arguments");
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "provider_data");
    lua_rawget(L, t);
    if (!lua_isnil(L, -1)) c.provider_data = value(-1, "provider_data");
    lua_pop(L, 1);
    return c;
  }

  api::Message message(int t, size_t i) {
    auto ctx = [i] { return "messages[" + std::to_string(i) + "]: "; };
    if (!lua_istable(L, t)) fail(ctx() + "a message must be an object");
    api::Message m;
    std::string role;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {  // one pass over the message's keys; unknown keys are ignored
      size_t kn = 0;
      const char* k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kn) : "";
      std::string_view key(k, kn);
      int v = lua_gettop(L);
      if (key == "role") {
        role = str(L, v);
      } else if (key == "content") {
        if (lua_type(L, v) == LUA_TSTRING) {
          m.content.push_back({api::ContentPart::Kind::text, str(L, v), {}, {}, {}});
        } else if (lua_istable(L, v)) {
          lua_pop(L, 2);
          return general_message(t, i);
        } else if (!is_null(v)) {
          fail(ctx() + "message content must be a string or an array of parts");
        }
      } else if (key == "provider_data") {
        lua_pop(L, 2);
        return general_message(t, i);
      } else if (key == "tool_calls" && lua_istable(L, v)) {
        auto n = static_cast<lua_Integer>(lua_rawlen(L, v));
        m.tool_calls.reserve(static_cast<size_t>(n));
        for (lua_Integer c = 1; c <= n; ++c) {
          lua_rawgeti(L, v, c);
          m.tool_calls.push_back(tool_call(lua_gettop(L), i));
          lua_pop(L, 1);
        }
      } else if (key == "tool_call_id") {
        m.tool_call_id = str(L, v);
      } else if (key == "name") {
        m.name = str(L, v);
      } else if (key == "reasoning") {
        m.reasoning = str(L, v);
      }
      lua_pop(L, 1);
    }
    auto r = api::parse_role(role);
    if (!r) fail(ctx() + "message role must be system, user, assistant or tool");
    m.role = *r;
    if (m.role == api::Role::tool && m.tool_call_id.empty()) fail(ctx() + "a tool message needs tool_call_id");
    return m;
  }
  // Content parts or provider data: the general JSON path.
  api::Message general_message(int t, size_t i) {
    auto m = api::message_from_json(value(t, "messages"));
    if (!m) fail("messages[" + std::to_string(i) + "]: " + m.error().message);
    return std::move(m.value());
  }

  void messages(int v, api::ChatRequest& req) {
    lua_Integer n = lua_istable(L, v) ? sequence_length(v) : -1;
    if (n < 0) fail("messages must be a list of {role=, content=} tables");
    req.messages.reserve(req.messages.size() + static_cast<size_t>(n));
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, v, i);
      req.messages.push_back(message(lua_gettop(L), static_cast<size_t>(i)));
      lua_pop(L, 1);
    }
  }

  void tools(int v, api::ChatRequest& req) {
    lua_Integer n = lua_istable(L, v) ? sequence_length(v) : -1;
    if (n < 0) fail("tools must be a list of tool names or specs");
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, v, i);
      if (lua_type(L, -1) == LUA_TSTRING) {
        std::string name = str(L, -1);
        auto spec = find_tool(L, name);
        if (!spec) fail("unknown tool '" + name + "'");
        req.tools.push_back(std::move(*spec));
      } else {
        auto spec = api::tool_spec_from_json(value(-1, "tools"));
        if (!spec) fail("tools: " + spec.error().message);
        req.tools.push_back(std::move(spec.value()));
      }
      lua_pop(L, 1);
    }
  }

  // One named field of the call table; the value is on top of the stack.
  void field(const std::string& k, Call& c) {
    int v = lua_gettop(L);
    int t = lua_type(L, v);
    auto number = [&](std::optional<double>& out) {
      if (t != LUA_TNUMBER) fail(k + " must be a number");
      out = lua_tonumber(L, v);
    };
    if (k == "model") {
      if (t != LUA_TSTRING) fail("model must be a string like \"mock/echo\"");
      c.model_string = str(L, v);
    } else if (k == "system") {
      if (t != LUA_TSTRING) fail("system must be a string");
      c.req.system = str(L, v);
    } else if (k == "prompt") {
      if (t != LUA_TSTRING) fail("prompt must be a string");
      prompt = str(L, v);
    } else if (k == "messages") {
      messages(v, c.req);
    } else if (k == "tools") {
      tools(v, c.req);
    } else if (k == "tool_choice") {
      c.req.tool_choice = value(v, "tool_choice");
    } else if (k == "schema") {
      if (t != LUA_TTABLE) fail("schema must be a JSON Schema table");
      c.req.response_schema = value(v, "schema");
      if (!c.req.response_schema.is_object()) fail("schema must be a JSON Schema table");
    } else if (k == "temperature") {
      number(c.req.temperature);
    } else if (k == "top_p") {
      number(c.req.top_p);
    } else if (k == "max_tokens") {
      if (!lua_isinteger(L, v) || lua_tointeger(L, v) <= 0) fail("max_tokens must be a positive integer");
      c.req.max_tokens = lua_tointeger(L, v);
    } else if (k == "seed") {
      if (!lua_isinteger(L, v)) fail("seed must be an integer");
      c.req.seed = static_cast<uint64_t>(lua_tointeger(L, v));
    } else if (k == "stop") {
      if (t == LUA_TSTRING) {
        c.req.stop.push_back(str(L, v));
      } else if (t == LUA_TTABLE && sequence_length(v) >= 0) {
        for (lua_Integer i = 1, n = static_cast<lua_Integer>(lua_rawlen(L, v)); i <= n; ++i) {
          lua_rawgeti(L, v, i);
          if (lua_type(L, -1) == LUA_TSTRING) c.req.stop.push_back(str(L, -1));
          lua_pop(L, 1);
        }
      } else {
        fail("stop must be a string or a list of strings");
      }
    } else if (k == "extra") {
      c.req.extra = value(v, "extra");
    } else {
      fail("unknown field '" + k + "'");
    }
  }
};

Call parse_call(lua_State* L, const char* where) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkstack(L, 16, "reading a model call");
  CallReader rd{L, where, {}};
  Call c;
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) rd.fail("expects a table of named fields");
    rd.field(CallReader::str(L, -2), c);
    lua_pop(L, 1);
  }
  if (rd.prompt) c.req.messages.push_back(api::Message::user(std::move(*rd.prompt)));
  if (c.req.messages.empty()) raise(L, where, "needs messages (or prompt)");
  Engine& e = Engine::of(L);
  if (c.model_string.empty()) c.model_string = e.services().default_model;
  if (c.model_string.empty()) raise(L, where, "no model given and no default model (--model)");
  auto target = e.resolve_model(c.model_string);
  if (!target) raise(L, where, target.error().message);
  c.target = std::move(target.value());
  c.req.model = c.target.model;
  return c;
}

void finish_result(api::ChatResult& r, const Call& c, std::chrono::steady_clock::time_point t0) {
  if (r.provider.empty()) r.provider = std::string(c.target.provider->name());
  if (r.model.empty()) r.model = c.target.model;
  if (r.latency_ms == 0)
    r.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

void set_str(lua_State* L, const char* k, const std::string& v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, k);
}
void set_int(lua_State* L, const char* k, int64_t v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

// The ChatResult JSON form, pushed straight into a table (the hot path of every model call).
void push_chat_result(lua_State* L, const api::ChatResult& r) {
  luaL_checkstack(L, 6, "pushing a model result");
  lua_createtable(L, 0, 12);
  set_str(L, "provider", r.provider);
  set_str(L, "model", r.model);
  set_str(L, "text", r.text);
  set_str(L, "reasoning", r.reasoning);
  lua_createtable(L, static_cast<int>(r.tool_calls.size()), 0);
  for (size_t i = 0; i < r.tool_calls.size(); ++i) {
    const auto& c = r.tool_calls[i];
    lua_createtable(L, 0, 3);
    set_str(L, "id", c.id);
    set_str(L, "name", c.name);
    push_json(L, c.arguments);
    lua_setfield(L, -2, "arguments");
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  if (r.tool_calls.empty()) mark_array(L, -1);
  lua_setfield(L, -2, "tool_calls");
  auto fr = api::finish_reason_name(r.finish_reason);
  set_str(L, "finish_reason", std::string(fr));
  set_str(L, "provider_finish_reason", r.provider_finish_reason);
  lua_createtable(L, 0, 5);
  set_int(L, "input_tokens", r.usage.input_tokens);
  set_int(L, "output_tokens", r.usage.output_tokens);
  set_int(L, "cached_input_tokens", r.usage.cached_input_tokens);
  set_int(L, "cache_write_tokens", r.usage.cache_write_tokens);
  set_int(L, "reasoning_tokens", r.usage.reasoning_tokens);
  lua_setfield(L, -2, "usage");
  if (r.cost_usd) lua_pushnumber(L, *r.cost_usd);
  else lua_pushlightuserdata(L, json_null_sentinel());
  lua_setfield(L, -2, "cost_usd");
  set_int(L, "latency_ms", r.latency_ms);
  set_int(L, "ttft_ms", r.ttft_ms);
}

// What llm.chat returns once the provider answered. Kept out of the effect's coroutine so its
// frame, which lives through the whole model call, holds none of these values.
Pusher chat_done(Engine& e, const Call& c, std::chrono::steady_clock::time_point t0,
                 api::ProviderResult<api::ChatResult> r) {
  if (!r) {
    api::ProviderError err = std::move(r.error());
    if (e.wants_effect_events())
      e.emit_event({{"type", "llm_error"}, {"model", c.model_string}, {"error", api::to_json(err)}});
    return [err = std::move(err)](lua_State* L) { lua_pushnil(L); push_error(L, err); return 2; };
  }
  api::ChatResult cr = std::move(r.value());
  finish_result(cr, c, t0);
  e.add_usage(cr);
  if (e.wants_effect_events()) e.emit_event({{"type", "llm_result"}, {"model", c.model_string}, {"result", api::to_json(cr)}});
  return [cr = std::move(cr)](lua_State* L) { push_chat_result(L, cr); return 1; };
}

int l_llm_chat(lua_State* L) {
  Call c = parse_call(L, "llm.chat");
  Engine& e = Engine::of(L);
  return e.yield(L, [&e, c = std::move(c)]() mutable -> asio::awaitable<Pusher> {
    if (e.wants_effect_events())
      e.emit_event({{"type", "llm_request"}, {"model", c.model_string}, {"request", api::to_json(c.req)}});
    const auto t0 = std::chrono::steady_clock::now();
    co_return chat_done(e, c, t0, co_await c.target.provider->chat(std::move(c.req), {}));
  });
}

// ---- llm.stream: a producer coroutine fills a queue; the iterator drains it ----
struct StreamState {
  explicit StreamState(const asio::any_io_executor& ex) : ready(ex) {}
  std::deque<json> queue;
  bool finished = false;
  bool ended = false;  // the iterator returned nil
  exec::Event ready;
  asio::cancellation_signal stop;
};
struct StreamBox { std::shared_ptr<StreamState> st; };

int push_next(lua_State* L, StreamState& st) {
  if (!st.queue.empty()) {
    push_json(L, st.queue.front());
    st.queue.pop_front();
    return 1;
  }
  st.ended = true;
  return 0;
}

int l_stream_next(lua_State* L) {
  auto* box = static_cast<StreamBox*>(lua_touserdata(L, lua_upvalueindex(1)));
  auto st = box->st;
  if (!st->queue.empty() || st->finished) return push_next(L, *st);
  return Engine::of(L).yield(L, [st]() -> asio::awaitable<Pusher> {
    while (st->queue.empty() && !st->finished) {
      st->ready.reset();
      co_await st->ready.wait();
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none) break;
    }
    co_return [st](lua_State* L) { return push_next(L, *st); };
  });
}

int l_llm_stream(lua_State* L) {
  Call c = parse_call(L, "llm.stream");
  Engine& e = Engine::of(L);
  auto st = std::make_shared<StreamState>(e.executor());
  push_box(L, "fh.stream", StreamBox{st});
  lua_pushcclosure(L, thunk<l_stream_next>, 1);

  auto self = e.shared_from_this();
  int canceller = e.add_canceller([st] { st->stop.emit(asio::cancellation_type::terminal); });
  asio::co_spawn(
      e.executor(),
      [self, st, c = std::move(c), canceller]() mutable -> asio::awaitable<void> {
        if (self->wants_effect_events())
          self->emit_event({{"type", "llm_request"}, {"model", c.model_string}, {"request", api::to_json(c.req)}, {"stream", true}});
        auto t0 = std::chrono::steady_clock::now();
        auto sink = [st](const api::StreamEvent& ev) {
          st->queue.push_back(api::to_json(ev));
          st->ready.notify();
        };
        auto r = co_await c.target.provider->chat(std::move(c.req), sink);
        if (r) {
          api::ChatResult cr = std::move(r.value());
          finish_result(cr, c, t0);
          self->add_usage(cr);
          json out = api::to_json(cr);
          if (self->wants_effect_events()) self->emit_event({{"type", "llm_result"}, {"model", c.model_string}, {"result", out}});
          out["type"] = "result";
          st->queue.push_back(std::move(out));
        } else {
          if (self->wants_effect_events())
            self->emit_event({{"type", "llm_error"}, {"model", c.model_string}, {"error", api::to_json(r.error())}});
          bool already = !st->queue.empty() && st->queue.back().value("type", "") == "error";
          if (!already) st->queue.push_back({{"type", "error"}, {"error", api::to_json(r.error())}});
        }
        st->finished = true;
        st->ready.notify();
        self->remove_canceller(canceller);
      },
      asio::bind_cancellation_slot(st->stop.slot(), [st](std::exception_ptr) {}));
  return 1;
}
}  // namespace

void open_llm(lua_State* L) {
  const luaL_Reg fns[] = {{"chat", thunk<l_llm_chat>}, {"stream", thunk<l_llm_stream>}, {nullptr, nullptr}};
  luaL_newlib(L, fns);
  lua_setglobal(L, "llm");
}

}  // namespace fh::lua
