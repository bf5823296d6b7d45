#include "gateway/api/errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

// Each API gets errors in its own shape.
TEST(ErrorsTest, ShapesFollowTheCallersApi) {
  auto a = json::parse(ErrorBody(ApiFlavor::kAnthropic, 429, "slow down"));
  EXPECT_EQ(a["type"], "error");
  EXPECT_EQ(a["error"]["type"], "rate_limit_error");
  EXPECT_EQ(a["error"]["message"], "slow down");
  auto o = json::parse(ErrorBody(ApiFlavor::kOpenAI, 401, "bad key"));
  EXPECT_EQ(o["error"]["message"], "bad key");
  EXPECT_EQ(o["error"]["type"], "authentication_error");
  EXPECT_EQ(o["error"]["code"], "invalid_api_key");
  EXPECT_TRUE(o["error"]["param"].is_null());
  auto d = json::parse(ErrorBody(ApiFlavor::kAdmin, 404, "Key not found"));
  EXPECT_EQ(d["detail"], "Key not found");
  EXPECT_EQ(d["error"]["type"], "not_found_error");
}

// Paths map to their API; query strings do not matter.
TEST(ErrorsTest, FlavorForPath) {
  EXPECT_EQ(FlavorForPath("/v1/messages"), ApiFlavor::kAnthropic);
  EXPECT_EQ(FlavorForPath("/v1/messages/count_tokens?x=1"), ApiFlavor::kAnthropic);
  EXPECT_EQ(FlavorForPath("/v1/chat/completions?a=b"), ApiFlavor::kOpenAI);
  EXPECT_EQ(FlavorForPath("/admin/keys"), ApiFlavor::kAdmin);
  EXPECT_EQ(FlavorForPath("/v1/models"), ApiFlavor::kGeneric);
}

// Anthropic's status table (FORMATS.md §4).
TEST(ErrorsTest, AnthropicTypesFollowTheStatusTable) {
  EXPECT_EQ(AnthropicErrorType(400), "invalid_request_error");
  EXPECT_EQ(AnthropicErrorType(402), "billing_error");
  EXPECT_EQ(AnthropicErrorType(403), "permission_error");
  EXPECT_EQ(AnthropicErrorType(413), "request_too_large");
  EXPECT_EQ(AnthropicErrorType(504), "timeout_error");
  EXPECT_EQ(AnthropicErrorType(529), "overloaded_error");
  EXPECT_EQ(AnthropicErrorType(418), "invalid_request_error");
  EXPECT_EQ(AnthropicErrorType(599), "api_error");
}

}  // namespace
}  // namespace luna::gateway
