// The host side of tool.*: calls into the ToolHost (built-in tools, MCP, ...) as an effect.
// The plan-facing tool.call / tool.define and agent.run are Lua (scripts/lib/prelude.lua); they
// receive these primitives as arguments and never see the host objects.
#include <string_view>

#include "runtime/api/tool.hpp"
#include "runtime/lua/convert.hpp"
#include "runtime/lua/vm.hpp"

namespace asio = boost::asio;

namespace fh::lua {

namespace {
// host_call(name, args) -> result | nil, err
int l_host_call(lua_State* L) {
  size_t n = 0;
  const char* name = luaL_checklstring(L, 1, &n);
  json args = json::object();
  if (!lua_isnoneornil(L, 2)) {
    auto j = to_json(L, 2);
    if (!j) return luaL_error(L, "tool.call: arguments: %s", j.error().message.c_str());
    args = std::move(j.value());
    if (args.is_array() && args.empty()) args = json::object();
  }
  Engine& e = Engine::of(L);
  auto* host = e.services().tools;
  std::string tool(name, n);
  if (!host) {
    lua_pushnil(L);
    push_error(L, make_error(Errc::not_found, "unknown tool '" + tool + "' (no tools are configured)"));
    return 2;
  }
  if (!host->spec(tool)) {
    lua_pushnil(L);
    push_error(L, make_error(Errc::not_found, "unknown tool '" + tool + "'"));
    return 2;
  }
  std::string call_id;
  if (lua_type(L, 3) == LUA_TSTRING) call_id = lua_tostring(L, 3);
  return e.yield(L, [&e, host, tool, args = std::move(args), call_id]() mutable -> asio::awaitable<Pusher> {
    e.count_tool_call();
    const bool traced = e.wants_effect_events();
    if (traced) e.emit_event({{"type", "tool_call"}, {"tool", tool}, {"arguments", args}, {"call_id", call_id}});
    api::ToolCallContext ctx{e.services().run_id, e.services().workspace, call_id};
    auto r = co_await host->call(tool, std::move(args), std::move(ctx));
    if (!r) {
      Error err = std::move(r.error());
      if (traced) e.emit_event({{"type", "tool_result"}, {"tool", tool}, {"call_id", call_id}, {"error", err.to_json()}});
      co_return [err](lua_State* L) { lua_pushnil(L); push_error(L, err); return 2; };
    }
    json out = std::move(r.value());
    if (traced) e.emit_event({{"type", "tool_result"}, {"tool", tool}, {"call_id", call_id}, {"result", out}});
    co_return [out = std::move(out)](lua_State* L) { push_json(L, out); return 1; };
  });
}

// make_error(code, message) -> an error table with the shared metatable (for Lua-side errors)
int l_make_error(lua_State* L) {
  std::string code = luaL_checkstring(L, 1);
  std::string msg = luaL_optstring(L, 2, "");
  lua_createtable(L, 0, 3);
  lua_pushstring(L, code.c_str());
  lua_setfield(L, -2, "code");
  lua_pushstring(L, msg.c_str());
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "retryable");
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.err_mt");
  lua_setmetatable(L, -2);
  return 1;
}

// event(type, tool, call_id, key, value): a plan-defined tool's call or result. Counts the call;
// builds {type, tool, call_id, [key] = value} only when someone listens.
int l_tool_event(lua_State* L) {
  size_t len = 0;
  const char* type = luaL_checklstring(L, 1, &len);
  const std::string_view kind(type, len);
  Engine& e = Engine::of(L);
  if (kind == "tool_call") e.count_tool_call();  // plan-defined tools count too
  if (!e.wants_effect_events()) return 0;
  json ev = {{"type", kind}, {"tool", luaL_checkstring(L, 2)}, {"call_id", luaL_optstring(L, 3, "")}};
  if (lua_isstring(L, 4) && !lua_isnoneornil(L, 5)) {
    auto v = to_json(L, 5);
    if (!v) return 0;
    ev[lua_tostring(L, 4)] = std::move(v.value());
  }
  e.emit_event(std::move(ev));
  return 0;
}
}  // namespace

void open_tool(lua_State* L) {
  // registry["fh.tools"]: name -> {spec=..., handler=...} for plan-defined tools
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "fh.tools");
}

// Pushes the host table the prelude receives.
void push_prelude_host(lua_State* L) {
  lua_createtable(L, 0, 4);
  lua_pushcfunction(L, thunk<l_host_call>);
  lua_setfield(L, -2, "call");
  lua_pushcfunction(L, thunk<l_make_error>);
  lua_setfield(L, -2, "error");
  lua_pushcfunction(L, thunk<l_tool_event>);
  lua_setfield(L, -2, "event");
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.tools");
  lua_setfield(L, -2, "tools");
}

}  // namespace fh::lua

namespace fh::lua {
extern const std::string_view kPreludeSource;

// The prelude (tool.*, agent.*) is compiled on first use: most plans never touch it, and a
// parked run should not pay for its functions. It runs with the globals as they were at start.
static int load_prelude(lua_State* L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "fh.mod.tool") == LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pop(L, 1);
  if (luaL_loadbufferx(L, kPreludeSource.data(), kPreludeSource.size(), "=prelude", "t") != LUA_OK) lua_error(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.env0");
  lua_setupvalue(L, -2, 1);  // _ENV
  push_prelude_host(L);
  lua_call(L, 1, 2);
  lua_setfield(L, LUA_REGISTRYINDEX, "fh.mod.agent");
  lua_setfield(L, LUA_REGISTRYINDEX, "fh.mod.tool");
  return 0;
}

static int l_lazy_index(lua_State* L) {
  load_prelude(L);
  lua_getfield(L, LUA_REGISTRYINDEX, lua_tostring(L, lua_upvalueindex(1)));
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int l_lazy_pairs(lua_State* L) {
  load_prelude(L);
  lua_getglobal(L, "next");
  lua_getfield(L, LUA_REGISTRYINDEX, lua_tostring(L, lua_upvalueindex(1)));
  lua_pushnil(L);
  return 3;
}

static int l_lazy_newindex(lua_State* L) { return luaL_error(L, "attempt to modify a read-only library table"); }

void open_prelude(lua_State* L) {
  // a snapshot of the globals for the prelude's _ENV
  lua_newtable(L);
  lua_pushglobaltable(L);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "fh.env0");
  for (const char* name : {"tool", "agent"}) {
    lua_newtable(L);
    lua_createtable(L, 0, 4);
    lua_pushfstring(L, "fh.mod.%s", name);
    lua_pushcclosure(L, l_lazy_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushfstring(L, "fh.mod.%s", name);
    lua_pushcclosure(L, l_lazy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushcfunction(L, l_lazy_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setglobal(L, name);
  }
}
}  // namespace fh::lua
