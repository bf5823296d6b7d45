#include "gateway/convert/json_scan.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

// The scanner finds top-level members wherever they are, skipping nested look-alikes.
TEST(JsonScanTest, FindsTopLevelMembersNotNestedOnes) {
  std::string body =
      R"({"messages":[{"role":"user","content":"say \"model\": \"x\""},{"model":"nested"}],)"
      R"( "system" : {"model":"inner"}, "model" : "claude-opus-4", "stream":true, "n": 12})";
  EXPECT_EQ(TopLevelString(body, "model"), "claude-opus-4");
  EXPECT_EQ(TopLevelBool(body, "stream"), true);
  auto span = FindTopLevelMember(body, "n");
  ASSERT_TRUE(span);
  EXPECT_EQ(body.substr(span->begin, span->end - span->begin), "12");
}

// Escaped quotes and backslashes inside strings do not end the string early.
TEST(JsonScanTest, HandlesEscapesInStrings) {
  std::string body = R"({"a":"x\\","b":"y\\\"z","model":"m"})";
  EXPECT_EQ(TopLevelString(body, "model"), "m");
  EXPECT_EQ(TopLevelString(body, "a"), std::nullopt) << "strings with escapes are not returned raw";
}

// Malformed or non-object input yields nothing instead of crashing or reading past the end.
TEST(JsonScanTest, MalformedInputYieldsNothing) {
  for (std::string bad : {"", "[]", "\"model\"", "{", "{\"model\"", "{\"model\":", "{\"model\":\"unterminated",
                          "{\"x\":[1,2,{\"y\":\"}\"}", "nul", "{\"model\" \"m\"}", "{,}"}) {
    EXPECT_EQ(TopLevelString(bad, "model"), std::nullopt) << bad;
  }
  EXPECT_EQ(TopLevelBool(R"({"stream":"true"})", "stream"), std::nullopt);
  EXPECT_EQ(TopLevelBool(R"({"stream":false})", "stream"), false);
}

// A duplicated key resolves to the last occurrence, as JSON parsers do.
TEST(JsonScanTest, LastDuplicateWins) {
  EXPECT_EQ(TopLevelString(R"({"model":"a","model":"b"})", "model"), "b");
}

}  // namespace
}  // namespace luna::gateway

namespace luna::gateway {
namespace {

TEST(JsonScanSpliceTest, Int64AndReplace) {
  std::string t = R"({"a":"x","max_tokens": 4096 ,"f":1.5,"big":99999999999999999999})";
  EXPECT_EQ(TopLevelInt64(t, "max_tokens"), 4096);
  EXPECT_EQ(TopLevelInt64(t, "f"), std::nullopt);
  EXPECT_EQ(TopLevelInt64(t, "big"), std::nullopt);
  EXPECT_EQ(TopLevelInt64(t, "a"), std::nullopt);
  EXPECT_TRUE(ReplaceTopLevelValue(&t, "max_tokens", "10"));
  EXPECT_EQ(t, R"({"a":"x","max_tokens": 10 ,"f":1.5,"big":99999999999999999999})");
  EXPECT_FALSE(ReplaceTopLevelValue(&t, "absent", "1"));
  std::string arr = "[1]";
  EXPECT_FALSE(ReplaceTopLevelValue(&arr, "a", "1"));
}

}  // namespace
}  // namespace luna::gateway

namespace luna::gateway {
namespace {

// The single-pass walk: every member in order, and "whole" only for an object that closes with
// nothing but whitespace after it — every truncation of a body reads as not whole.
TEST(JsonScanWalkTest, MembersInOrderAndWholeness) {
  const std::string body = R"( {"id":"m1","content":[{"type":"text","text":"a \"quoted\" } brace"}],"usage":{"input_tokens":3}} )";
  std::vector<std::string> keys;
  EXPECT_TRUE(ScanTopLevelMembers(body, [&](std::string_view k, JsonSpan) { keys.emplace_back(k); return true; }));
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "content", "usage"}));
  for (size_t cut = 0; cut + 1 < body.size(); ++cut) {
    if (body.find_first_not_of(' ', cut) == std::string::npos) break;
    std::string_view part(body.data(), cut);
    if (part.find_last_not_of(' ') == body.find_last_not_of(' ')) continue;  // only trailing spaces cut
    EXPECT_FALSE(ScanTopLevelMembers(part, [](std::string_view, JsonSpan) { return true; })) << "cut at " << cut;
  }
  EXPECT_TRUE(ScanTopLevelMembers("{}", [](std::string_view, JsonSpan) { return true; }));
  EXPECT_FALSE(ScanTopLevelMembers("{} x", [](std::string_view, JsonSpan) { return true; }));
  EXPECT_FALSE(ScanTopLevelMembers("[1]", [](std::string_view, JsonSpan) { return true; }));
  EXPECT_FALSE(ScanTopLevelMembers(R"({"a":1,})", [](std::string_view, JsonSpan) { return true; }));
  // Stopping early reports the walk as not whole.
  EXPECT_FALSE(ScanTopLevelMembers(body, [](std::string_view, JsonSpan) { return false; }));
  EXPECT_EQ(FirstTopLevelString(R"({"type":"a","x":{"type":"n"},"type":"b"})", "type"), "a");
  EXPECT_EQ(FirstTopLevelString(R"({"x":1,"type":"c")", "type"), "c");  // found before the cut
  EXPECT_EQ(FirstTopLevelString(R"({"x":1})", "type"), std::nullopt);
}

}  // namespace
}  // namespace luna::gateway
