#include "runtime/lua/vm.hpp"

#include <cstdlib>
#include <cstring>

#include "runtime/lua/convert.hpp"

namespace fh::lua {

namespace {
char kSentinel;
char kFrozen;  // registry key: weak set of read-only proxy tables

void* capped_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* mem = static_cast<Engine::Mem*>(ud);
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    mem->heap.release(ptr, old);
    mem->used -= old;
    return nullptr;
  }
  if (nsize > old && mem->used + (nsize - old) > mem->limit) {
    mem->hit = true;
    return nullptr;  // Lua runs an emergency GC and retries, then raises "not enough memory"
  }
  void* p = mem->heap.resize(ptr, old, nsize);
  if (!p) return nullptr;
  mem->used = mem->used - old + nsize;
  if (mem->used > mem->peak) mem->peak = mem->used;
  return p;
}

// The count hook: charges instructions, checks the deadline, and once a limit is hit fires on
// every instruction of the thread, so pcall cannot swallow the kill.
void count_hook(lua_State* L, lua_Debug*) {
  Engine& e = Engine::of(L);
  if (e.kill_reason() == Engine::Kill::none) {
    e.instruction_counter() += kHookEvery;
    if (e.instruction_counter() > e.limits().instructions) e.kill(Engine::Kill::instructions);
    else if (e.limits().deadline.count() > 0 && std::chrono::steady_clock::now() >= e.deadline_at())
      e.kill(Engine::Kill::deadline);
  }
  if (e.kill_reason() != Engine::Kill::none) {
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    std::string m = e.limit_message();
    luaL_error(L, "%s", m.c_str());
  }
}

int l_readonly_newindex(lua_State* L) { return luaL_error(L, "attempt to modify a read-only library table"); }

int l_proxy_pairs(lua_State* L) {
  // __pairs of a proxy iterates the real table it fronts
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__index");
  lua_getglobal(L, "next");
  lua_insert(L, -2);
  lua_pushnil(L);
  return 3;
}

bool is_frozen(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kFrozen);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  bool f = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return f;
}

// Replaces global `name` (a table) with a read-only proxy in front of it.
void freeze_global(lua_State* L, const char* name) {
  if (lua_getglobal(L, name) != LUA_TTABLE) { lua_pop(L, 1); return; }
  int real = lua_gettop(L);
  lua_newtable(L);  // proxy
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, real);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, l_proxy_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kFrozen);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_setglobal(L, name);
  lua_pop(L, 1);
}

int l_setmetatable(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int t = lua_type(L, 2);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "setmetatable: __gc metamethods are not allowed in plans");
    lua_pop(L, 1);
  }
  if (is_frozen(L, 1)) return luaL_error(L, "attempt to modify a read-only library table");
  lua_pushvalue(L, lua_upvalueindex(1));  // the real setmetatable
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

int l_rawset(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (is_frozen(L, 1)) return luaL_error(L, "attempt to modify a read-only library table");
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

// load(chunk [, chunkname [, mode [, env]]]) with mode forced to text.
int l_load(lua_State* L) {
  int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));  // the real load
  lua_pushvalue(L, 1);
  if (nargs >= 2) lua_pushvalue(L, 2); else lua_pushnil(L);
  lua_pushliteral(L, "t");
  int n = 3;
  if (nargs >= 4) { lua_pushvalue(L, 4); ++n; }
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L) - nargs;
}

int l_print(lua_State* L) {
  // print goes to the run's log (stderr), never to stdout, which carries only the output
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    size_t len = 0;
    const char* s = luaL_tolstring(L, i, &len);
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
    (void)s;
  }
  luaL_pushresult(&b);
  json ev = {{"type", "log"}, {"level", "info"}, {"message", lua_tostring(L, -1)}};
  Engine::of(L).emit_event(std::move(ev));
  return 0;
}

int l_err_tostring(lua_State* L) {
  lua_pushliteral(L, "code");
  lua_rawget(L, 1);
  lua_pushliteral(L, "message");
  lua_rawget(L, 1);
  const char* code = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "error";
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  lua_pushfstring(L, "%s: %s", code, msg);
  return 1;
}

void remove_globals(lua_State* L, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    lua_pushnil(L);
    lua_setglobal(L, n);
  }
}

// coroutine.resume / coroutine.wrap that pass effect yields up to the branch driver, so an
// llm.chat inside a user coroutine suspends the whole branch instead of the user coroutine.
constexpr const char* kCoroutineShim = R"lua(
local SENT, create, raw_resume, yield, pack, unpack, err = ...
local function resume(co, ...)
  local r = pack(raw_resume(co, ...))
  while r[1] and r.n == 2 and r[2] == SENT do
    r = pack(raw_resume(co, yield(SENT)))
  end
  return unpack(r, 1, r.n)
