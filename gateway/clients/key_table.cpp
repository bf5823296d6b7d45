#include "gateway/clients/key_table.h"

namespace luna::gateway {

void KeyTable::AttachLimiter(KeyEntry& entry, const KeyEntry* old) {
  const KeyPolicy* p = entry.policy.get();
  if (p == nullptr || (p->requests_per_minute == 0 && p->tokens_per_minute == 0 && !p->has_budget())) {
    entry.limiter.reset();
    return;
  }
  if (old != nullptr && old->limiter != nullptr && old->id == entry.id) {
    entry.limiter = old->limiter;
  } else {
    entry.limiter = std::make_shared<KeyLimiter>(entry.id);
  }
}

void KeyTable::ReplaceAll(std::unordered_map<std::string, KeyEntry> entries) {
  {
    std::unique_lock lock(mu_);
    // The limiters' state (buckets, pending spend) survives a new snapshot.
    for (auto& [hash, entry] : entries) {
      auto it = keys_.find(hash);
      AttachLimiter(entry, it == keys_.end() ? nullptr : &it->second);
    }
    keys_.swap(entries);
  }
  // A key that now exists must not stay negatively cached.
  std::lock_guard lock(neg_mu_);
  negative_.clear();
  // `entries` (the old table) is destroyed here, outside the lock.
}

void KeyTable::Upsert(const std::string& hash, KeyEntry entry) {
  {
    std::unique_lock lock(mu_);
    auto it = keys_.find(hash);
    AttachLimiter(entry, it == keys_.end() ? nullptr : &it->second);
    keys_[hash] = std::move(entry);
  }
  std::lock_guard lock(neg_mu_);
  negative_.erase(hash);
}

void KeyTable::Erase(const std::string& hash) {
  std::unique_lock lock(mu_);
  keys_.erase(hash);
}

std::optional<KeyEntry> KeyTable::Find(const std::string& hash) const {
  std::shared_lock lock(mu_);
  auto it = keys_.find(hash);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

size_t KeyTable::size() const {
  std::shared_lock lock(mu_);
  return keys_.size();
}

void KeyTable::AddNegative(const std::string& hash, Clock::time_point until) {
  std::lock_guard lock(neg_mu_);
  if (negative_.size() >= kMaxNegative) {
    // Bounded memory under a flood of random keys: drop what expired, or everything if nothing did.
    auto now = Clock::now();
    std::erase_if(negative_, [&](const auto& kv) { return kv.second <= now; });
    if (negative_.size() >= kMaxNegative) negative_.clear();
  }
  negative_[hash] = until;
}

bool KeyTable::IsNegative(const std::string& hash, Clock::time_point now) const {
  std::lock_guard lock(neg_mu_);
  auto it = negative_.find(hash);
  return it != negative_.end() && it->second > now;
}

}  // namespace luna::gateway
