// Template source -> segments and tokens (see jinja_lex.hpp).
#include "providers/local/chat/jinja_lex.hpp"

#include <cctype>
#include <cstdlib>
#include <optional>

#include "providers/local/chat/jinja_ast.hpp"

namespace fh::local::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Segment> run() {
    std::vector<Segment> segs;
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t open = find_open(pos);
      if (open > pos || open == std::string::npos) {
        size_t end = open == std::string::npos ? src_.size() : open;
        Segment t;
        t.k = Segment::K::text;
        t.a = pos;
        t.b = end;
        t.line = line_at(pos);
        segs.push_back(std::move(t));
        if (open == std::string::npos) break;
      }
      pos = lex_tag(open, segs);
    }
    apply_whitespace(segs);
    return segs;
  }

  const std::string& source() const { return src_; }

 private:
  std::string src_;

  // Line of a position; positions are asked for mostly in increasing order, so this walks on.
  int line_at(size_t pos) const {
    if (pos < line_pos_) {
      line_pos_ = 0;
      line_no_ = 1;
    }
    for (; line_pos_ < pos && line_pos_ < src_.size(); ++line_pos_) line_no_ += src_[line_pos_] == '\n';
    return line_no_;
  }
  mutable size_t line_pos_ = 0;
  mutable int line_no_ = 1;

  size_t find_open(size_t pos) const {
    for (size_t k = pos; k + 1 < src_.size(); ++k)
      if (src_[k] == '{' && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
    return std::string::npos;
  }

  [[noreturn]] void fail(const std::string& msg, size_t pos) const { throw TemplateError(msg, line_at(pos)); }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
    else { out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
  }

  // Python's unicode-escape rules for the character after a backslash (jinja2 applies them to
  // string literals); `q` is just past that character. Returns the new position.
  size_t unescape(char e, size_t q, std::string& out) const {
    auto hex = [&](size_t n) -> std::optional<uint32_t> {
      if (q + n > src_.size()) return std::nullopt;
      uint32_t v = 0;
      for (size_t k = 0; k < n; ++k) {
        char c = src_[q + k];
        if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
        v = v * 16 + uint32_t(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
      }
      return v;
    };
    switch (e) {
      case 'n': out += '\n'; return q;
      case 't': out += '\t'; return q;
      case 'r': out += '\r'; return q;
      case 'a': out += '\a'; return q;
      case 'b': out += '\b'; return q;
      case 'f': out += '\f'; return q;
      case 'v': out += '\v'; return q;
      case '\\': case '\'': case '"': out += e; return q;
      case '\n': return q;
      case 'x': case 'u': case 'U': {
        size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        auto v = hex(n);
        if (!v) fail("bad \\" + std::string(1, e) + " escape in string literal", q);
        put_utf8(out, *v);
        return q + n;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = uint32_t(e - '0');
          for (int k = 0; k < 2 && q < src_.size() && src_[q] >= '0' && src_[q] <= '7'; ++k) v = v * 8 + uint32_t(src_[q++] - '0');
          put_utf8(out, v);
          return q;
        }
        out += '\\';
        out += e;
        return q;
    }
  }

  size_t lex_tag(size_t open, std::vector<Segment>& segs) {
    Segment s;
    s.line = line_at(open);
    char kind = src_[open + 1];
    size_t p = open + 2;
    if (p < src_.size() && src_[p] == '-') { s.strip_before = true; ++p; }
    else if (p < src_.size() && src_[p] == '+' && kind != '{') { s.plus_before = true; ++p; }
    if (kind == '#') {
      s.k = Segment::K::comment;
      size_t close = src_.find("#}", p);
      if (close == std::string::npos) fail("unterminated comment", open);
      if (close > p && src_[close - 1] == '-') s.strip_after = true;
      segs.push_back(std::move(s));
      return close + 2;
    }
    s.k = kind == '{' ? Segment::K::var : Segment::K::block;
    const char closer = kind == '{' ? '}' : '%';
    int depth = 0;
    while (true) {
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (p >= src_.size()) fail(kind == '{' ? "unterminated '{{'" : "unterminated '{%'", open);
      auto at_close = [&](size_t q) { return q + 1 < src_.size() && src_[q] == closer && src_[q + 1] == '}'; };
      if (depth == 0) {
        if (at_close(p)) { p += 2; break; }
        if ((src_[p] == '-' || src_[p] == '+') && at_close(p + 1)) {
          if (src_[p] == '-') s.strip_after = true;
          else s.plus_after = true;
          p += 3;
          break;
        }
      }
      Tok t;
      t.line = line_at(p);
      char c = src_[p];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t q = p;
        while (q < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
        t.t = Tok::T::name;
        t.s = src_.substr(p, q - p);
        p = q;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t q = p;
        bool flt = false;
        while (q < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
        if (q + 1 < src_.size() && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
          flt = true;
          ++q;
          while (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) ++q;
        }
        if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
          size_t r = q + 1;
          if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
          if (r < src_.size() && std::isdigit(static_cast<unsigned char>(src_[r]))) {
            flt = true;
            q = r;
            while (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) ++q;
          }
        }
        t.t = flt ? Tok::T::number : Tok::T::integer;
        for (size_t k = p; k < q; ++k)
          if (src_[k] != '_') t.s += src_[k];
        p = q;
      } else if (c == '\'' || c == '"') {
        t.t = Tok::T::string;
        size_t q = p + 1;
        while (true) {
          if (q >= src_.size()) fail("unterminated string literal", p);
          char d = src_[q];
          if (d == c) break;
          if (d == '\\' && q + 1 < src_.size()) {
            char e = src_[q + 1];
            q += 2;
            q = unescape(e, q, t.s);
            continue;
          }
          t.s += d;
          ++q;
        }
        p = q + 1;
      } else {
        static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                    "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"};
        bool found = false;
        for (const char* op : ops) {
          size_t n = std::char_traits<char>::length(op);
          if (src_.compare(p, n, op) == 0) {
            t.t = Tok::T::op;
            t.s = op;
            p += n;
            found = true;
            break;
          }
        }
        if (!found) fail(std::string("unexpected character '") + c + "' in tag", p);
        if (t.s == "(" || t.s == "[" || t.s == "{") ++depth;
        if (t.s == ")" || t.s == "]" || t.s == "}") --depth;
      }
      s.toks.push_back(std::move(t));
      if (s.toks.size() > 100000) fail("tag too long", open);
    }
    size_t after = p;
    if (s.k == Segment::K::block && s.toks.size() == 1 && s.toks[0].s == "raw" && s.toks[0].t == Tok::T::name) {
      // {% raw %} ... {% endraw %}: the body is text, verbatim.
      size_t q = after;
      while (true) {
        size_t o = src_.find("{%", q);
        if (o == std::string::npos) fail("missing {% endraw %}", open);
        size_t r = o + 2;
        bool strip_in = false;
        if (r < src_.size() && src_[r] == '-') { strip_in = true; ++r; }
        while (r < src_.size() && is_space(src_[r])) ++r;
        if (src_.compare(r, 6, "endraw") != 0) { q = o + 2; continue; }
        r += 6;
        while (r < src_.size() && is_space(src_[r])) ++r;
        bool strip_out = false;
        if (r < src_.size() && src_[r] == '-') { strip_out = true; ++r; }
        if (src_.compare(r, 2, "%}") != 0) { q = o + 2; continue; }
        Segment raw_open = std::move(s);
        raw_open.toks.clear();
        raw_open.k = Segment::K::comment;  // behaves like a tag that emits nothing
        segs.push_back(std::move(raw_open));
        Segment body;
        body.k = Segment::K::text;
        body.a = after;
        body.b = o;
        body.line = line_at(after);
        segs.push_back(std::move(body));
        Segment close;
        close.k = Segment::K::comment;
        close.strip_before = strip_in;
        close.strip_after = strip_out;
        close.line = line_at(o);
        segs.push_back(std::move(close));
        return r + 2;
      }
    }
    segs.push_back(std::move(s));
    return after;
  }

  void apply_whitespace(std::vector<Segment>& segs) {
    for (size_t k = 0; k < segs.size(); ++k) {
      Segment& s = segs[k];
      if (s.k != Segment::K::text) continue;
      size_t a = s.a, b = s.b;
      const Segment* prev = k > 0 ? &segs[k - 1] : nullptr;
      const Segment* next = k + 1 < segs.size() ? &segs[k + 1] : nullptr;
      if (prev && prev->strip_after) {
        while (a < b && is_space(src_[a])) ++a;
      } else if (prev && prev->k != Segment::K::var && !prev->plus_after) {
        if (a < b && src_[a] == '\n') ++a;  // trim_blocks
      }
      if (next && next->strip_before) {
        while (b > a && is_space(src_[b - 1])) --b;
      } else if (next && next->k != Segment::K::var && !next->plus_before) {
        // lstrip_blocks: drop spaces/tabs between the line start and a block or comment tag.
        size_t q = b;
        while (q > a && is_space(src_[q - 1]) && src_[q - 1] != '\n') --q;
        bool line_start = q > a ? src_[q - 1] == '\n' : (q == 0 || src_[q - 1] == '\n');
        if (line_start) b = q;
      }
      s.text = src_.substr(a, b - a);
    }
  }
};

}  // namespace

std::vector<Segment> lex_template(std::string src) {
  Lexer lx(std::move(src));
  return lx.run();
}

}  // namespace fh::local::jinja
