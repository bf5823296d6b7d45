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

void KeyTable::ReplaceAll(Snapshot entries) {
  Map fresh;
  fresh.reserve(entries.size());
  {
    // The limiters' state (buckets, pending spend) survives a new snapshot. Readers go on meanwhile.
    std::shared_lock lock(mu_);
    for (auto& [digest, entry] : entries) {
      auto it = keys_.find(digest);
      AttachLimiter(entry, it == keys_.end() ? nullptr : it->second.get());
      fresh.insert_or_assign(digest, std::make_shared<const KeyEntry>(std::move(entry)));
    }
  }
  {
    std::unique_lock lock(mu_);
    keys_.swap(fresh);
  }
  // A key that now exists must not stay negatively cached.
  std::lock_guard lock(neg_mu_);
  negative_.clear();
  // `fresh` (the old table) is destroyed here, outside the table's lock.
}

void KeyTable::Upsert(const Sha256Digest& digest, KeyEntry entry) {
  {
    std::unique_lock lock(mu_);
    auto it = keys_.find(digest);
    AttachLimiter(entry, it == keys_.end() ? nullptr : it->second.get());
    keys_.insert_or_assign(digest, std::make_shared<const KeyEntry>(std::move(entry)));
  }
  std::lock_guard lock(neg_mu_);
  negative_.erase(digest);
}

void KeyTable::Erase(const Sha256Digest& digest) {
  std::unique_lock lock(mu_);
  keys_.erase(digest);
}

std::shared_ptr<const KeyEntry> KeyTable::Find(const Sha256Digest& digest) const {
  std::shared_lock lock(mu_);
  auto it = keys_.find(digest);
  if (it == keys_.end()) return nullptr;
  return it->second;
}

size_t KeyTable::size() const {
  std::shared_lock lock(mu_);
  return keys_.size();
}

void KeyTable::AddNegative(const Sha256Digest& digest, Clock::time_point until) {
  std::lock_guard lock(neg_mu_);
  if (negative_.size() >= kMaxNegative) {
    // Bounded memory under a flood of random keys: drop what expired, or everything if nothing did.
    auto now = Clock::now();
    absl::erase_if(negative_, [&](const auto& kv) { return kv.second <= now; });
    if (negative_.size() >= kMaxNegative) negative_.clear();
  }
  negative_[digest] = until;
}

bool KeyTable::IsNegative(const Sha256Digest& digest, Clock::time_point now) const {
  std::lock_guard lock(neg_mu_);
  auto it = negative_.find(digest);
  return it != negative_.end() && it->second > now;
}

}  // namespace luna::gateway
