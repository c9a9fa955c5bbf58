#include "runtime/lua/engine.hpp"

#include <cstring>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "runtime/exec/event.hpp"
#include "runtime/lua/convert.hpp"
#include "runtime/api/provider.hpp"
#include "runtime/lua/vm.hpp"

namespace asio = boost::asio;

namespace fh::lua {

struct Engine::Branch {
  int id = 0;
  lua_State* co = nullptr;
  int ref = LUA_NOREF;  // anchors the thread in the registry
  int nargs = 0;
  enum class State { pending, running, ok, error, cancelled } state = State::pending;
  int status = LUA_OK;  // lua_resume status on error
  int nres = 0;         // results left on co's stack when ok
  bool cancel_requested = false;
  // Shared with the driver's completion handler, which outlives this Branch's map entry.
  std::shared_ptr<asio::cancellation_signal> signal = std::make_shared<asio::cancellation_signal>();
  std::vector<exec::Event*> watchers;
  // Replayable reads: the branch's place in the spawn tree ("m", "m.1", "m.1.2"), how many
  // children it spawned, how many reads it recorded, and its own math.random state.
  std::string path;
  int children = 0;
  int reads = 0;
  std::vector<unsigned char> rng;  // empty until the branch seeds its stream
};

namespace {
// A continuation shared by every effect: the driver resumes with (true, results...) or
// (false, error value); the latter is raised in the plan at the call site.
int effect_k(lua_State* L, int /*status*/, lua_KContext ctx) {
  int base = static_cast<int>(ctx);
  if (!lua_toboolean(L, base + 1)) {
    lua_settop(L, base + 2);
    return lua_error(L);
  }
  return lua_gettop(L) - base - 1;
}

int protected_push(lua_State* L) {
  auto* p = static_cast<Pusher*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  int n = (*p)(L);
  luaL_checkstack(L, 1, "too many results");
  lua_pushboolean(L, n >= 0);
  lua_insert(L, 1);
  return lua_gettop(L);
}

int protected_traceback(lua_State* L) {
  auto* co = static_cast<lua_State*>(lua_touserdata(L, 1));
  const char* msg = lua_tostring(L, 2);
  luaL_traceback(L, co, msg, 0);
  return 1;
}

int protected_to_json(lua_State* L) {
  auto* out = static_cast<Result<json>*>(lua_touserdata(L, 1));
  *out = to_json(L, 2);
  return 0;
}
}  // namespace

Engine& Engine::of(lua_State* L) { return **static_cast<Engine**>(lua_getextraspace(L)); }

Engine::Engine(asio::any_io_executor ex, Services s, Limits l)
    : ex_(std::move(ex)), services_(std::move(s)), limits_(l) {
  mem_.limit = limits_.memory_bytes;
}

Result<std::shared_ptr<Engine>> Engine::create(asio::any_io_executor strand, Services services, Limits limits) {
  std::shared_ptr<Engine> e(new Engine(std::move(strand), std::move(services), limits));
  e->L_ = new_sandboxed_state(e.get());
  if (!e->L_) return make_error(Errc::limit_exceeded, "could not create the Lua state (memory limit too small?)");
  lua_pushcfunction(e->L_, open_plan_api);
  if (lua_pcall(e->L_, 0, 0, 0) != LUA_OK) {
    std::string m = error_to_string(e->L_, -1);
    return make_error(Errc::internal, "opening the plan API failed: " + m);
  }
  e->scratch_ = lua_newthread(e->L_);
  luaL_ref(e->L_, LUA_REGISTRYINDEX);
  return e;
}

Engine::~Engine() {
  if (L_) lua_close(L_);
}

Result<Ok> Engine::load(std::string_view source, const std::string& chunk_name) {
  int st = luaL_loadbufferx(L_, source.data(), source.size(), ("@" + chunk_name).c_str(), "t");
  if (st != LUA_OK) {
    std::string m = error_to_string(L_, -1);
    lua_pop(L_, 1);
    if (st == LUA_ERRMEM) return make_error(Errc::limit_exceeded, "memory limit exceeded while compiling the plan");
    return make_error(Errc::invalid_argument, m);
  }
  main_fn_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
  return Ok{};
}

void Engine::emit_event(json event) {
  if (services_.on_event) services_.on_event(std::move(event));
}

void Engine::add_usage(const api::ChatResult& r) {
  ++outcome_.llm_calls;
  outcome_.usage += r.usage;
  if (r.cost_usd) outcome_.cost_usd = outcome_.cost_usd.value_or(0.0) + *r.cost_usd;
  else ++outcome_.unpriced_llm_calls;
}

void Engine::kill(Kill k) {
  if (kill_ != Kill::none) return;
  kill_ = k;
  // Waiting branches wake up and close; a branch running Lua dies in the hook.
  for (auto& [id, b] : branches_) cancel_branch(b.get());
  for (auto& [id, fn] : cancellers_) fn();
}

std::string Engine::limit_message() const {
  switch (kill_) {
    case Kill::instructions:
      return "instruction budget exceeded (" + std::to_string(limits_.instructions) + " instructions)";
    case Kill::deadline:
      return "deadline exceeded (" + std::to_string(limits_.deadline.count()) + " ms)";
    case Kill::none: break;
  }
  return "limit exceeded";
}

void Engine::cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [id, b] : branches_) cancel_branch(b.get());
  for (auto& [id, fn] : cancellers_) fn();
}

