// The quota document of GET /health: the best account counts, odd entries are skipped.
#include "fallbacksvc/quota_document.h"

#include <gtest/gtest.h>

namespace luna::fallbacksvc {
namespace {

TEST(QuotaDocumentTest, BestAccountCountsPerModel) {
  // Two accounts: each model takes the larger remaining fraction.
  auto doc = ParseQuotaDocument(R"({"status": "ok", "accounts": [
      {"email": "a@x", "models": {"claude-opus": {"remainingFraction": 0.1}, "claude-sonnet": {"remainingFraction": 0.9}}},
      {"email": "b@x", "models": {"claude-opus": {"remainingFraction": 0.42, "resetTime": "2026-03-01T05:00:00Z"}}}]})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_EQ(doc->size(), 2u);
  EXPECT_DOUBLE_EQ(doc->at("claude-opus"), 0.42);
  EXPECT_DOUBLE_EQ(doc->at("claude-sonnet"), 0.9);
}

TEST(QuotaDocumentTest, OddEntriesAreSkippedAndFractionsClamped) {
  // One malformed account or model does not hide the others; fractions outside [0, 1] are clamped.
  auto doc = ParseQuotaDocument(R"({"accounts": [
      "not an account", {"models": "none"}, {"no_models": 1},
      {"models": {"a": {"remainingFraction": "50%"}, "b": 3, "c": {"remainingFraction": 1.5},
                  "d": {"remainingFraction": -0.2}, "e": {"remainingFraction": 0}}}]})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->count("a"), 0u);
  EXPECT_EQ(doc->count("b"), 0u);
  EXPECT_DOUBLE_EQ(doc->at("c"), 1.0);
  EXPECT_DOUBLE_EQ(doc->at("d"), 0.0);
  EXPECT_DOUBLE_EQ(doc->at("e"), 0.0);
}

TEST(QuotaDocumentTest, EmptyAccountsMeanEveryModelUnknown) {
  // An upstream with no accounts yet: a valid, empty document.
  auto doc = ParseQuotaDocument(R"({"status": "ok", "accounts": []})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE(doc->empty());
}

TEST(QuotaDocumentTest, NotAQuotaDocumentIsAnError) {
  // Not JSON, not an object, or no accounts array: the poll failed (the last known quota stays).
  EXPECT_EQ(ParseQuotaDocument("<html>").status().message(), "the quota document is not valid JSON");
  EXPECT_EQ(ParseQuotaDocument("[]").status().message(), "the quota document is not a JSON object");
  EXPECT_EQ(ParseQuotaDocument(R"({"status": "ok"})").status().message(),
            "the quota document has no \"accounts\" array");
  EXPECT_EQ(ParseQuotaDocument(R"({"accounts": {}})").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace luna::fallbacksvc
