// Writing Prometheus' text exposition format (version 0.0.4): HELP and TYPE lines, samples with
// escaped label values, numbers as Prometheus reads them. Pure: no I/O, no locks, no clock.
//
//   luna::prom::TextWriter w;
//   w.Family("luna_x_calls_total", "counter", "Calls, by method.");
//   w.Sample("luna_x_calls_total", {{"method", "Get"}}, uint64_t{3});
//   w.Gauge("luna_x_up", "1 while serving.", 1);
//   std::string body = w.Take();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace luna::prom {

// The content type of the format, for the Content-Type header.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the format wants it: backslash, double quote and newline escaped (\\, \", \n).
std::string EscapeLabelValue(std::string_view value);
// HELP text: backslash and newline escaped.
std::string EscapeHelp(std::string_view help);
// A sample value: integers exactly, other numbers with 17 significant digits (round-trip), NaN,
// +Inf and -Inf spelled as Prometheus spells them.
std::string FormatDouble(double value);

// Metric and label names the format allows: [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

struct Label {
  std::string_view name;
  std::string_view value;
};
using Labels = std::vector<Label>;

class TextWriter {
 public:
  // "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram, summary, untyped).
  // Write a family's samples right after its header; each family once.
  void Family(std::string_view name, std::string_view type, std::string_view help);

  // One sample line: name{labels} value. Integers (and bool, as 0/1) are written exactly.
  template <class T>
    requires std::is_arithmetic_v<T>
  void Sample(std::string_view name, const Labels& labels, T value) {
    if constexpr (std::is_same_v<T, bool>) {
      Line(name, labels, value ? "1" : "0");
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      Line(name, labels, std::to_string(static_cast<long long>(value)));
    } else if constexpr (std::is_integral_v<T>) {
      Line(name, labels, std::to_string(static_cast<unsigned long long>(value)));
    } else {
      Line(name, labels, FormatDouble(static_cast<double>(value)));
    }
  }
  template <class T>
    requires std::is_arithmetic_v<T>
  void Sample(std::string_view name, T value) {
    Sample(name, Labels{}, value);
  }

  // A family of one unlabelled sample.
  template <class T>
    requires std::is_arithmetic_v<T>
  void Gauge(std::string_view name, std::string_view help, T value) {
    Family(name, "gauge", help);
    Sample(name, value);
  }
  template <class T>
    requires std::is_arithmetic_v<T>
  void Counter(std::string_view name, std::string_view help, T value) {
    Family(name, "counter", help);
    Sample(name, value);
  }

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Line(std::string_view name, const Labels& labels, std::string_view value);
  std::string out_;
};

}  // namespace luna::prom
