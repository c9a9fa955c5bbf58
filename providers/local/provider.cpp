#include "providers/local/provider.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>

#include "providers/local/chat/chat_format.hpp"
#include "providers/local/chat/tool_calls.hpp"
#include "providers/local/grammar/grammar.hpp"
#include "providers/local/grammar/matcher.hpp"
#include "providers/local/kernel/kernel.hpp"
#include "providers/local/text/tokenizer.hpp"
#include "runtime/exec/event.hpp"

namespace fh::provider_local {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace k = fh::kernel;
using api::ChatRequest;
using api::ChatResult;
using api::ProviderError;
using api::ProviderResult;
using api::StreamEvent;

using Clock = std::chrono::steady_clock;

ProviderError perr(api::ErrorKind kind, std::string msg) {
  return ProviderError{kind, std::move(msg), 0, false, std::nullopt, "local"};
}

// The compute thread: every decode step of every local generation runs here, one token per job,
// so concurrent runs interleave token by token and the I/O loop never blocks on the kernel.
asio::thread_pool& compute_pool() {
  static asio::thread_pool pool(1);
  return pool;
}

std::mutex g_stats_mu;
SlotStats g_stats;

// One KV cache and the tokens it holds.
struct Slot {
  std::unique_ptr<k::Session> session;
  std::vector<int32_t> cached;  // tokens whose keys/values are in the cache, in order
  bool busy = false;
};

// A loaded model, shared by every run that names the same file.
struct LoadedModel {
  fs::path path;
  LocalConfig cfg;
  std::shared_ptr<const k::Model> model;
  std::shared_ptr<const local::Tokenizer> tok;
  std::string chat_template;
  local::ToolCallStyle style = local::ToolCallStyle::none;
  std::string bos_text, eos_text;

  std::mutex mu;  // guards slots, waiters and token_index
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<std::function<void()>> waiters;  // woken (posted to their executors) on release
  std::shared_ptr<const grammar::TokenIndex> token_index;

  std::shared_ptr<const grammar::TokenIndex> index() {
    std::lock_guard lk(mu);
    if (!token_index) {
      std::vector<std::string> bytes(tok->size());
      std::vector<int32_t> eog;
      for (size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = tok->token_bytes(int32_t(i));
        if (tok->is_eog(int32_t(i))) eog.push_back(int32_t(i));
      }
      token_index = std::make_shared<const grammar::TokenIndex>(std::move(bytes), std::move(eog));
    }
    return token_index;
  }
};

Result<std::shared_ptr<LoadedModel>> load_model(const fs::path& path, const LocalConfig& cfg) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<LoadedModel>> cache;
  std::lock_guard lk(mu);
  const std::string key = fs::weakly_canonical(path).string();
  if (auto it = cache.find(key); it != cache.end())
    if (auto m = it->second.lock()) return m;

  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const bool big = !ec && size > (64u << 20);
  const auto t0 = Clock::now();
  if (big) std::fprintf(stderr, "loading %s (%.0f MB)...\n", path.c_str(), double(size) / (1 << 20));
  auto model = k::Model::load(path.string());
  if (!model) return make_error(Errc::invalid_argument, "local model '" + path.string() + "': " + model.error().message);
  auto tok = local::Tokenizer::from_gguf((*model)->file());
  if (!tok) return make_error(Errc::invalid_argument, "local model '" + path.string() + "': " + tok.error().message);
  if (big)
    std::fprintf(stderr, "loaded %s in %lld ms\n", path.filename().c_str(),
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));

  auto lm = std::make_shared<LoadedModel>();
  lm->path = path;
  lm->cfg = cfg;
  lm->model = std::move(model.value());
  lm->tok = std::move(tok.value());
  lm->chat_template = lm->model->file().get_string("tokenizer.chat_template");
  if (lm->chat_template.empty()) lm->chat_template = std::string(local::fallback_chat_template());
  lm->style = local::detect_tool_call_style(lm->chat_template);
  if (lm->tok->bos() >= 0) lm->bos_text = lm->tok->token_bytes(lm->tok->bos());
  if (lm->tok->eos() >= 0) lm->eos_text = lm->tok->token_bytes(lm->tok->eos());
  cache[key] = lm;
  return lm;
}

