// A key's policy (model allow-list, rate limits, token budgets, expiry) as one plain struct, with its
// rules and its three representations: the proto (auth.proto KeyPolicy), the JSON of the admin HTTP API
// and of the keys file, and the check of a model name against the allow-list. authsvc validates and
// stores policies; the gateways enforce them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth.pb.h"

namespace luna {

struct KeyPolicy {
  std::vector<std::string> models;   // exact names or "prefix*"; empty = every model
  int64_t requests_per_minute = 0;   // 0 = no limit
  int64_t tokens_per_minute = 0;
  int64_t tokens_per_day = 0;
  int64_t tokens_per_month = 0;
  bool count_cache_tokens = false;   // cache reads and writes count towards tokens too
  int64_t expires_unix_ms = 0;       // 0 = never

  bool empty() const { return *this == KeyPolicy{}; }
  bool has_budget() const { return tokens_per_day > 0 || tokens_per_month > 0; }
  bool operator==(const KeyPolicy&) const = default;
};

inline constexpr size_t kMaxPolicyModels = 100;
inline constexpr size_t kMaxPolicyModelLength = 200;
inline constexpr int64_t kMaxPerMinute = 1'000'000'000;
inline constexpr int64_t kMaxBudget = 1'000'000'000'000'000;

// OK, or INVALID_ARGUMENT naming the field ("policy.models[2]: ...") and what is wrong.
absl::Status ValidateKeyPolicy(const KeyPolicy& policy);

// True if `model` is on the allow-list (always true for an empty list). "*" alone allows every model;
// "claude-*" every name that starts with "claude-"; anything else must match exactly.
bool ModelAllowed(const std::vector<std::string>& allow, std::string_view model);

KeyPolicy KeyPolicyFromProto(const auth::v1::KeyPolicy& p);
void KeyPolicyToProto(const KeyPolicy& policy, auth::v1::KeyPolicy* out);

// The JSON form, used by the admin HTTP API and the keys file:
//   {"models": ["claude-sonnet-4-5", "gpt-4o*"], "requests_per_minute": 60, "tokens_per_minute": 100000,
//    "tokens_per_day": 2000000, "tokens_per_month": 40000000, "count_cache_tokens": false,
//    "expires_at": "2027-01-01T00:00:00Z"}
// Every field may be absent (= no limit); null means the same. Unknown fields are errors (a typo must not
// silently lift a limit). Errors name `where` and the field.
absl::StatusOr<KeyPolicy> KeyPolicyFromJson(const nlohmann::json& j, std::string_view where = "policy");
nlohmann::json KeyPolicyToJson(const KeyPolicy& policy);

// RFC 3339 with a zone ("2027-01-01T00:00:00Z", "...+02:00") -> Unix milliseconds.
absl::StatusOr<int64_t> ParseRfc3339Ms(std::string_view text);
// Unix milliseconds -> "2027-01-01T00:00:00Z" (seconds precision, UTC).
std::string FormatRfc3339Ms(int64_t unix_ms);

}  // namespace luna
