// Unit: the local checks of a model call's body (gateway/convert/body_check) and of dot segments in
// request paths (gateway/upstream/url) — what the gateway refuses before any upstream call.
#include "gateway/convert/body_check.h"

#include <gtest/gtest.h>

#include "gateway/upstream/url.h"

namespace luna::gateway {
namespace {

const std::string kGood = R"({"model":"m","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

// Valid UTF-8 of every length passes; every kind of broken sequence is found at its first byte.
TEST(BodyCheck, FindsTheFirstBadTextByte) {
  EXPECT_EQ(FindBadTextByte(""), std::string_view::npos);
  EXPECT_EQ(FindBadTextByte("plain ascii text, long enough for the 8-byte path\t\r\n"), std::string_view::npos);
  EXPECT_EQ(FindBadTextByte("\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"), std::string_view::npos);
  EXPECT_EQ(FindBadTextByte("abcdefghij\xC3\x28"), 10u);            // bad continuation
  EXPECT_EQ(FindBadTextByte("ab\xC0\xAF"), 2u);                      // overlong '/'
  EXPECT_EQ(FindBadTextByte("\xE0\x80\xAF"), 0u);                    // overlong, 3 bytes
  EXPECT_EQ(FindBadTextByte("x\xED\xA0\x80"), 1u);                   // a UTF-16 surrogate
  EXPECT_EQ(FindBadTextByte("\xF4\x90\x80\x80"), 0u);                // beyond U+10FFFF
  EXPECT_EQ(FindBadTextByte("\xF8\x88\x80\x80\x80"), 0u);            // 5-byte form
  EXPECT_EQ(FindBadTextByte("abc\xE2\x9C"), 3u);                     // cut short
  EXPECT_EQ(FindBadTextByte(std::string("0123456789\0x", 12)), 10u);  // NUL
  EXPECT_EQ(FindBadTextByte("ab\x1b[31m"), 2u);                      // ESC
  EXPECT_EQ(FindBadTextByte("\x7f"), std::string_view::npos);         // DEL is allowed in JSON strings
}

// The wide steps (32 and 8 bytes) find a bad byte at every position of a long text, and pass every
// valid multi-byte character and allowed control byte wherever it falls.
TEST(BodyCheck, EveryPositionOfALongText) {
  const std::string base(100, 'a');
  for (size_t at = 0; at < base.size(); ++at) {
    for (char bad : {'\0', '\x1f', '\xff', '\xc0'}) {
      std::string t = base;
      t[at] = bad;
      EXPECT_EQ(FindBadTextByte(t), at) << at << " " << static_cast<int>(bad);
    }
    for (std::string good : {"\n", "\t", "\xC3\xA9", "\xE2\x9C\x93", "\xF0\x9F\x98\x80"}) {
      std::string t = base;
      t.replace(at, std::min(good.size(), t.size() - at), good);
      if (at + good.size() > base.size()) continue;
      EXPECT_EQ(FindBadTextByte(t), std::string_view::npos) << at;
    }
  }
}

// Each defect gets a message naming it; a good body yields where model and stream are.
TEST(BodyCheck, RefusesWhatTheGatewayCannotRead) {
  ModelCallFields f;
  EXPECT_EQ(CheckModelCallBody(kGood, &f), std::nullopt);
  ASSERT_TRUE(f.model && f.stream);
  EXPECT_EQ(kGood.substr(f.model->begin, f.model->end - f.model->begin), "\"m\"");
  struct Case {
    std::string body;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {" \r\n", "empty"},
           {"[1]", "JSON object"},
           {"null", "JSON object"},
           {"{not json", "Malformed"},
           {R"({"model":"m","messages":[)", "Malformed"},
           {R"({"model":"m","messages":[]} extra)", "Malformed"},
           {R"({"messages":[]})", "\"model\" is required"},
           {R"({"model":42,"messages":[]})", "\"model\" must be a string"},
           {R"({"model":null,"messages":[]})", "\"model\" must be a string"},
           {R"({"model":"m"})", "\"messages\" is required"},
           {R"({"model":"m","messages":"hi"})", "\"messages\" must be an array"},
           {R"({"model":"m","messages":[],"stream":"yes"})", "\"stream\" must be a boolean"},
           {R"({"model":"m","messages":[],"max_tokens":"9"})", "\"max_tokens\" must be an integer"},
           {R"({"model":"m","messages":[],"max_tokens":1.5})", "\"max_tokens\" must be an integer"},
           {"{\"model\":\"m\",\"messages\":[\"\xC3\x28\"]}", "UTF-8"},
           {std::string("{\"model\":\"m\",\"messages\":[\"a\0b\"]}", 32), "control character"},
           {R"({"model":"m","messages":[)" + std::string(200, '[') + std::string(200, ']') + "]}", "deeper"},
       }) {
    auto r = CheckModelCallBody(c.body, &f);
    ASSERT_TRUE(r.has_value()) << c.body;
    EXPECT_NE(r->find(c.message_part), std::string::npos) << c.body << " -> " << *r;
  }
  // Nulls where the APIs allow them, and nesting up to the limit, pass.
  EXPECT_EQ(CheckModelCallBody(R"({"model":"m","messages":[],"stream":null,"max_tokens":null})", &f), std::nullopt);
  std::string deep = R"({"model":"m","messages":)" + std::string(kMaxJsonDepth - 1, '[') +
                     std::string(kMaxJsonDepth - 1, ']') + "}";
  EXPECT_EQ(CheckModelCallBody(deep, &f), std::nullopt);
}

// "." and ".." segments are found however they are spelled; ordinary dots are not.
TEST(DotSegments, FoundInEverySpelling) {
  for (const char* p : {"/v1/../admin", "/v1/./models", "/v1/..", "/v1/%2e%2e/admin", "/v1/%2E./x", "/v1/..%2fadmin",
                        "/v1/..%2Fadmin", "/v1\\..\\admin", "/v1/..%5cadmin", "/v1/.%2e"}) {
    EXPECT_TRUE(HasDotSegment(p)) << p;
  }
  for (const char* p : {"/v1/models", "/v1/models?x=/../", "/v1/a.b/c..d/...", "/v1/.well-known", "/", "",
                        "/v1/%2", "/v1/%"}) {
    EXPECT_FALSE(HasDotSegment(p)) << p;
  }
}

}  // namespace
}  // namespace luna::gateway
