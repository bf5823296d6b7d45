#include "gateway/convert/models_list.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

// Both list shapes carry every configured model; the Anthropic one has paging fields.
TEST(ModelsListTest, BothShapes) {
  std::vector<std::string> names = {"claude-a", "gpt-b"};
  json o = json::parse(OpenAIModelList(names, 1700000000));
  EXPECT_EQ(o["object"], "list");
  ASSERT_EQ(o["data"].size(), 2u);
  EXPECT_EQ(o["data"][1], (json{{"id", "gpt-b"}, {"object", "model"}, {"created", 1700000000}, {"owned_by", "luna"}}));
  json a = json::parse(AnthropicModelList(names, Rfc3339Utc(1700000000)));
  EXPECT_EQ(a["data"][0], (json{{"type", "model"}, {"id", "claude-a"}, {"display_name", "claude-a"},
                                {"created_at", "2023-11-14T22:13:20Z"}}));
  EXPECT_EQ(a["has_more"], false);
  EXPECT_EQ(a["first_id"], "claude-a");
  EXPECT_EQ(a["last_id"], "gpt-b");
  json empty = json::parse(AnthropicModelList({}, "1970-01-01T00:00:00Z"));
  EXPECT_TRUE(empty["first_id"].is_null());
  EXPECT_TRUE(empty["data"].empty());
  EXPECT_EQ(Rfc3339Utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Rfc3339Utc(951782400), "2000-02-29T00:00:00Z");
}

}  // namespace
}  // namespace luna::gateway
