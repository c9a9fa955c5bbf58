// fh::lua — building one sandboxed lua_State: capped allocator, count hook, allow-listed
// globals, frozen libraries and string metatable, text-only load, setmetatable without __gc.
// Internal to runtime/lua (included by its .cpp files only).
#pragma once

#include <lua.hpp>

#include "runtime/lua/engine.hpp"

namespace fh::lua {

inline constexpr int kHookEvery = 1000;  // instructions between hook calls

// Creates the state; stores `engine` in the main thread's extra space (threads inherit it).
lua_State* new_sandboxed_state(Engine* engine);
// Opens the plan API modules (task, llm, json, log, tool, emit, agent) into the globals,
// then freezes every library table. Runs under lua_pcall.
int open_plan_api(lua_State* L);

// The plan-facing modules, one per file.
void open_task(lua_State* L);
void open_llm(lua_State* L);
void open_json(lua_State* L);
void open_log(lua_State* L);
void open_tool(lua_State* L);
void open_prelude(lua_State* L);  // Lua-side library (scripts/lib/*.lua, embedded)
// With a Recorder: replayable os.time/os.date/os.clock and per-branch math.random streams.
void open_replayable(lua_State* L);
// Engine::recall for an integer (a clock read, a deadline); a recorded value that is not an
// integer raises a Lua error.
int64_t recall_integer(lua_State* L, const char* kind, int64_t live);

// Pushes a new error table {code=, message=, retryable=, ...} with the shared metatable.
void push_error(lua_State* L, const Error& e);
void push_error(lua_State* L, const api::ProviderError& e);
void push_prelude_host(lua_State* L);

// Every C++ function exposed to Lua goes through this: C++ exceptions become Lua errors (Lua's
// own errors pass through untouched), and a yield F asks for (Engine::yield) happens here.
template <int (*F)(lua_State*)>
int thunk(lua_State* L) {
  constexpr int kFailed = -2;
  char msg[256];
  int n = 0;
  try {
    n = F(L);
  } catch (const std::exception& e) {
    std::snprintf(msg, sizeof msg, "internal error: %s", e.what());
    n = kFailed;
  }
  if (n == Engine::kYieldRequested) return Engine::yield_pending(L);  // F's frame is gone: see Engine::yield
  if (n == kFailed) return luaL_error(L, "%s", msg);
  return n;
}

// The effect sentinel a yielding API function passes up through coroutine wrappers.
void* effect_sentinel() noexcept;

}  // namespace fh::lua
