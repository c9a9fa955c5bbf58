// BPE pre-tokenizers: split text into the words that byte-level BPE merges within, the way the
// regex list named by `tokenizer.ggml.pre` does (applied in sequence; each pattern splits every
// piece of the previous pass into its matches and the gaps between them). The patterns are
// matched by hand over code points with the generated Unicode class table: std::regex knows no
// \p{L}. Invalid UTF-8 bytes are single "other" code points, so any byte string splits.
//
// Std-only; pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace fh::local {

enum class PreTokenizer {
  gpt2,            // 's|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
  llama3,          // case-insensitive contractions, [^\r\n\p{L}\p{N}]?\p{L}+, \p{N}{1,3}, ...
  qwen2,           // llama3 with single digits
  deepseek_llm,    // [\r\n], \s?[letters]+, \s?[punct]+, \s+$, [CJK]+, \p{N}+
  deepseek_coder,  // [\r\n], \s?\p{L}+, \s?\p{P}+, [CJK]+, \p{N}
  falcon,          // punctuation runs, gpt2, [0-9]{3}
  starcoder,       // \p{N}, gpt2
  bpe_default,     // punctuation runs, gpt2, \p{N}+, [0-9]{3}
  tekken,          // case-aware words ([\p{Lu}...]*[\p{Ll}...]+ | [\p{Lu}...]+[\p{Ll}...]*), \p{N}
  gpt4o,           // tekken's words with contraction suffixes, \p{N}{1,3}
};

// The pre-tokenizer `tokenizer.ggml.pre` names (with llama.cpp's aliases), or nullopt.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);

// Byte ranges [begin, end) of the words of `text`, in order, covering all of it.
std::vector<std::pair<size_t, size_t>> pre_tokenize(PreTokenizer kind, std::string_view text);

}  // namespace fh::local
