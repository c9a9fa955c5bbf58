// Template source -> syntax tree. Newlines are normalized to "\n" and one trailing newline dropped
// (as jinja2 does); jinja_lex.cpp cuts the source into segments with HF's whitespace settings; the
// parser here follows jinja2's statements and expression precedence levels.
#include <cctype>
#include <cstdlib>
#include <optional>

#include "providers/local/chat/jinja_ast.hpp"
#include "providers/local/chat/jinja_lex.hpp"

namespace fh::local::jinja {
namespace {

class Parser {
 public:
  Parser(std::vector<Segment> segs, int max_depth) : segs_(std::move(segs)), max_depth_(max_depth) {}

  std::unique_ptr<Template> run() {
    auto t = std::make_unique<Template>();
    std::string end;
    t->body = parse_body({}, end);
    return t;
  }

 private:
  std::vector<Segment> segs_;
  size_t si_ = 0;
  int max_depth_;
  int depth_ = 0;
  // current tag's tokens
  const std::vector<Tok>* toks_ = nullptr;
  size_t ti_ = 0;
  int line_ = 0;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& pp) : p(pp) {
      if (++p.depth_ > p.max_depth_) throw TemplateError("template nested too deeply", p.line_);
    }
    ~DepthGuard() { --p.depth_; }
  };

  [[noreturn]] void fail(const std::string& msg) const { throw TemplateError(msg, line_); }

  // Each link of a flat chain (a + b + c, x|f|g, a.b.c, x if c else ...) nests the tree one
  // level deeper, and evaluating (and freeing) it recurses that deep: links count as nesting.
  void link(int& links) {
    if (++links + depth_ > max_depth_) throw TemplateError("template nested too deeply", line_);
  }

  const Tok& cur() const {
    static const Tok end_tok;
    return ti_ < toks_->size() ? (*toks_)[ti_] : end_tok;
  }
  const Tok& peek(size_t n = 1) const {
    static const Tok end_tok;
    return ti_ + n < toks_->size() ? (*toks_)[ti_ + n] : end_tok;
  }
  bool at_op(const char* s) const { return cur().t == Tok::T::op && cur().s == s; }
  bool at_name(const char* s) const { return cur().t == Tok::T::name && cur().s == s; }
  bool at_end() const { return ti_ >= toks_->size(); }
  void expect_op(const char* s) {
    if (!at_op(s)) fail(std::string("expected '") + s + "', got '" + (at_end() ? "end of tag" : cur().s) + "'");
    ++ti_;
  }
  std::string expect_name() {
    if (cur().t != Tok::T::name) fail("expected a name, got '" + (at_end() ? std::string("end of tag") : cur().s) + "'");
    return (*toks_)[ti_++].s;
  }
  void expect_end() {
    if (!at_end()) fail("unexpected '" + cur().s + "' in tag");
  }

  ExprP make(Expr::K k) {
    auto e = std::make_unique<Expr>();
    e->k = k;
    e->line = line_;
    return e;
  }

  // Parses nodes until a block tag whose first word is in `ends`; returns that word in `end`.
  Body parse_body(const std::vector<std::string>& ends, std::string& end) {
    DepthGuard g(*this);
    Body body;
    while (si_ < segs_.size()) {
      Segment& s = segs_[si_++];
      line_ = s.line;
      if (s.k == Segment::K::text) {
        if (s.text.empty()) continue;
        auto n = std::make_unique<Node>();
        n->k = Node::K::text;
        n->text = std::move(s.text);
        body.push_back(std::move(n));
        continue;
      }
      if (s.k == Segment::K::comment) continue;
      toks_ = &s.toks;
      ti_ = 0;
      if (s.k == Segment::K::var) {
        auto n = std::make_unique<Node>();
        n->k = Node::K::output;
        n->line = line_;
        n->expr = parse_expr();
        expect_end();
        body.push_back(std::move(n));
        continue;
      }
      if (at_end()) fail("empty block tag");
      std::string kw = expect_name();
      for (auto& e : ends)
        if (kw == e) {
          end = kw;
          return body;
        }
      body.push_back(parse_statement(kw));
    }
    if (!ends.empty()) fail("missing {% " + ends.back() + " %} (reached end of template)");
    return body;
  }