// The grammar that makes the model emit exactly one call in the format its template teaches.
Result<grammar::Grammar> forced_tool_grammar(local::ToolCallStyle style, const std::vector<api::ToolSpec>& tools,
                                             const std::string& only) {
  namespace g = grammar;
  std::vector<g::Grammar> alts;
  for (const auto& t : tools) {
    if (!only.empty() && t.name != only) continue;
    const bool mistral = style == local::ToolCallStyle::mistral;
    const bool llama = style == local::ToolCallStyle::llama3_json;
    json schema = {{"type", "object"},
                   {"properties", {{"name", {{"const", t.name}}}, {llama ? "parameters" : "arguments", t.parameters}}},
                   {"required", {"name", llama ? "parameters" : "arguments"}},
                   {"additionalProperties", false}};
    auto body = g::Grammar::json_schema(schema);
    if (!body) return body.error();
    std::string open = "<tool_call>\n", close = "\n</tool_call>";
    if (mistral) open = "[TOOL_CALLS][", close = "]";
    if (llama) open.clear(), close.clear();
    alts.push_back(g::Grammar::sequence({g::Grammar::literal(open), body.value(), g::Grammar::literal(close)}));
  }
  if (alts.empty()) return make_error(Errc::invalid_argument, "tool_choice names a tool the request does not offer: " + only);
  return alts.size() == 1 ? std::move(alts.front()) : g::Grammar::choice(alts);
}

// What the caller's coroutine owns: the stream sink, the assembled result and the wake-up. Only
// touched on the caller's executor; the compute side holds it weakly, so a caller that went away
// (cancelled) is simply not called.
struct Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : done(ex) {}
  exec::Event done;
  api::StreamSink sink;
  api::StreamAssembler assembler;
  std::optional<ProviderError> error;
  std::string finish;  // "stop", "length"
  Clock::time_point first_token;
  bool got_first = false;

  void deliver(const std::vector<StreamEvent>& evs) {
    for (const auto& e : evs) {
      if (!got_first && (e.type == StreamEvent::Type::text || e.type == StreamEvent::Type::tool_call_start ||
                         e.type == StreamEvent::Type::reasoning)) {
        got_first = true;
        first_token = Clock::now();
      }
      assembler.add(e);
      if (sink) sink(e);
    }
  }
};

// One generation on the compute thread. It keeps the caller's io_context running (tracked work)
// until it has finished, so the context outlives every job that may post to it.
struct Generation : std::enable_shared_from_this<Generation> {
  std::shared_ptr<LoadedModel> lm;
  Slot* slot = nullptr;
  asio::any_io_executor caller;  // tracked
  std::weak_ptr<Waiter> waiter;

  std::vector<int32_t> prompt;
  size_t reuse = 0;  // prompt tokens already in the slot's cache
  int max_tokens = 0;
  std::vector<std::string> stop;
  k::Sampler sampler;
  std::unique_ptr<grammar::Matcher> matcher;
  std::unique_ptr<local::ToolCallStream> parser;
  local::Utf8Stream utf8;
  std::vector<float> logits;
  std::vector<int32_t> generated;
  std::string text_so_far;  // for stop strings
  std::atomic<bool> abort{false};

  // Backpressure: the compute side runs at most kWindow event batches ahead of the caller. A slow
  // consumer then holds no unbounded queue, and a cancel sees at most kWindow more tokens.
  static constexpr int kWindow = 4;
  std::atomic<int> in_flight{0};
  std::atomic<bool> parked{false};

  explicit Generation(k::SamplerParams p) : sampler(p) {}

  void post_events(std::vector<StreamEvent> evs) {
    if (evs.empty()) return;
    in_flight.fetch_add(1);
    asio::post(caller, [self = shared_from_this(), evs = std::move(evs)] {
      if (auto wt = self->waiter.lock()) wt->deliver(evs);
      self->in_flight.fetch_sub(1);
      if (self->parked.exchange(false)) self->resume();
    });
  }

  void resume() {
    asio::post(compute_pool(), [self = shared_from_this()] { self->step(); });
  }

  // Schedules the next token, or parks until the caller has caught up. Either this thread or the
  // caller's next delivery takes `parked` back, never both.
  void next() {
    if (in_flight.load() < kWindow) return resume();
    parked.store(true);
    if (in_flight.load() < kWindow && parked.exchange(false)) resume();
  }

