#include "gateway/convert/json_view.h"

#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "gateway/convert/json_writer.h"

namespace luna::gateway {
namespace {

using json = nlohmann::json;

std::string Compact(std::string_view text) {
  JsonDoc doc;
  EXPECT_TRUE(doc.Parse(text)) << doc.error() << " in " << text;
  std::string out;
  AppendCompactJson(doc.root(), &out);
  return out;
}

// Members, elements, strings, numbers and literals are read as written.
TEST(JsonViewTest, ReadsValues) {
  std::string text = R"( {"a": [1, -2.5e3, true, false, null], "s": "x\"y\\z\u00e9", "o": {"k": "v"}, "a": 7} )";
  JsonDoc doc;
  ASSERT_TRUE(doc.Parse(text)) << doc.error();
  JsonRef root = doc.root();
  EXPECT_TRUE(root.IsObject());
  EXPECT_EQ(root.size(), 4u);
  EXPECT_EQ(root["a"].AsInt(), 7) << "the last duplicate wins";
  EXPECT_EQ(root["s"].str(), "x\"y\\z\xc3\xa9");
  EXPECT_TRUE(root["s"].has_escapes());
  EXPECT_EQ(root["s"].raw(), R"(x\"y\\z\u00e9)");
  EXPECT_TRUE(root["o"]["k"].Is("v"));
  EXPECT_FALSE(root["missing"].present());
  EXPECT_FALSE(root["missing"]["deeper"].present());
  EXPECT_EQ(root["o"].text(), R"({"k": "v"})");
  int n = 0;
  for (JsonRef m : root) {
    if (n++ == 0) {
      EXPECT_EQ(m.key(), "a");
      EXPECT_EQ(m.size(), 5u);
      EXPECT_EQ(m.At(1).AsDouble(), -2500.0);
      EXPECT_TRUE(m.At(2).AsBool(false));
      EXPECT_TRUE(m.At(4).IsNull());
      EXPECT_FALSE(m.At(5).present());
    }
  }
  EXPECT_EQ(n, 4);
}

// Integers are accepted in integral forms only.
TEST(JsonViewTest, AsIntAcceptsIntegralNumbersOnly) {
  JsonDoc doc;
  ASSERT_TRUE(doc.Parse(R"([5, 5.0, 1e2, -3, 1.5, 99999999999999999999, "5"])"));
  JsonRef a = doc.root();
  EXPECT_EQ(a.At(0).AsInt(), 5);
  EXPECT_EQ(a.At(1).AsInt(), 5);
  EXPECT_EQ(a.At(2).AsInt(), 100);
  EXPECT_EQ(a.At(3).AsInt(), -3);
  EXPECT_EQ(a.At(4).AsInt(), std::nullopt);
  EXPECT_EQ(a.At(5).AsInt(), std::nullopt);
  EXPECT_EQ(a.At(6).AsInt(), std::nullopt);
}

// Everything RFC 8259 forbids is rejected with a position, including invalid UTF-8 and lone surrogates.
TEST(JsonViewTest, RejectsMalformedInput) {
  for (std::string bad : std::vector<std::string>{"", " ", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", "+1", "tru", "nul",
                          "\"\\x\"", std::string("\"\x01\""), "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                          "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"abc", "{} x", "[1 2]", "{1:2}",
                          "\"\\u12\"", "\xef\xbb\xbf{}", std::string(300, '[') + std::string(300, ']')}) {
    JsonDoc doc;
    EXPECT_FALSE(doc.Parse(bad)) << bad;
    EXPECT_NE(doc.error().find("invalid JSON at byte"), std::string::npos) << bad;
    EXPECT_FALSE(doc.root().present());
  }
}

// Valid UTF-8 (2, 3 and 4 byte sequences) and escaped surrogate pairs are accepted and unescaped.
TEST(JsonViewTest, AcceptsUnicode) {
  JsonDoc doc;
  ASSERT_TRUE(doc.Parse("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"\\ud83d\\ude00\\u20ac\"]")) << doc.error();
  EXPECT_EQ(doc.root().At(0).str(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(doc.root().At(1).str(), "\xf0\x9f\x98\x80\xe2\x82\xac");
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
}

json RandomJson(std::mt19937& rng, int depth) {
  int kind = std::uniform_int_distribution<int>(0, depth > 3 ? 4 : 6)(rng);
  auto random_string = [&] {
    static const std::vector<std::string> pieces = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", std::string(1, '\x01'),
                                                    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f", "long text "};
    std::string s;
    int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int i = 0; i < n; ++i) s += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
    return s;
  };
  switch (kind) {
    case 0: return nullptr;
    case 1: return std::uniform_int_distribution<int>(0, 1)(rng) == 1;
    case 2: return std::uniform_int_distribution<int64_t>(-1000000000000, 1000000000000)(rng);
    case 3: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    case 4: return random_string();
    case 5: {
      json a = json::array();
      int n = std::uniform_int_distribution<int>(0, 5)(rng);
      for (int i = 0; i < n; ++i) a.push_back(RandomJson(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      int n = std::uniform_int_distribution<int>(0, 5)(rng);
      for (int i = 0; i < n; ++i) o[random_string()] = RandomJson(rng, depth + 1);
      return o;
    }
  }
}

// Random documents survive parse + compact copy unchanged (checked against nlohmann::json), in both
// its escaping styles (ASCII-only and raw UTF-8) and with whitespace.
TEST(JsonViewTest, RandomDocumentsRoundTrip) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    json j = RandomJson(rng, 0);
    for (std::string text : {j.dump(), j.dump(2), j.dump(-1, ' ', true)}) {
      json back = json::parse(Compact(text));
      EXPECT_EQ(back, j) << "seed " << seed << ": " << text;
    }
    // Strings unescape like nlohmann's.
    if (j.is_string()) {
      JsonDoc doc;
      std::string text = j.dump(-1, ' ', true);
      ASSERT_TRUE(doc.Parse(text));
      EXPECT_EQ(doc.root().str(), j.get<std::string>());
    }
  }
}

// The writer escapes what JSON requires and nothing else; pieces and raw values compose.
TEST(JsonWriterTest, WritesEscapedCompactJson) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("a\"b").String(std::string("q\"\\\n\x01\xc3\xa9", 7)).Key("n").Int(-5).Key("d").Double(1.5);
  w.Key("l").BeginArray().Bool(true).Null().RawValue("{}").EndArray();
  w.Key("s").BeginString().StringPiece("x\n").EscapedStringPiece("\\ty").EndString();
  w.EndObject();
  EXPECT_EQ(out, "{\"a\\\"b\":\"q\\\"\\\\\\n\\u0001\xc3\xa9\",\"n\":-5,\"d\":1.5,\"l\":[true,null,{}],\"s\":\"x\\n\\ty\"}");
  json parsed = json::parse(out);
  EXPECT_EQ(parsed["s"], "x\n\ty");
}

}  // namespace
}  // namespace luna::gateway
