// fallbacksvc's state file (FALLBACK_STATE_FILE): the last known quotas and the cooldowns, so that a
// restart forgets nothing. JSON, written whole with WriteFileAtomically (never half-written):
//
//   {"format": 1, "saved_unix_ms": ..., "table_version": ...,
//    "quotas":    [{"provider", "key", "remaining_fraction", "quota_low", "updated_unix_ms"}],
//    "cooldowns": [{"provider", "model", "until_unix_ms", "failures", "reason"}]}
//
// Cooldown ends are absolute unix times, so time spent down counts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fallbacksvc/route_engine.h"

namespace luna::fallbacksvc {

struct StateFileContent {
  EngineState engine;
  uint64_t table_version = 0;  // the last table version published, so versions keep increasing
  int64_t saved_unix_ms = 0;
  bool operator==(const StateFileContent&) const = default;
};

std::string SerializeState(const StateFileContent& content);

// InvalidArgument "state file <path>: <where>: <why>" for anything that is not a state file.
absl::StatusOr<StateFileContent> ParseState(std::string_view text, const std::string& path);

// A missing file is an empty state (the first start). Any other failure is an error naming the file:
// the caller must refuse to start rather than overwrite it. Once loaded, removes the temporary files of
// writes a crash interrupted (RemoveStaleTemporaryFiles).
absl::StatusOr<StateFileContent> LoadStateFile(const std::string& path);

absl::Status SaveStateFile(const std::string& path, const StateFileContent& content);

}  // namespace luna::fallbacksvc