int Engine::add_canceller(std::function<void()> fn) {
  int id = next_canceller_++;
  cancellers_.emplace(id, std::move(fn));
  return id;
}
void Engine::remove_canceller(int id) { cancellers_.erase(id); }

Result<api::ResolvedModel> Engine::resolve_model(const std::string& model) {
  if (auto it = resolved_.find(model); it != resolved_.end()) return it->second;
  if (!services_.providers) return make_error(Errc::not_found, "no providers are configured");
  auto r = services_.providers->resolve(model);
  if (r && resolved_.size() < 256) resolved_.emplace(model, r.value());
  return r;
}

json Engine::recall(std::string_view kind, json live) {
  if (!services_.recorder || !running_) return live;  // no plan code runs outside a branch
  std::string key = std::string(kind) + ":" + running_->path + "#" + std::to_string(++running_->reads);
  return services_.recorder->recall(key, std::move(live));
}

bool Engine::branch_random_seeded() const { return running_ && !running_->rng.empty(); }

void Engine::mark_branch_random_seeded() {
  if (running_ && rng_state_ && running_->rng.empty()) running_->rng.resize(rng_size_);  // filled after the resume
}

void Engine::cancel_branch(Branch* b) {
  if (b->state == Branch::State::ok || b->state == Branch::State::error || b->state == Branch::State::cancelled)
    return;
  b->cancel_requested = true;
  b->signal->emit(asio::cancellation_type::terminal);
}

int Engine::yield(lua_State* L, Effect effect) {
  if (!lua_isyieldable(L))
    return luaL_error(L, "this call waits for I/O and cannot run here (inside a metamethod, iterator, "
                         "table.sort comparator or string.gsub callback called from C)");
  pending_ = std::move(effect);
  pending_base_ = lua_gettop(L);
  lua_pushlightuserdata(L, effect_sentinel());
  return kYieldRequested;
}

int Engine::yield_pending(lua_State* L) { return lua_yieldk(L, 1, of(L).pending_base_, effect_k); }

int Engine::spawn_branch(lua_State* L, int idx) {
  luaL_checktype(L, idx, LUA_TFUNCTION);
  if (branches_.size() >= limits_.max_branches)
    return luaL_error(L, "too many live branches (limit %d)", static_cast<int>(limits_.max_branches));
  idx = lua_absindex(L, idx);
  auto b = std::make_unique<Branch>();
  b->id = next_branch_++;
  b->path = running_ ? running_->path + "." + std::to_string(++running_->children) : "m";
  b->co = lua_newthread(L);
  b->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, idx);
  lua_xmove(L, b->co, 1);
  Branch* raw = b.get();
  branches_.emplace(raw->id, std::move(b));
  asio::co_spawn(ex_, drive(shared_from_this(), raw),
                 asio::bind_cancellation_slot(raw->signal->slot(), [sig = raw->signal](std::exception_ptr) {}));
  return raw->id;
}

