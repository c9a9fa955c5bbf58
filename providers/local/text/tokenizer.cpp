// Tokenizer: loading from GGUF metadata, special tokens, encode/decode dispatch. The merge loops
// live in tokenizer_merge.cpp.
#include "providers/local/text/tokenizer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "providers/local/text/unicode.hpp"

namespace fh::local {
namespace {

namespace uc = fh::local::unicode;
using kernel::GgufType;
using kernel::MetaValue;

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁"

// Tokens that end a generation when the metadata does not say so (llama.cpp's list).
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek
};

// Pre-tokenizer names after which llama.cpp adds BOS and looks whole words up before merging.
bool is_llama3_name(std::string_view pre) {
  return pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3";
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

fh::Result<std::shared_ptr<const Tokenizer>> Tokenizer::from_gguf(const kernel::GgufFile& f) {
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  auto r = t->load(f);
  if (!r) return std::move(r).error();
  return std::shared_ptr<const Tokenizer>(std::move(t));
}

fh::Result<Ok> Tokenizer::load(const kernel::GgufFile& f) {
  auto fail = [&](std::string msg) {
    return make_error(Errc::invalid_argument, f.path() + ": " + msg);
  };

  // Which tokenizer.
  const MetaValue* model = f.find("tokenizer.ggml.model");
  if (!model) return fail("no tokenizer (tokenizer.ggml.model is missing)");
  if (model->type != GgufType::string) return fail("tokenizer.ggml.model is not a string");
  model_ = model->s;
  if (model_ == "llama") {
    spm_ = true;
  } else if (model_ == "gpt2") {
    spm_ = false;
  } else {
    return fail("unsupported tokenizer model '" + model_ + "' (supported: llama, gpt2)");
  }
  if (const MetaValue* pre = f.find("tokenizer.ggml.pre")) {
    if (pre->type != GgufType::string) return fail("tokenizer.ggml.pre is not a string");
    pre_ = pre->s;
  } else {
    pre_ = "default";
  }
  if (!spm_) {
    auto kind = pre_tokenizer_from_name(pre_);
    if (!kind) return fail("unsupported pre-tokenizer '" + pre_ + "' (tokenizer.ggml.pre)");
    pre_kind_ = *kind;
  }

  // The vocabulary: texts, scores, types.
  const MetaValue* toks = f.find("tokenizer.ggml.tokens");
  if (!toks) return fail("tokenizer.ggml.tokens is missing");
  if (toks->type != GgufType::array || toks->elem_type != GgufType::string ||
      toks->strings.size() != toks->count)
    return fail("tokenizer.ggml.tokens is not an array of strings");
  if (toks->strings.empty()) return fail("tokenizer.ggml.tokens is empty");
  if (toks->strings.size() > size_t(INT32_MAX) - 1) return fail("tokenizer.ggml.tokens is too large");
  const size_t n = toks->strings.size();
  size_t bytes = 0;
  for (const auto& t : toks->strings) bytes += t.size();
  tokens_.reserve(n, bytes);
  for (const auto& t : toks->strings) tokens_.push(t);

  scores_.assign(n, 0.f);
  if (const MetaValue* sc = f.find("tokenizer.ggml.scores")) {
    if (sc->type != GgufType::array || sc->floats.size() != sc->count || sc->count != n)
      return fail("tokenizer.ggml.scores is not an array of " + std::to_string(n) + " floats");
    for (size_t i = 0; i < n; ++i) scores_[i] = static_cast<float>(sc->floats[i]);
  }
  types_.assign(n, normal);
  if (const MetaValue* ty = f.find("tokenizer.ggml.token_type")) {
    if (ty->type != GgufType::array || ty->ints.size() != ty->count || ty->count != n)
      return fail("tokenizer.ggml.token_type is not an array of " + std::to_string(n) + " integers");
    for (size_t i = 0; i < n; ++i) {
      const int64_t v = ty->ints[i];
      types_[i] = v >= normal && v <= byte ? static_cast<int32_t>(v) : normal;
    }
  }
  index_.build(tokens_);  // of equal texts the last one wins, as in llama.cpp

  // Special token ids: absent, negative or 0xFFFFFFFF mean none; other out-of-range values are
  // an error for the ones we use.
  std::string bad;
  auto read_id = [&](const char* key, int32_t& out, bool strict) {
    const MetaValue* v = f.find(key);
    if (!v) return;
    if (!v->is_int()) { bad = std::string(key) + " is not an integer"; return; }
    const bool unsigned_type = v->type == GgufType::u32 || v->type == GgufType::u64;
    if ((unsigned_type && v->u == 0xFFFFFFFFull) || (!unsigned_type && v->i < 0)) {
      out = -1;
      return;
    }
    if (v->i >= int64_t(n) || (v->type == GgufType::u64 && v->u > uint64_t(INT64_MAX))) {
      if (strict) bad = std::string(key) + " = " + std::to_string(v->u) + " is out of range (vocab has " +
                        std::to_string(n) + " tokens)";
      return;
    }
    out = static_cast<int32_t>(v->i);
  };
  if (spm_) {
    bos_ = n > 1 ? 1 : -1;
    eos_ = n > 2 ? 2 : -1;
    unk_ = 0;
  }
  read_id("tokenizer.ggml.bos_token_id", bos_, true);
  read_id("tokenizer.ggml.eos_token_id", eos_, true);
  read_id("tokenizer.ggml.unknown_token_id", unk_, true);
  read_id("tokenizer.ggml.eot_token_id", eot_, true);
  read_id("tokenizer.ggml.eom_token_id", eom_, true);
  if (!bad.empty()) return fail(bad);

  // BOS/EOS and space rules: llama.cpp's defaults, then the metadata.
  add_bos_ = spm_ || is_llama3_name(pre_);
  add_eos_ = false;
  add_space_prefix_ = spm_;
  ignore_merges_ = !spm_ && is_llama3_name(pre_);
  int64_t flag = 0;
  if (f.get_int("tokenizer.ggml.add_bos_token", flag)) add_bos_ = flag != 0;
  if (f.get_int("tokenizer.ggml.add_eos_token", flag)) add_eos_ = flag != 0;
  if (spm_ && f.get_int("tokenizer.ggml.add_space_prefix", flag)) add_space_prefix_ = flag != 0;
  if (add_bos_ && bos_ < 0) add_bos_ = false;
  if (add_eos_ && eos_ < 0) add_eos_ = false;

  // Byte tokens: SPM's <0xNN> fallback, or BPE's single mapped code points.
  for (int b = 0; b < 256; ++b) {
    int32_t id = -1;
    if (spm_) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      id = find(hex);
      if (id < 0) id = find(std::string(1, static_cast<char>(b)));
      if (id < 0) id = unk_;
    } else {
      std::string s;
      uc::append_utf8(s, uc::byte_to_cp(static_cast<uint8_t>(b)));
      id = find(s);
    }
    byte_ids_[b] = id;
  }

  // Merge ranks (BPE): "left right", the earlier the stronger.
  if (!spm_) {
    const MetaValue* merges = f.find("tokenizer.ggml.merges");
    if (!merges) return fail("tokenizer.ggml.merges is missing (required for a gpt2 tokenizer)");
    if (merges->type != GgufType::array || merges->elem_type != GgufType::string ||
        merges->strings.size() != merges->count)
      return fail("tokenizer.ggml.merges is not an array of strings");
    ranks_.reserve(merges->strings.size());
    for (size_t r = 0; r < merges->strings.size(); ++r) {
      const std::string& m = merges->strings[r];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos)
        return fail("tokenizer.ggml.merges[" + std::to_string(r) + "] is not of the form 'left right'");
      const int32_t l = find(std::string_view(m).substr(0, sp));
      const int32_t rt = find(std::string_view(m).substr(sp + 1));
      if (l < 0 || rt < 0) continue;  // can never apply
      ranks_.insert(l, rt, static_cast<int32_t>(r));
    }
  }

