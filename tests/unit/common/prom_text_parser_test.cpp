// The tests' Prometheus text parser (tests/support/prom_text.h) must refuse what Prometheus would
// refuse or misread; otherwise a scrape test proves nothing.
#include "tests/support/prom_text.h"

#include <gtest/gtest.h>

namespace luna::testing {
namespace {

bool Parses(const std::string& text, std::string* error = nullptr) {
  PromText out;
  std::string e;
  bool ok = ParsePromText(text, &out, &e);
  if (error != nullptr) *error = e;
  return ok;
}

TEST(PromTextParser, ReadsAWellFormedExposition) {
  PromText t;
  std::string error;
  ASSERT_TRUE(ParsePromText("# HELP a_total Things.\n"
                            "# TYPE a_total counter\n"
                            "a_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 3\n"
                            "a_total{x=\"2\",} 4 1700000000000\n"
                            "# just a comment\n"
                            "# TYPE h histogram\n"
                            "h_bucket{le=\"+Inf\"} 2\n"
                            "h_sum 0.5\n"
                            "h_count 2\n"
                            "# TYPE g gauge\n"
                            "g -1.5e-3\n"
                            "g{k=\"v\"} NaN\n",
                            &t, &error))
      << error;
  EXPECT_EQ(t.Value("a_total", {{"x", "1"}, {"y", "q\"\\\n"}}), 3);
  EXPECT_EQ(t.Value("a_total", {{"x", "2"}}), 4);
  EXPECT_EQ(t.Sum("a_total"), 7);
  EXPECT_EQ(t.Count("a_total"), 2u);
  EXPECT_EQ(t.Value("h_count"), 2);
  EXPECT_EQ(t.Value("g"), -1.5e-3);
  EXPECT_FALSE(t.Find("g", {{"k", "w"}}).has_value());
}

TEST(PromTextParser, RefusesMalformedText) {
  const char* bad[] = {
      "# TYPE a counter\na 1",                              // no final newline
      "# TYPE a counter\n\na 1\n",                          // blank line
      "a 1\n",                                              // no TYPE
      "# TYPE a counter\na one\n",                          // not a number
      "# TYPE a counter\na 0x10\n",                         // hex is not read by Prometheus
      "# TYPE a counter\na  1\n",                           // two spaces
      "# TYPE a counter\na{x=1} 1\n",                       // unquoted label value
      "# TYPE a counter\na{x=\"1} 1\n",                     // unterminated value
      "# TYPE a counter\na{x=\"\\t\"} 1\n",                 // bad escape
      "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",           // label twice
      "# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n",     // series twice
      "# TYPE a counter\na{1x=\"1\"} 1\n",                  // bad label name
      "# TYPE a counter\na{x=\"1\"}1\n",                    // no space before the value
      "# TYPE a counter\na -1\n",                           // negative counter
      "# TYPE a counter\na +Inf\n",                         // infinite counter
      "# TYPE a kounter\na 1\n",                            // unknown type
      "# TYPE a counter\n# TYPE a counter\na 1\n",          // TYPE twice
      "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",    // family not contiguous (new series)
      "# TYPE a gauge\na 1 12x\n",                          // bad timestamp
      "# HELP a bad \\t escape\n# TYPE a gauge\na 1\n",     // bad HELP escape
      "# TYPE 1a gauge\n",                                  // bad family name
      "# TYPE a gauge\na-b 1\n",                            // bad metric name
  };
  for (const char* text : bad) {
    std::string error;
    EXPECT_FALSE(Parses(text, &error)) << "accepted: " << text;
  }
}

}  // namespace
}  // namespace luna::testing
