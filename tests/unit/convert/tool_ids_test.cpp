#include "gateway/convert/tool_ids.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

// Ids are sanitized character by character, deterministically; valid ids are unchanged.
TEST(ToolIdsTest, SanitizesIds) {
  EXPECT_EQ(SanitizeToolId("functions.Bash:0"), "functions_Bash_0");
  EXPECT_EQ(SanitizeToolId("toolu_01-AbC"), "toolu_01-AbC");
  EXPECT_EQ(SanitizeToolId("a b\xc3\xa9"), "a_b__");
  EXPECT_EQ(SanitizeToolId(""), "");
  EXPECT_TRUE(IsValidToolId("toolu_1"));
  EXPECT_FALSE(IsValidToolId("a.b"));
  EXPECT_FALSE(IsValidToolId(""));
  EXPECT_EQ(GeneratedToolId("msg.1", 3), "toolu_msg_1_3");
  EXPECT_TRUE(IsValidToolId(GeneratedToolId("chatcmpl-x:y", 0)));
}

// Names over 64 characters get a unique, stable, legal short name that restores to the original.
TEST(ToolIdsTest, ShortensAndRestoresLongNames) {
  ToolNameMap map;
  EXPECT_EQ(map.Shorten("short_name"), "short_name");
  EXPECT_TRUE(map.empty());
  std::string long_a = "mcp__server__" + std::string(70, 'a') + "_one";
  std::string long_b = "mcp__server__" + std::string(70, 'a') + "_two";  // same 55-char prefix
  std::string sa = map.Shorten(long_a);
  std::string sb = map.Shorten(long_b);
  EXPECT_EQ(sa.size(), kOpenAIMaxToolNameLength);
  EXPECT_EQ(sb.size(), kOpenAIMaxToolNameLength);
  EXPECT_NE(sa, sb);
  EXPECT_TRUE(IsValidToolId(sa));
  EXPECT_EQ(map.Shorten(long_a), sa) << "stable";
  EXPECT_EQ(map.Restore(sa), long_a);
  EXPECT_EQ(map.Restore(sb), long_b);
  EXPECT_EQ(map.Restore("other"), "other");
  EXPECT_EQ(map.size(), 2u);
  ToolNameMap fresh;
  EXPECT_EQ(fresh.Shorten(long_a), sa) << "deterministic across maps";
}

}  // namespace
}  // namespace luna::gateway