  // End of generation.
  eog_.assign(n, 0);
  if (eot_ < 0) {
    for (std::string_view t : kEogTexts) {
      if (t == "<|eom_id|>" || t == "<|end_of_text|>") continue;
      if (int32_t id = find(t); id >= 0) { eot_ = id; break; }
    }
  }
  if (eom_ < 0) eom_ = find("<|eom_id|>");
  for (std::string_view t : kEogTexts) {
    if (int32_t id = find(t); id >= 0) eog_[id] = 1;
  }
  for (int32_t id : {eos_, eot_, eom_}) {
    if (id >= 0) eog_[id] = 1;
  }

  // Special tokens matched inside text; phi-3 strips whitespace after them.
  rstrip_.assign(n, 0);
  const std::string name = lower(f.get_string("general.name"));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (size_t i = 0; i < n; ++i) rstrip_[i] = is_special(int32_t(i)) ? 1 : 0;
    if (int32_t id = find("</s>"); id >= 0) rstrip_[id] = 1;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (int32_t id = find(t); id >= 0) rstrip_[id] = 0;
    }
  }
  build_specials();

  // Pieces.
  pieces_.reserve(n, bytes);
  std::string p;
  for (size_t i = 0; i < n; ++i) {
    const std::string_view t = tokens_[i];
    p.clear();
    const int32_t ty = types_[i];
    if (ty == control || ty == unknown || ty == user_defined) {
      p = t;
    } else if (spm_) {
      unsigned hexval = 0;
      char tail = 0;
      if (ty == byte && t.size() == 6 && std::sscanf(std::string(t).c_str(), "<0x%2X%c", &hexval, &tail) == 2 &&
          tail == '>') {
        p.assign(1, static_cast<char>(hexval));
      } else {
        for (size_t k = 0; k < t.size();) {
          if (t.compare(k, kSpmSpace.size(), kSpmSpace) == 0) {
            p += ' ';
            k += kSpmSpace.size();
          } else {
            p += t[k++];
          }
        }
      }
    } else {
      for (size_t k = 0; k < t.size();) {
        const uc::Decoded d = uc::decode_utf8(t, k);
        const int b = d.valid ? uc::cp_to_byte(d.cp) : -1;
        if (b >= 0) p += static_cast<char>(b);
        else p.append(t, k, d.len);
        k += d.len;
      }
    }
    pieces_.push(p);
  }
  return Ok{};
}