  // Runs on the compute thread: the prompt, then one token per job.
  void step() {
    k::Session& s = *slot->session;
    if (abort.load()) return complete(perr(api::ErrorKind::cancelled, "cancelled"), "");
    std::span<const float> out;
    if (generated.empty() && s.n_past() == int(reuse)) {
      auto r = s.eval(std::span<const int32_t>(prompt).subspan(reuse));
      if (!r) return fail_eval(r.error());
      slot->cached.assign(prompt.begin(), prompt.end());
      out = r.value();
    } else {
      const int32_t last = generated.back();
      auto r = s.eval(std::span<const int32_t>(&last, 1));
      if (!r) return fail_eval(r.error());
      slot->cached.push_back(last);
      out = r.value();
    }
    logits.assign(out.begin(), out.end());
    // The budget keeps room for the shortest completion, so a capped generation still ends valid.
    if (matcher) matcher->mask(logits, size_t(std::max(1, max_tokens - int(generated.size()))));
    if (std::none_of(logits.begin(), logits.end(), [](float x) { return std::isfinite(x); }))
      return complete(perr(api::ErrorKind::server, "constrained decoding reached a state no token can continue"), "");
    const int32_t t = sampler.sample(logits, generated);
    if (lm->tok->is_eog(t) && (!matcher || matcher->complete())) return complete(std::nullopt, "stop");
    if (matcher && !matcher->accept(t))
      return complete(perr(api::ErrorKind::server, "constrained decoding: sampled a token the grammar refuses"), "");
    generated.push_back(t);

    std::vector<StreamEvent> evs;
    std::string bytes = utf8.push(lm->tok->token_bytes(t));
    bool stopped = false;
    if (!bytes.empty()) {
      const size_t old = text_so_far.size();
      text_so_far += bytes;
      for (const auto& st : stop) {
        if (st.empty()) continue;
        const size_t from = old >= st.size() ? old - st.size() + 1 : 0;
        if (const size_t pos = text_so_far.find(st, from); pos != std::string::npos) {
          bytes = pos > old ? text_so_far.substr(old, pos - old) : std::string();  // text before the stop string
          stopped = true;
          break;
        }
      }
      auto more = parser->push(bytes);
      evs.insert(evs.end(), more.begin(), more.end());
    }
    post_events(std::move(evs));
    if (stopped) return complete(std::nullopt, "stop");
    if (matcher && matcher->complete() && !matcher->can_continue()) return complete(std::nullopt, "stop");
    if (int(generated.size()) >= max_tokens) return complete(std::nullopt, "length");
    if (s.n_past() + 1 >= s.n_ctx()) return complete(std::nullopt, "length");
    next();
  }

  void fail_eval(const k::Error& e) {
    slot->cached.resize(size_t(slot->session->n_past()));
    if (e.kind == k::ErrorKind::aborted) return complete(perr(api::ErrorKind::cancelled, "cancelled"), "");
    if (e.kind == k::ErrorKind::out_of_context) return complete(perr(api::ErrorKind::context_length, e.message), "");
    complete(perr(api::ErrorKind::server, "local model: " + e.message), "");
  }

  // Runs on the compute thread; frees the slot and hands the outcome to the caller.
  void complete(std::optional<ProviderError> err, std::string why) {
    slot->cached.resize(std::min(slot->cached.size(), size_t(slot->session->n_past())));
    slot->session->set_abort(nullptr);
    std::vector<StreamEvent> evs;
    if (!err) {
      std::string tail = utf8.flush();
      if (!tail.empty()) {
        auto more = parser->push(tail);
        evs.insert(evs.end(), more.begin(), more.end());
      }
      auto fin = parser->finish();
      evs.insert(evs.end(), fin.begin(), fin.end());
    }
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lk(lm->mu);
      slot->busy = false;
      wake.swap(lm->waiters);
    }
    for (auto& w : wake) w();
    asio::post(caller, [w = waiter, evs = std::move(evs), err = std::move(err), why = std::move(why)]() mutable {
      auto wt = w.lock();
      if (!wt) return;
      wt->deliver(evs);
      wt->error = std::move(err);
      wt->finish = std::move(why);
      wt->done.notify();
    });
  }
};

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

class LocalProvider final : public api::Provider {
 public:
  LocalProvider(fs::path path, LocalConfig cfg) : path_(std::move(path)), cfg_(std::move(cfg)) {}
  std::string_view name() const noexcept override { return "local"; }

