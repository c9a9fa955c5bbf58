// Every template of ../shared/data/templates (and the built-in fallback) renders the conversations
// of conversations.json exactly as Python's jinja2 does under Hugging Face's settings; where jinja2
// raised, rendering fails too (with the same message for raise_exception).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "providers/local/chat/chat_format.hpp"

namespace fs = std::filesystem;
using namespace fh;

namespace {

constexpr std::time_t kNow = 1768478400;  // make_expected.py's clock

std::optional<std::string> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path templates_dir() { return fs::path(FH_SHARED_DIR) / "data" / "templates"; }
fs::path here() { return fs::path(FH_SOURCE_DIR) / "tests" / "chat_template"; }

struct Conversation {
  std::string name;
  bool tools = false;
  std::vector<api::Message> messages;
};

struct Spec {
  std::vector<api::ToolSpec> tools;
  std::vector<Conversation> conversations;
};

Spec load_spec() {
  Spec s;
  auto text = slurp(here() / "conversations.json");
  REQUIRE(text);
  json j = json::parse(*text);
  for (auto& t : j["tools"]) {
    auto r = api::tool_spec_from_json(t);
    REQUIRE(r.ok());
    s.tools.push_back(*r);
  }
  for (auto& c : j["conversations"]) {
    Conversation conv;
    conv.name = c["name"];
    conv.tools = c["tools"];
    for (auto& m : c["messages"]) {
      auto r = api::message_from_json(m);
      REQUIRE(r.ok());
      conv.messages.push_back(*r);
    }
    s.conversations.push_back(std::move(conv));
  }
  return s;
}

// Renders every conversation with `tmpl`, compares with expected/<name>/, returns cases checked.
int check_template(const std::string& name, const std::string& tmpl) {
  static const Spec spec = load_spec();
  int checked = 0;
  fs::path dir = here() / "expected" / name;
  REQUIRE_MESSAGE(fs::is_directory(dir), "no expected files for " << name << " (run make_expected.py)");
  local::ChatTemplateOptions opts;
  opts.now = kNow;
  for (auto& conv : spec.conversations) {
    for (bool gen : {false, true}) {
      std::string base = conv.name + ".gen" + (gen ? "1" : "0");
      CAPTURE(name);
      CAPTURE(base);
      auto out = local::apply_chat_template(tmpl, conv.messages, conv.tools ? spec.tools : std::vector<api::ToolSpec>{},
                                            gen, "<s>", "</s>", opts);
      if (auto want = slurp(dir / (base + ".txt"))) {
        if (!out.ok()) FAIL_CHECK("render failed: " << out.error().message);
        else CHECK(*out == *want);
      } else {
        auto err = slurp(dir / (base + ".err"));
        REQUIRE(err);
        CHECK_FALSE(out.ok());
        if (!out.ok() && err->rfind("raise\n", 0) == 0) {
          std::string msg = err->substr(6);
          if (!msg.empty() && msg.back() == '\n') msg.pop_back();
          CHECK(out.error().message == msg);
          CHECK(out.error().detail["raised"] == true);
        }
      }
      ++checked;
    }
  }
  return checked;
}

}  // namespace

TEST_CASE("every shared chat template renders like jinja2") {
  int templates = 0, cases = 0;
  for (auto& e : fs::directory_iterator(templates_dir())) {
    if (e.path().extension() != ".jinja") continue;
    auto tmpl = slurp(e.path());
    REQUIRE(tmpl);
    cases += check_template(e.path().stem().string(), *tmpl);
    ++templates;
  }
  CHECK(templates >= 14);
  MESSAGE(templates << " templates, " << cases << " renderings compared");
}

TEST_CASE("the fallback template renders like jinja2") {
  CHECK(check_template("fallback", std::string(local::fallback_chat_template())) > 0);
}

TEST_CASE("chat template context has HF's shape") {
  api::Message a = api::Message::assistant("");
  a.tool_calls.push_back({"abc", "f", json{{"x", 1}}, nullptr});
  a.reasoning = "thought";
  api::Message t;
  t.role = api::Role::tool;
  t.tool_call_id = "abc";
  t.name = "f";
  t.content.push_back({api::ContentPart::Kind::text, "42", {}, {}, {}});
  auto out = local::apply_chat_template(
      "{% for m in messages %}{{ m | tojson }}\n{% endfor %}{{ tools is defined }}", {a, t}, {}, false, "", "");
  REQUIRE(out.ok());
  CHECK(*out ==
        "{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"abc\", \"type\": \"function\", "
        "\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}], \"reasoning_content\": \"thought\"}\n"
        "{\"role\": \"tool\", \"content\": \"42\", \"tool_call_id\": \"abc\", \"name\": \"f\"}\nFalse");
}