int Engine::push_results(Pusher& p, lua_State* co) {
  lua_settop(scratch_, 0);
  lua_pushcfunction(scratch_, protected_push);
  lua_pushlightuserdata(scratch_, &p);
  int st = lua_pcall(scratch_, 1, LUA_MULTRET, 0);
  if (st != LUA_OK) {
    // pushing the results failed (out of memory): raise that in the plan instead
    lua_pushboolean(scratch_, 0);
    lua_insert(scratch_, -2);
  }
  int n = lua_gettop(scratch_);
  if (!lua_checkstack(co, n + 1)) {
    lua_settop(scratch_, 0);
    return -1;
  }
  lua_xmove(scratch_, co, n);
  return n;
}

asio::awaitable<void> Engine::drive(std::shared_ptr<Engine> self, Branch* b) {
  (void)self;  // keeps the engine alive while this branch runs
  // Start on a later turn of the loop, never inline inside the Lua call that spawned us.
  co_await asio::post(ex_, asio::use_awaitable);
  lua_State* co = b->co;
  int nargs = b->nargs;
  b->state = Branch::State::running;
  for (;;) {
    if (b->cancel_requested || stopping()) {
      // no further plan code: close the thread so its <close> variables run
      lua_resetthread(co);
      b->state = Branch::State::cancelled;
      break;
    }
    int nres = 0;
    // This branch's random stream in, and (once it was seeded) back out after it ran.
    if (!b->rng.empty()) std::memcpy(rng_state_, b->rng.data(), rng_size_);
    running_ = b;
    int st = lua_resume(co, nullptr, nargs, &nres);
    running_ = nullptr;
    if (!b->rng.empty()) std::memcpy(b->rng.data(), rng_state_, rng_size_);
    if (st == LUA_YIELD) {
      bool is_effect = nres == 1 && lua_touserdata(co, -1) == effect_sentinel() && pending_;
      lua_pop(co, nres);
      if (!is_effect) {
        lua_pushliteral(co, "coroutine.yield called outside a coroutine (use task.* for concurrency)");
        b->status = LUA_ERRRUN;
        b->state = Branch::State::error;
        break;
      }
      Effect effect = std::move(*pending_);
      pending_.reset();
      Pusher push;
      try {
        push = co_await effect();
      } catch (const std::exception& ex) {
        std::string m = ex.what();
        push = [m](lua_State* L) { lua_pushlstring(L, m.data(), m.size()); return -1; };
      }
      if (b->cancel_requested || stopping()) continue;
      nargs = push_results(push, co);
      if (nargs < 0) {
        lua_pushliteral(co, "not enough memory");
        b->status = LUA_ERRMEM;
        b->state = Branch::State::error;
        break;
      }
      continue;
    }
    if (st == LUA_OK) {
      b->nres = nres;
      b->state = Branch::State::ok;
    } else {
      b->status = st;
      b->state = Branch::State::error;
    }
    break;
  }
  finish_branch(b);
}

void Engine::finish_branch(Branch* b) {
  auto watchers = b->watchers;
  for (auto* w : watchers) w->notify();
}

std::string Engine::describe_error(lua_State* co, int status, bool with_traceback) {
  std::string msg = status == LUA_ERRMEM ? "not enough memory (memory limit " +
                                               std::to_string(limits_.memory_bytes >> 20) + " MiB)"
                                         : error_to_string(co, -1);
  if (!with_traceback) return msg;
  lua_settop(scratch_, 0);
  lua_pushcfunction(scratch_, protected_traceback);
  lua_pushlightuserdata(scratch_, co);
  lua_pushlstring(scratch_, msg.data(), msg.size());
  if (lua_pcall(scratch_, 2, 1, 0) == LUA_OK && lua_type(scratch_, -1) == LUA_TSTRING) msg = lua_tostring(scratch_, -1);
  lua_settop(scratch_, 0);
  return msg;
}

