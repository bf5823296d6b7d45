// The rules a RecordUsage batch must follow. Pure.
#pragma once

#include "absl/status/status.h"
#include "usage.pb.h"

namespace luna::usagesvc {

constexpr size_t kMaxEventIdLength = 128;
// Events must lie before this instant (10000-01-01T00:00:00Z), so every bucket index fits.
constexpr int64_t kMaxEventTimeMs = 253402300800000;
// Token counts above this (per field, per event) are refused.
constexpr int64_t kMaxEventTokens = 1'000'000'000'000;

// OK, or INVALID_ARGUMENT naming the first bad event (its index and id) and field: an empty or longer
// than 128 characters event_id, an empty key_id, a time_unix_ms <= 0 (or past year 9999), a negative
// token count or one over 10^12, a status outside 100..599. The same id twice in one batch is allowed (counted once).
absl::Status ValidateBatch(const google::protobuf::RepeatedPtrField<luna::usage::v1::UsageEvent>& events);

}  // namespace luna::usagesvc
