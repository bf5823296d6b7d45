// Integration: format conversion in the request path — an Anthropic client served by an OpenAI-format
// upstream and an OpenAI client served by an Anthropic-format upstream, through the real gateway.
// (The official SDKs run the same paths in tests/sdk.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

// Each test runs against both upstream formats; the client always speaks the other one.
class ConversionTest : public ::testing::TestWithParam<std::string> {
 protected:
  ConversionTest()
      : c_(Cluster::Options{.gateway_env = {{"UPSTREAM_FORMAT", GetParam()},
                                            {"MODELS", "claude-a, gpt-b"}}}) {}
  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartGateway();
    key_ = c_.CreateKey("agent");
  }
  bool openai_upstream() const { return GetParam() == "openai"; }
  // The client API that needs converting for this upstream.
  std::string client_path() const { return openai_upstream() ? "/v1/messages" : "/v1/chat/completions"; }
  std::string upstream_path() const { return openai_upstream() ? "/v1/chat/completions" : "/v1/messages"; }
  std::string Body(const std::string& model, bool stream) const {
    json b = {{"model", model}, {"max_tokens", 64}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    if (stream) b["stream"] = true;
    return b.dump();
  }
  HttpResponse Call(const std::string& body, Headers extra = {}) {
    extra.emplace_back("x-api-key", key_);
    return c_.Gateway("POST", client_path(), extra, body);
  }
  json LastUpstreamRequest() { return json::parse(c_.UpstreamRequests())["requests"].back(); }

  Cluster c_;
  std::string key_;
};

INSTANTIATE_TEST_SUITE_P(UpstreamFormats, ConversionTest, ::testing::Values("anthropic", "openai"),
                         [](const auto& info) { return info.param; });

