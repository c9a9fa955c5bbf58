// fh::local::jinja internal: the lexer. Template source (newlines already normalized) -> text,
// output, statement and comment segments, each tag cut into tokens, with jinja2's whitespace
// control (trim_blocks, lstrip_blocks, `-` and `+`) already applied to the text segments.
// Internal to providers/local/chat; not a public interface.
#pragma once

#include <string>
#include <vector>

namespace fh::local::jinja {

struct Tok {
  enum class T { name, string, integer, number, op, end } t = T::end;
  std::string s;
  int line = 0;
};

struct Segment {
  enum class K { text, var, block, comment } k = K::text;
  size_t a = 0, b = 0;  // text: source range
  std::vector<Tok> toks;
  bool strip_before = false, plus_before = false, strip_after = false, plus_after = false;
  int line = 0;
  std::string text;
};

// Throws TemplateError (with the line) on malformed input.
std::vector<Segment> lex_template(std::string src);

}  // namespace fh::local::jinja
