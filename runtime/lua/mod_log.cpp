// log.debug/info/warn/error and emit{...}: events the run reports (stderr, journal, SSE).
#include "runtime/lua/convert.hpp"
#include "runtime/lua/vm.hpp"

namespace fh::lua {

namespace {
constexpr size_t kMaxLogBytes = 64u << 10;

template <const char* Level>
int l_log(lua_State* L) {
  int n = lua_gettop(L);
  std::string msg;
  for (int i = 1; i <= n; ++i) {
    size_t len = 0;
    const char* s = luaL_tolstring(L, i, &len);
    if (i > 1) msg += ' ';
    msg.append(s, len);
    lua_pop(L, 1);
    if (msg.size() > kMaxLogBytes) { msg.resize(kMaxLogBytes); msg += "...(truncated)"; break; }
  }
  Engine::of(L).emit_event({{"type", "log"}, {"level", Level}, {"message", std::move(msg)}});
  return 0;
}
constexpr char kDebug[] = "debug", kInfo[] = "info", kWarn[] = "warn", kError[] = "error";

int l_emit(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  auto j = to_json(L, 1);
  if (!j) return luaL_error(L, "emit: %s", j.error().message.c_str());
  Engine::of(L).emit_event({{"type", "emit"}, {"data", std::move(j.value())}});
  return 0;
}
}  // namespace

void open_log(lua_State* L) {
  const luaL_Reg fns[] = {{"debug", thunk<l_log<kDebug>>}, {"info", thunk<l_log<kInfo>>},
                          {"warn", thunk<l_log<kWarn>>},   {"error", thunk<l_log<kError>>},
                          {nullptr, nullptr}};
  luaL_newlib(L, fns);
  lua_setglobal(L, "log");
  lua_pushcfunction(L, thunk<l_emit>);
  lua_setglobal(L, "emit");
}

}  // namespace fh::lua
