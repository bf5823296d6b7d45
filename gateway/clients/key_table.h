// The gateway's local copy of the key table (fed by authsvc's WatchKeys), plus a short-lived cache
// of keys authsvc said it does not know. Readers are the I/O threads (shared lock, no I/O under it);
// the writer is the watch thread.
//
// Keys are the binary SHA-256 of the key: abseil's flat (open-addressing) table of 32-byte digests,
// hashed by their first 8 bytes (already uniform). A lookup does the same work with 10 and with
// 1,000,000 keys: no string hashing, no hex, a probe of the control bytes and slots, and one read of
// the entry. What grows with the table is only how often those reads miss the CPU's cache
// (bench/gateway/tables_bench.cpp measures both).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto.h"
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

// A SHA-256 digest is uniform: its first 8 bytes are a hash as good as any.
struct DigestHash {
  size_t operator()(const Sha256Digest& d) const noexcept {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

class KeyTable {
 public:
  using Clock = std::chrono::steady_clock;
  using Snapshot = std::vector<std::pair<Sha256Digest, KeyEntry>>;

  // Replaces the whole table (a WatchKeys snapshot). The new table is built while readers go on;
  // they wait only for the swap.
  void ReplaceAll(Snapshot entries);
  void Upsert(const Sha256Digest& digest, KeyEntry entry);
  void Erase(const Sha256Digest& digest);
  // The entry, shared (entries are never changed in place: an update publishes a new one); null when
  // the key is not in the table.
  std::shared_ptr<const KeyEntry> Find(const Sha256Digest& digest) const;
  size_t size() const;

  // Negative cache: `digest` is known not to exist until `until`.
  void AddNegative(const Sha256Digest& digest, Clock::time_point until);
  bool IsNegative(const Sha256Digest& digest, Clock::time_point now) const;

 private:
  using Map = absl::flat_hash_map<Sha256Digest, std::shared_ptr<const KeyEntry>, DigestHash>;
  static constexpr size_t kMaxNegative = 100000;
  // Gives `entry` its limiter: `old`'s if there is one, else a new one, if its policy needs one.
  static void AttachLimiter(KeyEntry& entry, const KeyEntry* old);
  mutable std::shared_mutex mu_;
  Map keys_;
  mutable std::mutex neg_mu_;
  absl::flat_hash_map<Sha256Digest, Clock::time_point, DigestHash> negative_;
};

}  // namespace luna::gateway