  asio::awaitable<ProviderResult<ChatResult>> chat(ChatRequest req, api::StreamSink sink) override {
    const auto t0 = Clock::now();
    auto ex = co_await asio::this_coro::executor;
    auto lmr = co_await load_on_compute(ex);
    if (!lmr) co_return perr(api::ErrorKind::invalid_request, lmr.error().message);
    std::shared_ptr<LoadedModel> lm = lmr.value();

    // The prompt, in the model's own chat format.
    std::vector<api::Message> msgs;
    if (!req.system.empty()) {
      api::Message sys = api::Message::user(req.system);
      sys.role = api::Role::system;
      msgs.push_back(std::move(sys));
    }
    for (auto& m : req.messages) msgs.push_back(m);
    const bool offer_tools = !req.tools.empty() && !(req.tool_choice.is_string() && req.tool_choice == "none");
    auto rendered = local::apply_chat_template(lm->chat_template, msgs, offer_tools ? req.tools : std::vector<api::ToolSpec>{},
                                               true, lm->bos_text, lm->eos_text);
    if (!rendered) co_return perr(api::ErrorKind::invalid_request, "chat template: " + rendered.error().message);
    const std::string& text = rendered.value();
    const bool has_bos_text = !lm->bos_text.empty() && text.rfind(lm->bos_text, 0) == 0;
    std::vector<int32_t> prompt = lm->tok->encode(text, !has_bos_text, true);

    // The cache length: configured, else the training context raised to at least 2048 (the shipped
    // 260K model was trained on 128 positions; tool prompts need more, and RoPE goes on past it)
    // and capped at 4096.
    const int n_ctx = lm->cfg.n_ctx > 0 ? lm->cfg.n_ctx : std::clamp(lm->model->hparams().n_ctx_train, 2048, 4096);
    if (int(prompt.size()) >= n_ctx)
      co_return perr(api::ErrorKind::context_length, "prompt of " + std::to_string(prompt.size()) +
                                                         " tokens does not fit the context of " + std::to_string(n_ctx));
    int max_tokens = n_ctx - int(prompt.size());
    if (req.max_tokens) {
      if (*req.max_tokens <= 0) co_return perr(api::ErrorKind::invalid_request, "max_tokens must be positive");
      if (int64_t(prompt.size()) + *req.max_tokens > n_ctx)
        co_return perr(api::ErrorKind::context_length,
                       "prompt (" + std::to_string(prompt.size()) + " tokens) plus max_tokens (" +
                           std::to_string(*req.max_tokens) + ") exceeds the context of " + std::to_string(n_ctx));
      max_tokens = int(*req.max_tokens);
    }

    // Sampling and constraints.
    k::SamplerParams sp;
    sp.temperature = float(req.temperature.value_or(0.8));
    sp.top_p = float(req.top_p.value_or(0.95));
    sp.top_k = 40;
    sp.seed = req.seed.value_or(0);
    auto gen = std::make_shared<Generation>(sp);
    auto waiter = std::make_shared<Waiter>(ex);
    waiter->sink = std::move(sink);
    gen->lm = lm;
    gen->caller = asio::prefer(ex, asio::execution::outstanding_work.tracked);
    gen->waiter = waiter;
    gen->max_tokens = max_tokens;
    gen->stop = req.stop;
    gen->parser = std::make_unique<local::ToolCallStream>(lm->style);

    std::string forced;
    if (offer_tools) {
      if (req.tool_choice.is_string() && (req.tool_choice == "required" || req.tool_choice == "any")) forced = "*";
      if (req.tool_choice.is_object() && req.tool_choice.contains("name") && req.tool_choice["name"].is_string())
        forced = req.tool_choice["name"].get<std::string>();
    }
    if (!forced.empty() || !req.response_schema.is_null()) {
      Result<grammar::Grammar> g = !forced.empty()
                                       ? forced_tool_grammar(lm->style, req.tools, forced == "*" ? std::string() : forced)
                                       : grammar::Grammar::json_schema(req.response_schema);
      if (!g) co_return perr(api::ErrorKind::invalid_request, g.error().message);
      auto shared = std::make_shared<const grammar::Grammar>(std::move(g.value()));
      gen->matcher = std::make_unique<grammar::Matcher>(shared, lm->index());
      // A structured reply cannot be shorter than its shortest valid form: the masks keep room for
      // it at one token per byte, so max_tokens is raised to fit that (within the context).
      const int need = int(gen->matcher->shortest_completion().size()) + 2;
      if (gen->max_tokens < need) gen->max_tokens = std::min(need + 16, n_ctx - int(prompt.size()));
    }

    // A slot: the idle one whose cache shares the longest prefix with this prompt.
    for (;;) {
      Slot* best = nullptr;
      size_t best_len = 0;
      std::shared_ptr<exec::Event> wake;
      {
        std::lock_guard lk(lm->mu);
        for (auto& s : lm->slots) {
          if (s->busy || s->session->n_ctx() != n_ctx) continue;
          const size_t l = common_prefix(s->cached, prompt);
          if (!best || l > best_len) best = s.get(), best_len = l;
        }
        if (!best && int(lm->slots.size()) < std::max(1, lm->cfg.max_slots)) {
          auto s = std::make_unique<Slot>();
          k::SessionOptions so;
          so.n_ctx = n_ctx;
          so.n_threads = lm->cfg.n_threads;
          s->session = std::make_unique<k::Session>(lm->model, so);
          best = s.get();
          lm->slots.push_back(std::move(s));
        }
        if (best) {
          best->busy = true;
        } else {
          wake = std::make_shared<exec::Event>(ex);
          lm->waiters.push_back([ex, w = std::weak_ptr<exec::Event>(wake)] {
            asio::post(ex, [w] {
              if (auto e = w.lock()) e->notify();
            });
          });
        }
      }
      if (best) {
        if (!lm->cfg.reuse_prefix) best_len = 0;
        // At least one prompt token must be evaluated to get logits.
        if (best_len >= prompt.size()) best_len = prompt.size() - 1;
        best->session->truncate(int(best_len));
        best->cached.resize(best_len);
        gen->slot = best;
        gen->reuse = best_len;
        break;
      }
      co_await wake->wait();
      if (!wake->is_set()) co_return perr(api::ErrorKind::cancelled, "cancelled while waiting for a free slot");
    }
    {
      std::lock_guard lk(g_stats_mu);
      g_stats.prompt_tokens += int64_t(prompt.size());
      g_stats.reused_tokens += int64_t(gen->reuse);
      g_stats.evaluated_tokens += int64_t(prompt.size() - gen->reuse);
    }
    gen->prompt = std::move(prompt);
    gen->slot->session->set_abort(&gen->abort);
    const size_t prompt_tokens = gen->prompt.size(), reused = gen->reuse;

    asio::post(compute_pool(), [gen] { gen->step(); });
    co_await waiter->done.wait();
    if (!waiter->done.is_set()) {
      // Cancelled: the compute job sees the flag within one token (or one layer) and frees the slot.
      gen->abort.store(true);
      co_return perr(api::ErrorKind::cancelled, "cancelled");
    }
    if (waiter->error) co_return *waiter->error;

    ChatResult base;
    base.provider = "local";
    base.model = path_.filename().string();
    ChatResult r = waiter->assembler.finish(std::move(base));
    if (waiter->assembler.failed()) co_return *waiter->assembler.error();
    r.provider_finish_reason = waiter->finish;
    if (r.tool_calls.empty()) r.finish_reason = waiter->finish == "length" ? api::FinishReason::length : api::FinishReason::stop;
    r.usage.input_tokens = int64_t(prompt_tokens);
    r.usage.cached_input_tokens = int64_t(reused);
    r.usage.output_tokens = int64_t(gen->generated.size());  // written before the completion was posted
    r.cost_usd = 0.0;
    const auto now = Clock::now();
    r.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count();
    r.ttft_ms = waiter->got_first ? std::chrono::duration_cast<std::chrono::milliseconds>(waiter->first_token - t0).count()
                                  : r.latency_ms;
    co_return r;
  }

