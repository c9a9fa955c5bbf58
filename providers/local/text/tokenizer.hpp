// Tokenizers built from GGUF metadata: SentencePiece-style BPE driven by scores ("llama": byte
// fallback to <0xNN> tokens, the leading-space rule, spaces as "▁") and byte-level BPE driven by
// merge ranks ("gpt2": GPT-2's byte <-> code point mapping, and the pre-tokenizer that
// `tokenizer.ggml.pre` names). Special tokens (control and user-defined, from token_type), the
// BOS/EOS rules, end-of-generation tokens, and detokenization, with Utf8Stream to stream
// detokenized bytes as whole UTF-8 characters.
//
// Behaviour follows llama.cpp's tokenizer (the reference the vocab test vectors pass with).
// Depends on fh::kernel (GgufFile) and fh::core (Result). A Tokenizer is immutable once built:
// share one between threads freely. Building one from hostile metadata gives an fh::Error;
// encode/decode never fail (invalid UTF-8 is tokenized byte by byte).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "providers/local/kernel/gguf.hpp"
#include "providers/local/text/pretokenize.hpp"
#include "providers/local/text/tables.hpp"
#include "runtime/core/result.hpp"

namespace fh::local {

class Tokenizer {
 public:
  // Token types as GGUF stores them (tokenizer.ggml.token_type).
  enum Type : int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

  static fh::Result<std::shared_ptr<const Tokenizer>> from_gguf(const kernel::GgufFile& f);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: BOS (and EOS) as the metadata says (tokenizer.ggml.add_bos_token /
  // add_eos_token; defaults: SPM adds BOS, BPE only for llama3-style pre-tokenizers).
  // parse_special: recognise control token texts (e.g. "<|im_start|>") inside `text`.
  // User-defined tokens are always recognised (as llama.cpp and HF tokenizers do).
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // The raw bytes the token contributes: byte-fallback <0x0A> -> "\n", SPM "▁" -> " ", BPE
  // byte-level mapping undone; control/user-defined/unknown tokens give their text; "" if out of
  // range. A piece may be part of a UTF-8 character (see Utf8Stream).
  std::string token_bytes(int32_t id) const;
  // Concatenated token_bytes. skip_special drops control and unknown tokens (BOS, EOS, <|im_end|>).
  // SPM with the leading-space rule: the space the encoder prepended to the first text piece is
  // removed again, so decode(encode(s)) == s.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  int32_t bos() const { return bos_; }  // -1 if none
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // End of generation: eos, eot, eom, and tokens such as <|im_end|>, <|eot_id|>, <|end|>,
  // <end_of_turn>, <|endoftext|>, <|eom_id|>.
  bool is_eog(int32_t id) const;
  bool is_special(int32_t id) const;  // control, user-defined or unknown
  int32_t type(int32_t id) const;     // Type, or 0 if out of range
  int32_t find(std::string_view token_text) const;  // exact vocab entry, -1 if absent
  std::string_view text(int32_t id) const;           // the vocab entry ("" if out of range)
  size_t size() const { return tokens_.size(); }
  std::string_view model_type() const { return model_; }  // "llama" | "gpt2"
  std::string_view pre() const { return pre_; }           // tokenizer.ggml.pre

 private:
  Tokenizer() = default;
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> next;
    int32_t id = -1;
  };
  fh::Result<Ok> load(const kernel::GgufFile& f);
  void build_specials();
  // Longest special token at text[pos] (user-defined always, control/unknown if parse_special).
  int32_t match_special(std::string_view text, size_t pos, bool parse_special, size_t& len) const;
  void encode_fragment(std::string_view text, bool space_prefix, std::vector<int32_t>& out) const;
  void encode_spm(std::string_view text, bool space_prefix, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void bpe_word(std::string_view enc, std::vector<int32_t>& out) const;
  int32_t rank(int32_t left, int32_t right) const;

  bool spm_ = true;
  std::string model_, pre_;
  PreTokenizer pre_kind_ = PreTokenizer::bpe_default;
  StringPool tokens_;
  StringPool pieces_;  // token_bytes per id
  std::vector<float> scores_;
  std::vector<int32_t> types_;
  std::vector<uint8_t> eog_, rstrip_;
  TextIndex index_;
  PairRanks ranks_;
  std::array<int32_t, 256> byte_ids_{};                  // byte -> its token (fallback / BPE base)
  std::vector<TrieNode> trie_;
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, eom_ = -1, unk_ = -1;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, ignore_merges_ = false;
};

// Streams detokenized bytes as valid UTF-8: holds back an incomplete trailing sequence until the
// bytes that complete it arrive. Bytes that can never become valid UTF-8 are passed through as
// U+FFFD so the output is always valid.
class Utf8Stream {
 public:
  std::string push(std::string_view bytes);
  std::string flush();  // whatever is held back, as U+FFFD

 private:
  std::string pending_;
};

}  // namespace fh::local
