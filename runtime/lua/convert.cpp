#include "runtime/lua/convert.hpp"

#include <cmath>
#include <cstring>

#include <lua.hpp>

namespace fh::lua {

namespace {
char kNull;
char kArrays;  // registry key of the weak set of tables marked as arrays

struct Walker {
  lua_State* L;
  const ConvertLimits& lim;
  size_t bytes = 0;
  std::string err;

  bool fail(std::string m) {
    if (err.empty()) err = std::move(m);
    return false;
  }

  bool is_marked_array(int idx) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrays);
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return false; }
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    bool marked = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return marked;
  }

  bool convert(int idx, json& out, int depth) {
    idx = lua_absindex(L, idx);
    if (++bytes > lim.max_bytes) return fail("value too large to convert");
    switch (lua_type(L, idx)) {
      case LUA_TNIL: out = nullptr; return true;
      case LUA_TBOOLEAN: out = static_cast<bool>(lua_toboolean(L, idx)); return true;
      case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) { out = static_cast<int64_t>(lua_tointeger(L, idx)); return true; }
        {
          double d = lua_tonumber(L, idx);
          if (!std::isfinite(d)) return fail("cannot convert NaN or infinity to JSON");
          out = d;
          return true;
        }
      case LUA_TSTRING: {
        size_t n = 0;
        const char* s = lua_tolstring(L, idx, &n);  // a string already: no conversion, no allocation
        bytes += n;
        if (bytes > lim.max_bytes) return fail("value too large to convert");
        out = std::string(s, n);
        return true;
      }
      case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == &kNull) { out = nullptr; return true; }
        return fail("cannot convert a userdata to JSON");
      case LUA_TTABLE: return convert_table(idx, out, depth);
      default: return fail(std::string("cannot convert a ") + lua_typename(L, lua_type(L, idx)) + " to JSON");
    }
  }

  bool convert_table(int idx, json& out, int depth) {
    if (depth >= lim.max_depth) return fail("table nested too deeply (or cyclic) to convert");
    if (!lua_checkstack(L, 4)) return fail("Lua stack exhausted while converting");
    // Pass 1: is it a sequence 1..n?
    lua_Unsigned n = lua_rawlen(L, idx);
    size_t count = 0;
    bool all_seq_keys = true;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      ++count;
      if (!lua_isinteger(L, -2)) all_seq_keys = false;
      else {
        lua_Integer k = lua_tointeger(L, -2);
        if (k < 1 || static_cast<lua_Unsigned>(k) > n) all_seq_keys = false;
      }
      lua_pop(L, 1);
    }
    bool as_array = (count > 0 && all_seq_keys && count == n) || (count == 0 && is_marked_array(idx));
    if (as_array) {
      out = json::array();
      for (lua_Unsigned i = 1; i <= n; ++i) {
        lua_rawgeti(L, idx, static_cast<lua_Integer>(i));
        json v;
        bool ok = convert(-1, v, depth + 1);
        lua_pop(L, 1);
        if (!ok) return false;
        out.push_back(std::move(v));
      }
      return true;
    }
    out = json::object();
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      std::string key;
      if (lua_type(L, -2) == LUA_TSTRING) {
        size_t kn = 0;
        const char* ks = lua_tolstring(L, -2, &kn);
        key.assign(ks, kn);
      } else if (lua_isinteger(L, -2)) {
        key = std::to_string(lua_tointeger(L, -2));
      } else {
        lua_pop(L, 2);
        return fail("table keys must be strings or integers to convert to JSON");
      }
      bytes += key.size();
      json v;
      if (!convert(-1, v, depth + 1)) { lua_pop(L, 2); return false; }
      out[std::move(key)] = std::move(v);
      lua_pop(L, 1);
    }
    return true;
  }
};

void push_value(lua_State* L, const json& j, int depth, int max_depth) {
  if (depth > max_depth) luaL_error(L, "JSON nested too deeply (limit %d)", max_depth);
  luaL_checkstack(L, 3, "JSON nested too deeply");
  switch (j.type()) {
    case json::value_t::null: lua_pushlightuserdata(L, &kNull); break;
    case json::value_t::boolean: lua_pushboolean(L, j.get<bool>()); break;
    case json::value_t::number_integer: lua_pushinteger(L, j.get<int64_t>()); break;
    case json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) lua_pushinteger(L, static_cast<lua_Integer>(u));
      else lua_pushnumber(L, static_cast<double>(u));
      break;
    }
    case json::value_t::number_float: lua_pushnumber(L, j.get<double>()); break;
    case json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(std::min<size_t>(j.size(), 1u << 20)), 0);
      lua_Integer i = 1;
      for (const auto& v : j) {
        push_value(L, v, depth + 1, max_depth);
        lua_rawseti(L, -2, i++);
      }
      if (j.empty()) mark_array(L, -1);
      break;
    }
    case json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(std::min<size_t>(j.size(), 1u << 20)));
      for (const auto& [k, v] : j.items()) {
        lua_pushlstring(L, k.data(), k.size());
        push_value(L, v, depth + 1, max_depth);
        lua_rawset(L, -3);
      }
      break;
    }
    default: lua_pushnil(L); break;  // binary / discarded never come from our parsers
  }
}
}  // namespace

void* json_null_sentinel() noexcept { return &kNull; }

void open_convert(lua_State* L) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kArrays);
}

void mark_array(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrays);
  if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

Result<json> to_json(lua_State* L, int idx, const ConvertLimits& lim) {
  Walker w{L, lim, 0, {}};
  json out;
  if (!w.convert(idx, out, 0)) return make_error(Errc::invalid_argument, w.err);
  return out;
}

void push_json(lua_State* L, const json& j, int max_depth) { push_value(L, j, 0, max_depth); }

std::string error_to_string(lua_State* L, int idx, size_t max) {
  std::string s;
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING) {
    size_t n = 0;
    const char* p = lua_tolstring(L, idx, &n);
    s.assign(p, n);
  } else if (t == LUA_TNUMBER) {
    s = lua_isinteger(L, idx) ? std::to_string(lua_tointeger(L, idx)) : std::to_string(lua_tonumber(L, idx));
  } else if (t == LUA_TTABLE && lua_checkstack(L, 2)) {
    lua_getfield(L, LUA_REGISTRYINDEX, "fh.err_mt");
    bool ours = false;
    if (lua_getmetatable(L, idx)) {
      ours = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (ours) {
      lua_pushliteral(L, "message");
      lua_rawget(L, idx < 0 ? idx - 1 : idx);
      if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    if (s.empty()) s = "(non-string error)";
  } else if (t == LUA_TNIL) {
    s = "nil";
  } else {
    s = "(non-string error)";
  }
  if (s.size() > max) { s.resize(max); s += "..."; }
  return s;
}

}  // namespace fh::lua