 private:
  // Loads (once per process) on the compute thread, so a large file never stalls the I/O loop.
  asio::awaitable<Result<std::shared_ptr<LoadedModel>>> load_on_compute(asio::any_io_executor ex) {
    if (loaded_) co_return loaded_;
    struct Box {
      std::optional<Result<std::shared_ptr<LoadedModel>>> r;
      exec::Event done;
      explicit Box(asio::any_io_executor e) : done(e) {}
    };
    auto box = std::make_shared<Box>(ex);
    // The job holds the caller's context open (tracked work) until it is done, and the box only
    // weakly, so nothing of the caller's outlives its io_context on the compute thread.
    asio::post(compute_pool(), [wbox = std::weak_ptr<Box>(box), ex = asio::prefer(ex, asio::execution::outstanding_work.tracked),
                                path = path_, cfg = cfg_] {
      auto r = load_model(path, cfg);
      asio::post(ex, [wbox, r = std::move(r)]() mutable {
        if (auto b = wbox.lock()) {
          b->r = std::move(r);
          b->done.notify();
        }
      });
    });
    co_await box->done.wait();
    if (!box->r) co_return make_error(Errc::cancelled, "cancelled while loading the model");
    if (*box->r) loaded_ = box->r->value();
    co_return std::move(*box->r);
  }

