// The template evaluator: walks the syntax tree with scopes (for loops and macros get their own,
// `if` does not), HF's globals, and the limits of RenderOptions. Internal errors travel as
// TemplateError and become an fh::Error at render()'s boundary.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "providers/local/chat/jinja.hpp"
#include "providers/local/chat/jinja_builtins.hpp"

namespace fh::local::jinja {
namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  Scope* parent = nullptr;
  Value* find(const std::string& n) {
    for (Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(n);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { normal, brk, cont };

// Lists and dicts a namespace attribute may hold, nested: the recursive printers, comparisons
// and destructors stay far from the stack's end.
constexpr int kMaxValueDepth = 256;

// Nesting of the lists and dicts in v, counted up to limit + 1. Namespaces are not entered: the
// interpreter owns them all (see Interp::namespaces_).
int nesting(const Value& v, int limit) {
  if (limit < 0) return 1;
  int inner = 0;
  if (v.is_list()) {
    for (const Value& x : *v.l)
      if ((inner = std::max(inner, nesting(x, limit - 1))) > limit) break;
  } else if (v.is_dict() && !v.d->is_namespace) {
    for (const auto& [k, x] : v.d->items)
      if ((inner = std::max(inner, nesting(x, limit - 1))) > limit) break;
  } else {
    return 0;
  }
  return 1 + inner;
}

// Bytes of the strings a list holds directly (copying the list copies them; nested lists are
// shared, not copied).
size_t string_bytes(const List& l) {
  size_t n = 0;
  for (const Value& x : l) n += x.s.size();
  return n;
}

class Interp {
 public:
  Interp(const RenderOptions& o) : opts_(o) {}
  // Namespaces are the only mutable values, so the only way to a reference cycle (ns.me = ns)
  // or to a chain deeper than any recursion could free: empty them all, without recursion.
  ~Interp() {
    for (auto& ns : namespaces_) ns->items.clear();
  }
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  std::string run(const Template& t, const Value& ctx) {
    Scope globals;
    for (auto& [k, v] : ctx.d->items) globals.vars[k] = v;
    install_globals(globals);
    Scope top;
    top.parent = &globals;
    top_ = &top;
    std::string out;
    exec_body(t.body, top, out);
    return out;
  }

 private:
  const RenderOptions& opts_;
  Scope* top_ = nullptr;
  int depth_ = 0;
  int64_t iterations_ = 0;
  int64_t steps_ = 0;
  int line_ = 0;
  std::vector<std::shared_ptr<Dict>> namespaces_;  // every namespace() made, see ~Interp

  BuiltinEnv env() const { return BuiltinEnv{line_, opts_.max_output}; }
  [[noreturn]] void fail(const std::string& m) const { throw TemplateError(m, line_); }
  // Lists are capped harder than strings: a value is ~100 bytes.
  void check_list(size_t n) const {
    if (n > opts_.max_output / 64) throw LimitError("list exceeds " + std::to_string(opts_.max_output / 64) + " items", line_);
  }
  void check_size(size_t n) const {
    if (n > opts_.max_output) throw LimitError("output exceeds the limit of " + std::to_string(opts_.max_output) + " bytes", line_);
  }

  // The work budget (RenderOptions::max_steps).
  void charge(int64_t n) {
    steps_ += n;
    if (steps_ > opts_.max_steps)
      throw LimitError("template exceeds " + std::to_string(opts_.max_steps) + " evaluation steps", line_);
  }
  static int64_t weight(const Value& v) {
    switch (v.kind) {
      case Value::Kind::string: return int64_t(v.s.size() / 8);
      case Value::Kind::list: return int64_t(v.l->size() / 16);  // a copy is shared; scans are not
      case Value::Kind::dict: return int64_t(v.d->items.size() / 16);
      default: return 0;
    }
  }

  struct Depth {
    Interp& in;
    explicit Depth(Interp& i) : in(i) {
      if (++in.depth_ > in.opts_.max_depth) throw LimitError("recursion deeper than " + std::to_string(in.opts_.max_depth), in.line_);
    }
    ~Depth() { --in.depth_; }
  };

  void install_globals(Scope& g) {
    g.vars["raise_exception"] = Value::callable([this](CallArgs& a) -> Value {
      throw TemplateError(a.pos.empty() ? std::string("raise_exception") : to_str(a.pos[0]), line_, true);
    });
    g.vars["strftime_now"] = Value::callable([this](CallArgs& a) -> Value {
      if (a.pos.empty() || !a.pos[0].is_string()) fail("strftime_now needs a format string");
      std::time_t t = opts_.now ? *opts_.now : std::time(nullptr);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[512];
      size_t n = std::strftime(buf, sizeof buf, a.pos[0].s.c_str(), &tm);
      return Value::string(std::string(buf, n));
    });
    g.vars["namespace"] = Value::callable([this](CallArgs& a) -> Value {
      Value ns = Value::dict();
      ns.d->is_namespace = true;
      namespaces_.push_back(ns.d);
      for (auto& p : a.pos)
        if (p.is_dict())
          for (auto& [k, v] : p.d->items) ns.d->set(k, v);
      for (auto& [k, v] : a.kw) ns.d->set(k, v);
      return ns;
    });
    g.vars["dict"] = Value::callable([](CallArgs& a) -> Value {
      Value d = Value::dict();
      for (auto& p : a.pos)
        if (p.is_dict())
          for (auto& [k, v] : p.d->items) d.d->set(k, v);
      for (auto& [k, v] : a.kw) d.d->set(k, v);
      return d;
    });
    g.vars["range"] = Value::callable([this](CallArgs& a) -> Value {
      int64_t start = 0, stop = 0, step = 1;
      for (auto& p : a.pos)
        if (p.kind != Value::Kind::integer) fail("range needs integers");
      if (a.pos.size() == 1) stop = a.pos[0].i;
      else if (a.pos.size() >= 2) { start = a.pos[0].i; stop = a.pos[1].i; }
      if (a.pos.size() >= 3) step = a.pos[2].i;
      if (step == 0) fail("range step must not be zero");
      List out;
      for (int64_t k = start; step > 0 ? k < stop : k > stop;) {
        if (int64_t(out.size()) >= opts_.max_iterations) throw LimitError("range too large", line_);
        check_list(out.size() + 1);
        out.push_back(Value::integer(k));
        if (__builtin_add_overflow(k, step, &k)) break;  // the next value is past stop anyway
      }
      return Value::list(std::move(out));
    });
  }

  // ---- statements ----
  Flow exec_body(const Body& body, Scope& sc, std::string& out) {
    for (auto& n : body) {
      Flow f = exec(*n, sc, out);
      if (f != Flow::normal) return f;
    }
    return Flow::normal;
  }

  void emit(std::string& out, const std::string& s) {
    out += s;
    check_size(out.size());
  }

  Flow exec(const Node& n, Scope& sc, std::string& out) {
    Depth d(*this);
    if (n.k != Node::K::text) line_ = n.line;
    charge(1);
    switch (n.k) {
      case Node::K::text: charge(int64_t(n.text.size() / 8)); emit(out, n.text); return Flow::normal;
      case Node::K::output: emit(out, to_str(eval(*n.expr, sc))); return Flow::normal;
      case Node::K::if_:
        for (size_t k = 0; k < n.bodies.size(); ++k) {
          if (k < n.conds.size() && !truthy(eval(*n.conds[k], sc))) continue;
          return exec_body(n.bodies[k], sc, out);
        }
        return Flow::normal;
      case Node::K::for_: return exec_for(n, sc, out);
      case Node::K::set: assign(n, eval(*n.expr, sc), sc); return Flow::normal;
      case Node::K::set_block: {
        std::string buf;
        Scope inner;
        inner.parent = &sc;
        exec_body(n.body, inner, buf);
        Value v = Value::string(std::move(buf));
        if (n.filter) v = eval_filter(*n.filter, v, sc);
        assign(n, v, sc);
        return Flow::normal;
      }
      case Node::K::macro: sc.vars[n.name] = make_macro(n, nullptr, nullptr); return Flow::normal;
      case Node::K::call_block: {
        // caller() reads this block's scope, which may be a loop's and die with it: a macro that
        // stores caller in a namespace must not be able to call it after the block ends.
        auto alive = std::make_shared<bool>(true);
        struct Expire {
          std::shared_ptr<bool> flag;
          ~Expire() { *flag = false; }
        } expire{alive};
        Value caller = make_macro(n, &sc, alive);
        const Expr& call = *n.expr;
        Value fn = eval(*call.a, sc);
        if (fn.kind != Value::Kind::callable) fail("{% call %} target is not a macro");
        CallArgs args = eval_args(call, sc);
        args.kw.emplace_back("caller", caller);
        emit(out, to_str((*fn.fn)(args)));
        return Flow::normal;
      }
      case Node::K::filter_block: {
        std::string buf;
        exec_body(n.body, sc, buf);
        emit(out, to_str(eval_filter(*n.filter, Value::string(std::move(buf)), sc)));
        return Flow::normal;
      }
      case Node::K::break_: return Flow::brk;
      case Node::K::continue_: return Flow::cont;
    }
    return Flow::normal;
  }

  void assign(const Node& n, const Value& v, Scope& sc) {
    if (!n.attr.empty()) {
      Value* target = sc.find(n.targets[0]);
      if (!target || !target->is_dict() || !target->d->is_namespace)
        fail("cannot assign attribute '" + n.attr + "' on '" + n.targets[0] + "': not a namespace()");
      if (nesting(v, kMaxValueDepth) > kMaxValueDepth)
        throw LimitError("value nested deeper than " + std::to_string(kMaxValueDepth) + " levels", line_);
      target->d->set(n.attr, v);
      return;
    }
    if (n.targets.size() == 1) {
      sc.vars[n.targets[0]] = v;
      return;
    }
    List items = iterate(v, env());
    if (items.size() != n.targets.size()) fail("cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(n.targets.size()) + " names");
    for (size_t k = 0; k < items.size(); ++k) sc.vars[n.targets[k]] = items[k];
  }

  void bind_targets(const Node& n, const Value& item, Scope& sc) {
    if (n.targets.size() == 1) {
      sc.vars[n.targets[0]] = item;
      return;
    }
    List parts = iterate(item, env());
    if (parts.size() != n.targets.size()) fail("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(n.targets.size()) + " loop variables");
    for (size_t k = 0; k < parts.size(); ++k) sc.vars[n.targets[k]] = parts[k];
  }

  Flow exec_for(const Node& n, Scope& sc, std::string& out) {
    Value seq = eval(*n.expr, sc);
    if (seq.is_none()) fail("'NoneType' object is not iterable");
    List items = iterate(seq, env());
    if (n.filter) {
      List kept;
      for (auto& it : items) {
        Scope probe;
        probe.parent = &sc;
        bind_targets(n, it, probe);
        if (truthy(eval(*n.filter, probe))) kept.push_back(it);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      Scope inner;
      inner.parent = &sc;
      exec_body(n.else_body, inner, out);
      return Flow::normal;
    }
    const int64_t len = int64_t(items.size());
    for (int64_t k = 0; k < len; ++k) {
      if (++iterations_ > opts_.max_iterations) throw LimitError("more than " + std::to_string(opts_.max_iterations) + " loop iterations", n.line);
      Scope inner;
      inner.parent = &sc;
      bind_targets(n, items[size_t(k)], inner);
      Value loop = Value::dict();
      auto& L = *loop.d;
      L.set("index", Value::integer(k + 1));
      L.set("index0", Value::integer(k));
      L.set("revindex", Value::integer(len - k));
      L.set("revindex0", Value::integer(len - k - 1));
      L.set("first", Value::boolean(k == 0));
      L.set("last", Value::boolean(k == len - 1));
      L.set("length", Value::integer(len));
      L.set("depth", Value::integer(1));
      L.set("depth0", Value::integer(0));
      if (k > 0) L.set("previtem", items[size_t(k - 1)]);
      if (k + 1 < len) L.set("nextitem", items[size_t(k + 1)]);
      inner.vars["loop"] = loop;
      Flow f = exec_body(n.body, inner, out);
      if (f == Flow::brk) break;
    }
    return Flow::normal;
  }

  // A macro (or the body of a {% call %} block, when `caller_scope` is set: callable while
  // *alive) as a callable value.
  Value make_macro(const Node& n, Scope* caller_scope, std::shared_ptr<bool> alive) {
    const Node* node = &n;
    return Value::callable([this, node, caller_scope, alive](CallArgs& a) -> Value {
      if (alive && !*alive) fail("caller() called after its {% call %} block ended");
      Depth d(*this);
      Scope sc;
      sc.parent = caller_scope ? caller_scope : top_;
      const auto& params = caller_scope ? node->caller_params : node->params;
      if (a.pos.size() > params.size()) fail("macro '" + node->name + "' takes " + std::to_string(params.size()) + " arguments, got " + std::to_string(a.pos.size()));
      for (size_t k = 0; k < params.size(); ++k) {
        Value v;
        bool set = false;
        if (k < a.pos.size()) { v = a.pos[k]; set = true; }
        for (auto& [kw, x] : a.kw)
          if (kw == params[k]) { v = x; set = true; }
        if (!set && !caller_scope && node->defaults[k]) v = eval(*node->defaults[k], sc);
        sc.vars[params[k]] = v;
      }
      for (auto& [kw, x] : a.kw) {
        if (kw == "caller") { sc.vars["caller"] = x; continue; }
        bool known = false;
        for (auto& p : params) known |= p == kw;
        if (!known) fail("macro '" + node->name + "' has no parameter '" + kw + "'");
      }
      std::string buf;
      int saved = line_;
      exec_body(node->body, sc, buf);
      line_ = saved;
      return Value::string(std::move(buf));
    });
  }

  // ---- expressions ----
  CallArgs eval_args(const Expr& e, Scope& sc) {
    CallArgs a;
    for (auto& x : e.args) a.pos.push_back(eval(*x, sc));
    for (size_t k = 0; k < e.kwargs.size(); ++k) a.kw.emplace_back(e.kwnames[k], eval(*e.kwargs[k], sc));
    return a;
  }

  Value eval_filter(const Expr& f, const Value& v, Scope& sc) {
    // f is a filter node whose operand (a) may be another filter node (a chain) or null.
    Value in = f.a ? eval_filter_operand(*f.a, v, sc) : v;
    CallArgs args = eval_args(f, sc);
    line_ = f.line;
    return apply_filter(f.name, in, args, env());
  }
  Value eval_filter_operand(const Expr& e, const Value& v, Scope& sc) {
    if (e.k == Expr::K::filter) return eval_filter(e, v, sc);
    return eval(e, sc);
  }

  static void check_undefined(const Value& v, const char* op, const Interp& in) {
    if (v.is_undefined()) in.fail(std::string("undefined value used with '") + op + "'");
  }

  Value arith(const std::string& op, const Value& a, const Value& b) {
    using K = Value::Kind;
    check_undefined(a, op.c_str(), *this);
    check_undefined(b, op.c_str(), *this);
    if (op == "+") {
      if (a.is_string() && b.is_string()) {
        check_size(a.s.size() + b.s.size());
        return Value::string(a.s + b.s);
      }
      if (a.is_list() && b.is_list()) {
        check_list(a.l->size() + b.l->size());
        check_size(string_bytes(*a.l) + string_bytes(*b.l));
        List l = *a.l;
        l.insert(l.end(), b.l->begin(), b.l->end());
        return Value::list(std::move(l));
      }
    }
    if (op == "*") {
      const Value* seq = a.is_string() || a.is_list() ? &a : b.is_string() || b.is_list() ? &b : nullptr;
      const Value* cnt = seq == &a ? &b : &a;
      if (seq && (cnt->kind == K::integer || cnt->kind == K::boolean)) {
        int64_t n = cnt->kind == K::integer ? cnt->i : cnt->b;
        if (n <= 0) return seq->is_string() ? Value::string("") : Value::list();
        size_t unit = seq->is_string() ? seq->s.size() : seq->l->size();
        if (unit == 0) return *seq;  // empty: do not loop n times for nothing
        if (uint64_t(n) > opts_.max_output / unit) check_size(opts_.max_output + 1);
        if (seq->is_list()) {
          check_list(unit * size_t(n));
          check_size(string_bytes(*seq->l) * size_t(n));
        }
        if (seq->is_string()) {
          std::string s;
          for (int64_t k = 0; k < n; ++k) s += seq->s;
          return Value::string(std::move(s));
        }
        List l;
        for (int64_t k = 0; k < n; ++k) l.insert(l.end(), seq->l->begin(), seq->l->end());
        return Value::list(std::move(l));
      }
    }
    if (!a.is_numeric() || !b.is_numeric())
      fail("unsupported operand types for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
    bool ints = a.kind != K::number && b.kind != K::number;
    if (ints) {
      int64_t x = a.kind == K::integer ? a.i : a.b, y = b.kind == K::integer ? b.i : b.b, r = 0;
      if (op == "+") { if (__builtin_add_overflow(x, y, &r)) fail("integer overflow"); return Value::integer(r); }
      if (op == "-") { if (__builtin_sub_overflow(x, y, &r)) fail("integer overflow"); return Value::integer(r); }
      if (op == "*") { if (__builtin_mul_overflow(x, y, &r)) fail("integer overflow"); return Value::integer(r); }
      if (op == "//" || op == "%") {
        if (y == 0) fail("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) fail("integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) { --q; m += y; }
        return Value::integer(op == "//" ? q : m);
      }
      if (op == "**") {
        if (y < 0) return Value::number(std::pow(double(x), double(y)));
        if (x == -1) return Value::integer(y % 2 ? -1 : 1);
        int64_t acc = 1;
        for (int64_t k = 0; k < y; ++k) {
          if (__builtin_mul_overflow(acc, x, &acc)) fail("integer overflow");
          if (acc == 0 || acc == 1) break;
        }
        return Value::integer(acc);
      }
    }
    double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value::number(x + y);
    if (op == "-") return Value::number(x - y);
    if (op == "*") return Value::number(x * y);
    if (op == "/") { if (y == 0) fail("division by zero"); return Value::number(x / y); }
    if (op == "//") { if (y == 0) fail("division by zero"); return Value::number(std::floor(x / y)); }
    if (op == "%") { if (y == 0) fail("modulo by zero"); double m = std::fmod(x, y); if (m != 0 && ((m < 0) != (y < 0))) m += y; return Value::number(m); }
    if (op == "**") return Value::number(std::pow(x, y));
    fail("unsupported operator " + op);
  }

  bool compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return equals(a, b);
    if (op == "!=") return !equals(a, b);
    if (op == "in") return contains(b, a, env());
    bool ok = (a.is_numeric() && b.is_numeric()) || (a.is_string() && b.is_string());
    if (!ok) fail("'" + op + "' not supported between '" + type_name(a) + "' and '" + type_name(b) + "'");
    int c = 0;
    if (a.is_string()) c = a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
    else c = a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double() ? 1 : 0;
    if (op == "<") return c < 0;
    if (op == "<=") return c <= 0;
    if (op == ">") return c > 0;
    return c >= 0;
  }

  Value slice(const Value& v, const Expr& e, Scope& sc) {
    Value parts[3];
    for (size_t k = 0; k < 3; ++k)
      if (e.args[k]) parts[k] = eval(*e.args[k], sc);
    for (auto& p : parts)
      if (!p.is_undefined() && !p.is_none() && p.kind != Value::Kind::integer) fail("slice indices must be integers");
    int64_t step = parts[2].kind == Value::Kind::integer ? parts[2].i : 1;
    if (step == 0) fail("slice step cannot be zero");
    List items;
    std::vector<std::string> chars;
    int64_t n = 0;
    if (v.is_list()) n = int64_t(v.l->size());
    else if (v.is_string()) { chars = utf8_chars(v.s); n = int64_t(chars.size()); }
    else fail("cannot slice a '" + type_name(v) + "'");
    auto norm = [&](const Value& p, int64_t def) {
      if (p.kind != Value::Kind::integer) return def;
      int64_t x = p.i < 0 ? p.i + n : p.i;
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    int64_t start = norm(parts[0], step > 0 ? 0 : n - 1), stop = norm(parts[1], step > 0 ? n : -1);
    std::string s;
    for (int64_t k = start; step > 0 ? k < stop : k > stop;) {
      if (v.is_list()) items.push_back((*v.l)[size_t(k)]);
      else s += chars[size_t(k)];
      if (__builtin_add_overflow(k, step, &k)) break;  // past either end
    }
    return v.is_list() ? Value::list(std::move(items)) : Value::string(std::move(s));
  }

  // Every evaluation is charged to the work budget, with the size of what it yields.
  Value eval(const Expr& e, Scope& sc) {
    Value v = eval_node(e, sc);
    charge(1 + weight(v));
    return v;
  }

  Value eval_node(const Expr& e, Scope& sc) {
    Depth d(*this);
    line_ = e.line;
    switch (e.k) {
      case Expr::K::literal: return e.lit;
      case Expr::K::name: {
        Value* v = sc.find(e.name);
        return v ? *v : Value::undefined();
      }
      case Expr::K::list:
      case Expr::K::tuple: {
        List l;
        size_t bytes = 0;
        for (auto& x : e.args) {
          l.push_back(eval(*x, sc));
          check_size(bytes += l.back().s.size());
        }
        return e.k == Expr::K::tuple ? Value::make_tuple(std::move(l)) : Value::list(std::move(l));
      }
      case Expr::K::dict: {
        Value dv = Value::dict();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k], sc);
          if (!key.is_string()) fail("dict keys must be strings here, got " + type_name(key));
          dv.d->set(key.s, eval(*e.args[k + 1], sc));
        }
        return dv;
      }
      case Expr::K::attr: {
        Value obj = eval(*e.a, sc);
        line_ = e.line;
        return get_attr(obj, e.name, env());
      }
      case Expr::K::subscript: {
        Value obj = eval(*e.a, sc);
        Value key = eval(*e.b, sc);
        line_ = e.line;
        return get_item(obj, key, env());
      }
      case Expr::K::slice: return slice(eval(*e.a, sc), e, sc);
      case Expr::K::call: {
        if (e.a->k == Expr::K::attr) {
          Value obj = eval(*e.a->a, sc);
          CallArgs args = eval_args(e, sc);
          line_ = e.line;
          if (auto r = call_method(obj, e.a->name, args, env())) return *r;
          Value fn = get_attr(obj, e.a->name, env());
          if (fn.kind != Value::Kind::callable) fail("'" + type_name(obj) + "' has no method '" + e.a->name + "'");
          return (*fn.fn)(args);
        }
        Value fn = eval(*e.a, sc);
        CallArgs args = eval_args(e, sc);
        line_ = e.line;
        if (fn.kind != Value::Kind::callable) {
          std::string what = e.a->k == Expr::K::name ? "'" + e.a->name + "'" : "value";
          if (e.a->k == Expr::K::name && fn.is_undefined())
            fail("unsupported template construct: function " + what + " is not defined");
          fail(what + " is not callable");
        }
        return (*fn.fn)(args);
      }
      case Expr::K::filter: return eval_filter(e, Value::undefined(), sc);
      case Expr::K::test: {
        Value v = eval(*e.a, sc);
        CallArgs args = eval_args(e, sc);
        line_ = e.line;
        bool r = apply_test(e.name, v, args, env());
        return Value::boolean(e.negated ? !r : r);
      }
      case Expr::K::op_not: return Value::boolean(!truthy(eval(*e.a, sc)));
      case Expr::K::neg: {
        Value v = eval(*e.a, sc);
        if (v.kind == Value::Kind::integer) {
          if (v.i == INT64_MIN) fail("integer overflow");
          return Value::integer(-v.i);
        }
        if (v.is_numeric()) return Value::number(-v.as_double());
        fail("bad operand type for unary -: '" + type_name(v) + "'");
      }
      case Expr::K::binop: {
        Value a = eval(*e.a, sc);
        Value b = eval(*e.b, sc);
        line_ = e.line;
        return arith(e.name, a, b);
      }
      case Expr::K::compare: {
        Value a = eval(*e.a, sc);
        Value b = eval(*e.b, sc);
        line_ = e.line;
        bool r = compare(e.name, a, b);
        return Value::boolean(e.negated ? !r : r);
      }
      case Expr::K::and_: {
        Value a = eval(*e.a, sc);
        return truthy(a) ? eval(*e.b, sc) : a;
      }
      case Expr::K::or_: {
        Value a = eval(*e.a, sc);
        return truthy(a) ? a : eval(*e.b, sc);
      }
      case Expr::K::cond:
        if (truthy(eval(*e.b, sc))) return eval(*e.a, sc);
        return e.c ? eval(*e.c, sc) : Value::undefined();
      case Expr::K::concat: {
        std::string s;
        for (auto& x : e.args) {
          s += to_str(eval(*x, sc));
          check_size(s.size());
        }
        return Value::string(std::move(s));
      }
    }
    fail("internal: unknown expression");
  }
};

}  // namespace

Result<std::string> render(std::string_view tmpl, const json& context, const RenderOptions& opts) {
  if (!context.is_object() && !context.is_null())
    return make_error(Errc::invalid_argument, "template context must be a JSON object");
  return render(tmpl, context.is_null() ? Value::dict() : from_json(context), opts);
}

Result<std::string> render(std::string_view tmpl, const Value& context, const RenderOptions& opts) {
  if (!context.is_dict()) return make_error(Errc::invalid_argument, "template context must be a dict");
  try {
    auto t = parse_template(tmpl, opts.max_depth);
    Interp in(opts);
    return in.run(*t, context);
  } catch (const LimitError& e) {
    return make_error(Errc::limit_exceeded, "template line " + std::to_string(e.line) + ": " + e.what(),
                      json{{"line", e.line}, {"raised", false}});
  } catch (const TemplateError& e) {
    std::string msg = e.raised ? std::string(e.what()) : "template line " + std::to_string(e.line) + ": " + e.what();
    return make_error(Errc::invalid_argument, msg, json{{"line", e.line}, {"raised", e.raised}});
  } catch (const std::bad_alloc&) {
    return make_error(Errc::limit_exceeded, "template rendering ran out of memory");
  }
}

}  // namespace fh::local::jinja