  NodeP parse_statement(const std::string& kw) {
    auto n = std::make_unique<Node>();
    n->line = line_;
    std::string end;
    if (kw == "if") {
      n->k = Node::K::if_;
      n->conds.push_back(parse_expr());
      expect_end();
      while (true) {
        n->bodies.push_back(parse_body({"elif", "else", "endif"}, end));
        if (end == "elif") {
          n->conds.push_back(parse_expr());
          expect_end();
        } else if (end == "else") {
          expect_end();
          n->bodies.push_back(parse_body({"endif"}, end));
          expect_end();
          break;
        } else {
          expect_end();
          break;
        }
      }
    } else if (kw == "for") {
      n->k = Node::K::for_;
      n->targets.push_back(expect_name());
      while (at_op(",")) {
        ++ti_;
        n->targets.push_back(expect_name());
      }
      if (!at_name("in")) fail("expected 'in' in for loop");
      ++ti_;
      n->expr = parse_or_ternary(false);
      if (at_name("if")) {
        ++ti_;
        n->filter = parse_or_ternary(false);
      }
      if (at_name("recursive")) fail("unsupported template construct 'for ... recursive'");
      expect_end();
      n->body = parse_body({"else", "endfor"}, end);
      if (end == "else") {
        expect_end();
        n->else_body = parse_body({"endfor"}, end);
      }
      expect_end();
    } else if (kw == "set") {
      std::string first = expect_name();
      if (at_op(".")) {
        ++ti_;
        n->attr = expect_name();
      }
      n->targets.push_back(first);
      while (at_op(",")) {
        ++ti_;
        n->targets.push_back(expect_name());
      }
      if (at_op("=")) {
        ++ti_;
        n->k = Node::K::set;
        n->expr = parse_tuple_or_expr();
        expect_end();
      } else {
        n->k = Node::K::set_block;
        if (at_op("|")) {
          ++ti_;
          n->filter = parse_filter_chain(nullptr);
        }
        expect_end();
        n->body = parse_body({"endset"}, end);
        expect_end();
      }
    } else if (kw == "macro") {
      n->k = Node::K::macro;
      n->name = expect_name();
      parse_params(n->params, &n->defaults);
      expect_end();
      n->body = parse_body({"endmacro"}, end);
      if (!at_end() && cur().t == Tok::T::name) ++ti_;  // {% endmacro name %}
      expect_end();
    } else if (kw == "call") {
      n->k = Node::K::call_block;
      if (at_op("(")) parse_params(n->caller_params, nullptr);
      n->expr = parse_expr();
      if (n->expr->k != Expr::K::call) fail("{% call %} needs a macro call");
      expect_end();
      n->body = parse_body({"endcall"}, end);
      expect_end();
    } else if (kw == "filter") {
      n->k = Node::K::filter_block;
      n->filter = parse_filter_chain(nullptr);
      expect_end();
      n->body = parse_body({"endfilter"}, end);
      expect_end();
    } else if (kw == "generation") {
      // HF's AssistantTracker block: renders its body unchanged.
      n->k = Node::K::if_;
      auto t = make(Expr::K::literal);
      t->lit = Value::boolean(true);
      n->conds.push_back(std::move(t));
      expect_end();
      n->bodies.push_back(parse_body({"endgeneration"}, end));
      expect_end();
    } else if (kw == "break" || kw == "continue") {
      n->k = kw == "break" ? Node::K::break_ : Node::K::continue_;
      expect_end();
    } else {
      fail("unsupported template construct '{% " + kw + " %}'");
    }
    return n;
  }

  void parse_params(std::vector<std::string>& names, std::vector<ExprP>* defaults) {
    expect_op("(");
    while (!at_op(")")) {
      names.push_back(expect_name());
      ExprP d;
      if (at_op("=")) {
        if (!defaults) fail("caller parameters cannot have defaults here");
        ++ti_;
        d = parse_expr();
      }
      if (defaults) defaults->push_back(std::move(d));
      if (at_op(",")) ++ti_;
      else if (!at_op(")")) fail("expected ',' or ')' in parameter list");
    }
    ++ti_;
  }

  // ---- expressions ----
 public:
  ExprP parse_expr() { return parse_or_ternary(true); }

 private:
  ExprP parse_tuple_or_expr() {
    ExprP e = parse_expr();
    if (!at_op(",")) return e;
    auto t = make(Expr::K::tuple);
    t->args.push_back(std::move(e));
    while (at_op(",")) {
      ++ti_;
      if (at_end()) break;
      t->args.push_back(parse_expr());
    }
    return t;
  }