asio::awaitable<void> Engine::wait_branches(const std::vector<int>& ids, bool stop_on_error) {
  exec::Event ev(ex_);
  std::vector<Branch*> bs;
  for (int id : ids) {
    auto it = branches_.find(id);
    if (it != branches_.end()) bs.push_back(it->second.get());
  }
  for (auto* b : bs) b->watchers.push_back(&ev);
  struct Unwatch {
    std::vector<Branch*>& bs;
    exec::Event* ev;
    ~Unwatch() {
      for (auto* b : bs) std::erase(b->watchers, ev);
    }
  } unwatch{bs, &ev};
  auto finished = [](Branch* b) {
    return b->state == Branch::State::ok || b->state == Branch::State::error || b->state == Branch::State::cancelled;
  };
  bool cancelled_rest = false;
  for (;;) {
    bool all = true, any_error = false;
    for (auto* b : bs) {
      all = all && finished(b);
      any_error = any_error || b->state == Branch::State::error;
    }
    if (any_error && stop_on_error && !cancelled_rest) {
      for (auto* b : bs) cancel_branch(b);
      cancelled_rest = true;
      continue;
    }
    if (all) break;
    ev.reset();
    co_await ev.wait();
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) {
      // the waiting branch itself is being cancelled: take its children down with it
      for (auto* b : bs) cancel_branch(b);
      co_return;
    }
  }
}

Effect Engine::join_effect(std::vector<int> ids, bool single) {
  return [this, ids = std::move(ids), single]() -> asio::awaitable<Pusher> {
    co_await wait_branches(ids, !single);
    std::vector<Branch*> bs;
    for (int id : ids) bs.push_back(branches_.at(id).get());
    // the first error (in argument order) wins; a branch cancelled because of it is not an error
    Branch* failed = nullptr;
    for (auto* b : bs)
      if (!failed && b->state == Branch::State::error) failed = b;
    for (auto* b : bs)
      if (!failed && b->state == Branch::State::cancelled) failed = b;
    for (auto* b : bs) {
      if (b == failed) {
        bool cancelled = b->state == Branch::State::cancelled;
        std::vector<int> release = ids;
        co_return [this, b, cancelled, release](lua_State* L) {
          if (cancelled) {
            lua_pushliteral(L, "branch was cancelled");
          } else {
            lua_xmove(b->co, L, 1);  // the original error value
          }
          for (int id : release) {
            auto it = branches_.find(id);
            if (it == branches_.end()) continue;
            luaL_unref(L_, LUA_REGISTRYINDEX, it->second->ref);
            branches_.erase(it);
          }
          return -1;
        };
      }
    }
    co_return [this, bs, ids, single](lua_State* L) {
      luaL_checkstack(L, static_cast<int>(bs.size()) + 2, "too many results");
      int n = 0;
      for (auto* b : bs) {
        if (single) {
          luaL_checkstack(L, b->nres + 1, "too many results");
          lua_xmove(b->co, L, b->nres);
          n += b->nres;
        } else {
          if (b->nres > 0) {
            lua_settop(b->co, 1);
            lua_xmove(b->co, L, 1);
          } else {
            lua_pushnil(L);
          }
          ++n;
        }
      }
      for (int id : ids) {
        auto it = branches_.find(id);
        if (it == branches_.end()) continue;
        luaL_unref(L_, LUA_REGISTRYINDEX, it->second->ref);
        branches_.erase(it);
      }
      return n;
    };
  };
}

