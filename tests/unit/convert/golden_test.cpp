// Golden transcripts: recorded-style upstream SSE inputs and the exact client SSE the gateway must
// produce, under tests/golden/{o2a,a2o}/<case>.input.sse / <case>.expected.sse (+ optional
// <case>.options.json). Each case runs (a) fed whole, (b) byte by byte and (c) with 200 random
// re-chunkings (seeds 1..200); all outputs must equal the expected file byte for byte. Anthropic
// outputs are also checked against the §7.4 step 9 invariants, OpenAI outputs for well-formedness.
//
// Options (all optional): {"tool_mode": "keep_open" | "buffer", "include_usage": bool,
// "eof_clean": bool, "model": "...", "long_tool_names": ["..."] (registered in the name map as the
// request converter would), "expose_signature": bool}.
//
// To regenerate after an intended change: LUNA_GOLDEN_UPDATE=1 ./convert_unit_tests
// --gtest_filter='Golden*', then review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gateway/convert/anthropic_to_openai_stream.h"
#include "gateway/convert/openai_to_anthropic_stream.h"
#include "stream_support.h"

namespace luna::gateway {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct GoldenCase {
  std::string direction;  // "o2a" or "a2o"
  std::string name;
  fs::path dir;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.direction << "/" << c.name; }

std::vector<GoldenCase> Cases(const std::string& direction) {
  std::vector<GoldenCase> out;
  fs::path dir = fs::path(LUNA_GOLDEN_DIR) / direction;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string file = entry.path().filename().string();
    const std::string suffix = ".input.sse";
    if (file.size() > suffix.size() && file.substr(file.size() - suffix.size()) == suffix) {
      out.push_back({direction, file.substr(0, file.size() - suffix.size()), dir});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

// A fresh converter for the case, as a feed / finish pair.
struct Runner {
  std::function<std::string(std::string_view)> feed;
  std::function<std::string()> finish;
  std::shared_ptr<void> keep;
};

Runner MakeRunner(const GoldenCase& c, const json& options) {
  bool eof_clean = options.value("eof_clean", true);
  if (c.direction == "o2a") {
    OpenAIToAnthropicStreamOptions o;
    o.message_id = "msg_golden_" + c.name;
    o.model = options.value("model", "");
    o.tool_mode = options.value("tool_mode", "keep_open") == "buffer" ? ParallelToolMode::kBuffer : ParallelToolMode::kKeepOpen;
    for (const auto& n : options.value("long_tool_names", json::array())) o.tool_names.Shorten(n.get<std::string>());
    auto conv = std::make_shared<OpenAIToAnthropicStream>(std::move(o));
    return {[conv](std::string_view b) { return conv->Feed(b); }, [conv, eof_clean] { return conv->Finish(eof_clean); },
            conv};
  }
  AnthropicToOpenAIStreamOptions o;
  o.created = 1767225600;
  o.model = options.value("model", "");
  o.client_include_usage = options.value("include_usage", false);
  o.expose_signature = options.value("expose_signature", false);
  auto conv = std::make_shared<AnthropicToOpenAIStream>(std::move(o));
  return {[conv](std::string_view b) { return conv->Feed(b); }, [conv, eof_clean] { return conv->Finish(eof_clean); },
          conv};
}

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, SameOutputForAnySplit) {
  const GoldenCase& c = GetParam();
  std::string input = ReadFile(c.dir / (c.name + ".input.sse"));
  ASSERT_FALSE(input.empty()) << c.name;
  json options = json::object();
  if (fs::exists(c.dir / (c.name + ".options.json"))) options = json::parse(ReadFile(c.dir / (c.name + ".options.json")));

  Runner whole_runner = MakeRunner(c, options);
  std::string whole = testing::FeedPieces(input, {}, whole_runner.feed, whole_runner.finish);
  fs::path expected_path = c.dir / (c.name + ".expected.sse");
  if (std::getenv("LUNA_GOLDEN_UPDATE") != nullptr) {
    std::ofstream(expected_path, std::ios::binary) << whole;
  }
  std::string expected = ReadFile(expected_path);
  ASSERT_FALSE(expected.empty()) << "missing " << expected_path;
  EXPECT_EQ(whole, expected) << "fed whole";

  if (c.direction == "o2a") {
    EXPECT_EQ(testing::CheckAnthropicStream(whole), "");
  } else {
    EXPECT_EQ(testing::CheckOpenAIStream(whole), "");
  }

  std::vector<size_t> every_byte;
  for (size_t i = 1; i < input.size(); ++i) every_byte.push_back(i);
  Runner bytes = MakeRunner(c, options);
  EXPECT_EQ(testing::FeedPieces(input, every_byte, bytes.feed, bytes.finish), expected) << "byte by byte";

  for (uint32_t seed = 1; seed <= 200; ++seed) {
    Runner r = MakeRunner(c, options);
    std::string out = testing::FeedPieces(input, testing::RandomCuts(input.size(), seed), r.feed, r.finish);
    ASSERT_EQ(out, expected) << "re-chunking seed " << seed;
  }
}

std::string CaseName(const ::testing::TestParamInfo<GoldenCase>& info) {
  std::string n = info.param.name;
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(OpenAIToAnthropic, GoldenTest, ::testing::ValuesIn(Cases("o2a")), CaseName);
INSTANTIATE_TEST_SUITE_P(AnthropicToOpenAI, GoldenTest, ::testing::ValuesIn(Cases("a2o")), CaseName);

}  // namespace
}  // namespace luna::gateway
