// os.time, os.date, os.clock, math.random and math.randomseed of a run with a Recorder: every
// clock read is recorded and, when the run is executed again (resumed, replayed), served back;
// each branch seeds its own random stream once from a recorded seed, so the same branch draws the
// same numbers however the branches interleave. Pure forms (os.time(t), os.date(fmt, t),
// math.randomseed(x)) are not recorded. Installed only when the run has a recorder: `freehold
// run` keeps the library functions as they are.
#include <ctime>
#include <random>

#include "runtime/lua/vm.hpp"

namespace fh::lua {

namespace {
// Calls the library's own function (upvalue `up`) with this call's arguments; returns its results.
int rec_call_library(lua_State* L, int up) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(up));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

int rec_time(lua_State* L) {
  if (!lua_isnoneornil(L, 1)) return rec_call_library(L, 1);  // os.time(table): pure
  lua_pushinteger(L, recall_integer(L, "time", static_cast<int64_t>(std::time(nullptr))));
  return 1;
}

int rec_date(lua_State* L) {
  if (!lua_isnoneornil(L, 2)) return rec_call_library(L, 1);  // os.date(fmt, t): pure
  lua_settop(L, 1);
  lua_pushinteger(L, recall_integer(L, "time", static_cast<int64_t>(std::time(nullptr))));
  return rec_call_library(L, 1);
}

// Upvalue 2: how far this process's os.clock is behind the values served from before a restart,
// so that reads after the served ones never go backwards.
int rec_clock(lua_State* L) {
  lua_settop(L, 0);
  rec_call_library(L, 1);
  double live = lua_tonumber(L, 1) + lua_tonumber(L, lua_upvalueindex(2));
  json got = Engine::of(L).recall("clock", live);
  if (!got.is_number()) return luaL_error(L, "the journal's recorded os.clock value is not a number");
  double v = got.get<double>();
  if (v > live) {
    lua_pushnumber(L, lua_tonumber(L, lua_upvalueindex(2)) + (v - live));
    lua_replace(L, lua_upvalueindex(2));
  }
  lua_pushnumber(L, v);
  return 1;
}

// Seeds the running branch's stream with a recorded seed (upvalue `up`: the real randomseed).
void rec_seed_branch(lua_State* L, int up) {
  Engine& e = Engine::of(L);
  std::random_device rd;
  auto draw = [&rd] { return static_cast<int64_t>((static_cast<uint64_t>(rd()) << 32) | rd()); };
  json seed = e.recall("random", json::array({draw(), draw()}));
  if (!seed.is_array() || seed.size() != 2 || !seed[0].is_number_integer() || !seed[1].is_number_integer())
    luaL_error(L, "the journal's recorded random seed is not two integers");
  lua_pushvalue(L, lua_upvalueindex(up));
  lua_pushinteger(L, static_cast<lua_Integer>(seed[0].get<int64_t>()));
  lua_pushinteger(L, static_cast<lua_Integer>(seed[1].get<int64_t>()));
  lua_call(L, 2, 0);
  e.mark_branch_random_seeded();
}

// Upvalues: the real random, the real randomseed.
int rec_random(lua_State* L) {
  if (!Engine::of(L).branch_random_seeded()) rec_seed_branch(L, 2);
  return rec_call_library(L, 1);
}

// math.randomseed(x [, y]) is deterministic; math.randomseed() asks for a fresh seed, recorded.
int rec_randomseed(lua_State* L) {
  if (lua_isnone(L, 1)) {
    rec_seed_branch(L, 1);
    return 0;
  }
  int n = rec_call_library(L, 1);
  Engine::of(L).mark_branch_random_seeded();
  return n;
}

}  // namespace

int64_t recall_integer(lua_State* L, const char* kind, int64_t live) {
  json got = Engine::of(L).recall(kind, live);
  if (!got.is_number_integer())
    luaL_error(L, "the journal's recorded %s value is not an integer", kind);
  return got.get<int64_t>();
}

void open_replayable(lua_State* L) {
  if (!Engine::of(L).recording()) return;
  lua_getglobal(L, "os");
  int os = lua_gettop(L);
  lua_getfield(L, os, "time");
  lua_pushcclosure(L, thunk<rec_time>, 1);
  lua_setfield(L, os, "time");
  lua_getfield(L, os, "date");
  lua_pushcclosure(L, thunk<rec_date>, 1);
  lua_setfield(L, os, "date");
  lua_getfield(L, os, "clock");
  lua_pushnumber(L, 0);
  lua_pushcclosure(L, thunk<rec_clock>, 2);
  lua_setfield(L, os, "clock");

  // math.random's generator state is its first upvalue (a userdata); without it (another Lua
  // build) the streams stay as they are.
  lua_getglobal(L, "math");
  int math = lua_gettop(L);
  lua_getfield(L, math, "random");
  lua_getfield(L, math, "randomseed");
  if (lua_getupvalue(L, -2, 1) && lua_type(L, -1) == LUA_TUSERDATA) {
    Engine::of(L).set_random_state(lua_touserdata(L, -1), lua_rawlen(L, -1));
    lua_pop(L, 1);
    lua_pushvalue(L, -1);                           // random, randomseed, randomseed
    lua_pushcclosure(L, thunk<rec_randomseed>, 1);  // random, randomseed, wrapped randomseed
    lua_setfield(L, math, "randomseed");
    lua_pushcclosure(L, thunk<rec_random>, 2);
    lua_setfield(L, math, "random");
  }
  lua_settop(L, os - 1);
}

}  // namespace fh::lua
