// `freehold generate`: load a GGUF with fh::kernel, evaluate the prompt as one batch, sample
// token by token, print text (streamed) or one JSON object with timings. Ctrl-C sets the
// kernel's abort flag, which is checked between layers.
#include "apps/freehold/cmd_generate.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "providers/local/kernel/kernel.hpp"
#include "providers/local/provider.hpp"
#include "providers/local/text/tokenizer.hpp"
#include "runtime/core/json_text.hpp"

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

int fail_generate(const GenerateOptions& o, const std::string& msg) {
  if (o.json_out) std::cout << json_text(nlohmann::json{{"type", "error"}, {"error", {{"message", msg}}}}) << "\n";
  std::cerr << "freehold: " << msg << "\n";
  return 1;
}

// "local/NAME" or a plain path -> the GGUF file (names resolve like the local provider's).
std::string model_path(const std::string& model) {
  std::string rest = model.rfind("local/", 0) == 0 ? model.substr(6) : model;
  auto p = provider_local::resolve_model_path(rest, {});
  return p ? p.value().string() : rest;
}

int run_generate(const GenerateOptions& o) {
  using clock = std::chrono::steady_clock;
  const std::string path = model_path(o.model);

  // 1. Load (mmap) the model.
  const auto t0 = clock::now();
  auto model = k::Model::load(path);
  if (!model) return fail_generate(o, model.error().message);
  const double load_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  const k::Vocab& vocab = (*model)->vocab();

  // 2. The prompt as token ids.
  std::vector<int32_t> prompt;
  if (!o.tokens.empty()) {
    if (!parse_ids(o.tokens, prompt)) return fail_generate(o, "--tokens wants comma-separated non-negative token ids");
  } else {
    auto tok = local::Tokenizer::from_gguf((*model)->file());
    if (!tok) return fail_generate(o, tok.error().message);
    prompt = tok.value()->encode(o.prompt, true, false);
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
  if (!r) return fail_generate(o, r.error().message);

  std::string text;
  for (int32_t t : r->tokens) text += vocab.piece(t);
  const double pp_s = r->prompt_ms > 0 ? r->prompt_tokens / (r->prompt_ms / 1000) : 0;
  const double tg_s = r->decode_ms > 0 ? r->decode_evals / (r->decode_ms / 1000) : 0;
  // The median token: on a shared host the mean also carries the slow tokens other tenants
  // cause, the median is the kernel's own pace (the benchmark reports both).
  std::vector<double> ev = r->eval_ms;
  double tg_median_s = 0;
  if (!ev.empty()) {
    std::nth_element(ev.begin(), ev.begin() + ptrdiff_t(ev.size() / 2), ev.end());
    tg_median_s = ev[ev.size() / 2] > 0 ? 1000 / ev[ev.size() / 2] : 0;
  }
  if (o.json_out) {
    nlohmann::json j{{"text", text}, {"tokens", r->tokens}, {"prompt_tokens", r->prompt_tokens},
                     {"generated_tokens", r->tokens.size()}, {"prompt_tokens_per_s", pp_s},
                     {"decode_tokens_per_s", tg_s}, {"decode_median_tokens_per_s", tg_median_s}, {"load_ms", load_ms}, {"stop_reason", r->stop_reason},
                     {"threads", session.n_threads()}, {"isa", k::isa_name(k::kernels().isa)}};
    std::cout << json_text(j) << "\n";
  } else {
    std::cout << "\n";
    std::cerr << "[" << r->prompt_tokens << " prompt tokens " << pp_s << " t/s, " << r->tokens.size()
              << " generated " << tg_s << " t/s, load " << load_ms << " ms, stop: " << r->stop_reason << "]\n";
  }
  return r->stop_reason == "abort" ? 130 : 0;
}

struct TokenizeOptions {
  std::string model, text, file;
  bool no_special = false;
};

int run_tokenize(const TokenizeOptions& o) {
  const std::string path = model_path(o.model);
  auto f = k::GgufFile::open(path);
  if (!f) {
    std::cerr << "freehold: " << f.error().message << "\n";
    return 1;
  }
  auto tok = local::Tokenizer::from_gguf(*f.value());
  if (!tok) {
    std::cerr << "freehold: " << path << ": " << tok.error().message << "\n";
    return 1;
  }
  std::string text = o.text;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) {
      std::cerr << "freehold: cannot open '" << o.file << "'\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  // --no-special: no BOS/EOS added and special-token texts stay plain text.
  const auto ids = tok.value()->encode(text, !o.no_special, !o.no_special);
  std::cout << nlohmann::json(ids).dump() << "\n";
  return 0;
}

void add_tokenize_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  cmd->add_option("--model", o->model, "local/PATH.gguf, local/NAME or a plain path")->required();
  auto* text = cmd->add_option("--text", o->text, "The text");
  auto* file = cmd->add_option("--file", o->file, "Read the text from a file");
  text->excludes(file);
  file->excludes(text);
  cmd->add_flag("--no-special", o->no_special, "Add no BOS/EOS and treat special-token texts as plain text");
  cmd->callback([o, &exit_code] {
    if (o->text.empty() && o->file.empty()) {
      std::cerr << "freehold: tokenize needs --text or --file\n";
      exit_code = 2;
      return;
    }
    exit_code = run_tokenize(*o);
  });
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  add_tokenize_command(app, exit_code);
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Raw local generation with the in-process GGUF kernel");
  cmd->add_option("--model", o->model, "local/PATH.gguf (or a plain path)")->required();
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Prompt text (BOS added as the model says)");
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