end
local function wrap(f)
  local co = create(f)
  return function(...)
    local r = pack(resume(co, ...))
    if r[1] then return unpack(r, 2, r.n) end
    err(r[2], 0)
  end
end
return resume, wrap
)lua";

int setup(lua_State* L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
  lua_settop(L, 0);

  lua_newtable(L);  // weak set of frozen proxies
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kFrozen);
  open_convert(L);

  // os: only clock, time, date
  lua_getglobal(L, "os");
  lua_createtable(L, 0, 3);
  for (const char* f : {"clock", "time", "date"}) {
    lua_getfield(L, -2, f);
    lua_setfield(L, -2, f);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 1);

  // string.dump leaves the real string table (the string metatable's __index) too
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  // lock the string metatable: getmetatable("") returns "locked"
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);

  remove_globals(L, {"dofile", "loadfile", "collectgarbage", "require", "package", "io", "debug"});

  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, l_setmetatable, 1);
  lua_setglobal(L, "setmetatable");
  lua_pushcfunction(L, l_rawset);
  lua_setglobal(L, "rawset");
  lua_getglobal(L, "load");
  lua_pushcclosure(L, l_load, 1);
  lua_setglobal(L, "load");
  lua_pushcfunction(L, l_print);
  lua_setglobal(L, "print");

  // the coroutine shim
  if (luaL_loadbufferx(L, kCoroutineShim, std::strlen(kCoroutineShim), "=coroutine", "t") != LUA_OK)
    return lua_error(L);
  lua_pushlightuserdata(L, &kSentinel);
  lua_getglobal(L, "coroutine");
  lua_getfield(L, -1, "create");
  lua_getfield(L, -2, "resume");
  lua_getfield(L, -3, "yield");
  lua_remove(L, -4);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "pack");
  lua_getfield(L, -2, "unpack");
  lua_remove(L, -3);
  lua_getglobal(L, "error");
  lua_call(L, 7, 2);
  lua_getglobal(L, "coroutine");
  lua_insert(L, -3);
  lua_setfield(L, -3, "wrap");
  lua_setfield(L, -2, "resume");
  lua_pop(L, 1);

  // the error-table metatable shared by every `nil, err` an effect returns
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, l_err_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setfield(L, LUA_REGISTRYINDEX, "fh.err_mt");
  return 0;
}
}  // namespace

void* effect_sentinel() noexcept { return &kSentinel; }

lua_State* new_sandboxed_state(Engine* engine) {
  lua_State* L = lua_newstate(capped_alloc, &engine->mem());
  if (!L) return nullptr;
  *static_cast<Engine**>(lua_getextraspace(L)) = engine;
  lua_sethook(L, count_hook, LUA_MASKCOUNT, kHookEvery);  // before any coroutine exists
  // A collection cycle starts when the heap reaches 1.5x what the last one kept (Lua's default is
  // 2x). Thousands of runs in one state make garbage faster than a small heap would: the 1 000-run
  // fan-out peaks 0.8 MB lower, and the agent loop's CPU per step did not move (5 runs each).
  lua_gc(L, LUA_GCINC, 150, 0, 0);
  lua_pushcfunction(L, setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_close(L);
    return nullptr;
  }
  return L;
}

int open_plan_api(lua_State* L) {
  open_json(L);
  open_log(L);
  open_task(L);
  open_llm(L);
  open_tool(L);
  open_replayable(L);
  for (const char* lib : {"string", "table", "math", "utf8", "os", "coroutine", "json", "log", "task", "llm"})
    freeze_global(L, lib);
  open_prelude(L);  // tool, agent: read-only and compiled on first use
  return 0;
}

void push_error(lua_State* L, const Error& e) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, std::string(errc_name(e.code)).c_str());
  lua_setfield(L, -2, "code");
  lua_pushlstring(L, e.message.data(), e.message.size());
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, e.code == Errc::unavailable || e.code == Errc::timeout);
  lua_setfield(L, -2, "retryable");
  if (!e.detail.is_null()) {
    push_json(L, e.detail);
    lua_setfield(L, -2, "detail");
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.err_mt");
  lua_setmetatable(L, -2);
}

void push_error(lua_State* L, const api::ProviderError& e) {
  lua_createtable(L, 0, 6);
  auto kind = api::error_kind_name(e.kind);
  lua_pushlstring(L, kind.data(), kind.size());
  lua_setfield(L, -2, "code");
  lua_pushlstring(L, e.message.data(), e.message.size());
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, e.retryable);
  lua_setfield(L, -2, "retryable");
  lua_pushinteger(L, e.status);
  lua_setfield(L, -2, "status");
  if (e.retry_after_ms) {
    lua_pushinteger(L, *e.retry_after_ms);
    lua_setfield(L, -2, "retry_after_ms");
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "fh.err_mt");
  lua_setmetatable(L, -2);
}

}  // namespace fh::lua
