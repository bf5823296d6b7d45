// The gateway's local copy of the key table (fed by authsvc's WatchKeys), plus a short-lived cache
// of keys authsvc said it does not know. Readers are the I/O threads (shared lock, no I/O under it);
// the writer is the watch thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/key_policy.h"
#include "gateway/limits/key_limits.h"

namespace luna::gateway {

struct KeyEntry {
  std::string id;    // safe to log
  std::string name;
  bool enabled = false;
  std::shared_ptr<const KeyPolicy> policy;  // null: no limits
  // The key's rate and budget state; set (by the table) when the policy has rates or budgets, and kept
  // from the key's previous entry when its policy changes.
  std::shared_ptr<KeyLimiter> limiter;
};

class KeyTable {
 public:
  using Clock = std::chrono::steady_clock;

  // Replaces the whole table (a WatchKeys snapshot). Keys are SHA-256 hex hashes.
  void ReplaceAll(std::unordered_map<std::string, KeyEntry> entries);
  void Upsert(const std::string& hash, KeyEntry entry);
  void Erase(const std::string& hash);
  std::optional<KeyEntry> Find(const std::string& hash) const;
  size_t size() const;

  // Negative cache: `hash` is known not to exist until `until`.
  void AddNegative(const std::string& hash, Clock::time_point until);
  bool IsNegative(const std::string& hash, Clock::time_point now) const;

 private:
  static constexpr size_t kMaxNegative = 100000;
  // Gives `entry` its limiter: `old`'s if there is one, else a new one, if its policy needs one.
  static void AttachLimiter(KeyEntry& entry, const KeyEntry* old);
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, KeyEntry> keys_;
  mutable std::mutex neg_mu_;
  std::unordered_map<std::string, Clock::time_point> negative_;
};

}  // namespace luna::gateway
