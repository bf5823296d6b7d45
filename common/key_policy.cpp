#include "common/key_policy.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace luna {

namespace {

const char* const kFields[] = {"models",           "requests_per_minute", "tokens_per_minute", "tokens_per_day",
                               "tokens_per_month", "count_cache_tokens",  "expires_at"};

absl::Status FieldError(std::string_view where, std::string_view field, std::string_view what) {
  std::string msg(where);
  msg.append(".").append(field).append(": ").append(what);
  return absl::InvalidArgumentError(msg);
}

absl::Status ReadLimit(const nlohmann::json& j, std::string_view where, const char* field, int64_t max,
                       int64_t* out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer()) return FieldError(where, field, "must be a whole number (0 = no limit)");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return FieldError(where, field, absl::StrCat("must be at most ", max));
  }
  *out = it->get<int64_t>();
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateKeyPolicy(const KeyPolicy& p) {
  if (p.models.size() > kMaxPolicyModels) {
    return FieldError("policy", "models", absl::StrCat("at most ", kMaxPolicyModels, " entries"));
  }
  for (size_t i = 0; i < p.models.size(); ++i) {
    const std::string& m = p.models[i];
    std::string field = absl::StrCat("models[", i, "]");
    if (m.empty()) return FieldError("policy", field, "must not be empty");
    if (m.size() > kMaxPolicyModelLength) {
      return FieldError("policy", field, absl::StrCat("at most ", kMaxPolicyModelLength, " characters"));
    }
    auto star = m.find('*');
    if (star != std::string::npos && star + 1 != m.size()) {
      return FieldError("policy", field, "\"*\" may only end a name (a prefix such as \"claude-*\")");
    }
    for (char c : m) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return FieldError("policy", field, "control character");
    }
  }
  struct Limit {
    const char* name;
    int64_t value;
    int64_t max;
  };
  for (const Limit& l : {Limit{"requests_per_minute", p.requests_per_minute, kMaxPerMinute},
                         Limit{"tokens_per_minute", p.tokens_per_minute, kMaxPerMinute},
                         Limit{"tokens_per_day", p.tokens_per_day, kMaxBudget},
                         Limit{"tokens_per_month", p.tokens_per_month, kMaxBudget}}) {
    if (l.value < 0) return FieldError("policy", l.name, "must not be negative (0 = no limit)");
    if (l.value > l.max) return FieldError("policy", l.name, absl::StrCat("must be at most ", l.max));
  }
  if (p.expires_unix_ms < 0) return FieldError("policy", "expires_at", "must not be before 1970");
  return absl::OkStatus();
}

bool ModelAllowed(const std::vector<std::string>& allow, std::string_view model) {
  if (allow.empty()) return true;
  for (const std::string& a : allow) {
    if (!a.empty() && a.back() == '*') {
      std::string_view prefix(a.data(), a.size() - 1);
      if (model.substr(0, prefix.size()) == prefix) return true;
    } else if (a == model) {
      return true;
    }
  }
  return false;
}

KeyPolicy KeyPolicyFromProto(const auth::v1::KeyPolicy& p) {
  KeyPolicy out;
  out.models.assign(p.models().begin(), p.models().end());
  out.requests_per_minute = p.requests_per_minute();
  out.tokens_per_minute = p.tokens_per_minute();
  out.tokens_per_day = p.tokens_per_day();
  out.tokens_per_month = p.tokens_per_month();
  out.count_cache_tokens = p.count_cache_tokens();
  out.expires_unix_ms = p.expires_unix_ms();
  return out;
}

void KeyPolicyToProto(const KeyPolicy& policy, auth::v1::KeyPolicy* out) {
  out->Clear();
  for (const auto& m : policy.models) out->add_models(m);
  out->set_requests_per_minute(policy.requests_per_minute);
  out->set_tokens_per_minute(policy.tokens_per_minute);
  out->set_tokens_per_day(policy.tokens_per_day);
  out->set_tokens_per_month(policy.tokens_per_month);
  out->set_count_cache_tokens(policy.count_cache_tokens);
  out->set_expires_unix_ms(policy.expires_unix_ms);
}

absl::StatusOr<KeyPolicy> KeyPolicyFromJson(const nlohmann::json& j, std::string_view where) {
  KeyPolicy p;
  if (j.is_null()) return p;
  if (!j.is_object()) return absl::InvalidArgumentError(std::string(where) + ": must be an object");
  for (const auto& [field, value] : j.items()) {
    bool known = false;
    for (const char* f : kFields) known = known || field == f;
    if (!known) {
      return FieldError(where, field,
                        "unknown field (known: models, requests_per_minute, tokens_per_minute, tokens_per_day, "
                        "tokens_per_month, count_cache_tokens, expires_at)");
    }
  }
  if (auto it = j.find("models"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return FieldError(where, "models", "must be an array of model names");
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) return FieldError(where, absl::StrCat("models[", i, "]"), "must be a string");
      p.models.push_back((*it)[i].get<std::string>());
    }
  }
  for (auto st : {ReadLimit(j, where, "requests_per_minute", kMaxPerMinute, &p.requests_per_minute),
                  ReadLimit(j, where, "tokens_per_minute", kMaxPerMinute, &p.tokens_per_minute),
                  ReadLimit(j, where, "tokens_per_day", kMaxBudget, &p.tokens_per_day),
                  ReadLimit(j, where, "tokens_per_month", kMaxBudget, &p.tokens_per_month)}) {
    if (!st.ok()) return st;
  }
  if (auto it = j.find("count_cache_tokens"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return FieldError(where, "count_cache_tokens", "must be true or false");
    p.count_cache_tokens = it->get<bool>();
  }
  if (auto it = j.find("expires_at"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) {
      return FieldError(where, "expires_at", "must be an RFC 3339 time such as \"2027-01-01T00:00:00Z\", or null");
    }
    auto ms = ParseRfc3339Ms(it->get<std::string>());
    if (!ms.ok()) return FieldError(where, "expires_at", std::string(ms.status().message()));
    p.expires_unix_ms = *ms;
  }
  if (auto st = ValidateKeyPolicy(p); !st.ok()) {
    // Name the caller's place rather than "policy".
    std::string msg(st.message());
    if (msg.rfind("policy", 0) == 0) msg = std::string(where) + msg.substr(6);
    return absl::InvalidArgumentError(msg);
  }
  return p;
}

nlohmann::json KeyPolicyToJson(const KeyPolicy& p) {
  return nlohmann::json{{"models", p.models},
                        {"requests_per_minute", p.requests_per_minute},
                        {"tokens_per_minute", p.tokens_per_minute},
                        {"tokens_per_day", p.tokens_per_day},
                        {"tokens_per_month", p.tokens_per_month},
                        {"count_cache_tokens", p.count_cache_tokens},
                        {"expires_at", p.expires_unix_ms > 0 ? nlohmann::json(FormatRfc3339Ms(p.expires_unix_ms))
                                                             : nlohmann::json(nullptr)}};
}

absl::StatusOr<int64_t> ParseRfc3339Ms(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) {
    std::string msg = "\"";
    msg.append(text.substr(0, 64)).append("\" is not an RFC 3339 time such as \"2027-01-01T00:00:00Z\"");
    return absl::InvalidArgumentError(msg);
  }
  if (t < absl::UnixEpoch() || t > absl::FromUnixSeconds(253402300799)) {
    return absl::InvalidArgumentError("must be between 1970 and 9999");
  }
  return absl::ToUnixMillis(t);
}

std::string FormatRfc3339Ms(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

}  // namespace luna
