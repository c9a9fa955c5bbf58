// `freehold generate`: load a GGUF with fh::kernel, evaluate the prompt as one batch, sample
// token by token, print text (streamed) or one JSON object with timings. Ctrl-C sets the
// kernel's abort flag, which is checked between layers.
#include "apps/freehold/cmd_generate.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "providers/local/kernel/kernel.hpp"

namespace fh::app {
namespace {

namespace k = fh::kernel;

struct GenerateOptions {
  std::string model, prompt, tokens;
  int n_predict = 128, threads = 0, top_k = 0;
  double temp = 0, top_p = 1, min_p = 0, repeat_penalty = 1;
  uint64_t seed = 0;
  bool json_out = false;
};

std::atomic<bool> g_abort{false};
extern "C" void on_sigint(int) { g_abort.store(true); }

// Minimal SentencePiece-style encoder for `tokenizer.ggml.model == "llama"` vocabularies: space
// becomes "▁" with a leading one added, the text is split into UTF-8 characters, and the adjacent
// pair whose concatenation is a token with the highest score is merged until none is left;
// characters without a token fall back to <0xNN> byte tokens. BOS first. (The full tokenizer,
// with special tokens and BPE vocabularies, comes with the tokenizer issue.)
bool spm_encode(const k::Vocab& v, const std::vector<float>& scores, const std::string& text, std::vector<int32_t>& out,
                std::string& err) {
  if (v.model != "llama" || scores.size() != v.tokens.size()) {
    err = "--prompt needs a SentencePiece (llama) vocabulary with scores; use --tokens until the tokenizer lands";
    return false;
  }
  std::map<std::string, int32_t> index;
  for (size_t i = 0; i < v.tokens.size(); ++i) index.emplace(v.tokens[i], int32_t(i));
  std::string s = "\xE2\x96\x81";
  for (char c : text) s += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  std::vector<std::string> sym;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0) len = 4; else if (c >= 0xE0) len = 3; else if (c >= 0xC0) len = 2;
    sym.push_back(s.substr(i, len));
    i += len;
  }
  for (;;) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = index.find(sym[i] + sym[i + 1]);
      if (it != index.end() && (best < 0 || scores[size_t(it->second)] > best_score))
        best = int(i), best_score = scores[size_t(it->second)];
    }
    if (best < 0) break;
    sym[size_t(best)] += sym[size_t(best) + 1];
    sym.erase(sym.begin() + best + 1);
  }
  if (v.bos >= 0) out.push_back(v.bos);
  for (const std::string& piece : sym) {
    if (auto it = index.find(piece); it != index.end()) {
      out.push_back(it->second);
      continue;
    }
    for (unsigned char c : piece) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", c);
      auto b = index.find(name);
      if (b == index.end()) {
        err = "cannot encode byte " + std::string(name) + " with this vocabulary";
        return false;
      }
      out.push_back(b->second);
    }
  }
  return true;
}

bool parse_ids(const std::string& s, std::vector<int32_t>& out) {
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() && item.find_first_not_of(" \t", used) != std::string::npos) return false;
      if (v < 0 || v > INT32_MAX) return false;
      out.push_back(int32_t(v));
    } catch (const std::exception&) {
      return false;
    }
  }
  return !out.empty();
}

int fail(const GenerateOptions& o, const std::string& msg) {
  if (o.json_out) std::cout << nlohmann::json{{"type", "error"}, {"error", {{"message", msg}}}}.dump() << "\n";
  std::cerr << "freehold: " << msg << "\n";
  return 1;
}