asio::awaitable<Outcome> Engine::run(json input) {
  auto self = shared_from_this();
  if (main_fn_ref_ == LUA_NOREF || main_fn_ref_ < 0) {
    outcome_.status = Outcome::Status::failed;
    outcome_.message = "no plan loaded";
    co_return outcome_;
  }
  if (limits_.deadline.count() > 0) deadline_at_ = std::chrono::steady_clock::now() + limits_.deadline;

  // The main branch: the plan chunk with `input` as its argument and as a global.
  struct Boot {
    Engine* e;
    const json* input;
    int id = 0;
  } boot{this, &input};
  lua_settop(scratch_, 0);
  lua_pushcfunction(scratch_, [](lua_State* L) -> int {
    auto* bt = static_cast<Boot*>(lua_touserdata(L, 1));
    push_json(L, *bt->input);
    lua_setglobal(L, "input");
    lua_rawgeti(L, LUA_REGISTRYINDEX, bt->e->main_fn_ref_);
    bt->id = bt->e->spawn_branch(L, -1);
    return 0;
  });
  lua_pushlightuserdata(scratch_, &boot);
  if (lua_pcall(scratch_, 1, 0, 0) != LUA_OK) {
    outcome_.status = Outcome::Status::limit_exceeded;
    outcome_.message = "the input does not fit in the plan's memory: " + error_to_string(scratch_, -1);
    co_return outcome_;
  }
  Branch* main = branches_.at(boot.id).get();
  // pass the input as `...`
  lua_settop(scratch_, 0);
  lua_pushcfunction(scratch_, [](lua_State* L) -> int {
    auto* bt = static_cast<Boot*>(lua_touserdata(L, 1));
    push_json(L, *bt->input);
    return 1;
  });
  lua_pushlightuserdata(scratch_, &boot);
  if (lua_pcall(scratch_, 1, 1, 0) == LUA_OK) {
    lua_xmove(scratch_, main->co, 1);
    main->nargs = 1;
  }

  // Deadline watchdog: a timer that kills the run when it fires.
  // Shared with the watchdog: its frame clears the slot after this function may have returned.
  auto watchdog_stop = std::make_shared<asio::cancellation_signal>();
  if (limits_.deadline.count() > 0) {
    asio::co_spawn(
        ex_,
        [self, watchdog_stop]() -> asio::awaitable<void> {
          asio::steady_timer t(self->ex_, self->deadline_at_);
          auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          if (!ec) self->kill(Kill::deadline);
        },
        asio::bind_cancellation_slot(watchdog_stop->slot(), [watchdog_stop](std::exception_ptr) {}));
  }

  std::vector<int> main_only(1, main->id);  // (no braced list: GCC 12 coroutine bug)
  co_await wait_branches(main_only, false);
  watchdog_stop->emit(asio::cancellation_type::terminal);

  // Outcome of the main branch.
  if (main->state == Branch::State::ok) {
    Result<json> out = json(nullptr);
    if (main->nres > 0) {
      lua_settop(main->co, 1);
      lua_settop(scratch_, 0);
      lua_pushcfunction(scratch_, protected_to_json);
      lua_pushlightuserdata(scratch_, &out);
      lua_xmove(main->co, scratch_, 1);
      if (lua_pcall(scratch_, 2, 0, 0) != LUA_OK) out = make_error(Errc::internal, "could not convert the output");
      lua_settop(scratch_, 0);
    }
    if (out.ok()) {
      outcome_.status = Outcome::Status::succeeded;
      outcome_.output = std::move(out.value());
    } else {
      outcome_.status = Outcome::Status::failed;
      outcome_.message = "the plan's return value is not JSON-serialisable: " + out.error().message;
    }
  } else if (main->state == Branch::State::error) {
    outcome_.status = Outcome::Status::failed;
    outcome_.message = describe_error(main->co, main->status, false);
    outcome_.traceback = describe_error(main->co, main->status, true);
    if (main->status == LUA_ERRMEM) outcome_.status = Outcome::Status::limit_exceeded;
  } else {
    outcome_.status = Outcome::Status::cancelled;
    outcome_.message = "cancelled";
  }
  if (kill_ != Kill::none) {
    outcome_.status = Outcome::Status::limit_exceeded;
    outcome_.message = limit_message();
  } else if (cancelled_) {
    outcome_.status = Outcome::Status::cancelled;
    outcome_.message = "cancelled";
  }

  // Every other branch is cancelled and closed before the run ends.
  std::vector<int> rest;
  for (auto& [id, b] : branches_) {
    cancel_branch(b.get());
    rest.push_back(id);
  }
  for (auto& [id, fn] : cancellers_) fn();
  co_await wait_branches(rest, false);
  while (!cancellers_.empty()) {
    // stream producers finishing their cancellation
    asio::steady_timer t(ex_, std::chrono::milliseconds(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  for (auto& [id, b] : branches_) luaL_unref(L_, LUA_REGISTRYINDEX, b->ref);
  branches_.clear();
  co_return outcome_;
}

}  // namespace fh::lua
