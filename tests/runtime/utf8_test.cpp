// fh::utf8: the strict well-formedness check, against hand-picked edge cases and, on random
// bytes, against nlohmann_json's own validator (an independent implementation).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/core/utf8.hpp"
#include "tests/fuzz_rng.hpp"

TEST_CASE("utf8: character lengths at the edges of RFC 3629") {
  using fh::utf8::char_len;
  CHECK(char_len("a", 0) == 1);
  CHECK(char_len("", 0) == 0);
  CHECK(char_len("\xC3\xA9", 0) == 2);           // é
  CHECK(char_len("\xE2\x82\xAC", 0) == 3);       // €
  CHECK(char_len("\xF0\x9F\x98\x80", 0) == 4);   // U+1F600
  CHECK(char_len("\xF4\x8F\xBF\xBF", 0) == 4);   // U+10FFFF, the last code point
  CHECK(char_len("\xC0\x80", 0) == 0);           // overlong NUL
  CHECK(char_len("\xC1\xBF", 0) == 0);           // overlong
  CHECK(char_len("\xE0\x80\x80", 0) == 0);       // overlong 3-byte
  CHECK(char_len("\xF0\x80\x80\x80", 0) == 0);   // overlong 4-byte
  CHECK(char_len("\xED\xA0\x80", 0) == 0);       // surrogate U+D800
  CHECK(char_len("\xF4\x90\x80\x80", 0) == 0);   // U+110000
  CHECK(char_len("\xF5\x80\x80\x80", 0) == 0);   // no such lead
  CHECK(char_len("\x80", 0) == 0);               // stray continuation
  CHECK(char_len("\xE2\x82", 0) == 0);           // cut off by the end
  CHECK(char_len("\xE2\x82" "a", 0) == 0);       // cut off by an ASCII byte
  CHECK(char_len("a\xC3\xA9", 1) == 2);
}

TEST_CASE("utf8: repaired replaces each bad byte and keeps good characters") {
  using fh::utf8::repaired;
  CHECK(repaired("plain") == "plain");
  CHECK(repaired("\xC3\xA9t\xC3\xA9") == "\xC3\xA9t\xC3\xA9");
  CHECK(repaired("a\xFF" "b") == "a\xEF\xBF\xBD" "b");
  CHECK(repaired("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // two bytes, two replacements
  CHECK(repaired("x\xC0\x80y", "?") == "x??y");
  CHECK(fh::utf8::valid(""));
  CHECK(fh::utf8::valid("\xF0\x9F\x98\x80 ok"));
  CHECK(!fh::utf8::valid("ok \xED\xBF\xBF"));
}

TEST_CASE("utf8: agrees with nlohmann_json's validator on random bytes") {
  fh::test::Lcg rng{20261128};
  int checked = 0, invalid = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const size_t n = rng.below(12);
    for (size_t i = 0; i < n; ++i) {
      // Bias towards the interesting bytes: leads, continuations, the boundaries.
      static const unsigned char pick[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                           0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
      s += static_cast<char>(rng.below(3) ? pick[rng.below(sizeof pick)] : rng.below(256));
    }
    bool oracle = true;
    try {
      (void)nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception&) {
      oracle = false;
    }
    CHECK_MESSAGE(fh::utf8::valid(s) == oracle, "round " << round);
    const std::string r = fh::utf8::repaired(s);
    CHECK(fh::utf8::valid(r));
    if (oracle) CHECK(r == s);
    invalid += !oracle;
    ++checked;
  }
  MESSAGE(checked << " strings, " << invalid << " invalid");
  CHECK(invalid > 1000);  // the generator does reach invalid input
  CHECK(checked - invalid > 1000);
}
