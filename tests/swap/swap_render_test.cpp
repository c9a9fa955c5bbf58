// report.html in headless Chromium (Debian package `chromium`): the page renders offline and the
// screenshot shows the charts (pixels in the chart colours, which only the SVGs use).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <zlib.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "runtime/swap/swap.hpp"

namespace fs = std::filesystem;
using fh::json;
using namespace fh::swap;

namespace {

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(p)) return p;
  return "";
}

struct Image {
  uint32_t w = 0, h = 0;
  std::vector<uint8_t> rgb;  // 3 bytes a pixel
};

uint32_t be32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }

// A small PNG decoder for what Chromium writes: 8-bit RGB or RGBA, not interlaced.
bool decode_png(const std::string& data, Image& img, std::string& why) {
  const auto* d = reinterpret_cast<const uint8_t*>(data.data());
  if (data.size() < 8 || std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0) return why = "not a PNG", false;
  size_t pos = 8;
  int color = -1, depth = 0, interlace = 0;
  std::string idat;
  while (pos + 12 <= data.size()) {
    uint32_t len = be32(d + pos);
    std::string type(data.data() + pos + 4, 4);
    if (pos + 12 + len > data.size()) return why = "truncated chunk", false;
    const uint8_t* body = d + pos + 8;
    if (type == "IHDR") {
      img.w = be32(body);
      img.h = be32(body + 4);
      depth = body[8];
      color = body[9];
      interlace = body[12];
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), len);
    }
    pos += 12 + len;
  }
  if (depth != 8 || (color != 2 && color != 6) || interlace != 0) return why = "unsupported PNG format", false;
  if (img.w == 0 || img.h == 0 || img.w > 10000 || img.h > 20000) return why = "bad size", false;
  size_t bpp = color == 6 ? 4 : 3, stride = img.w * bpp;
  std::vector<uint8_t> raw((stride + 1) * img.h);
  uLongf out_len = static_cast<uLongf>(raw.size());
  if (uncompress(raw.data(), &out_len, reinterpret_cast<const Bytef*>(idat.data()), static_cast<uLong>(idat.size())) != Z_OK ||
      out_len != raw.size())
    return why = "bad image data", false;
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  img.rgb.resize(size_t{img.w} * img.h * 3);
  for (uint32_t y = 0; y < img.h; ++y) {
    const uint8_t* line = raw.data() + y * (stride + 1);
    uint8_t f = line[0];
    for (size_t x = 0; x < stride; ++x) {
      int a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0, v = line[1 + x];
      int p = 0;
      switch (f) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) / 2; break;
        case 4: {
          int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: return why = "bad filter", false;
      }
      cur[x] = static_cast<uint8_t>(v + p);
    }
    for (uint32_t x = 0; x < img.w; ++x)
      for (int k = 0; k < 3; ++k) img.rgb[(size_t{y} * img.w + x) * 3 + k] = cur[x * bpp + k];
    std::swap(prev, cur);
  }
  return true;
}

int64_t count_near(const Image& img, int r, int g, int b, int tol) {
  int64_t n = 0;
  for (size_t i = 0; i + 2 < img.rgb.size(); i += 3)
    if (std::abs(img.rgb[i] - r) <= tol && std::abs(img.rgb[i + 1] - g) <= tol && std::abs(img.rgb[i + 2] - b) <= tol) ++n;
  return n;
}

}  // namespace

TEST_CASE("report.html renders in headless Chromium with its charts") {
  std::string chromium = find_chromium();
  if (chromium.empty()) {
    MESSAGE("SKIPPED: chromium is not installed (Debian package `chromium`); the render test did not run");
    return;
  }
  // Records of two models with known behaviour: A scores 1,0,1,1 at 10-40 ms; B fails once.
  std::vector<json> recs;
  for (int i = 0; i < 4; ++i) {
    recs.push_back({{"model", "model-a"}, {"input_index", i}, {"repeat", 0}, {"ok", true}, {"score", i == 1 ? 0 : 1},
                    {"latency_ms", 10 + 10 * i}, {"usage", {{"input_tokens", 10}, {"output_tokens", 5}}}, {"cost_usd", 0.001}});
    recs.push_back({{"model", "model-b&co"}, {"input_index", i}, {"repeat", 0}, {"ok", i != 2}, {"score", i == 2 ? 0 : 1},
                    {"error", i == 2 ? json("timeout") : json(nullptr)}, {"latency_ms", 50 + 5 * i},
                    {"usage", {{"input_tokens", 12}, {"output_tokens", 6}}}, {"cost_usd", 0.002}});
  }
  Summary s = summarize(recs, {"model-a", "model-b&co"}, 4, 1, true, 1);
  s.plan = "render.lua";
  auto dir = fs::temp_directory_path() / ("fh_swap_render_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  REQUIRE(static_cast<bool>(write_reports(dir, s)));
  auto png = dir / "shot.png";
  std::string cmd = chromium + " --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1500 " +
                    "--screenshot=" + png.string() + " file://" + (dir / "report.html").string() + " > " +
                    (dir / "chromium.log").string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream lf(dir / "chromium.log");
  std::stringstream log;
  log << lf.rdbuf();
  REQUIRE_MESSAGE(rc == 0, "chromium failed: " << log.str());
  std::ifstream f(png, std::ios::binary);
  REQUIRE_MESSAGE(f, "no screenshot: " << log.str());
  std::stringstream ss;
  ss << f.rdbuf();
  Image img;
  std::string why;
  REQUIRE_MESSAGE(decode_png(ss.str(), img, why), why);
  CHECK(img.w == 1100);
  CHECK(img.h == 1500);
  // the first two chart colours (#1f77b4, #d62728) appear only in the SVG charts
  int64_t blue = count_near(img, 0x1f, 0x77, 0xb4, 40), red = count_near(img, 0xd6, 0x27, 0x28, 40);
  MESSAGE("chart pixels: blue " << blue << ", red " << red);
  CHECK(blue > 200);
  CHECK(red > 200);
  int64_t white = count_near(img, 255, 255, 255, 3);
  CHECK(white < static_cast<int64_t>(img.w) * img.h * 98 / 100);  // not a blank page
  fs::remove_all(dir);
}
