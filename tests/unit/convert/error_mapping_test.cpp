#include "gateway/convert/error_mapping.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

std::string Header(const ConvertedResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<absent>";
}

// §7.3's status table, with the proposed rows and the 4xx / 5xx defaults.
TEST(ErrorMappingTest, StatusToAnthropicType) {
  EXPECT_EQ(AnthropicErrorTypeForStatus(400), "invalid_request_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(401), "authentication_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(402), "billing_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(403), "permission_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(404), "not_found_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(413), "request_too_large");
  EXPECT_EQ(AnthropicErrorTypeForStatus(422), "invalid_request_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(429), "rate_limit_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(500), "api_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(502), "api_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(503), "overloaded_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(504), "timeout_error");
  EXPECT_EQ(AnthropicErrorTypeForStatus(529), "overloaded_error");
  EXPECT_EQ(StatusForAnthropicErrorType("overloaded_error"), 529);
  EXPECT_EQ(StatusForAnthropicErrorType("something_new"), 500);
}

// Messages come from any common error shape, or the raw body, or the status.
TEST(ErrorMappingTest, MessageFromAnyShape) {
  EXPECT_EQ(ErrorMessageFromBody(400, R"({"error":{"message":"m1"}})"), "m1");
  EXPECT_EQ(ErrorMessageFromBody(400, R"({"error":"m2"})"), "m2");
  EXPECT_EQ(ErrorMessageFromBody(400, R"({"message":"m3"})"), "m3");
  EXPECT_EQ(ErrorMessageFromBody(400, R"({"detail":"m4"})"), "m4");
  EXPECT_EQ(ErrorMessageFromBody(502, "  <html>Bad gateway</html>\n"), "<html>Bad gateway</html>");
  EXPECT_EQ(ErrorMessageFromBody(502, ""), "upstream returned HTTP 502");
  EXPECT_EQ(ErrorMessageFromBody(502, std::string(2000, 'x')).size(), 500u);
  EXPECT_EQ(ErrorMessageFromBody(502, "bad \xff byte"), "bad ? byte");
}

// O→A: status kept, type mapped, message kept, retry headers and request id passed; an
// Anthropic-shaped body passes unchanged.
TEST(ErrorMappingTest, OpenAIErrorToAnthropic) {
  UpstreamHeaders h;
  h.retry_after = "7";
  h.retry_after_ms = "7000";
  h.should_retry = "true";
  h.request_id = "req_1";
  auto r = OpenAIErrorToAnthropic(503, R"({"error":{"message":"busy","type":"server_error"}})", h);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(json::parse(r.body),
            (json{{"type", "error"}, {"error", {{"type", "overloaded_error"}, {"message", "busy"}}}}));
  EXPECT_EQ(Header(r, "retry-after"), "7");
  EXPECT_EQ(Header(r, "retry-after-ms"), "7000");
  EXPECT_EQ(Header(r, "x-should-retry"), "true");
  EXPECT_EQ(Header(r, "request-id"), "req_1");
  std::string native = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"r"})";
  EXPECT_EQ(OpenAIErrorToAnthropic(529, native, {}).body, native);
}

// A→O: OpenAI's error shape with the Anthropic type, request-id copied to x-request-id.
TEST(ErrorMappingTest, AnthropicErrorToOpenAI) {
  UpstreamHeaders h;
  h.request_id = "req_2";
  auto r = AnthropicErrorToOpenAI(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})", h,
                                  false);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body), (json{{"error", {{"message", "bad"}, {"type", "invalid_request_error"},
                                                  {"param", nullptr}, {"code", nullptr}}}}));
  EXPECT_EQ(Header(r, "x-request-id"), "req_2");
  auto raw = AnthropicErrorToOpenAI(502, "upstream connect error", {}, false);
  EXPECT_EQ(json::parse(raw.body)["error"]["message"], "upstream connect error");
  EXPECT_EQ(json::parse(raw.body)["error"]["type"], "api_error");
}

// The stream error frames are what each SDK expects.
TEST(ErrorMappingTest, StreamFrames) {
  std::string a, o;
  AppendAnthropicErrorEvent("overloaded_error", "Overloaded", &a);
  EXPECT_EQ(a, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
  AppendOpenAIErrorChunk("api_error", "cut", &o);
  EXPECT_EQ(o, "data: {\"error\":{\"message\":\"cut\",\"type\":\"api_error\",\"param\":null,\"code\":null}}\n\n");
}

}  // namespace
}  // namespace luna::gateway
