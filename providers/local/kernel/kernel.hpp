// fh::kernel — the in-process GGUF inference kernel (std + POSIX mmap only).
//
//   auto model = Model::load("m.gguf");            // Expected<shared_ptr<const Model>>
//   Session s(*model, {.n_threads = 4});           // KV cache + worker pool
//   auto logits = s.eval(prompt_ids);              // batched prompt; then one token at a time
//   Sampler sampler({.temperature = 0.7f, .seed = 1});
//   auto out = generate(s, sampler, prompt_ids, {.n_predict = 64});
#pragma once

#include "providers/local/kernel/expected.hpp"
#include "providers/local/kernel/generate.hpp"
#include "providers/local/kernel/gguf.hpp"
#include "providers/local/kernel/model.hpp"
#include "providers/local/kernel/quant.hpp"
#include "providers/local/kernel/sampler.hpp"
#include "providers/local/kernel/session.hpp"
