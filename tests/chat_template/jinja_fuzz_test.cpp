// Mutation fuzzing of the Jinja interpreter: real chat templates truncated, flipped, spliced and
// unbalanced; generated deep nesting; and targeted bombs (recursion, huge loops, string and list
// multiplication, integer overflow, escaping callers, self-referencing namespaces). Every input
// must render or fail with invalid_argument / limit_exceeded and a message, quickly, without a
// sanitizer report. Deterministic: a fixed-seed LCG, bounded counts.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "providers/local/chat/jinja.hpp"
#include "tests/chat_template/file_text.hpp"
#include "tests/fuzz_rng.hpp"

namespace fs = std::filesystem;
using namespace fh;
namespace jinja = fh::local::jinja;

using fh::test::Lcg;

namespace {

std::vector<std::string> real_templates() {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(fs::path(FH_SHARED_DIR) / "data" / "templates"))
    if (e.path().extension() == ".jinja") out.push_back(fh::test::file_text(e.path()));
  std::sort(out.begin(), out.end());  // directory order is not deterministic
  REQUIRE(out.size() >= 10);
  return out;
}

json chat_context() {
  json tool = {{"type", "function"},
               {"function", {{"name", "get_weather"}, {"description", "d"},
                             {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};
  json call = {{"id", "c1"}, {"type", "function"},
               {"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}};
  return {{"messages", json::array({{{"role", "system"}, {"content", "s"}},
                                    {{"role", "user"}, {"content", "u \xF0\x9F\xA6\x99 \xFF"}},
                                    {{"role", "assistant"}, {"content", ""}, {"tool_calls", json::array({call})}},
                                    {{"role", "tool"}, {"content", "sunny"}, {"tool_call_id", "c1"}},
                                    {{"role", "assistant"}, {"content", "a"}}})},
          {"tools", json::array({tool})},
          {"add_generation_prompt", true}, {"bos_token", "<s>"}, {"eos_token", "</s>"}};
}

jinja::RenderOptions opts() {
  jinja::RenderOptions o;
  o.now = 1768478400;
  return o;
}

// Renders one input: it must succeed or fail cleanly (a documented code and a message), within
// `max_ms`. Returns the result for further checks.
Result<std::string> render_clean(const std::string& tmpl, const json& ctx, int max_ms = 3000,
                                 const jinja::RenderOptions& o = opts()) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = jinja::render(tmpl, ctx, o);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CAPTURE(tmpl.substr(0, 160));
  CHECK_MESSAGE(ms < max_ms, "render took " << ms << " ms");
  if (!r.ok()) {
    CHECK((r.error().code == Errc::invalid_argument || r.error().code == Errc::limit_exceeded));
    CHECK_FALSE(r.error().message.empty());
  }
  return r;
}

long max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) out += s;
  return out;
}

}  // namespace

TEST_CASE("jinja fuzz: truncated real templates") {
  const auto corpus = real_templates();
  const json ctx = chat_context();
  int n = 0, ok = 0;
  for (const auto& t : corpus) {
    // Every 293rd byte, plus cuts just inside delimiters.
    for (size_t cut = 0; cut < t.size(); cut += 293) {
      ok += render_clean(t.substr(0, cut), ctx).ok();
      ++n;
    }
    for (size_t p = t.find_first_of("{}%#"); p != std::string::npos && n < 600; p = t.find_first_of("{}%#", p + 29)) {
      ok += render_clean(t.substr(0, p + 1), ctx).ok();
      ++n;
    }
  }
  MESSAGE("truncations: " << n << " inputs, " << ok << " rendered");
  CHECK(n > 250);
}

TEST_CASE("jinja fuzz: byte mutations and spliced syntax") {
  const auto corpus = real_templates();
  const json ctx = chat_context();
  const char* pieces[] = {
      "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "(", ")", "[", "]", "{", "}", "'", "\"", "|", ".", ",",
      " is ", " not ", " in ", "-", "**", "//", "%", "~", "\\", "\\x", "\\u12", "\\U0010FFFF", "\n", "\r",
      "endfor", "endif", "endmacro", "else", "elif", "{% endif %}", "{% endfor %}", "{% else %}",
      "{% for x in messages %}", "{% for x in range(100000000) %}", "{% if x %}", "{% macro m() %}",
      "{{ m() }}", "{% set ns = namespace(a=1) %}", "{% set ns.a = ns %}", "|tojson", "|length", "|items",
      "|int", "|abs", "|join(1)", "|map(1)", "|selectattr(1)", "|sort(attribute=1)", "|indent(-5)",
      "|replace('', 'xx')", "[::-1]", "[1:2:0]", ".foo", "['x']", "(1/0)", " * 100000000", " ** 1000",
      "9223372036854775807", "-9223372036854775808", "1e999", "raise_exception('boom')", "caller()",
      "loop.cycle(1)", "{% raw %}", "{% endraw %}", "{% call m() %}", "{% endcall %}", "{% filter upper %}",
      "\xFF", "\xC3", "\xE2\x82", "\0"};
  constexpr size_t kPieces = sizeof pieces / sizeof *pieces;
  Lcg rng{20240601};
  int n = 0, ok = 0;
  for (int iter = 0; iter < 500; ++iter) {
    std::string t = corpus[rng.below(corpus.size())];
    const int edits = 1 + int(rng.below(6));
    for (int k = 0; k < edits && !t.empty(); ++k) {
      const size_t pos = rng.below(t.size());
      switch (rng.below(6)) {
        case 0: t.erase(pos, 1 + rng.below(16)); break;                          // deletion
        case 1: t.insert(pos, pieces[rng.below(kPieces)]); break;                // splice
        case 2: t[pos] = char(t[pos] ^ (1 << rng.below(8))); break;              // bit flip
        case 3: t.insert(pos, 1, char(rng.below(256))); break;                   // byte insertion
        case 4: {                                                                // duplicate a span
          const size_t len = std::min<size_t>(1 + rng.below(200), t.size() - pos);
          t.insert(rng.below(t.size()), t.substr(pos, len));
          break;
        }
        case 5: t[pos] = "{}%#()[]'\""[rng.below(10)]; break;                    // delimiter swap
      }
    }
    ok += render_clean(t, ctx).ok();
    ++n;
  }
  MESSAGE("mutations: " << n << " inputs, " << ok << " rendered");
}

TEST_CASE("jinja fuzz: deep nesting in every form") {
  const json ctx = chat_context();
  const int depths[] = {129, 2000};
  int n = 0;
  for (int d : depths) {
    CAPTURE(d);
    const std::vector<std::string> inputs = {
        repeat("{% if true %}", d) + "x" + repeat("{% endif %}", d),
        repeat("{% if true %}", d),                                   // unclosed
        repeat("{% endif %}", d),                                     // unopened
        repeat("{% for i in [1] %}", d) + repeat("{% endfor %}", d),
        repeat("{% macro m() %}", d) + repeat("{% endmacro %}", d),
        repeat("{% set x %}", d) + repeat("{% endset %}", d),
        repeat("{% filter upper %}", d) + repeat("{% endfilter %}", d),
        repeat("{{", d) + repeat("}}", d),
        repeat("{%", d) + repeat("%}", d),
        repeat("{#", d) + repeat("#}", d),
        "{{ " + repeat("(", d) + "1" + repeat(")", d) + " }}",
        "{{ " + repeat("[", d) + "1" + repeat("]", d) + " }}",
        "{{ " + repeat("{'a':", d) + "1" + repeat("}", d) + " }}",
        "{{ " + repeat("-", d) + "1 }}",
        "{{ " + repeat("not ", d) + "1 }}",
        "{{ 1" + repeat(" + 1", d) + " }}",
        "{{ 1" + repeat(" ** 1", d) + " }}",
        "{{ 'a'" + repeat(" ~ 'a'", d) + " }}",
        "{{ 1" + repeat(" and 1", d) + " }}",
        "{{ 1" + repeat(" if 1 else 1", d) + " }}",
        "{{ 1" + repeat(" == 1", d) + " }}",
        "{{ 'x'" + repeat("|trim", d) + " }}",
        "{{ 'x'" + repeat("|default('y')", d) + " }}",
        "{{ messages" + repeat(".x", d) + " }}",
        "{{ messages" + repeat("[0]", d) + " }}",
        "{{ x" + repeat("()", d) + " }}",
        "{{ 1" + repeat(" is number", d) + " }}",
        "{{ f(" + repeat("f(", d) + repeat(")", d) + ") }}",
    };
    for (const auto& t : inputs) {
      (void)render_clean(t, ctx);
      ++n;
    }
  }
  // Long flat chains build deep trees without nesting (the lexer allows 100000 tokens per tag).
  for (std::string link : {" + 1", "|trim", ".x", "[0]", "()", " is number", " if 1", " and 1", " == 1", " ~ 'a'"}) {
    (void)render_clean("{{ 1" + repeat(link, 40000 / int(link.size())) + " }}", ctx);
    ++n;
  }
  MESSAGE("deep nesting: " << n << " inputs");
}

TEST_CASE("jinja fuzz: targeted bombs fail with limit_exceeded or invalid_argument") {
  const json ctx = chat_context();
  const long rss0 = max_rss_mb();
  auto fails = [&](const std::string& t, Errc code) {
    auto r = render_clean(t, ctx);
    CAPTURE(t);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.error().code == code, r.error().message);
  };
  auto renders = [&](const std::string& t, const std::string& want) {
    auto r = render_clean(t, ctx);
    CAPTURE(t);
    REQUIRE_MESSAGE(r.ok(), r.error().message);
    CHECK(*r == want);
  };
  const Errc limit = Errc::limit_exceeded, bad = Errc::invalid_argument;
  // Recursion: direct, mutual, and exponential fan-out within the depth limit.
  fails("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", limit);
  fails("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", limit);
  fails("{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(60) }}", limit);
  fails("{% macro m(n) %}{{ m(n) if n else '' }}{{ m(n) }}{% endmacro %}{{ m(1) }}", limit);
  // Huge and nested loops, ranges near the integer limits.
  fails("{% for i in range(10**9) %}{% endfor %}", limit);
  {
    // The default of 1000000 iterations takes ~20 s under ASan (the loop scope and `loop` object
    // cost ~20 us each there): check the limit itself with a smaller one.
    jinja::RenderOptions few = opts();
    few.max_iterations = 8000;
    auto r = render_clean("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
                          ctx, 3000, few);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == limit);
    CHECK(r.error().message.find("8000 loop iterations") != std::string::npos);
  }
  renders("{{ range(0, 9223372036854775807, 4611686018427387904)|list }}", "[0, 4611686018427387904]");
  renders("{{ range(-9223372036854775807 - 1, 0, -1)|list }}", "[]");
  renders("{{ range(9223372036854775806, -9223372036854775807 - 1, -4611686018427387904)|list|length }}", "4");
  // String and list multiplication and concatenation.
  fails("{{ 'x' * 10**18 }}", limit);
  renders("{{ ('' * 10**18) ~ ([] * 10**18) }}", "[]");  // empty sequences must not loop 10**18 times
  renders("{{ ('' * 1000000000) ~ ([] * 1000000000)|length }}", "0");
  fails("{% set s = 'x' * 4000000 %}{{ ([s] * 60000)|length }}", limit);
  fails("{% set s = 'x' * 4000000 %}{{ [s, s, s, s, s, s, s, s, s, s]|join }}", limit);
  fails("{{ ('{0}' * 10000).format('y' * 100000) }}", limit);
  fails("{{ ('<&>' * 1000000)|e|e|e }}", limit);
  fails("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", limit);
  fails("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", limit);
  fails("{{ ('x' * 3000000).split('') }}", bad);
  // Work that is small per step but huge in total.
  fails("{% set s = 'a' * 1000000 %}{% for i in range(1000000) %}{% if s[i] == 'b' %}{% endif %}{% endfor %}", limit);
  fails("{% set s = 'a' * 1000000 %}{% for i in range(1000000) %}{% if 'b' in s %}{% endif %}{% endfor %}", limit);
  fails("{% for c in 'x' * 4000000 %}{% endfor %}", limit);
  // Integers: overflow and division by zero are errors, never undefined behaviour.
  fails("{{ 9223372036854775807 + 1 }}", bad);
  fails("{{ -9223372036854775807 - 2 }}", bad);
  fails("{{ 3037000500 * 3037000500 }}", bad);
  fails("{{ 2 ** 64 }}", bad);
  fails("{{ 1 // 0 }}", bad);
  fails("{{ 1 % 0 }}", bad);
  fails("{{ 1 / 0 }}", bad);
  fails("{{ 1.5 // 0 }}", bad);
  fails("{{ (-9223372036854775807 - 1) // -1 }}", bad);
  fails("{{ (-9223372036854775807 - 1) % -1 }}", bad);
  fails("{{ -(-9223372036854775807 - 1) }}", bad);
  fails("{{ (-9223372036854775807 - 1)|abs }}", bad);
  fails("{{ [1, 2, 3]|sum + 9223372036854775807 }}", bad);
  renders("{{ (-1) ** 3 }} {{ (-1) ** 1000000000000 }} {{ 0 ** 0 }} {{ 2 ** 62 }}", "-1 1 1 4611686018427387904");
  renders("{{ 10 is divisibleby(-1) }} {{ (-9223372036854775807 - 1) is divisibleby(-1) }}", "True True");
  renders("{{ 'abc'[1::9223372036854775807] }}{{ 'abc'[-1::-9223372036854775807] }}{{ [1, 2][1:-9223372036854775807 - 1:-9223372036854775807] }}",
          "bc[2]");
  renders("{{ 'abc'[-9223372036854775807 - 1:9223372036854775807] }}", "abc");
  renders("{{ 1e308 * 10 }} {{ (1e308 * 10)|int }} {{ 'nan'|float|int }} {{ 1e300|round(15) }}", "inf 0 0 1e+300");
  // Filters with wrong argument types and undefined values.
  for (const char* f : {"tojson(indent='x')", "join(1)", "map(1)", "map('nope')", "selectattr(1)", "select('nope')",
                        "sort(attribute=1)", "indent(-5)", "indent(10**9)", "replace(1, 2)", "replace('', 'xx', -5)",
                        "int('x')", "round('x')", "first", "last", "length", "items", "dictsort", "unique", "reverse",
                        "sum", "min", "max", "list", "trim(1)", "default", "string", "title", "capitalize",
                        "batch(2)", "wordcount", "center(10**9)"}) {
    for (const char* v : {"undefined_name", "none", "1", "-1.5", "'str'", "[1, 'a', none]", "{'a': 1}", "messages",
                          "range", "namespace()"}) {
      (void)render_clean(std::string("{{ ") + v + "|" + f + " }}", ctx);
    }
  }
  for (const char* m : {"split(1)", "split('')", "split(none, -5)", "replace(1, 2)", "replace('', 'x', 10**9)",
                        "startswith(1)", "endswith([1])", "format(1, 2)", "format(x=1)", "find(none)", "count('')",
                        "join([1])", "join(none)", "strip(1)", "get(1)", "items(1)", "index(99)", "append(1)",
                        "update({})", "upper(1, 2, 3)", "isdigit"}) {
    for (const char* v : {"'a{b}c{0}{'", "'{}{}{}'", "{'a': 1}", "[1, 2]", "none", "undefined_name", "1"})
      (void)render_clean(std::string("{{ (") + v + ")." + m + "() }}", ctx);
  }
  fails("{{ x.y }}", bad);
  fails("{{ undefined_name() }}", bad);
  fails("{{ messages[0].content.nope.deeper }}", bad);
  fails("{{ strftime_now(1) }}", bad);
  fails("{{ raise_exception('boom') }}", bad);
  renders("{{ strftime_now('%Y' * 200)|length }}", "0");  // the result does not fit: empty, as before
  // Escaping callers and self-referencing namespaces: no use after scope, no leak, no recursion.
  fails("{% set ns = namespace() %}{% macro keep() %}{% set ns.c = caller %}{% endmacro %}"
        "{% for i in [1] %}{% call keep() %}in loop {{ i }}{% endcall %}{% endfor %}{{ ns.c() }}",
        bad);
  renders("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{% set ns.l = [ns, ns] %}{{ ns.me.me.me.a }}{{ ns.l|length }}"
          "{{ ns == ns.me }}",
          "12True");
  fails("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns|tojson }}", bad);
  fails("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}", limit);
  fails("{% set ns = namespace(l={}) %}{% for i in range(100000) %}{% set ns.l = {'a': ns.l} %}{% endfor %}", limit);
  (void)render_clean("{% set h = namespace(first=namespace(), last=none) %}{% set h.last = h.first %}"
               "{% for i in range(5000) %}{% set cur = h.last %}{% set cur.next = namespace() %}{% set h.last = cur.next %}{% endfor %}",
               ctx);
  {
    // A chain of namespaces as deep as the limits allow must still compare, print and be freed.
    auto r = render_clean(
        "{% set h = namespace(a=namespace(), b=namespace(), la=none, lb=none) %}{% set h.la = h.a %}{% set h.lb = h.b %}"
        "{% for i in range(4000) %}{% set x = h.la %}{% set x.n = namespace() %}{% set h.la = x.n %}"
        "{% set y = h.lb %}{% set y.n = namespace() %}{% set h.lb = y.n %}{% endfor %}{{ h.a == h.b }}",
        ctx);
    if (r.ok()) CHECK((*r == "True" || *r == "False"));
  }
  // Output limits: the configured cap holds exactly.
  jinja::RenderOptions small = opts();
  small.max_output = 1000;
  auto r = jinja::render("{% for i in range(10) %}{{ 'abc' * 50 }}{% endfor %}", ctx, small);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == limit);
  CHECK(r.error().message.find("1000") != std::string::npos);
  const long grew = max_rss_mb() - rss0;
  MESSAGE("bombs: peak RSS grew by " << grew << " MB");
  CHECK(grew < 1500);
}
