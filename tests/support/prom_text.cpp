#include "tests/support/prom_text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

namespace luna::testing {
namespace {

bool NameChar(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

// Reads a name at `*pos`; empty if there is none.
std::string ReadName(const std::string& s, size_t* pos, bool colon) {
  size_t start = *pos;
  while (*pos < s.size() && NameChar(s[*pos], *pos == start, colon)) ++*pos;
  return s.substr(start, *pos - start);
}

bool ValidName(const std::string& s, bool colon) {
  size_t pos = 0;
  return !s.empty() && ReadName(s, &pos, colon).size() == s.size();
}

bool ParseNumber(const std::string& token, double* out) {
  if (token == "NaN") {
    *out = std::nan("");
    return true;
  }
  if (token == "+Inf" || token == "Inf") {
    *out = HUGE_VAL;
    return true;
  }
  if (token == "-Inf") {
    *out = -HUGE_VAL;
    return true;
  }
  if (token.empty()) return false;
  // Only what Go's strconv.ParseFloat reads: digits, sign, point, exponent (no hex, no "inf" words).
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
  }
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(token.c_str(), &end);
  return end == token.c_str() + token.size() && errno != ERANGE;
}

std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name) != 0) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return "";
}

}  // namespace

std::optional<double> PromText::Find(const std::string& name, const std::map<std::string, std::string>& labels) const {
  for (const PromSample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

double PromText::Value(const std::string& name, const std::map<std::string, std::string>& labels, double absent) const {
  return Find(name, labels).value_or(absent);
}

double PromText::Sum(const std::string& name, const std::map<std::string, std::string>& labels) const {
  double sum = 0;
  for (const PromSample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) sum += s.value;
  }
  return sum;
}

size_t PromText::Count(const std::string& name) const {
  size_t n = 0;
  for (const PromSample& s : samples) n += s.name == name ? 1 : 0;
  return n;
}

bool ParsePromText(const std::string& text, PromText* out, std::string* error) {
  *out = PromText{};
  std::set<std::string> families_done;  // families whose samples have ended
  std::string current_family;
  std::set<std::string> series;
  size_t line_no = 0;
  size_t pos = 0;
  auto fail = [&](const std::string& why) {
    *error = "line " + std::to_string(line_no) + ": " + why;
    return false;
  };
  if (!text.empty() && text.back() != '\n') {
    line_no = 1 + static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
    return fail("the text does not end with a newline");
  }
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) return fail("blank line");
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        bool is_help = line[2] == 'H';
        size_t p = 7;
        std::string name = ReadName(line, &p, true);
        if (name.empty()) return fail("no metric name after " + line.substr(0, 6));
        if (p < line.size() && line[p] != ' ') return fail("bad metric name in: " + line);
        std::string rest = p < line.size() ? line.substr(p + 1) : "";
        if (is_help) {
          std::string help;
          for (size_t i = 0; i < rest.size(); ++i) {
            if (rest[i] != '\\') {
              help += rest[i];
            } else if (i + 1 < rest.size() && (rest[i + 1] == '\\' || rest[i + 1] == 'n')) {
              help += rest[i + 1] == 'n' ? '\n' : '\\';
              ++i;
            } else {
              return fail("bad escape in HELP of " + name);
            }
          }
          if (out->help.count(name) != 0) return fail("second HELP for " + name);
          out->help[name] = help;
        } else {
          static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
          if (kTypes.count(rest) == 0) return fail("unknown TYPE \"" + rest + "\" for " + name);
          if (out->types.count(name) != 0) return fail("second TYPE for " + name);
          for (const PromSample& s : out->samples) {
            if (s.name == name) return fail("TYPE of " + name + " after its samples");
          }
          out->types[name] = rest;
        }
      }
      continue;  // any other comment
    }

    PromSample sample;
    size_t p = 0;
    sample.name = ReadName(line, &p, true);
    if (sample.name.empty()) return fail("no metric name: " + line);
    if (p < line.size() && line[p] == '{') {
      ++p;
      while (true) {
        if (p < line.size() && line[p] == '}') {
          ++p;
          break;
        }
        std::string label = ReadName(line, &p, false);
        if (label.empty()) return fail("bad label name in: " + line);
        if (p + 1 >= line.size() || line[p] != '=' || line[p + 1] != '"') {
          return fail("label " + label + " without =\"value\": " + line);
        }
        p += 2;
        std::string value;
        bool closed = false;
        while (p < line.size()) {
          char c = line[p++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (p >= line.size()) break;
            char e = line[p++];
            if (e == '\\' || e == '"') {
              value += e;
            } else if (e == 'n') {
              value += '\n';
            } else {
              return fail(std::string("bad escape \\") + e + " in label " + label);
            }
          } else {
            value += c;
          }
        }
        if (!closed) return fail("unterminated value of label " + label);
        if (!sample.labels.emplace(label, value).second) return fail("label " + label + " twice");
        if (p < line.size() && line[p] == ',') {
          ++p;
        } else if (p >= line.size() || line[p] != '}') {
          return fail("expected , or } after label " + label + ": " + line);
        }
      }
    }
    if (p >= line.size() || line[p] != ' ') return fail("expected a space before the value: " + line);
    ++p;
    size_t sp = line.find(' ', p);
    std::string value_token = line.substr(p, sp == std::string::npos ? std::string::npos : sp - p);
    if (!ParseNumber(value_token, &sample.value)) return fail("value \"" + value_token + "\" is not a number");
    if (sp != std::string::npos) {
      std::string ts = line.substr(sp + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) {
        return fail("bad timestamp \"" + ts + "\"");
      }
    }

    std::string family = FamilyOf(sample.name, out->types);
    if (family.empty()) return fail("sample " + sample.name + " has no TYPE line before it");
    if (family != current_family) {
      if (families_done.count(family) != 0) return fail("samples of " + family + " are not together");
      if (!current_family.empty()) families_done.insert(current_family);
      current_family = family;
    }
    if (out->types[family] == "counter" && !(sample.value >= 0 && std::isfinite(sample.value))) {
      return fail("counter " + sample.name + " is " + value_token);
    }
    std::string key = sample.name;
    for (const auto& [k, v] : sample.labels) key += "\x01" + k + "\x02" + v;
    if (!series.insert(key).second) return fail("series twice: " + line);
    out->samples.push_back(std::move(sample));
  }
  // HELP/TYPE lines name metric families only.
  for (const auto& [name, type] : out->types) {
    if (!ValidName(name, true)) return fail("bad family name " + name);
  }
  return true;
}

}  // namespace luna::testing