  fs::path path_;
  LocalConfig cfg_;
  std::shared_ptr<LoadedModel> loaded_;
};

std::string home_dir() {
  const char* h = std::getenv("HOME");
  return h ? h : "";
}

// Ollama's store: manifests/<registry>/<namespace>/<model>/<tag> is JSON whose layer with media
// type application/vnd.ollama.image.model names the GGUF blob by digest.
std::optional<fs::path> ollama_model(std::string_view name) {
  std::string model(name), tag = "latest";
  if (auto c = model.find(':'); c != std::string::npos) tag = model.substr(c + 1), model.resize(c);
  if (model.empty() || tag.empty() || model.find("..") != std::string::npos || tag.find('/') != std::string::npos)
    return std::nullopt;
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("OLLAMA_MODELS")) roots.emplace_back(env);
  if (!home_dir().empty()) roots.push_back(fs::path(home_dir()) / ".ollama" / "models");
  roots.emplace_back("/usr/share/ollama/.ollama/models");
  const std::string ns_model = model.find('/') == std::string::npos ? "library/" + model : model;
  for (const auto& root : roots) {
    std::ifstream f(root / "manifests" / "registry.ollama.ai" / ns_model / tag);
    if (!f) continue;
    json j = json::parse(f, nullptr, false);
    if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array()) continue;
    for (const auto& l : j["layers"]) {
      if (!l.is_object() || l.value("mediaType", "") != "application/vnd.ollama.image.model") continue;
      std::string digest = l.value("digest", "");
      if (digest.rfind("sha256:", 0) != 0 || digest.size() != 71) continue;
      digest[6] = '-';
      fs::path blob = root / "blobs" / digest;
      if (fs::exists(blob)) return blob;
    }
  }
  return std::nullopt;
}

}  // namespace

SlotStats slot_stats() {
  std::lock_guard lk(g_stats_mu);
  return g_stats;
}

LocalConfig config_from_json(const json& s) {
  LocalConfig c;
  if (!s.is_object()) return c;
  if (s.contains("n_ctx") && s["n_ctx"].is_number_integer()) c.n_ctx = std::clamp(s["n_ctx"].get<int>(), 0, 1 << 20);
  if (s.contains("threads") && s["threads"].is_number_integer()) c.n_threads = std::clamp(s["threads"].get<int>(), 0, 256);
  if (s.contains("max_slots") && s["max_slots"].is_number_integer()) c.max_slots = std::clamp(s["max_slots"].get<int>(), 1, 64);
  if (s.contains("models") && s["models"].is_object()) c.models = s["models"];
  if (s.contains("reuse_prefix") && s["reuse_prefix"].is_boolean()) c.reuse_prefix = s["reuse_prefix"].get<bool>();
  return c;
}

fs::path default_model_path() { return fs::path(FH_LOCAL_MODELS_DIR) / "stories260K.gguf"; }

Result<fs::path> resolve_model_path(std::string_view rest, const LocalConfig& cfg) {
  if (rest.empty() || rest == "default") return default_model_path();
  const std::string r(rest);
  if (cfg.models.contains(r) && cfg.models[r].is_string()) return fs::path(cfg.models[r].get<std::string>());
  std::error_code ec;
  if (fs::is_regular_file(r, ec)) return fs::path(r);
  if (r.size() < 5 || r.substr(r.size() - 5) != ".gguf")
    if (auto p = ollama_model(r)) return *p;
  return make_error(Errc::not_found, "local model '" + r + "' is not a file, a configured name or an Ollama model");
}

std::shared_ptr<api::Provider> make_local_provider(fs::path gguf, LocalConfig cfg) {
  return std::make_shared<LocalProvider>(std::move(gguf), std::move(cfg));
}

void register_local(api::ProviderRegistry& reg) {
  reg.add("local", [](std::string_view rest, const json& section) -> Result<api::ResolvedModel> {
    LocalConfig cfg = config_from_json(section);
    auto path = resolve_model_path(rest, cfg);
    if (!path) return path.error();
    // One provider object per file, so its loaded model (and slots) is shared across runs.
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<api::Provider>> by_path;
    std::lock_guard lk(mu);
    auto& p = by_path[path.value().string()];
    if (!p) p = make_local_provider(path.value(), cfg);
    return api::ResolvedModel{p, std::string(rest)};
  });
}

}  // namespace fh::provider_local
