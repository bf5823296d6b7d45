#include "gateway/usage/stream_usage.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

// The gateway asks for include_usage while leaving everything else in the body as it was.
TEST(StreamUsageTest, EnsureIncludeUsageEditsOnlyStreamOptions) {
  std::string body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]})";
  EXPECT_FALSE(EnsureIncludeUsage(&body));
  auto j = json::parse(body);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["messages"][0]["content"], "x");

  body = R"({"model":"m","stream_options":{"include_usage":false,"other":1},"stream":true})";
  EXPECT_FALSE(EnsureIncludeUsage(&body));
  j = json::parse(body);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["stream_options"]["other"], 1);

  body = R"({"stream_options": {"include_usage": true}, "model":"m"})";
  std::string before = body;
  EXPECT_TRUE(EnsureIncludeUsage(&body));
  EXPECT_EQ(body, before) << "a client that asked gets its body untouched";

  body = "{}";
  EXPECT_FALSE(EnsureIncludeUsage(&body));
  EXPECT_EQ(json::parse(body)["stream_options"]["include_usage"], true);
  body = "not json";
  EXPECT_TRUE(EnsureIncludeUsage(&body));
  EXPECT_EQ(body, "not json");
}

// The usage-only chunk is removed; everything else passes in order, for any split of the input.
TEST(StreamUsageTest, FilterDropsOnlyTheUsageChunk) {
  std::string in =
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\r\n\r\n"
      ": keepalive\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
      "data: [DONE]\n\n";
  std::string expected =
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
      "data: [DONE]\n\n";
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    UsageChunkFilter f;
    std::string out = f.Feed(in.substr(0, cut));
    out += f.Feed(in.substr(cut));
    ASSERT_EQ(out, expected) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace luna::gateway
