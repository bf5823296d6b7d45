// Test support: a strict parser of Prometheus' text exposition format (0.0.4), so tests read a
// /metrics answer the way Prometheus would and fail on anything it would refuse or misread.
//
// Accepted: "# HELP name text" (escapes \\ and \n only), "# TYPE name type" (once per name, before
// its samples), other "# ..." comments, and samples "name{label="value",...} value [timestamp]" with
// valid metric and label names, label values escaped (\\, \", \n only), no label twice, a numeric
// value (NaN, +Inf, -Inf included). Also checked: every line ends with "\n" (no blank lines); each
// sample belongs to a TYPE'd family (name, or name without _bucket/_sum/_count for histograms and
// summaries) whose samples are contiguous; no series twice; counters finite and not negative.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace luna::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromText {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family -> counter, gauge, ...
  std::map<std::string, std::string> help;   // family -> text (unescaped)

  // The series with exactly these labels, if present.
  std::optional<double> Find(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  // Its value, or `absent` when there is no such series.
  double Value(const std::string& name, const std::map<std::string, std::string>& labels = {},
               double absent = 0) const;
  // The sum over the series of `name` whose labels include `labels`.
  double Sum(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  // How many series `name` has.
  size_t Count(const std::string& name) const;
};

// Parses `text`; on failure returns false with `*error` naming the line (1-based) and the problem.
bool ParsePromText(const std::string& text, PromText* out, std::string* error);

}  // namespace luna::testing
