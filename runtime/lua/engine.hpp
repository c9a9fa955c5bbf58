// fh::lua — one run's Lua VM and its bridge to the Asio loop.
//
// An Engine owns one lua_State (memory-capped allocator, allow-listed globals, frozen libraries,
// instruction budget and deadline through a count hook installed before any coroutine exists).
// It lives on one strand: every method and every driver coroutine runs there.
//
// The bridge: a Lua API function that needs I/O validates and copies its arguments, stores one
// pending Effect (a C++20 coroutine) and yields. The branch's driver coroutine awaits the Effect,
// pushes its results in protected mode and resumes the thread. Parallel branches (task.all,
// task.spawn) are extra Lua threads of the same state, each with its own driver on the same
// strand. Cancelling the engine cancels pending Effects through Asio cancellation slots and
// closes the threads (so `<close>` variables run); no further plan code runs.
//
// Depends on: fh::core, fh::api (interfaces only), fh::exec. <lua.hpp> stays in runtime/lua/*.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "runtime/api/chat.hpp"
#include "runtime/api/provider.hpp"
#include "runtime/core/result.hpp"
#include "runtime/lua/heap.hpp"

struct lua_State;

namespace fh::api {
class ToolHost;
}  // namespace fh::api

namespace fh::lua {

struct Limits {
  size_t memory_bytes = 64u << 20;          // Lua heap cap
  uint64_t instructions = 2'000'000'000;    // VM instructions across all branches
  std::chrono::milliseconds deadline{0};    // wall clock for the whole run; 0 = none
  size_t max_branches = 100'000;            // live Lua threads created by task.*
};

// What a run reports through its event callback (journal, CLI stderr, daemon SSE).
using EventFn = std::function<void(json event)>;

// Makes a run's own nondeterminism replayable: clock reads (os.time, os.date, os.clock), the
// random seed and sleep deadlines. When a run is executed again (the daemon resuming it after a
// crash, `freehold replay`), each read gets back the value recorded under the same key the first
// time. Keys are "<kind>:<branch path>#<n>": the n-th recorded read of that branch, where the
// path names the branch by its place in the spawn tree, so branches that interleave differently
// on the second execution still meet their own values. Without a recorder every read is live.
class Recorder {
 public:
  virtual ~Recorder() = default;
  // The value recorded under `key` by an earlier execution, else records `live` and returns it.
  virtual json recall(const std::string& key, json live) = 0;
};

struct Services {
  const api::ProviderRegistry* providers = nullptr;
  api::ToolHost* tools = nullptr;
  std::string default_model;  // used when llm.chat gives none
  std::string run_id;
  std::string workspace;
  EventFn on_event;  // may be empty
  // false: the llm_* and tool_* events (whole requests, results, arguments) are not built at all;
  // logs, emits and the run's own events still are (`freehold run` without --trace prints no more).
  bool effect_events = true;
  std::shared_ptr<Recorder> recorder;  // may be empty: clocks, random and sleeps are live
};

// Pushes an Effect's results onto the Lua stack (always called in protected mode).
// Returns how many values it pushed, or -1 after pushing one error value to raise in the plan.
using Pusher = std::function<int(lua_State*)>;
using Effect = std::function<boost::asio::awaitable<Pusher>()>;

struct Outcome {
  enum class Status { succeeded, failed, limit_exceeded, cancelled } status = Status::failed;
  json output;            // the plan's return value, when succeeded
  std::string message;    // one line: what went wrong
  std::string traceback;  // Lua traceback of a runtime error
  api::Usage usage;       // summed over every model call
  std::optional<double> cost_usd;  // summed over the priced calls; null when none was priced
  int64_t llm_calls = 0;
  int64_t unpriced_llm_calls = 0;  // calls whose price is unknown: cost_usd leaves them out
  int64_t tool_calls = 0;
};

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  static Result<std::shared_ptr<Engine>> create(boost::asio::any_io_executor strand, Services services,
                                                Limits limits = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Compiles the plan (text only). A syntax error comes back as invalid_argument "file:line: ...".
  Result<Ok> load(std::string_view source, const std::string& chunk_name);

  // Runs the loaded plan with `input` as `...` and the global `input`; completes when the main
  // branch ends, after every other branch has been cancelled and closed.
  boost::asio::awaitable<Outcome> run(json input);

  // Cancels the run: pending Effects abort, threads close, the outcome is `cancelled`.
  void cancel();

  // ---- used by the Lua modules (runtime/lua/mod_*.cpp) ----
  static Engine& of(lua_State* L);
  const Services& services() const noexcept { return services_; }
  const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
  void emit_event(json event);
  bool wants_events() const noexcept { return static_cast<bool>(services_.on_event); }
  bool wants_effect_events() const noexcept { return services_.effect_events && services_.on_event; }
  void add_usage(const api::ChatResult& r);
  void count_tool_call() { ++outcome_.tool_calls; }
  // Stores `effect` for the calling thread to yield on; use as `return engine.yield(L, ...)` in
  // a function registered through thunk<>, which performs the yield once the function's own
  // frame (and every C++ object in it) is gone: a Lua yield from C is a C++ throw, and each frame
  // with objects to destroy on its way costs the unwinder a landing pad and a resume.
  int yield(lua_State* L, Effect effect);
  static constexpr int kYieldRequested = -1;
  // Yields the thread with the pending effect (called by thunk<> after kYieldRequested).
  static int yield_pending(lua_State* L);
  // Branches for task.*: starts a new Lua thread running the function at stack index `idx`.
  int spawn_branch(lua_State* L, int idx);
  // An Effect that waits for the given branches; returns their first results in order, or raises
  // the first error after cancelling the rest (task.all). With `single`, returns all results.
  Effect join_effect(std::vector<int> ids, bool single);
  bool has_branch(int id) const { return branches_.count(id) != 0; }
  bool stopping() const noexcept { return cancelled_ || kill_ != Kill::none; }
  // Long-lived helpers (llm.stream producers) register here so cancellation reaches them.
  int add_canceller(std::function<void()> fn);
  // Resolves "provider/model" once per run (providers with per-run state stay consistent).
  Result<api::ResolvedModel> resolve_model(const std::string& model);
  void remove_canceller(int id);
  // Replayable reads (see Recorder): `live` recorded under "<kind>:<branch>#<n>", or what an
  // earlier execution recorded there. Without a recorder, returns `live`.
  bool recording() const noexcept { return static_cast<bool>(services_.recorder); }
  json recall(std::string_view kind, json live);
  // While recording, each branch draws from its own math.random stream, seeded through recall():
  // the engine swaps the generator's state (the userdata behind math.random) between branches.
  void set_random_state(void* state, size_t size) { rng_state_ = state, rng_size_ = size; }
  bool branch_random_seeded() const;
  void mark_branch_random_seeded();

  // ---- used by the VM hook and allocator ----
  struct Mem {
    size_t used = 0, limit = 0, peak = 0;
    bool hit = false;
    SlabHeap heap;  // ~Engine closes the Lua state before its members go
  };
  enum class Kill { none, instructions, deadline };
  Kill kill_reason() const noexcept { return kill_; }
  void kill(Kill k);
  std::string limit_message() const;

 private:
  struct Branch;
  Engine(boost::asio::any_io_executor ex, Services s, Limits l);
  boost::asio::awaitable<void> drive(std::shared_ptr<Engine> self, Branch* b);
  int push_results(Pusher& p, lua_State* co);
  void finish_branch(Branch* b);
  void cancel_branch(Branch* b);
  boost::asio::awaitable<void> wait_branches(const std::vector<int>& ids, bool stop_on_error);
  std::string describe_error(lua_State* co, int status, bool with_traceback);

  friend int hook_entry(lua_State* L);
  friend struct VmAccess;

  boost::asio::any_io_executor ex_;
  Services services_;
  Limits limits_;
  Mem mem_;
  lua_State* L_ = nullptr;
  lua_State* scratch_ = nullptr;  // a thread for protected pushes
  int main_fn_ref_ = -1;
  uint64_t instructions_ = 0;
  std::chrono::steady_clock::time_point deadline_at_{};
  Kill kill_ = Kill::none;
  bool cancelled_ = false;
  std::optional<Effect> pending_;
  int pending_base_ = 0;  // the yielding function's stack top below the sentinel
  std::unordered_map<int, std::unique_ptr<Branch>> branches_;
  int next_branch_ = 1;
  std::unordered_map<int, std::function<void()>> cancellers_;
  std::unordered_map<std::string, api::ResolvedModel> resolved_;  // per-run cache of model strings
  Branch* running_ = nullptr;  // the branch whose Lua code runs now (inside lua_resume)
  void* rng_state_ = nullptr;
  size_t rng_size_ = 0;
  int next_canceller_ = 1;
  Outcome outcome_;
  bool has_cost_ = false;

 public:
  Mem& mem() noexcept { return mem_; }
  uint64_t& instruction_counter() noexcept { return instructions_; }
  const Limits& limits() const noexcept { return limits_; }
  std::chrono::steady_clock::time_point deadline_at() const noexcept { return deadline_at_; }
};

}  // namespace fh::lua
