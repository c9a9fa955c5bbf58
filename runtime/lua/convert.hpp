// fh::lua — the one converter between Lua values and JSON.
// Never runs metamethods (raw access only); depth and size limits on both directions.
// to_json only reads; push_json allocates and so must run in protected mode (inside a Lua API
// function or under lua_pcall) — the bridge guarantees this for every host->Lua transfer.
#pragma once

#include <string>

#include "runtime/core/result.hpp"

struct lua_State;

namespace fh::lua {

struct ConvertLimits {
  int max_depth = 128;
  size_t max_bytes = 64u << 20;  // rough size of the produced JSON
};

// Converts the value at `idx`. Tables with keys 1..n become arrays, tables marked by json.array()
// too; other tables become objects (integer keys as strings); json.null becomes null.
Result<json> to_json(lua_State* L, int idx, const ConvertLimits& lim = {});
// Pushes `j`; raises a Lua error on memory exhaustion or excessive depth.
void push_json(lua_State* L, const json& j, int max_depth = 128);

// json.null and the array marker (used by mod_json).
void* json_null_sentinel() noexcept;
void mark_array(lua_State* L, int idx);  // marks the table at idx as a JSON array
void open_convert(lua_State* L);          // creates the registry's array-marker table

// Formats an error value without running metamethods: strings and numbers as is, our error
// tables by their message, anything else "(non-string error)". Truncated to `max` bytes.
std::string error_to_string(lua_State* L, int idx, size_t max = 4096);

}  // namespace fh::lua
