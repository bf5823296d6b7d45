// common/prometheus_text: escaping, number formatting, names, and the writer's lines, checked both
// byte for byte and by the tests' strict parser.
#include "common/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "tests/support/prom_text.h"

namespace luna::prom {
namespace {

using luna::testing::ParsePromText;
using luna::testing::PromText;

TEST(PrometheusText, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue(R"(back\slash)"), R"(back\\slash)");
  EXPECT_EQ(EscapeLabelValue(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), R"(two\nlines)");
  EXPECT_EQ(EscapeLabelValue("\\\"\n"), R"(\\\"\n)");
  // Everything else passes as it is: tabs, UTF-8, braces, commas.
  EXPECT_EQ(EscapeLabelValue("t\tÜ✓{a=\"b\"},"), "t\tÜ✓{a=\\\"b\\\"},");
  EXPECT_EQ(EscapeLabelValue(""), "");
}

TEST(PrometheusText, EscapesHelpButNotQuotes) {
  EXPECT_EQ(EscapeHelp(R"(a\b "c")"), R"(a\\b "c")");
  EXPECT_EQ(EscapeHelp("one\ntwo"), R"(one\ntwo)");
}

TEST(PrometheusText, FormatsNumbers) {
  EXPECT_EQ(FormatDouble(0), "0");
  EXPECT_EQ(FormatDouble(-0.0), "0");
  EXPECT_EQ(FormatDouble(42), "42");
  EXPECT_EQ(FormatDouble(-7), "-7");
  EXPECT_EQ(FormatDouble(0.25), "0.25");
  EXPECT_EQ(FormatDouble(1e300), "1.0000000000000001e+300");
  EXPECT_EQ(std::stod(FormatDouble(0.1)), 0.1);  // round-trips
  EXPECT_EQ(std::stod(FormatDouble(1.0 / 3)), 1.0 / 3);
  EXPECT_EQ(FormatDouble(std::nan("")), "NaN");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatDouble(9007199254740991.0), "9007199254740991");
}

TEST(PrometheusText, ChecksNames) {
  EXPECT_TRUE(IsValidMetricName("luna_authsvc_grpc_calls_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_TRUE(IsValidLabelName("method"));
  EXPECT_FALSE(IsValidLabelName("a:b"));  // colons only in metric names
  EXPECT_FALSE(IsValidLabelName("9"));
  EXPECT_FALSE(IsValidLabelName(""));
}

TEST(PrometheusText, WritesFamiliesAndSamplesExactly) {
  TextWriter w;
  w.Family("luna_x_calls_total", "counter", "Calls, by method.\nSecond \\ line.");
  w.Sample("luna_x_calls_total", {{"method", "Get"}, {"code", "OK"}}, uint64_t{3});
  w.Sample("luna_x_calls_total", {{"method", "a\"b\\c\nd"}, {"code", "OK"}}, 18446744073709551615ULL);
  w.Gauge("luna_x_serving", "1 while serving.", true);
  w.Gauge("luna_x_fraction", "A fraction.", 0.5);
  w.Gauge("luna_x_signed", "Signed.", int64_t{-5});
  w.Counter("luna_x_plain_total", "Plain.", size_t{7});
  EXPECT_EQ(w.text(),
            "# HELP luna_x_calls_total Calls, by method.\\nSecond \\\\ line.\n"
            "# TYPE luna_x_calls_total counter\n"
            "luna_x_calls_total{method=\"Get\",code=\"OK\"} 3\n"
            "luna_x_calls_total{method=\"a\\\"b\\\\c\\nd\",code=\"OK\"} 18446744073709551615\n"
            "# HELP luna_x_serving 1 while serving.\n"
            "# TYPE luna_x_serving gauge\n"
            "luna_x_serving 1\n"
            "# HELP luna_x_fraction A fraction.\n"
            "# TYPE luna_x_fraction gauge\n"
            "luna_x_fraction 0.5\n"
            "# HELP luna_x_signed Signed.\n"
            "# TYPE luna_x_signed gauge\n"
            "luna_x_signed -5\n"
            "# HELP luna_x_plain_total Plain.\n"
            "# TYPE luna_x_plain_total counter\n"
            "luna_x_plain_total 7\n");
}

TEST(PrometheusText, WhatItWritesParsesBackToTheSameValues) {
  TextWriter w;
  const std::string nasty = "q\"uo\\te\nnew{line},=x";
  w.Family("luna_x_total", "counter", "With awkward labels.");
  w.Sample("luna_x_total", {{"tier", nasty}}, uint64_t{12});
  w.Sample("luna_x_total", {{"tier", ""}}, uint64_t{0});
  w.Gauge("luna_x_nan", "Not a number.", std::nan(""));
  w.Gauge("luna_x_inf", "Infinite.", -std::numeric_limits<double>::infinity());
  w.Gauge("luna_x_third", "A third.", 1.0 / 3);
  std::string text = w.Take();
  PromText parsed;
  std::string error;
  ASSERT_TRUE(ParsePromText(text, &parsed, &error)) << error << "\n" << text;
  EXPECT_EQ(parsed.Value("luna_x_total", {{"tier", nasty}}, -1), 12);
  EXPECT_EQ(parsed.Value("luna_x_total", {{"tier", ""}}, -1), 0);
  EXPECT_TRUE(std::isnan(parsed.Value("luna_x_nan")));
  EXPECT_EQ(parsed.Value("luna_x_inf"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parsed.Value("luna_x_third"), 1.0 / 3);
  EXPECT_EQ(parsed.types.at("luna_x_total"), "counter");
  EXPECT_EQ(parsed.help.at("luna_x_third"), "A third.");
}

}  // namespace
}  // namespace luna::prom