// A JSON answer with a tool call comes back in the client's API, tool arguments parsed, stop reason
// mapped; the upstream received its own API at its own path, with the accept-encoding dropped.
TEST_P(ConversionTest, NonStreamingToolCallRoundTrip) {
  c_.SetModel("m-tool", R"({"text":"Let me look.","tool_call":{"name":"get_weather","input":{"city":"Oslo"}}})");
  auto r = Call(Body("m-tool", false), {{"accept-encoding", "gzip"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = json::parse(r.body);
  if (openai_upstream()) {
    EXPECT_EQ(b["type"], "message");
    EXPECT_EQ(b["stop_reason"], "tool_use");
    ASSERT_EQ(b["content"].size(), 2u) << r.body;
    EXPECT_EQ(b["content"][0]["text"], "Let me look.");
    EXPECT_EQ(b["content"][1]["type"], "tool_use");
    EXPECT_EQ(b["content"][1]["name"], "get_weather");
    EXPECT_EQ(b["content"][1]["input"], json({{"city", "Oslo"}}));
    EXPECT_TRUE(b["content"][1]["id"].get<std::string>().rfind("toolu_", 0) == 0 ||
                !b["content"][1]["id"].get<std::string>().empty());
    EXPECT_EQ(b["usage"]["input_tokens"], 10);
    EXPECT_EQ(b["usage"]["output_tokens"], 20);
  } else {
    EXPECT_EQ(b["object"], "chat.completion");
    EXPECT_EQ(b["choices"][0]["finish_reason"], "tool_calls");
    auto msg = b["choices"][0]["message"];
    EXPECT_EQ(msg["content"], "Let me look.");
    ASSERT_EQ(msg["tool_calls"].size(), 1u);
    EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
    EXPECT_EQ(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()),
              json({{"city", "Oslo"}}));
    EXPECT_EQ(b["usage"]["prompt_tokens"], 10);
    EXPECT_EQ(b["usage"]["completion_tokens"], 20);
  }
  auto up = LastUpstreamRequest();
  EXPECT_EQ(up["target"], upstream_path());
  EXPECT_FALSE(up["headers"].contains("accept-encoding")) << "the gateway reads the answer: no compression";
  auto sent = json::parse(up["body"].get<std::string>());
  EXPECT_EQ(sent["model"], "m-tool");
  EXPECT_EQ(sent["messages"][0]["role"], "user");
  if (!openai_upstream()) {
    EXPECT_EQ(up["headers"]["anthropic-version"], "2023-06-01");
  }
}

// A streamed answer is converted event by event and ends the way the client's API ends a stream.
TEST_P(ConversionTest, StreamEndsProperly) {
  c_.SetModel("m-stream", R"({"text":"one two three four","events":4})");
  auto r = Call(Body("m-stream", true));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(r.complete);
  EXPECT_NE(r.Header("content-type").find("text/event-stream"), std::string::npos);
  std::string text;
  size_t pos = 0;
  while ((pos = r.body.find("data: ", pos)) != std::string::npos) {
    size_t end = r.body.find('\n', pos);
    std::string data = r.body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") continue;
    auto ev = json::parse(data);
    if (openai_upstream()) {
      if (ev["type"] == "content_block_delta") text += ev["delta"]["text"].get<std::string>();
    } else if (!ev["choices"].empty() && ev["choices"][0]["delta"].contains("content") &&
               ev["choices"][0]["delta"]["content"].is_string()) {
      text += ev["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "one two three four");
  if (openai_upstream()) {
    EXPECT_NE(r.body.find("event: message_stop"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"stop_reason\":\"end_turn\""), std::string::npos) << r.body;
  } else {
    EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"finish_reason\":\"stop\""), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("\"prompt_tokens\""), std::string::npos) << "the client did not ask for usage";
  }
}

// An upstream error arrives in the client's error shape, with its status and retry-after.
TEST_P(ConversionTest, UpstreamErrorInClientShape) {
  c_.SetModel("m-429", R"({"mode":"429","retry_after":13})");
  for (bool stream : {false, true}) {
    auto r = Call(Body("m-429", stream));
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_EQ(r.Header("retry-after"), "13");
    auto b = json::parse(r.body);
    if (openai_upstream()) {
      EXPECT_EQ(b["type"], "error");
      EXPECT_EQ(b["error"]["type"], "rate_limit_error");
    } else {
      EXPECT_TRUE(b["error"]["message"].is_string()) << r.body;
      EXPECT_FALSE(b.contains("type")) << r.body;
    }
  }
}

// A stream the upstream breaks off ends with an error event, never with an invented normal end.
TEST_P(ConversionTest, CutStreamEndsWithAnError) {
  c_.SetModel("m-cut", R"({"mode":"cut","events":6,"cut_after_events":3})");
  auto r = Call(Body("m-cut", true));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete) << "the converted stream is ended cleanly after its error event";
  if (openai_upstream()) {
    EXPECT_NE(r.body.find("event: error"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("message_stop"), std::string::npos) << r.body;
  } else {
    EXPECT_NE(r.body.find("data: {\"error\""), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("[DONE]"), std::string::npos) << r.body;
  }
}

// A request the conversion cannot take is answered 400 in the client's shape and never sent.
TEST_P(ConversionTest, UnconvertibleRequestIs400) {
  auto before = json::parse(c_.UpstreamRequests())["requests"].size();
  for (const std::string& body : {std::string("{not json"), std::string(R"({"model":"m","messages":"hi"})"),
                                 std::string(R"({"model":"m","max_tokens":5})")}) {
    auto r = Call(body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    auto b = json::parse(r.body);
    EXPECT_TRUE(b["error"]["message"].is_string());
    if (openai_upstream()) {
      EXPECT_EQ(b["error"]["type"], "invalid_request_error");
    }
  }
  EXPECT_EQ(json::parse(c_.UpstreamRequests())["requests"].size(), before);
}

// GET /v1/models lists MODELS, in OpenAI's shape, or Anthropic's when the client sends
// anthropic-version.
TEST_P(ConversionTest, ModelsListInBothShapes) {
  auto r = c_.Gateway("GET", "/v1/models", {{"authorization", "Bearer " + key_}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = json::parse(r.body);
  EXPECT_EQ(b["object"], "list");
  ASSERT_EQ(b["data"].size(), 2u);
  EXPECT_EQ(b["data"][0]["id"], "claude-a");
  EXPECT_EQ(b["data"][1]["id"], "gpt-b");
  r = c_.Gateway("GET", "/v1/models", {{"x-api-key", key_}, {"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(r.status, 200) << r.body;
  b = json::parse(r.body);
  EXPECT_EQ(b["data"][1]["type"], "model");
  EXPECT_EQ(b["first_id"], "claude-a");
  EXPECT_EQ(b["last_id"], "gpt-b");
  EXPECT_EQ(b["has_more"], false);
  EXPECT_EQ(c_.Gateway("GET", "/v1/models").status, 401);
}

}  // namespace
}  // namespace luna::testing