void Tokenizer::build_specials() {
  trie_.clear();
  trie_.emplace_back();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (!is_special(int32_t(i)) || tokens_[i].empty()) continue;
    int32_t node = 0;
    for (char ch : tokens_[i]) {
      const auto c = static_cast<unsigned char>(ch);
      int32_t child = -1;
      for (const auto& [k, v] : trie_[node].next) {
        if (k == c) { child = v; break; }
      }
      if (child < 0) {
        child = static_cast<int32_t>(trie_.size());
        trie_[node].next.emplace_back(c, child);
        trie_.emplace_back();
      }
      node = child;
    }
    trie_[node].id = static_cast<int32_t>(i);  // duplicates: the last id, like index_
  }
  if (trie_[0].next.empty()) trie_.clear();
}

int32_t Tokenizer::match_special(std::string_view text, size_t pos, bool parse_special, size_t& len) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (const auto& [k, v] : trie_[node].next) {
      if (k == c) { child = v; break; }
    }
    if (child < 0) break;
    node = child;
    const int32_t id = trie_[node].id;
    if (id >= 0 && (parse_special || types_[id] == user_defined)) {
      best = id;
      len = i + 1 - pos;
    }
  }
  return best;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && add_bos_) out.push_back(bos_);
  bool prev_special = true;  // SPM: the first fragment, and any after a special, get a space
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    const int32_t id = trie_.empty() ? -1 : match_special(text, pos, parse_special, len);
    if (id < 0) {
      ++pos;
      continue;
    }
    if (pos > start) encode_fragment(text.substr(start, pos - start), prev_special, out);
    out.push_back(id);
    prev_special = true;
    pos += len;
    if (rstrip_[id]) {
      while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    }
    start = pos;
  }
  if (start < text.size()) encode_fragment(text.substr(start), prev_special, out);
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

void Tokenizer::encode_fragment(std::string_view text, bool prev_special, std::vector<int32_t>& out) const {
  if (spm_) encode_spm(text, add_space_prefix_ && prev_special, out);
  else encode_bpe(text, out);
}

std::string Tokenizer::token_bytes(int32_t id) const {
  return id >= 0 && size_t(id) < pieces_.size() ? std::string(pieces_[id]) : std::string();
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  bool strip = spm_ && add_space_prefix_;  // undo the space the encoder put before the first text
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= tokens_.size()) continue;
    const int32_t ty = types_[id];
    if (ty == control || ty == unknown || ty == user_defined) {
      if (!(skip_special && ty != user_defined)) out += pieces_[id];
      continue;
    }
    const std::string_view p = pieces_[id];
    if (strip && !p.empty() && p[0] == ' ') out += p.substr(1);
    else out += p;
    strip = false;
  }
  return out;
}

bool Tokenizer::is_eog(int32_t id) const { return id >= 0 && size_t(id) < eog_.size() && eog_[id]; }

bool Tokenizer::is_special(int32_t id) const {
  const int32_t t = type(id);
  return t == control || t == user_defined || t == unknown;
}

int32_t Tokenizer::type(int32_t id) const {
  return id >= 0 && size_t(id) < types_.size() ? types_[id] : 0;
}

int32_t Tokenizer::find(std::string_view token_text) const {
  return index_.find(tokens_, token_text);
}

std::string_view Tokenizer::text(int32_t id) const {
  return id >= 0 && size_t(id) < tokens_.size() ? tokens_[id] : std::string_view();
}

}  // namespace fh::local
