// L27: the VM is Lua built as C++ (lua5.4-c++), so a Lua error raised through C++ frames runs the
// destructors of their live objects; with the C build they would be skipped.
#include <doctest/doctest.h>

#include <lua.hpp>

namespace {
int destroyed = 0;
struct Guard {
  ~Guard() { ++destroyed; }
};
int raises_with_live_guard(lua_State* L) {
  Guard g;
  return luaL_error(L, "raised from C++ with a live object");
}
}  // namespace

TEST_CASE("L27: a Lua error unwinds C++ destructors") {
  lua_State* L = luaL_newstate();
  REQUIRE(L != nullptr);
  destroyed = 0;
  lua_pushcfunction(L, raises_with_live_guard);
  int st = lua_pcall(L, 0, 0, 0);
  CHECK(st == LUA_ERRRUN);
  CHECK(destroyed == 1);
  lua_close(L);
}
