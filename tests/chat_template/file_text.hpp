// The whole of a test data file as bytes, for the chat-template tests; a missing file fails the test.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fh::test {

inline std::string file_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE_MESSAGE(f, "cannot open " << p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace fh::test
