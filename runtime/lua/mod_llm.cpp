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

// Looks up a tool spec by name: plan-defined tools first (tool.define), then the host's.
std::optional<api::ToolSpec> find_tool(lua_State* L, const std::string& name) {
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.tools");
  if (lua_istable(L, -1)) {
    lua_pushlstring(L, name.data(), name.size());
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      lua_pushliteral(L, "spec");
      lua_rawget(L, -2);
      auto j = to_json(L, -1);
      lua_pop(L, 3);
      if (j) {
        auto spec = api::tool_spec_from_json(*j);
        if (spec) return spec.value();
      }
      return std::nullopt;
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

Call parse_call(lua_State* L, const char* where) {
  luaL_checktype(L, 1, LUA_TTABLE);
  auto jr = to_json(L, 1);
  if (!jr) raise(L, where, jr.error().message);
  json& j = jr.value();
  if (!j.is_object()) raise(L, where, "expects a table of named fields");
  Engine& e = Engine::of(L);
  Call c;
  for (auto& [k, v] : j.items()) {
    if (k == "model") {
      if (!v.is_string()) raise(L, where, "model must be a string like \"mock/echo\"");
      c.model_string = v.get<std::string>();
    } else if (k == "system") {
      if (!v.is_string()) raise(L, where, "system must be a string");
      c.req.system = v.get<std::string>();
    } else if (k == "prompt") {
      if (!v.is_string()) raise(L, where, "prompt must be a string");
      c.req.messages.push_back(api::Message::user(v.get<std::string>()));
    } else if (k == "messages") {
      if (!v.is_array()) raise(L, where, "messages must be a list of {role=, content=} tables");
      for (size_t i = 0; i < v.size(); ++i) {
        auto m = api::message_from_json(v[i]);
        if (!m) raise(L, where, "messages[" + std::to_string(i + 1) + "]: " + m.error().message);
        c.req.messages.push_back(std::move(m.value()));
      }
    } else if (k == "tools") {
      if (!v.is_array()) raise(L, where, "tools must be a list of tool names or specs");
      for (auto& t : v) {
        if (t.is_string()) {
          auto spec = find_tool(L, t.get<std::string>());
          if (!spec) raise(L, where, "unknown tool '" + t.get<std::string>() + "'");
          c.req.tools.push_back(std::move(*spec));
        } else {
          auto spec = api::tool_spec_from_json(t);
          if (!spec) raise(L, where, "tools: " + spec.error().message);
          c.req.tools.push_back(std::move(spec.value()));
        }
      }
    } else if (k == "tool_choice") {
      c.req.tool_choice = v;
    } else if (k == "schema") {
      if (!v.is_object()) raise(L, where, "schema must be a JSON Schema table");
      c.req.response_schema = v;
    } else if (k == "temperature" || k == "top_p") {
      if (!v.is_number()) raise(L, where, k + " must be a number");
      (k == "temperature" ? c.req.temperature : c.req.top_p) = v.get<double>();
    } else if (k == "max_tokens") {
      if (!v.is_number_integer() || v.get<int64_t>() <= 0) raise(L, where, "max_tokens must be a positive integer");
      c.req.max_tokens = v.get<int64_t>();
    } else if (k == "seed") {
      if (!v.is_number_integer()) raise(L, where, "seed must be an integer");
      c.req.seed = v.get<uint64_t>();
    } else if (k == "stop") {
      if (v.is_string()) c.req.stop.push_back(v.get<std::string>());
      else if (v.is_array()) for (auto& s : v) { if (s.is_string()) c.req.stop.push_back(s.get<std::string>()); }
      else raise(L, where, "stop must be a string or a list of strings");
    } else if (k == "extra") {
      c.req.extra = v;
    } else {
      raise(L, where, "unknown field '" + k + "'");
    }
  }
  if (c.req.messages.empty()) raise(L, where, "needs messages (or prompt)");
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

int l_llm_chat(lua_State* L) {
  Call c = parse_call(L, "llm.chat");
  Engine& e = Engine::of(L);
  return e.yield(L, [&e, c = std::move(c)]() mutable -> asio::awaitable<Pusher> {
    if (e.wants_effect_events())
      e.emit_event({{"type", "llm_request"}, {"model", c.model_string}, {"request", api::to_json(c.req)}});
    auto t0 = std::chrono::steady_clock::now();
    auto r = co_await c.target.provider->chat(std::move(c.req), {});
    if (!r) {
      api::ProviderError err = std::move(r.error());
      if (e.wants_effect_events())
        e.emit_event({{"type", "llm_error"}, {"model", c.model_string}, {"error", api::to_json(err)}});
      co_return [err](lua_State* L) { lua_pushnil(L); push_error(L, err); return 2; };
    }
    api::ChatResult cr = std::move(r.value());
    finish_result(cr, c, t0);
    e.add_usage(cr);
    if (e.wants_effect_events()) e.emit_event({{"type", "llm_result"}, {"model", c.model_string}, {"result", api::to_json(cr)}});
    co_return [cr = std::move(cr)](lua_State* L) { push_chat_result(L, cr); return 1; };
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

int l_stream_gc(lua_State* L) {
  auto* box = static_cast<StreamBox*>(lua_touserdata(L, 1));
  box->~StreamBox();
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
  auto* box = static_cast<StreamBox*>(lua_newuserdatauv(L, sizeof(StreamBox), 0));
  new (box) StreamBox{st};
  if (luaL_newmetatable(L, "fh.stream")) {
    lua_pushcfunction(L, l_stream_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
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
