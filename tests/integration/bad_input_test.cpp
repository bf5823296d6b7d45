// Integration: the bad-input catalogue. Malformed and hostile requests, sent as raw bytes to the real
// gateway (with authsvc, usagesvc, fallbacksvc and the fake upstream behind it), on every endpoint it
// serves. Each row names the request, the status it must get and the error shape of the caller's own
// API (Anthropic on /v1/messages, OpenAI on /v1/chat/completions and other /v1, the old proxy's
// {"detail"} on /admin). Rows marked local must never reach the upstream. After the whole catalogue
// the gateway still serves normal requests.
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

// The error shape an answer must have.
enum class Shape {
  kAnthropic,  // {"type":"error","error":{"type","message"}}
  kOpenAI,     // {"error":{"message","type","param","code"}} (also the gateway's generic shape)
  kAdmin,      // {"detail","error":{"type","message"}}
  kAny,        // a success: only the status is checked
  kNone,       // no answer at all: the connection is closed
};

struct Row {
  std::string name;
  std::string raw;       // the bytes sent
  int status;            // the status expected (0 with kNone)
  Shape shape;
  std::string type;      // the error type expected ("" = any)
  bool local = true;     // must be answered without asking the upstream
  std::string header;    // "name: value" the answer must carry ("" = none)
};

// A request as raw HTTP/1.1 text: Host, the given headers, Content-Length (unless `length` is false
// or a header sets the framing), then the body.
std::string Raw(const std::string& method, const std::string& target, const Headers& headers = {},
                const std::string& body = "", bool length = true) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) r += k + ": " + v + "\r\n";
  if (length) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

const std::string kMessages = R"({"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
const std::string kChat = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";

// A body whose messages hold `depth` nested arrays.
std::string Nested(const std::string& model, int depth) {
  return R"({"model":")" + model + R"(","max_tokens":16,"messages":[{"role":"user","content":)" +
         std::string(static_cast<size_t>(depth), '[') + "1" + std::string(static_cast<size_t>(depth), ']') + "}]}";
}

// `text` with its first '@' replaced by a NUL byte.
std::string WithNul(std::string text) {
  text[text.find('@')] = '\0';
  return text;
}

// A chunked body of `total` bytes in 4 KB chunks.
std::string Chunked(size_t total) {
  std::string out;
  for (size_t sent = 0; sent < total; sent += 4096) {
    size_t n = std::min<size_t>(4096, total - sent);
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    out += size_line + std::string(n, 'x') + "\r\n";
  }
  return out + "0\r\n\r\n";
}

constexpr int kBodyLimit = 65536;

class BadInputTest : public ::testing::Test {
 protected:
  BadInputTest()
      : c_(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", "127.0.0.1:" + std::to_string(fb_port_)},
                                            {"MAX_BODY_BYTES", std::to_string(kBodyLimit)},
                                            {"MAX_HEADER_BYTES", "8192"},
                                            {"HEADER_TIMEOUT_SECONDS", "2"},
                                            {"REQUEST_TIMEOUT_SECONDS", "2"}}}) {}

  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartUsage();
    json chain = {{"enabled", true},
                  {"health_poll_interval_seconds", 1},
                  {"tiers", {{{"name", "opus"}, {"model", "claude-opus"}, {"type", "antigravity"}}}}};
    fallback_ = StartFallbackService(c_, chain.dump(), &fb_port_);
    c_.StartGateway();
    key_ = c_.CreateKey("agent");
    disabled_ = c_.CreateKey("disabled");
    ASSERT_EQ(c_.SetEnabled(disabled_, false), 200);
    // Both keys known to the gateway's table, the disabled one as disabled.
    ASSERT_TRUE(Eventually([&] {
      return c_.Gateway("POST", "/v1/messages", {{"x-api-key", disabled_}}, kMessages).status == 403;
    }));
  }
  void TearDown() override {
    if (fallback_) fallback_->Stop(SIGTERM, std::chrono::seconds(10));
  }

  // Requests the fake upstream received, /health (fallbacksvc's quota polls) aside.
  int64_t UpstreamCalls() {
    json stats = json::parse(Fetch(c_.upstream_port(), "GET", "/_control/stats").body);
    int64_t n = 0;
    for (const auto& [path, count] : stats["by_path"].items()) {
      if (path != "/health") n += count.get<int64_t>();
    }
    return n;
  }

  std::vector<Row> Catalogue();

  int fb_port_ = UnusedPort();
  Cluster c_;
  std::unique_ptr<Process> fallback_;
  std::string key_, disabled_;
};

