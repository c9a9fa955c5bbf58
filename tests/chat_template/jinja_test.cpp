// The Jinja interpreter: snippets of every supported construct against jinja2's output
// (expected/snippets.json from make_expected.py), unsupported constructs named with their line,
// and hostile templates (deep nesting, recursion, output and loop bombs, mutated real templates).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "providers/local/chat/jinja.hpp"
#include "tests/chat_template/file_text.hpp"

namespace fs = std::filesystem;
using namespace fh;
namespace jinja = fh::local::jinja;

namespace {

fs::path template_dir() { return fs::path(FH_SOURCE_DIR) / "tests" / "chat_template"; }


jinja::RenderOptions fixed_clock() {
  jinja::RenderOptions o;
  o.now = 1768478400;
  return o;
}

}  // namespace

TEST_CASE("jinja snippets render like jinja2") {
  json snippets = json::parse(fh::test::file_text(template_dir() / "snippets.json"));
  json expected = json::parse(fh::test::file_text(template_dir() / "expected" / "snippets.json"));
  int n = 0;
  for (auto& s : snippets) {
    std::string name = s["name"];
    CAPTURE(name);
    REQUIRE(expected.contains(name));
    const json& want = expected[name];
    auto out = jinja::render(s["template"].get<std::string>(), s["context"], fixed_clock());
    if (want.contains("out")) {
      if (!out.ok()) FAIL_CHECK(out.error().message);
      else CHECK(*out == want["out"].get<std::string>());
    } else {
      REQUIRE_FALSE(out.ok());
      MESSAGE(name << ": jinja2 says " << want["message"].get<std::string>() << " / we say " << out.error().message);
      if (want["error"] == "raise") CHECK(out.error().message == want["message"].get<std::string>());
    }
    ++n;
  }
  CHECK(n >= 40);
}

TEST_CASE("unsupported constructs are named with their line") {
  auto check = [](const char* tmpl, const char* needle, int line) {
    auto r = jinja::render(tmpl, json::object());
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error().message);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find(needle) != std::string::npos);
    CHECK(r.error().detail["line"] == line);
  };
  check("a\nb\n{% include 'x.jinja' %}", "include", 3);
  check("{% extends 'base' %}", "extends", 1);
  check("x\n{{ 'a b' | wordwrap(3) }}", "wordwrap", 2);
  check("{{ 1 is prime }}", "prime", 1);
  check("\n\n\n{{ lipsum() }}", "lipsum", 4);
  check("{% for x in [1] recursive %}{% endfor %}", "recursive", 1);
  check("{{ 'a' }", "unterminated", 1);
  check("{% if %}{% endif %}", "expression", 1);
}

TEST_CASE("hostile templates fail cleanly") {
  auto fails = [](const std::string& tmpl, Errc code) {
    auto r = jinja::render(tmpl, json::object());
    CAPTURE(tmpl.substr(0, 80));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == code);
  };
  std::string deep_if;
  for (int k = 0; k < 5000; ++k) deep_if += "{% if true %}";
  fails(deep_if, Errc::invalid_argument);
  fails("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}", Errc::invalid_argument);
  fails("{{ " + std::string(50000, '[') + " }}", Errc::invalid_argument);
  std::string nots = "{{ ";
  for (int k = 0; k < 20000; ++k) nots += "not ";
  fails(nots + "1 }}", Errc::invalid_argument);
  fails("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", Errc::limit_exceeded);
  fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", Errc::limit_exceeded);
  fails("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        Errc::limit_exceeded);
  fails("{% set ns = namespace(s=[1]) %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        Errc::limit_exceeded);
  fails("{{ 'x' * 10000000000 }}", Errc::limit_exceeded);
  fails("{{ [1, 2] * 10000000000 }}", Errc::limit_exceeded);
  fails("{% for i in range(10000000000) %}{% endfor %}", Errc::limit_exceeded);
  fails("{{ 2 ** 100 }}", Errc::invalid_argument);
  fails("{{ 9223372036854775807 + 1 }}", Errc::invalid_argument);
  fails("{{ 99999999999999999999999 }}", Errc::invalid_argument);
  fails("{{ (-9223372036854775807 - 1) // -1 }}", Errc::invalid_argument);
  fails("{% for x in 5 %}{% endfor %}", Errc::invalid_argument);
  fails("{{ x.y.z }}", Errc::invalid_argument);
  jinja::RenderOptions small;
  small.max_output = 100;
  auto r = jinja::render("{% for i in range(1000) %}abc{% endfor %}", json::object(), small);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::limit_exceeded);
  CHECK_FALSE(jinja::render("x", json::array()).ok());
}

TEST_CASE("mutated real templates never crash") {
  std::vector<std::string> corpus;
  for (auto& e : fs::directory_iterator(fs::path(FH_SHARED_DIR) / "data" / "templates"))
    if (e.path().extension() == ".jinja") corpus.push_back(fh::test::file_text(e.path()));
  REQUIRE_FALSE(corpus.empty());
  json ctx = {{"messages", json::array({{{"role", "system"}, {"content", "s"}},
                                        {{"role", "user"}, {"content", "u"}},
                                        {{"role", "assistant"}, {"content", "a"}}})},
              {"add_generation_prompt", true}, {"bos_token", "<s>"}, {"eos_token", "</s>"}};
  std::mt19937 rng(7);
  const char* pieces[] = {"{{", "}}", "{%", "%}", "{#", "#}", "(", ")", "[", "]", "'", "\"", "|", ".", " is ",
                          " not ", "-", "endfor", "endif", "\\", "{% for x in messages %}", "{% endmacro %}"};
  int ok = 0, errors = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string t = corpus[rng() % corpus.size()];
    int edits = 1 + int(rng() % 4);
    for (int k = 0; k < edits && !t.empty(); ++k) {
      size_t pos = rng() % t.size();
      switch (rng() % 4) {
        case 0: t.erase(pos, 1 + rng() % 8); break;
        case 1: t.insert(pos, pieces[rng() % (sizeof pieces / sizeof *pieces)]); break;
        case 2: t[pos] = char(rng() % 256); break;
        case 3: t = t.substr(0, pos); break;
      }
    }
    auto r = jinja::render(t, ctx);
    (r.ok() ? ok : errors)++;
  }
  MESSAGE("mutated templates: " << ok << " rendered, " << errors << " clean errors");
  CHECK(ok + errors == 1500);
}
