// task.* — sleeps and parallel branches (task.all, task.spawn, task.join).
#include <algorithm>
#include <cmath>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "runtime/lua/vm.hpp"

namespace asio = boost::asio;

namespace fh::lua {

namespace {
int no_results(lua_State*) { return 0; }

int l_task_sleep(lua_State* L) {
  double s = luaL_checknumber(L, 1);
  luaL_argcheck(L, std::isfinite(s) && s >= 0 && s <= 365.0 * 86400, 1, "seconds must be between 0 and one year");
  Engine& e = Engine::of(L);
  auto us = std::chrono::microseconds(std::llround(s * 1e6));
  if (e.recording() && us.count() > 0) {
    // The deadline on the wall clock is recorded: executed again, a sleep that had finished
    // returns at once and one cut short by a crash waits only for the rest.
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    int64_t deadline = recall_integer(L, "sleep", now_ms + (us.count() + 999) / 1000);
    int64_t left_ms = deadline <= now_ms ? 0 : std::min<int64_t>(deadline - now_ms, us.count() / 1000 + 1);
    us = std::min(us, std::chrono::microseconds(left_ms * 1000));
  }
  return e.yield(L, [ex = e.executor(), us]() -> asio::awaitable<Pusher> {
    if (us.count() == 0) {
      co_await asio::post(ex, asio::use_awaitable);  // a turn of the loop: lets other branches run
    } else {
      asio::steady_timer t(ex, us);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return Pusher(no_results);
  });
}

int l_task_all(lua_State* L) {
  int n = lua_gettop(L);
  if (n == 0) return 0;
  for (int i = 1; i <= n; ++i) luaL_checktype(L, i, LUA_TFUNCTION);
  Engine& e = Engine::of(L);
  if (!lua_isyieldable(L)) return e.yield(L, {});  // raises the clear "cannot run here" error
  std::vector<int> ids;
  ids.reserve(static_cast<size_t>(n));
  for (int i = 1; i <= n; ++i) ids.push_back(e.spawn_branch(L, i));
  return e.yield(L, e.join_effect(std::move(ids), false));
}

int l_task_spawn(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  Engine& e = Engine::of(L);
  int id = e.spawn_branch(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, id);
  lua_setfield(L, -2, "id");
  luaL_setmetatable(L, "fh.task");
  return 1;
}

int l_task_join(lua_State* L) {

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getmetatable(L, 1);
  luaL_getmetatable(L, "fh.task");
  if (!lua_rawequal(L, -1, -2)) return luaL_argerror(L, 1, "a task handle from task.spawn");
  lua_pop(L, 2);
  lua_pushliteral(L, "id");
  lua_rawget(L, 1);
  int id = static_cast<int>(lua_tointeger(L, -1));
  lua_pop(L, 1);
  Engine& e = Engine::of(L);
  if (!e.has_branch(id)) return luaL_error(L, "task.join: this task was already joined");
  return e.yield(L, e.join_effect({id}, true));
}
}  // namespace

void open_task(lua_State* L) {
  luaL_newmetatable(L, "fh.task");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  const luaL_Reg fns[] = {{"sleep", thunk<l_task_sleep>}, {"all", thunk<l_task_all>},
                          {"spawn", thunk<l_task_spawn>}, {"join", thunk<l_task_join>}, {nullptr, nullptr}};
  luaL_newlib(L, fns);
  lua_setglobal(L, "task");
}

}  // namespace fh::lua
