#include "usagesvc/event_validation.h"

#include "absl/strings/str_cat.h"

namespace luna::usagesvc {
namespace {

// The id as it may appear in a message: printable ASCII, at most 64 characters.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
  if (s.size() > 64) out += "...";
  return out;
}

}  // namespace

absl::Status ValidateBatch(const google::protobuf::RepeatedPtrField<luna::usage::v1::UsageEvent>& events) {
  for (int i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    auto bad = [&](std::string_view field, std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "] (event_id \"", Printable(e.event_id()),
                                                     "\"): ", std::string(field), " ", std::string(why)));
    };
    if (e.event_id().empty()) return bad("event_id", "is required");
    if (e.event_id().size() > kMaxEventIdLength) {
      return bad("event_id", absl::StrCat("is longer than ", kMaxEventIdLength, " characters"));
    }
    if (e.key_id().empty()) return bad("key_id", "is required");
    if (e.time_unix_ms() <= 0) return bad("time_unix_ms", absl::StrCat("must be > 0, got ", e.time_unix_ms()));
    if (e.time_unix_ms() >= kMaxEventTimeMs) return bad("time_unix_ms", "is after year 9999");
    const std::pair<const char*, int64_t> counts[] = {{"input_tokens", e.input_tokens()},
                                                      {"output_tokens", e.output_tokens()},
                                                      {"cache_read_tokens", e.cache_read_tokens()},
                                                      {"cache_write_tokens", e.cache_write_tokens()}};
    for (const auto& [field, value] : counts) {
      if (value < 0) return bad(field, absl::StrCat("must not be negative, got ", value));
      // No answer comes near this; the ledger's sums stay far from overflowing whatever is sent.
      if (value > kMaxEventTokens) return bad(field, absl::StrCat("is larger than 10^12, got ", value));
    }
    if (e.status() < 100 || e.status() > 599) {
      return bad("status", absl::StrCat("must be an HTTP status (100..599), got ", e.status()));
    }
  }
  return absl::OkStatus();
}

}  // namespace luna::usagesvc
