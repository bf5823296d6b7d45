#include "authsvc/key_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"

namespace luna::authsvc {
namespace {

constexpr size_t kKeyRandomBytes = 24;  // 192 bits

// Counts the code points of `s`; nullopt if it is not valid UTF-8 or holds control characters.
std::optional<size_t> CountTextCharacters(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return std::nullopt;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
    if (cp < 0x20 || cp == 0x7f) return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

std::string DescribeRef(std::string_view ref) {
  return IsWellFormedKeyId(ref) ? std::string(ref) : MaskSecret(ref);
}

}  // namespace

const char* AdminKeySourceName(AdminKeySource source) {
  switch (source) {
    case AdminKeySource::kEnv:
      return "ADMIN_KEY";
    case AdminKeySource::kFile:
      return "the keys file";
    case AdminKeySource::kGenerated:
      return "a newly generated key";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::Create(KeyManagerOptions options) {
  auto store = KeyStore::Open(options.keys_file);
  if (!store.ok()) return store.status();
  std::unique_ptr<KeyManager> m(new KeyManager());
  m->store_ = std::move(*store);
  m->now_ = options.now ? std::move(options.now) : [] { return std::chrono::system_clock::now(); };
  m->state_ = m->store_->loaded_state();
  {
    std::unique_lock lock(m->mu_);
    m->Reindex();
  }

  if (options.admin_key.has_value() && !options.admin_key->empty()) {
    m->admin_sha256_ = Sha256Hex(*options.admin_key);
    m->admin_key_source_ = AdminKeySource::kEnv;
  } else if (!m->state_.admin_key_sha256.empty()) {
    m->admin_sha256_ = m->state_.admin_key_sha256;
    m->admin_key_source_ = AdminKeySource::kFile;
  } else {
    // No admin key anywhere: make one and keep only its hash. This first write may create the file.
    std::string key = "sk-admin-" + RandomBase64Url(kKeyRandomBytes);
    KeysState next = m->state_;
    next.admin_key_sha256 = Sha256Hex(key);
    if (auto st = m->Save(next); !st.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot store the hash of a generated admin key: ", st.message()));
    }
    m->state_ = std::move(next);
    m->admin_sha256_ = m->state_.admin_key_sha256;
    m->admin_key_source_ = AdminKeySource::kGenerated;
    m->generated_admin_key_ = std::move(key);
  }
  m->write_retry_interval_ = options.write_retry_interval;
  if (m->write_retry_interval_.count() > 0) m->retry_thread_ = std::thread([mp = m.get()] { mp->RetryWrites(); });
  return m;
}

KeyManager::~KeyManager() {
  {
    std::lock_guard lock(problem_mu_);
    stopping_ = true;
  }
  problem_cv_.notify_all();
  if (retry_thread_.joinable()) retry_thread_.join();
}

std::string KeyManager::write_problem() const {
  std::lock_guard lock(problem_mu_);
  return write_problem_;
}

void KeyManager::SetWriteProblem(std::string problem) {
  {
    std::lock_guard lock(problem_mu_);
    if (problem == write_problem_) return;
    write_problem_ = std::move(problem);
  }
  problem_cv_.notify_all();
}

void KeyManager::RetryWrites() {
  std::unique_lock lock(problem_mu_);
  while (true) {
    problem_cv_.wait(lock, [&] { return stopping_ || !write_problem_.empty(); });
    if (stopping_) return;
    // Wait out the interval (a change in between may have succeeded and cleared the problem).
    if (problem_cv_.wait_for(lock, write_retry_interval_, [&] { return stopping_ || write_problem_.empty(); })) {
      continue;
    }
    lock.unlock();
    {
      std::lock_guard write_lock(write_mu_);
      if (!write_problem().empty()) {
        absl::Status st = store_->Save(state_);
        if (st.ok()) {
          keys_file_writes_.fetch_add(1, std::memory_order_relaxed);
          SetWriteProblem("");
          spdlog::info("keys file {} writable again: key changes are accepted", store_->path());
        } else {
          spdlog::debug("keys file still not writable: {}", std::string(st.message()));
        }
      }
    }
    lock.lock();
  }
}

std::optional<std::string> KeyManager::TakeGeneratedAdminKey() {
  std::lock_guard lock(write_mu_);
  auto key = std::move(generated_admin_key_);
  generated_admin_key_.reset();
  return key;
}

size_t KeyManager::key_count() const {
  std::shared_lock lock(mu_);
  return state_.keys.size();
}

KeyManager::KeyCounts KeyManager::CountKeys() const {
  std::shared_lock lock(mu_);
  KeyCounts counts;
  counts.total = state_.keys.size();
  for (const KeyEntry& e : state_.keys) counts.enabled += e.enabled ? 1 : 0;
  return counts;
}

absl::Status KeyManager::Save(const KeysState& next) {
  absl::Status st = store_->Save(next);
  (st.ok() ? keys_file_writes_ : keys_file_write_failures_).fetch_add(1, std::memory_order_relaxed);
  if (!st.ok()) spdlog::error("{}; the change is refused", std::string(st.message()));
  SetWriteProblem(st.ok() ? std::string() : std::string(st.message()));
  return st;
}

absl::Status KeyManager::CheckAdminCredential(std::string_view credential) const {
  if (credential.empty()) return absl::UnauthenticatedError("admin credential required");
  std::string hash = Sha256Hex(credential);
  if (ConstantTimeEquals(hash, admin_sha256_)) return absl::OkStatus();
  std::shared_lock lock(mu_);
  if (index_by_hash_.count(hash) > 0) return absl::PermissionDeniedError("admin key required");
  return absl::UnauthenticatedError("invalid admin credential");
}

std::optional<KeyEntry> KeyManager::FindByKey(std::string_view full_key) const {
  std::string hash = Sha256Hex(full_key);
  std::shared_lock lock(mu_);
  auto it = index_by_hash_.find(hash);
  if (it == index_by_hash_.end()) return std::nullopt;
  return state_.keys[it->second];
}

std::vector<KeyEntry> KeyManager::ListKeys() const {
  std::shared_lock lock(mu_);
  return state_.keys;
}

absl::StatusOr<KeyEntry> KeyManager::GetKey(std::string_view ref) const {
  std::shared_lock lock(mu_);
  const KeyEntry* e = Find(ref);
  if (e == nullptr) return absl::NotFoundError(absl::StrCat("key not found: ", DescribeRef(ref)));
  return *e;
}

const KeyEntry* KeyManager::Find(std::string_view ref) const {
  if (ref.empty()) return nullptr;
  if (ref.substr(0, 4) == "key_") {
    auto it = index_by_id_.find(std::string(ref));
    if (it != index_by_id_.end()) return &state_.keys[it->second];
  }
  auto it = index_by_hash_.find(Sha256Hex(ref));
  return it == index_by_hash_.end() ? nullptr : &state_.keys[it->second];
}

std::string KeyManager::Now() const {
  std::time_t t = std::chrono::system_clock::to_time_t(now_());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void KeyManager::Reindex() {
  index_by_id_.clear();
  index_by_hash_.clear();
  index_by_id_.reserve(state_.keys.size());
  index_by_hash_.reserve(state_.keys.size());
  for (size_t i = 0; i < state_.keys.size(); ++i) {
    index_by_id_.emplace(state_.keys[i].id, i);
    index_by_hash_.emplace(state_.keys[i].sha256, i);
  }
}

absl::Status KeyManager::Commit(KeysState next, KeyChange change) {
  if (auto st = Save(next); !st.ok()) return st;
  std::unique_lock lock(mu_);
  state_ = std::move(next);
  Reindex();
  for (KeySubscriber* s : subscribers_) s->OnKeyChange(change);
  return absl::OkStatus();
}

absl::StatusOr<KeyManager::NewKey> KeyManager::CreateKey(std::string_view name, KeyPolicy policy) {
  if (auto st = ValidateKeyPolicy(policy); !st.ok()) return st;
  auto length = CountTextCharacters(name);
  if (!length.has_value()) return absl::InvalidArgumentError("name must be UTF-8 text without control characters");
  if (name.find_first_not_of(' ') == std::string_view::npos) return absl::InvalidArgumentError("name is required");
  if (*length > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("name is longer than ", kMaxNameLength, " characters"));
  }

  std::lock_guard write_lock(write_mu_);
  NewKey created;
  KeyEntry& e = created.entry;
  // Neither collision can happen in practice (192 and 64 random bits); checking costs nothing.
  do {
    created.api_key = "sk-" + RandomBase64Url(kKeyRandomBytes);
    e.sha256 = Sha256Hex(created.api_key);
  } while (index_by_hash_.count(e.sha256) > 0 || e.sha256 == admin_sha256_);
  do {
    e.id = "key_" + RandomHex(8);
  } while (index_by_id_.count(e.id) > 0);
  e.name = std::string(name);
  e.prefix = KeyPrefix(created.api_key);
  e.enabled = true;
  e.created = Now();
  e.imported = false;
  e.policy = std::move(policy);

  KeysState next = state_;
  next.keys.push_back(e);
  if (auto st = Commit(std::move(next), KeyChange{KeyChange::Type::kUpsert, {e}}); !st.ok()) return st;
  spdlog::info("admin: created key {}", e.id);
  return created;
}

absl::StatusOr<KeyEntry> KeyManager::SetEnabled(std::string_view ref, bool enabled) {
  std::lock_guard write_lock(write_mu_);
  const KeyEntry* found = Find(ref);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("key not found: ", DescribeRef(ref)));
  if (found->enabled == enabled) return *found;
  size_t index = index_by_id_.at(found->id);
  KeysState next = state_;
  next.keys[index].enabled = enabled;
  KeyEntry changed = next.keys[index];
  if (auto st = Commit(std::move(next), KeyChange{KeyChange::Type::kUpsert, {changed}}); !st.ok()) return st;
  spdlog::info("admin: {} key {}", enabled ? "enabled" : "disabled", changed.id);
  return changed;
}

absl::StatusOr<KeyEntry> KeyManager::SetKeyPolicy(std::string_view ref, KeyPolicy policy) {
  if (auto st = ValidateKeyPolicy(policy); !st.ok()) return st;
  std::lock_guard write_lock(write_mu_);
  const KeyEntry* found = Find(ref);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("key not found: ", DescribeRef(ref)));
  if (found->policy == policy) return *found;
  size_t index = index_by_id_.at(found->id);
  KeysState next = state_;
  next.keys[index].policy = std::move(policy);
  KeyEntry changed = next.keys[index];
  if (auto st = Commit(std::move(next), KeyChange{KeyChange::Type::kUpsert, {changed}}); !st.ok()) return st;
  spdlog::info("admin: set the policy of key {}", changed.id);
  return changed;
}

absl::StatusOr<KeyEntry> KeyManager::DisableKey(std::string_view ref) { return SetEnabled(ref, false); }

absl::StatusOr<KeyEntry> KeyManager::EnableKey(std::string_view ref) { return SetEnabled(ref, true); }

absl::StatusOr<KeyEntry> KeyManager::DeleteKey(std::string_view ref) {
  std::lock_guard write_lock(write_mu_);
  const KeyEntry* found = Find(ref);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("key not found: ", DescribeRef(ref)));
  KeyEntry deleted = *found;
  size_t index = index_by_id_.at(deleted.id);
  KeysState next = state_;
  next.keys.erase(next.keys.begin() + static_cast<std::ptrdiff_t>(index));
  if (auto st = Commit(std::move(next), KeyChange{KeyChange::Type::kDelete, {deleted}}); !st.ok()) return st;
  spdlog::info("admin: deleted key {}", deleted.id);
  return deleted;
}

void KeyManager::Subscribe(KeySubscriber* subscriber) {
  std::unique_lock lock(mu_);
  subscribers_.push_back(subscriber);
  subscriber->OnKeyChange(KeyChange{KeyChange::Type::kSnapshot, state_.keys});
}

void KeyManager::Unsubscribe(KeySubscriber* subscriber) {
  std::unique_lock lock(mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), subscriber), subscribers_.end());
}

}  // namespace luna::authsvc