int run_generate(const GenerateOptions& o) {
  using clock = std::chrono::steady_clock;
  std::string path = o.model;
  if (path.rfind("local/", 0) == 0) path = path.substr(6);

  // 1. Load (mmap) the model.
  const auto t0 = clock::now();
  auto model = k::Model::load(path);
  if (!model) return fail(o, model.error().message);
  const double load_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  const k::Vocab& vocab = (*model)->vocab();

  // 2. The prompt as token ids.
  std::vector<int32_t> prompt;
  if (!o.tokens.empty()) {
    if (!parse_ids(o.tokens, prompt)) return fail(o, "--tokens wants comma-separated non-negative token ids");
  } else {
    std::vector<float> scores;
    if (const k::MetaValue* sv = (*model)->file().find("tokenizer.ggml.scores"))
      scores.assign(sv->floats.begin(), sv->floats.end());
    std::string err;
    if (!spm_encode(vocab, scores, o.prompt, prompt, err)) return fail(o, err);
  }

  // 3. Generate, streaming text unless --json.
  k::SessionOptions so;
  so.n_threads = o.threads;
  so.n_ctx = std::min((*model)->hparams().n_ctx_train, std::max(512, int(prompt.size()) + o.n_predict + 1));
  k::Session session(*model, so);
  k::SamplerParams sp;
  sp.temperature = float(o.temp), sp.top_k = o.top_k, sp.top_p = float(o.top_p), sp.min_p = float(o.min_p);
  sp.repeat_penalty = float(o.repeat_penalty), sp.seed = o.seed;
  k::Sampler sampler(sp);
  k::GenerateOptions go;
  go.n_predict = o.n_predict;
  go.abort = &g_abort;
  if (!o.json_out) go.on_token = [&](int32_t t) { std::cout << vocab.piece(t) << std::flush; return true; };
  auto old = std::signal(SIGINT, on_sigint);
  auto r = k::generate(session, sampler, prompt, go);
  std::signal(SIGINT, old);
  if (!r) return fail(o, r.error().message);

  std::string text;
  for (int32_t t : r->tokens) text += vocab.piece(t);
  const double pp_s = r->prompt_ms > 0 ? r->prompt_tokens / (r->prompt_ms / 1000) : 0;
  const double tg_s = r->decode_ms > 0 ? r->decode_evals / (r->decode_ms / 1000) : 0;
  if (o.json_out) {
    nlohmann::json j{{"text", text}, {"tokens", r->tokens}, {"prompt_tokens", r->prompt_tokens},
                     {"generated_tokens", r->tokens.size()}, {"prompt_tokens_per_s", pp_s},
                     {"decode_tokens_per_s", tg_s}, {"load_ms", load_ms}, {"stop_reason", r->stop_reason},
                     {"threads", session.n_threads()}, {"isa", k::isa_name(k::kernels().isa)}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\n";
    std::cerr << "[" << r->prompt_tokens << " prompt tokens " << pp_s << " t/s, " << r->tokens.size()
              << " generated " << tg_s << " t/s, load " << load_ms << " ms, stop: " << r->stop_reason << "]\n";
  }
  return r->stop_reason == "abort" ? 130 : 0;
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Raw local generation with the in-process GGUF kernel");
  cmd->add_option("--model", o->model, "local/PATH.gguf (or a plain path)")->required();
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Prompt text (SentencePiece vocabularies only for now)");
  auto* tokens = cmd->add_option("--tokens", o->tokens, "Prompt token ids, comma-separated (BOS included if wanted)");
  prompt->excludes(tokens);
  tokens->excludes(prompt);
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate (default 128)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temp", o->temp, "Temperature; 0 = greedy (default 0)")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold (1 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p x the top probability (0 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", o->repeat_penalty, "Repetition penalty over the last 64 tokens (1 = off)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--seed", o->seed, "Sampling seed (default 0)");
  cmd->add_option("--threads", o->threads, "Worker threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--json", o->json_out, "Print one JSON object with the result and timings");
  cmd->callback([o, &exit_code] {
    if (o->prompt.empty() && o->tokens.empty()) {
      std::cerr << "freehold: generate needs --prompt or --tokens\n";
      exit_code = 2;
      return;
    }
    exit_code = run_generate(*o);
  });
}

}  // namespace fh::app