std::vector<Row> BadInputTest::Catalogue() {
  const Headers k = {{"x-api-key", key_}, {"content-type", "application/json"}};
  const Headers bearer = {{"authorization", "Bearer " + key_}, {"content-type", "application/json"}};
  const Headers admin = {{"x-api-key", c_.admin_key()}};
  const std::string big(kBodyLimit + 1, 'x');
  const std::string msgs = "/v1/messages";
  const std::string chat = "/v1/chat/completions";
  using S = Shape;
  const std::string bad_req = "invalid_request_error";
  std::vector<Row> rows = {
      // ---- /v1/messages: bodies the gateway cannot read (Anthropic shape, never sent upstream) ----
      {"MessagesBadJson", Raw("POST", msgs, k, "{not json"), 400, S::kAnthropic, bad_req},
      {"MessagesTruncatedJson", Raw("POST", msgs, k, kMessages.substr(0, kMessages.size() - 3)), 400, S::kAnthropic, bad_req},
      {"MessagesTruncatedInString", Raw("POST", msgs, k, R"({"model":"claude-te)"), 400, S::kAnthropic, bad_req},
      {"MessagesEmptyBody", Raw("POST", msgs, k, ""), 400, S::kAnthropic, bad_req},
      {"MessagesWhitespaceBody", Raw("POST", msgs, k, " \r\n\t "), 400, S::kAnthropic, bad_req},
      {"MessagesArrayBody", Raw("POST", msgs, k, "[" + kMessages + "]"), 400, S::kAnthropic, bad_req},
      {"MessagesStringBody", Raw("POST", msgs, k, R"("hello")"), 400, S::kAnthropic, bad_req},
      {"MessagesNumberBody", Raw("POST", msgs, k, "42"), 400, S::kAnthropic, bad_req},
      {"MessagesNullBody", Raw("POST", msgs, k, "null"), 400, S::kAnthropic, bad_req},
      {"MessagesTrailingGarbage", Raw("POST", msgs, k, kMessages + "garbage"), 400, S::kAnthropic, bad_req},
      {"MessagesTwoObjects", Raw("POST", msgs, k, kMessages + kMessages), 400, S::kAnthropic, bad_req},
      {"MessagesModelMissing", Raw("POST", msgs, k, R"({"max_tokens":16,"messages":[]})"), 400, S::kAnthropic, bad_req},
      {"MessagesModelNumber", Raw("POST", msgs, k, R"({"model":42,"messages":[]})"), 400, S::kAnthropic, bad_req},
      {"MessagesModelNull", Raw("POST", msgs, k, R"({"model":null,"messages":[]})"), 400, S::kAnthropic, bad_req},
      {"MessagesModelArray", Raw("POST", msgs, k, R"({"model":["a"],"messages":[]})"), 400, S::kAnthropic, bad_req},
      {"MessagesMessagesMissing", Raw("POST", msgs, k, R"({"model":"claude-test","max_tokens":16})"), 400, S::kAnthropic, bad_req},
      {"MessagesMessagesString", Raw("POST", msgs, k, R"({"model":"claude-test","messages":"hi"})"), 400, S::kAnthropic, bad_req},
      {"MessagesMessagesObject", Raw("POST", msgs, k, R"({"model":"claude-test","messages":{"role":"user"}})"), 400, S::kAnthropic, bad_req},
      {"MessagesStreamString", Raw("POST", msgs, k, R"({"model":"claude-test","messages":[],"stream":"yes"})"), 400, S::kAnthropic, bad_req},
      {"MessagesStreamNumber", Raw("POST", msgs, k, R"({"model":"claude-test","messages":[],"stream":1})"), 400, S::kAnthropic, bad_req},
      {"MessagesMaxTokensString", Raw("POST", msgs, k, R"({"model":"claude-test","messages":[],"max_tokens":"16"})"), 400, S::kAnthropic, bad_req},
      {"MessagesMaxTokensFloat", Raw("POST", msgs, k, R"({"model":"claude-test","messages":[],"max_tokens":1.5})"), 400, S::kAnthropic, bad_req},
      {"MessagesInvalidUtf8", Raw("POST", msgs, k, "{\"model\":\"claude-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}"), 400, S::kAnthropic, bad_req},
      {"MessagesOverlongUtf8", Raw("POST", msgs, k, "{\"model\":\"claude-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC0\xAF\"}]}"), 400, S::kAnthropic, bad_req},
      {"MessagesSurrogateUtf8", Raw("POST", msgs, k, "{\"model\":\"claude-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\xED\xA0\x80\"}]}"), 400, S::kAnthropic, bad_req},
      {"MessagesNulByte", Raw("POST", msgs, k, WithNul(R"({"model":"claude-test","messages":[{"role":"user","content":"a@b"}]})")), 400, S::kAnthropic, bad_req},
      {"MessagesDeeplyNested", Raw("POST", msgs, k, Nested("claude-test", 20000)), 400, S::kAnthropic, bad_req},
      {"MessagesContentLengthOverLimit", Raw("POST", msgs, {{"x-api-key", key_}, {"content-length", std::to_string(kBodyLimit + 1)}}, "", false), 413, S::kAnthropic, "request_too_large"},
      {"MessagesChunkedOverLimit", Raw("POST", msgs, {{"x-api-key", key_}, {"transfer-encoding", "chunked"}}, Chunked(kBodyLimit + 4096), false), 413, S::kAnthropic, "request_too_large"},
      {"MessagesExpectContinueOverLimit", Raw("POST", msgs, {{"x-api-key", key_}, {"expect", "100-continue"}, {"content-length", std::to_string(kBodyLimit * 4)}}, "", false), 413, S::kAnthropic, "request_too_large"},
      // ---- /v1/messages: keys ----
      {"MessagesNoKey", Raw("POST", msgs, {}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesUnknownKey", Raw("POST", msgs, {{"x-api-key", "sk-not-a-key"}}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesEmptyBearer", Raw("POST", msgs, {{"authorization", "Bearer "}}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesBasicAuth", Raw("POST", msgs, {{"authorization", "Basic dXNlcjpwYXNz"}}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesKeyNotUtf8", Raw("POST", msgs, {{"x-api-key", "sk-\xff\xfe"}}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesVeryLongKey", Raw("POST", msgs, {{"x-api-key", "sk-" + std::string(6000, 'a')}}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesDisabledKey", Raw("POST", msgs, {{"x-api-key", disabled_}}, kMessages), 403, S::kAnthropic, "permission_error"},
      {"MessagesAdminKey", Raw("POST", msgs, {{"x-api-key", c_.admin_key()}}, kMessages), 401, S::kAnthropic, "authentication_error"},
      {"MessagesBadBodyWithoutKey", Raw("POST", msgs, {}, "{not json"), 401, S::kAnthropic, "authentication_error"},
      // ---- /v1/messages: methods ----
      {"MessagesGet", Raw("GET", msgs, k), 405, S::kAnthropic, bad_req, true, "allow: POST"},
      {"MessagesDelete", Raw("DELETE", msgs, k), 405, S::kAnthropic, bad_req, true, "allow: POST"},
      {"MessagesUnknownMethod", Raw("FROB", msgs, k, kMessages), 405, S::kAnthropic, bad_req, true, "allow: POST"},
      // ---- /v1/chat/completions (OpenAI shape; converted for the Anthropic upstream) ----
      {"ChatBadJson", Raw("POST", chat, bearer, "{\"model\":"), 400, S::kOpenAI, bad_req},
      {"ChatEmptyBody", Raw("POST", chat, bearer, ""), 400, S::kOpenAI, bad_req},
      {"ChatArrayBody", Raw("POST", chat, bearer, "[]"), 400, S::kOpenAI, bad_req},
      {"ChatModelObject", Raw("POST", chat, bearer, R"({"model":{"id":"x"},"messages":[]})"), 400, S::kOpenAI, bad_req},
      {"ChatMessagesNumber", Raw("POST", chat, bearer, R"({"model":"gpt-test","messages":7})"), 400, S::kOpenAI, bad_req},
      {"ChatStreamString", Raw("POST", chat, bearer, R"({"model":"gpt-test","messages":[],"stream":"true"})"), 400, S::kOpenAI, bad_req},
      {"ChatInvalidUtf8", Raw("POST", chat, bearer, "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\xFF\"}]}"), 400, S::kOpenAI, bad_req},
      {"ChatControlByte", Raw("POST", chat, bearer, "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\x1b[2J\"}]}"), 400, S::kOpenAI, bad_req},
      {"ChatDeeplyNested", Raw("POST", chat, bearer, Nested("gpt-test", 5000)), 400, S::kOpenAI, bad_req},
      {"ChatBodyOverLimit", Raw("POST", chat, {{"authorization", "Bearer " + key_}}, big), 413, S::kOpenAI, "request_too_large"},
      {"ChatNoKey", Raw("POST", chat, {}, kChat), 401, S::kOpenAI, "authentication_error"},
      {"ChatDisabledKey", Raw("POST", chat, {{"authorization", "Bearer " + disabled_}}, kChat), 403, S::kOpenAI, "permission_error"},
      {"ChatPut", Raw("PUT", chat, bearer, kChat), 405, S::kOpenAI, bad_req, true, "allow: POST"},
      // ---- /v1/models and other /v1 passthrough ----
      {"ModelsNoKey", Raw("GET", "/v1/models"), 401, S::kOpenAI, "authentication_error"},
      {"ModelsJunkQuery", Raw("GET", "/v1/models?%zz=%%&a=%00&&=&" + std::string(500, 'q'), {{"x-api-key", key_}}, "", false), 200, S::kAny, "", false},
      {"PassthroughDotDot", Raw("GET", "/v1/../admin/keys", {{"x-api-key", key_}}, "", false), 400, S::kOpenAI, bad_req},
      {"PassthroughEncodedDotDot", Raw("GET", "/v1/%2e%2e/%2E%2E/etc/passwd", {{"x-api-key", key_}}, "", false), 400, S::kOpenAI, bad_req},
      {"PassthroughEncodedSlash", Raw("GET", "/v1/..%2fadmin", {{"x-api-key", key_}}, "", false), 400, S::kOpenAI, bad_req},
      {"PassthroughBackslash", Raw("GET", "/v1/..\\admin", {{"x-api-key", key_}}, "", false), 400, S::kOpenAI, bad_req},
      {"PassthroughDotSegment", Raw("GET", "/v1/./models", {{"x-api-key", key_}}, "", false), 400, S::kOpenAI, bad_req},
      {"PassthroughNoKey", Raw("POST", "/v1/complete", {}, "{}"), 401, S::kOpenAI, "authentication_error"},
      {"PassthroughDisabledKey", Raw("GET", "/v1/files", {{"x-api-key", disabled_}}, "", false), 403, S::kOpenAI, "permission_error"},
      // ---- /admin ----
      {"AdminKeysNoKey", Raw("GET", "/admin/keys"), 401, S::kAdmin, "authentication_error"},
      {"AdminKeysClientKey", Raw("GET", "/admin/keys", {{"x-api-key", key_}}), 403, S::kAdmin, "permission_error"},
      {"AdminKeysDisabledKey", Raw("GET", "/admin/keys", {{"authorization", "Bearer " + disabled_}}), 403, S::kAdmin, "permission_error"},
      {"AdminKeysNotAsciiKey", Raw("GET", "/admin/keys", {{"x-api-key", "sk-admin-\xc3\xa9\xff"}}), 401, S::kAdmin, "authentication_error"},
      {"AdminKeysWrongKey", Raw("GET", "/admin/keys", {{"x-api-key", "sk-admin-wrong"}}), 401, S::kAdmin, "authentication_error"},
      {"AdminCreateClientKey", Raw("POST", "/admin/keys", {{"x-api-key", key_}}, R"({"name":"x"})"), 403, S::kAdmin, "permission_error"},
      {"AdminCreateBadJson", Raw("POST", "/admin/keys", admin, "{\"name\":"), 400, S::kAdmin, bad_req},
      {"AdminCreateArray", Raw("POST", "/admin/keys", admin, R"(["x"])"), 400, S::kAdmin, bad_req},
      {"AdminCreateNameNumber", Raw("POST", "/admin/keys", admin, R"({"name":5})"), 400, S::kAdmin, bad_req},
      {"AdminCreateInvalidUtf8", Raw("POST", "/admin/keys", admin, "{\"name\":\"\xC3\x28\"}"), 400, S::kAdmin, bad_req},
      {"AdminKeysPut", Raw("PUT", "/admin/keys", admin, "{}"), 405, S::kAdmin, bad_req, true, "allow: GET, POST"},
      {"AdminKeyUnknown", Raw("GET", "/admin/keys/sk-nope", admin), 404, S::kAdmin, "not_found_error"},
      {"AdminKeyUnknownId", Raw("GET", "/admin/keys/key_000000", admin), 404, S::kAdmin, "not_found_error"},
      {"AdminKeyHugeName", Raw("GET", "/admin/keys/" + std::string(5000, 'k'), admin), 404, S::kAdmin, "not_found_error"},
      {"AdminKeyClientKey", Raw("GET", "/admin/keys/" + key_, {{"x-api-key", key_}}), 403, S::kAdmin, "permission_error"},
      {"AdminDisableNoKey", Raw("POST", "/admin/keys/" + key_ + "/disable", {}, ""), 401, S::kAdmin, "authentication_error"},
      {"AdminDisableClientKey", Raw("POST", "/admin/keys/" + key_ + "/disable", {{"x-api-key", key_}}, ""), 403, S::kAdmin, "permission_error"},
      {"AdminDisableUnknown", Raw("POST", "/admin/keys/key_nope/disable", admin, ""), 404, S::kAdmin, "not_found_error"},
      {"AdminDisableGet", Raw("GET", "/admin/keys/" + key_ + "/disable", admin), 405, S::kAdmin, bad_req},
      {"AdminEnableClientKey", Raw("POST", "/admin/keys/" + disabled_ + "/enable", {{"x-api-key", disabled_}}, ""), 403, S::kAdmin, "permission_error"},
      {"AdminEnableDelete", Raw("DELETE", "/admin/keys/" + key_ + "/enable", admin), 405, S::kAdmin, bad_req},
      {"AdminKeyUsageNoKey", Raw("GET", "/admin/keys/" + key_ + "/usage"), 401, S::kAdmin, "authentication_error"},
      {"AdminKeyUsageClientKey", Raw("GET", "/admin/keys/" + key_ + "/usage", {{"x-api-key", key_}}), 403, S::kAdmin, "permission_error"},
      {"AdminKeyUnknownAction", Raw("POST", "/admin/keys/" + key_ + "/explode", admin, ""), 404, S::kAdmin, "not_found_error"},
      {"AdminKeysDotDot", Raw("GET", "/admin/keys/../../v1/models", admin), 400, S::kAdmin, bad_req},
      {"AdminUsageNoKey", Raw("GET", "/admin/usage"), 401, S::kAdmin, "authentication_error"},
      {"AdminUsageClientKey", Raw("GET", "/admin/usage", {{"x-api-key", key_}}), 403, S::kAdmin, "permission_error"},
      {"AdminUsagePost", Raw("POST", "/admin/usage", admin, "{}"), 405, S::kAdmin, bad_req, true, "allow: GET"},
      {"AdminDailyBadDate", Raw("GET", "/admin/usage/daily?date=yesterday", admin), 400, S::kAdmin, bad_req},
      {"AdminDailyNulDate", Raw("GET", "/admin/usage/daily?date=%00%00", admin), 400, S::kAdmin, bad_req},
      {"AdminDailyImpossibleDate", Raw("GET", "/admin/usage/daily?date=2026-13-45", admin), 400, S::kAdmin, bad_req},
      {"AdminHourlyBadFrom", Raw("GET", "/admin/usage/hourly?from=2026-1-1&to=x", admin), 400, S::kAdmin, bad_req},
      {"AdminHourlyUnknownKey", Raw("GET", "/admin/usage/hourly?key=nobody", admin), 404, S::kAdmin, "not_found_error"},
      {"AdminFallbackNoKey", Raw("GET", "/admin/fallback"), 401, S::kAdmin, "authentication_error"},
      {"AdminFallbackClientKey", Raw("GET", "/admin/fallback", {{"x-api-key", key_}}), 403, S::kAdmin, "permission_error"},
      {"AdminFallbackPost", Raw("POST", "/admin/fallback", admin, ""), 405, S::kAdmin, bad_req, true, "allow: GET"},
      {"AdminReloadGet", Raw("GET", "/admin/fallback/reload", admin), 405, S::kAdmin, bad_req, true, "allow: POST"},
      {"AdminReloadClientKey", Raw("POST", "/admin/fallback/reload", {{"x-api-key", key_}}, ""), 403, S::kAdmin, "permission_error"},
      {"AdminUnknownPath", Raw("GET", "/admin/nothing", admin), 404, S::kAdmin, "not_found_error"},
      // ---- /health, /metrics, unknown paths ----
      {"HealthDelete", Raw("DELETE", "/health"), 405, S::kOpenAI, bad_req, true, "allow: GET, HEAD"},
      {"HealthLowercaseMethod", Raw("get", "/health"), 405, S::kOpenAI, bad_req},
      {"HealthJunkQuery", Raw("GET", "/health?%%%&&==;<>"), 200, S::kAny},
      {"HealthHttp10", "GET /health HTTP/1.0\r\n\r\n", 200, S::kAny},
      {"MetricsPost", Raw("POST", "/metrics", {}, "x=1"), 405, S::kOpenAI, bad_req, true, "allow: GET, HEAD"},
      {"UnknownPath", Raw("GET", "/nothing/here"), 404, S::kOpenAI, "not_found_error"},
      {"RootPath", Raw("GET", "/"), 404, S::kOpenAI, "not_found_error"},
      {"AbsoluteFormTarget", Raw("GET", "http://127.0.0.1:1/v1/models", {{"x-api-key", key_}}, "", false), 404, S::kOpenAI, "not_found_error"},
      {"AsteriskTarget", Raw("OPTIONS", "*"), 404, S::kOpenAI, "not_found_error"},
      {"DotDotOutsideV1", Raw("GET", "/health/../admin/keys"), 400, S::kOpenAI, bad_req},
      // ---- framing: lengths, chunks and smuggling (the caller's shape from its request line) ----
      {"ContentLengthNotANumber", Raw("POST", msgs, {{"x-api-key", key_}, {"content-length", "abc"}}, kMessages, false), 400, S::kAnthropic, bad_req},
      {"ContentLengthNegative", Raw("POST", chat, {{"content-length", "-1"}}, kChat, false), 400, S::kOpenAI, bad_req},
      {"ContentLengthOverflow", Raw("POST", msgs, {{"content-length", "184467440737095516160"}}, kMessages, false), 400, S::kAnthropic, bad_req},
      {"ContentLengthTwoValues", Raw("POST", msgs, {{"x-api-key", key_}, {"content-length", "5"}, {"content-length", "90"}}, kMessages, false), 400, S::kAnthropic, bad_req},
      {"ContentLengthList", Raw("POST", msgs, {{"x-api-key", key_}, {"content-length", "90, 5"}}, kMessages, false), 400, S::kAnthropic, bad_req},
      {"SmugglingLengthAndChunked", Raw("POST", msgs, {{"x-api-key", key_}, {"content-length", "4"}, {"transfer-encoding", "chunked"}}, "0\r\n\r\nPOST /v1/messages HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", false), 400, S::kAnthropic, bad_req},
      {"SmugglingChunkedAndLength", Raw("POST", chat, {{"transfer-encoding", "chunked"}, {"content-length", "3"}}, "0\r\n\r\n", false), 400, S::kOpenAI, bad_req},
      {"TransferEncodingGzip", Raw("POST", msgs, {{"x-api-key", key_}, {"transfer-encoding", "gzip"}}, kMessages, false), 400, S::kAnthropic, bad_req},
      {"TransferEncodingChunkedTwice", Raw("POST", msgs, {{"x-api-key", key_}, {"transfer-encoding", "chunked, chunked"}}, "0\r\n\r\n", false), 400, S::kAnthropic, bad_req},
      {"ChunkSizeNotHex", Raw("POST", msgs, {{"x-api-key", key_}, {"transfer-encoding", "chunked"}}, "zz\r\nhello\r\n0\r\n\r\n", false), 400, S::kAnthropic, bad_req},
      {"ChunkMissingCrlf", Raw("POST", chat, {{"authorization", "Bearer " + key_}, {"transfer-encoding", "chunked"}}, "5\r\nhelloXX0\r\n\r\n", false), 400, S::kOpenAI, bad_req},
      {"ChunkSizeOverflow", Raw("POST", msgs, {{"x-api-key", key_}, {"transfer-encoding", "chunked"}}, "fffffffffffffffff\r\nx\r\n0\r\n\r\n", false), 400, S::kAnthropic, bad_req},
      // ---- header injection and malformed heads ----
      {"HeaderValueWithCR", Raw("POST", msgs, {{"x-api-key", key_}, {"x-note", "a\rInjected: yes"}}, kMessages), 400, S::kAnthropic, bad_req},
      {"HeaderValueWithBareLF", Raw("POST", chat, {{"x-note", "a\nInjected: yes"}}, kChat), 400, S::kOpenAI, bad_req},
      {"HeaderValueWithNul", Raw("POST", msgs, {{"x-note", WithNul("a@b")}}, kMessages), 400, S::kAnthropic, bad_req},
      {"HeaderNameWithSpace", Raw("GET", "/admin/keys", {{"x api key", c_.admin_key()}}), 400, S::kAdmin, bad_req},
      {"HeaderWithoutColon", "GET /health HTTP/1.1\r\nHost: x\r\nJustAName\r\n\r\n", 400, S::kOpenAI, bad_req},
      {"HeaderObsFold", "GET /health HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  continued\r\n\r\n", 200, S::kAny},
      {"RequestLineOverLimit", Raw("GET", msgs + "?" + std::string(10000, 'a')), 431, S::kAnthropic, bad_req},
      {"HeaderOverLimit", Raw("POST", chat, {{"x-big", std::string(10000, 'b')}}, kChat), 431, S::kOpenAI, bad_req},
      {"ManyHeadersOverLimit", [] {
         Headers many;
         for (int i = 0; i < 1000; ++i) many.emplace_back("x-h" + std::to_string(i), "v");
         return Raw("GET", "/admin/keys", many);
       }(), 431, S::kAdmin, bad_req},
      {"Http2Preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, S::kOpenAI, bad_req},
      {"TlsClientHello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(64, 'r') + "\r\n\r\n", 400, S::kOpenAI, bad_req},
      {"UnknownHttpVersion", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 400, S::kOpenAI, bad_req},
      {"MissingTarget", "GET HTTP/1.1\r\nHost: x\r\n\r\n", 400, S::kOpenAI, bad_req},
      {"NulInRequestLine", WithNul("GET /hea@lth HTTP/1.1\r\nHost: x\r\n\r\n"), 400, S::kOpenAI, bad_req},
      {"SpaceInTarget", "GET /v1/mess ages HTTP/1.1\r\nHost: x\r\n\r\n", 400, S::kOpenAI, bad_req},
      // ---- too slow (HEADER_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS = 2) ----
      {"BodyShorterThanLength", Raw("POST", msgs, {{"x-api-key", key_}, {"content-length", "500"}}, "{\"model\":", false), 408, S::kAnthropic, bad_req},
      {"HeadersNeverEnd", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", 408, S::kOpenAI, bad_req},
      {"NothingSent", "", 0, S::kNone},
  };
  return rows;
}

// Checks an answer's body against the shape and error type a row expects.
void CheckShape(const Row& row, const HttpResponse& r) {
  if (row.shape == Shape::kAny || row.shape == Shape::kNone) return;
  json b = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(b.is_object()) << "not a JSON object: " << r.body;
  ASSERT_TRUE(b.contains("error") && b["error"].is_object()) << r.body;
  const json& e = b["error"];
  ASSERT_TRUE(e.contains("message") && e["message"].is_string()) << r.body;
  EXPECT_FALSE(e["message"].get<std::string>().empty()) << r.body;
  ASSERT_TRUE(e.contains("type") && e["type"].is_string()) << r.body;
  if (!row.type.empty()) {
    EXPECT_EQ(e["type"], row.type) << r.body;
  }
  switch (row.shape) {
    case Shape::kAnthropic:
      EXPECT_EQ(b["type"], "error") << r.body;
      EXPECT_FALSE(b.contains("detail")) << r.body;
      break;
    case Shape::kOpenAI:
      EXPECT_FALSE(b.contains("type")) << r.body;
      EXPECT_TRUE(e.contains("param") && e.contains("code")) << r.body;
      if (r.status == 401) {
        EXPECT_EQ(e["code"], "invalid_api_key") << r.body;
      }
      break;
    case Shape::kAdmin:
      EXPECT_TRUE(b.contains("detail") && b["detail"].is_string()) << r.body;
      break;
    default:
      break;
  }
  EXPECT_NE(r.Header("content-type").find("application/json"), std::string::npos);
}

// Every row of the catalogue gets its status and its shape; the local ones never reach the upstream;
// then the gateway still serves both APIs and is the same process.
TEST_F(BadInputTest, EveryRowGetsItsStatusAndShape) {
  auto rows = Catalogue();
  ASSERT_GE(rows.size(), 60u);
  pid_t pid = c_.gateway()->pid();
  int checked = 0;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    int64_t before = row.local ? UpstreamCalls() : 0;
    HttpConnection conn(c_.gateway_port());
    ASSERT_TRUE(conn.connected());
    if (!row.raw.empty()) conn.SendRaw(row.raw);
    HttpResponse r = conn.Read(std::chrono::seconds(10));
    EXPECT_EQ(r.status, row.status) << r.body;
    if (row.shape == Shape::kNone) {
      EXPECT_TRUE(conn.ClosedByPeer(std::chrono::seconds(10)));
    } else if (r.status == row.status) {
      CheckShape(row, r);
      if (!row.header.empty()) {
        auto colon = row.header.find(": ");
        EXPECT_EQ(r.Header(row.header.substr(0, colon)), row.header.substr(colon + 2));
      }
    }
    if (row.local) {
      EXPECT_EQ(UpstreamCalls(), before) << "the upstream was asked";
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(rows.size()));

  // The same gateway process serves normal requests in both APIs afterwards.
  EXPECT_TRUE(c_.gateway()->Running());
  EXPECT_EQ(c_.gateway()->pid(), pid);
  auto ok = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, kMessages);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["type"], "message");
  ok = c_.Gateway("POST", "/v1/chat/completions", {{"authorization", "Bearer " + key_}}, kChat);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["object"], "chat.completion");
  EXPECT_EQ(c_.Gateway("GET", "/health").status, 200);
}

// The rows that must be refused locally really are refused by the gateway, not by luck: the same
// requests with a good body do reach the upstream (so the upstream count above can move).
TEST_F(BadInputTest, TheUpstreamCountMovesForGoodRequests) {
  int64_t before = UpstreamCalls();
  ASSERT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, kMessages).status, 200);
  ASSERT_EQ(c_.Gateway("GET", "/v1/files", {{"x-api-key", key_}}).status, 200);
  EXPECT_EQ(UpstreamCalls(), before + 2);
}

}  // namespace
}  // namespace luna::testing
