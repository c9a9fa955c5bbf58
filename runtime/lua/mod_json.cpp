// json.* — encode/decode through the one converter (convert.hpp); json.null, json.array.
#include "runtime/core/json_text.hpp"
#include "runtime/lua/convert.hpp"
#include "runtime/lua/vm.hpp"

namespace fh::lua {

namespace {
constexpr size_t kMaxDecodeBytes = 32u << 20;

int l_json_encode(lua_State* L) {
  luaL_checkany(L, 1);
  bool pretty = lua_toboolean(L, 2);
  auto j = to_json(L, 1);
  if (!j) return luaL_error(L, "json.encode: %s", j.error().message.c_str());
  std::string s = json_text(*j, pretty ? 2 : -1);
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}

int l_json_decode(lua_State* L) {
  size_t n = 0;
  const char* s = luaL_checklstring(L, 1, &n);
  if (n > kMaxDecodeBytes) {
    push_error(L, make_error(Errc::limit_exceeded, "json.decode: text larger than 32 MiB"));
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  json j = json::parse(s, s + n, nullptr, false);
  if (j.is_discarded()) {
    lua_pushnil(L);
    push_error(L, make_error(Errc::invalid_argument, "json.decode: not valid JSON"));
    return 2;
  }
  push_json(L, j);
  return 1;
}

int l_json_array(lua_State* L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  mark_array(L, 1);
  return 1;
}
}  // namespace

void open_json(lua_State* L) {
  const luaL_Reg fns[] = {{"encode", thunk<l_json_encode>}, {"decode", thunk<l_json_decode>},
                          {"array", thunk<l_json_array>}, {nullptr, nullptr}};
  luaL_newlib(L, fns);
  lua_pushlightuserdata(L, json_null_sentinel());
  lua_setfield(L, -2, "null");
  lua_setglobal(L, "json");
}

}  // namespace fh::lua