  ExprP parse_or_ternary(bool with_cond) {
    DepthGuard g(*this);
    ExprP e = parse_or();
    int links = 0;
    while (with_cond && at_name("if")) {
      link(links);
      ++ti_;
      auto c = make(Expr::K::cond);
      c->b = parse_or();
      c->a = std::move(e);
      if (at_name("else")) {
        ++ti_;
        c->c = parse_or_ternary(true);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprP parse_or() {
    ExprP e = parse_and();
    int links = 0;
    while (at_name("or")) {
      link(links);
      ++ti_;
      auto o = make(Expr::K::or_);
      o->a = std::move(e);
      o->b = parse_and();
      e = std::move(o);
    }
    return e;
  }

  ExprP parse_and() {
    ExprP e = parse_not();
    int links = 0;
    while (at_name("and")) {
      link(links);
      ++ti_;
      auto o = make(Expr::K::and_);
      o->a = std::move(e);
      o->b = parse_not();
      e = std::move(o);
    }
    return e;
  }

  ExprP parse_not() {
    if (at_name("not")) {
      DepthGuard g(*this);
      ++ti_;
      auto n = make(Expr::K::op_not);
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }

  ExprP parse_compare() {
    ExprP e = parse_math1();
    int links = 0;
    while (true) {
      std::string op;
      bool neg = false;
      if (cur().t == Tok::T::op && (cur().s == "==" || cur().s == "!=" || cur().s == "<" || cur().s == "<=" ||
                                    cur().s == ">" || cur().s == ">=")) {
        op = cur().s;
        ++ti_;
      } else if (at_name("in")) {
        op = "in";
        ++ti_;
      } else if (at_name("not") && peek().t == Tok::T::name && peek().s == "in") {
        op = "in";
        neg = true;
        ti_ += 2;
      } else {
        return e;
      }
      link(links);
      auto c = make(Expr::K::compare);
      c->name = op;
      c->negated = neg;
      c->a = std::move(e);
      c->b = parse_math1();
      e = std::move(c);
    }
  }

  ExprP binop(const std::string& op, ExprP a, ExprP b) {
    auto e = make(Expr::K::binop);
    e->name = op;
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprP parse_math1() {
    ExprP e = parse_concat();
    int links = 0;
    while (at_op("+") || at_op("-")) {
      link(links);
      std::string op = cur().s;
      ++ti_;
      e = binop(op, std::move(e), parse_concat());
    }
    return e;
  }

  ExprP parse_concat() {
    ExprP e = parse_math2();
    if (!at_op("~")) return e;
    auto c = make(Expr::K::concat);
    c->args.push_back(std::move(e));
    while (at_op("~")) {
      ++ti_;
      c->args.push_back(parse_math2());
    }
    return c;
  }

  ExprP parse_math2() {
    ExprP e = parse_pow();
    int links = 0;
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      link(links);
      std::string op = cur().s;
      ++ti_;
      e = binop(op, std::move(e), parse_pow());
    }
    return e;
  }

  ExprP parse_pow() {
    ExprP e = parse_unary(true);
    int links = 0;
    while (at_op("**")) {
      link(links);
      ++ti_;
      e = binop("**", std::move(e), parse_unary(true));
    }
    return e;
  }

  ExprP parse_unary(bool with_filter) {
    DepthGuard g(*this);
    ExprP e;
    if (at_op("-")) {
      ++ti_;
      e = make(Expr::K::neg);
      e->a = parse_unary(false);
    } else if (at_op("+")) {
      ++ti_;
      e = parse_unary(false);
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) e = parse_filter_chain(std::move(e));
    return e;
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!at_op(")")) {
      if (cur().t == Tok::T::name && peek().t == Tok::T::op && peek().s == "=") {
        call.kwnames.push_back(cur().s);
        ti_ += 2;
        call.kwargs.push_back(parse_expr());
      } else {
        if (!call.kwargs.empty()) fail("positional argument after keyword argument");
        call.args.push_back(parse_expr());
      }
      if (at_op(",")) ++ti_;
      else if (!at_op(")")) fail("expected ',' or ')' in call arguments");
    }
    ++ti_;
  }

  ExprP parse_filter_chain(ExprP e) {
    // e == nullptr: a filter section without operand ({% filter %}, {% set x | f %}).
    bool first = true;
    int links = 0;
    while (true) {
      if (at_op("|") || at_name("is") || at_op("(")) link(links);
      if (at_op("|") || (first && !e)) {
        if (at_op("|")) ++ti_;
        first = false;
        auto f = make(Expr::K::filter);
        f->name = expect_name();
        while (at_op(".")) {
          ++ti_;
          f->name += "." + expect_name();
        }
        if (at_op("(")) parse_call_args(*f);
        f->a = std::move(e);
        e = std::move(f);
      } else if (at_name("is") && e) {
        ++ti_;
        auto t = make(Expr::K::test);
        if (at_name("not")) {
          ++ti_;
          t->negated = true;
        }
        t->name = expect_name();
        if (at_op("(")) {
          parse_call_args(*t);
        } else if (!at_end() && (cur().t == Tok::T::name || cur().t == Tok::T::string ||
                                 cur().t == Tok::T::integer || cur().t == Tok::T::number || at_op("[") ||
                                 at_op("{")) &&
                   !at_name("else") && !at_name("or") && !at_name("and") && !at_name("if")) {
          if (at_name("is")) fail("cannot chain multiple tests with 'is'");
          t->args.push_back(parse_postfix(parse_primary()));
        }
        t->a = std::move(e);
        e = std::move(t);
      } else if (at_op("(") && e) {
        auto c = make(Expr::K::call);
        parse_call_args(*c);
        c->a = std::move(e);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprP parse_postfix(ExprP e) {
    int links = 0;
    while (true) {
      if (at_op(".") || at_op("[") || at_op("(")) link(links);
      if (at_op(".")) {
        ++ti_;
        auto a = make(Expr::K::attr);
        if (cur().t == Tok::T::integer) {
          a->k = Expr::K::subscript;
          auto idx = make(Expr::K::literal);
          idx->lit = Value::integer(std::strtoll(cur().s.c_str(), nullptr, 10));
          ++ti_;
          a->b = std::move(idx);
        } else {
          a->name = expect_name();
        }
        a->a = std::move(e);
        e = std::move(a);
      } else if (at_op("[")) {
        ++ti_;
        auto s = make(Expr::K::subscript);
        ExprP parts[3];
        int n = 0;
        bool is_slice = false;
        while (true) {
          if (at_op(":")) {
            is_slice = true;
            ++ti_;
            if (++n > 2) fail("too many ':' in slice");
            continue;
          }
          if (at_op("]")) break;
          if (parts[n]) fail("expected ']' in subscript");
          parts[n] = parse_expr();
        }
        ++ti_;
        if (is_slice) {
          s->k = Expr::K::slice;
          for (auto& p : parts) s->args.push_back(std::move(p));
        } else {
          if (!parts[0]) fail("empty subscript");
          s->b = std::move(parts[0]);
        }
        s->a = std::move(e);
        e = std::move(s);
      } else if (at_op("(")) {
        auto c = make(Expr::K::call);
        parse_call_args(*c);
        c->a = std::move(e);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprP parse_primary() {
    DepthGuard g(*this);
    if (at_end()) fail("unexpected end of expression");
    const Tok& t = cur();
    if (t.t == Tok::T::name) {
      ++ti_;
      auto e = make(Expr::K::literal);
      if (t.s == "true" || t.s == "True") e->lit = Value::boolean(true);
      else if (t.s == "false" || t.s == "False") e->lit = Value::boolean(false);
      else if (t.s == "none" || t.s == "None") e->lit = Value::none();
      else {
        e->k = Expr::K::name;
        e->name = t.s;
      }
      return e;
    }
    if (t.t == Tok::T::string) {
      std::string s;
      while (cur().t == Tok::T::string) s += (*toks_)[ti_++].s;
      auto e = make(Expr::K::literal);
      e->lit = Value::string(std::move(s));
      return e;
    }
    if (t.t == Tok::T::integer) {
      ++ti_;
      auto e = make(Expr::K::literal);
      errno = 0;
      long long v = std::strtoll(t.s.c_str(), nullptr, 10);
      if (errno == ERANGE) fail("integer literal out of range");
      e->lit = Value::integer(v);
      return e;
    }
    if (t.t == Tok::T::number) {
      ++ti_;
      auto e = make(Expr::K::literal);
      e->lit = Value::number(std::strtod(t.s.c_str(), nullptr));
      return e;
    }
    if (at_op("(")) {
      ++ti_;
      if (at_op(")")) {
        ++ti_;
        return make(Expr::K::tuple);
      }
      ExprP e = parse_expr();
      if (at_op(",")) {
        auto tup = make(Expr::K::tuple);
        tup->args.push_back(std::move(e));
        while (at_op(",")) {
          ++ti_;
          if (at_op(")")) break;
          tup->args.push_back(parse_expr());
        }
        e = std::move(tup);
      }
      expect_op(")");
      return e;
    }
    if (at_op("[")) {
      ++ti_;
      auto l = make(Expr::K::list);
      while (!at_op("]")) {
        l->args.push_back(parse_expr());
        if (at_op(",")) ++ti_;
        else if (!at_op("]")) fail("expected ',' or ']' in list");
      }
      ++ti_;
      return l;
    }
    if (at_op("{")) {
      ++ti_;
      auto d = make(Expr::K::dict);
      while (!at_op("}")) {
        d->args.push_back(parse_expr());
        expect_op(":");
        d->args.push_back(parse_expr());
        if (at_op(",")) ++ti_;
        else if (!at_op("}")) fail("expected ',' or '}' in dict");
      }
      ++ti_;
      return d;
    }
    fail("unexpected '" + t.s + "' in expression");
  }
};

}  // namespace

std::unique_ptr<Template> parse_template(std::string_view source, int max_depth) {
  // jinja2 normalizes every newline sequence to "\n" and drops one trailing newline.
  std::string src;
  src.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      src += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      src += source[k];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  Parser p(lex_template(std::move(src)), max_depth);
  return p.run();
}

}  // namespace fh::local::jinja
