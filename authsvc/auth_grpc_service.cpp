#include "authsvc/auth_grpc_service.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <deque>
#include <unordered_map>

#include "common/serial_write_reactor.h"


namespace luna::authsvc {
namespace pb = luna::auth::v1;

namespace {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

void ToRecord(const KeyEntry& e, pb::KeyRecord* out) {
  out->set_id(e.id);
  out->set_hash(e.sha256);
  out->set_name(e.name);
  out->set_prefix(e.prefix);
  out->set_enabled(e.enabled);
  out->set_created(e.created);
  if (!e.policy.empty()) KeyPolicyToProto(e.policy, out->mutable_policy());
}

void ToInfo(const KeyEntry& e, pb::KeyInfo* out) {
  out->set_id(e.id);
  out->set_name(e.name);
  out->set_prefix(e.prefix);
  out->set_masked(e.prefix + "...");
  out->set_enabled(e.enabled);
  out->set_created(e.created);
  out->set_imported(e.imported);
  if (!e.policy.empty()) KeyPolicyToProto(e.policy, out->mutable_policy());
}

void ToEvent(const KeyChange& change, pb::KeyEvent* out) {
  out->Clear();
  switch (change.type) {
    case KeyChange::Type::kSnapshot:
      out->set_type(pb::KeyEvent::SNAPSHOT);
      break;
    case KeyChange::Type::kUpsert:
      out->set_type(pb::KeyEvent::UPSERT);
      break;
    case KeyChange::Type::kDelete:
      out->set_type(pb::KeyEvent::DELETE);
      break;
  }
  out->mutable_keys()->Reserve(static_cast<int>(change.keys.size()));
  for (const KeyEntry& e : change.keys) ToRecord(e, out->add_keys());
}

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Trimmed(grpc::string_ref value) { return Trim(std::string_view(value.data(), value.size())); }

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// The credential of the call: "x-api-key: <k>", else "authorization: Bearer <k>"; empty if neither.
std::string_view CredentialOf(const grpc::CallbackServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find("x-api-key"); it != metadata.end()) return Trimmed(it->second);
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    std::string_view value = Trimmed(it->second);
    constexpr std::string_view kBearer = "bearer ";
    if (StartsWithIgnoreCase(value, kBearer)) return Trim(value.substr(kBearer.size()));
  }
  return {};
}

// For logs: a watcher names itself; keep it short and printable.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out.empty() ? "(unnamed)" : out;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

// One WatchKeys stream. It subscribes to the KeyManager, which enqueues changes (never blocking);
// SerialWriteReactor writes them one at a time. The object deletes itself in OnDone, after
// unsubscribing, so no change can reach a deleted reactor.
class WatchKeysReactor final : public SerialWriteReactor<pb::KeyEvent, KeyChange>, public KeySubscriber {
 public:
  // A watcher that has not taken its events after this many changes is cut off: it reconnects and
  // gets a fresh snapshot instead of making authsvc queue without bound.
  static constexpr size_t kMaxPending = 10000;

  WatchKeysReactor(AuthGrpcService* service, KeyManager* manager, std::string watcher, std::string peer)
      : service_(service), manager_(manager), watcher_(std::move(watcher)), peer_(std::move(peer)) {}

  void Start(const absl::Status& unavailable) {
    if (manager_ == nullptr) {
      RequestFinish(ToGrpcStatus(unavailable));
      return;
    }
    if (!service_->RegisterWatch(this)) {
      RequestFinish(grpc::Status::OK);
      return;
    }
    spdlog::info("watch started: {} ({})", watcher_, peer_);
    manager_->Subscribe(this);
  }

  void OnKeyChange(KeyChange change) override {
    std::unique_lock lock(mu_);
    if (finishing_) return;
    if (pending_.size() >= kMaxPending) {
      spdlog::warn("watch {} ({}) fell {} changes behind; ending it", watcher_, peer_, pending_.size());
      BeginFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "watcher too slow; reconnect for a snapshot"));
    } else {
      pending_.push_back(std::move(change));
    }
    Pump(std::move(lock));
  }

  void OnCancel() override {
    if (manager_ != nullptr) manager_->Unsubscribe(this);
    RequestFinish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (manager_ != nullptr) {
      manager_->Unsubscribe(this);
      service_->UnregisterWatch(this);
      spdlog::info("watch ended: {} ({})", watcher_, peer_);
    }
    delete this;
  }

 private:
  bool TakeNextLocked(KeyChange* out) override {
    if (pending_.empty()) return false;
    *out = std::move(pending_.front());
    pending_.pop_front();
    return true;
  }
  void ClearPendingLocked() override { pending_.clear(); }
  void Render(const KeyChange& change, pb::KeyEvent* out) override { ToEvent(change, out); }

  AuthGrpcService* const service_;
  KeyManager* const manager_;
  const std::string watcher_;
  const std::string peer_;
  std::deque<KeyChange> pending_;  // guarded by mu_
};

AuthGrpcService::AuthGrpcService(KeyManager* manager) : manager_(manager) {}

AuthGrpcService::~AuthGrpcService() = default;

void AuthGrpcService::AttachManager(KeyManager* manager) { manager_.store(manager, std::memory_order_release); }

void AuthGrpcService::BeginShutdown() {
  std::lock_guard lock(watches_mu_);
  shutting_down_ = true;
  // Safe to call under watches_mu_: gRPC never runs a reactor's OnDone (which takes watches_mu_)
  // inline inside Finish.
  for (WatchKeysReactor* w : watches_) w->RequestFinish(grpc::Status::OK);
}

bool AuthGrpcService::RegisterWatch(WatchKeysReactor* reactor) {
  std::lock_guard lock(watches_mu_);
  if (shutting_down_) return false;
  watches_.insert(reactor);
  return true;
}

void AuthGrpcService::UnregisterWatch(WatchKeysReactor* reactor) {
  std::lock_guard lock(watches_mu_);
  watches_.erase(reactor);
}

size_t AuthGrpcService::active_watches() {
  std::lock_guard lock(watches_mu_);
  return watches_.size();
}

KeyManager* AuthGrpcService::ManagerOrStatus(absl::Status* status) const {
  KeyManager* m = manager_.load(std::memory_order_acquire);
  if (m == nullptr) *status = absl::UnavailableError("authsvc is starting: the keys file is not loaded yet");
  return m;
}

KeyManager* AuthGrpcService::AdminManagerOrStatus(grpc::CallbackServerContext* ctx, absl::Status* status) const {
  KeyManager* m = ManagerOrStatus(status);
  if (m == nullptr) return nullptr;
  *status = m->CheckAdminCredential(CredentialOf(*ctx));
  return status->ok() ? m : nullptr;
}

grpc::ServerUnaryReactor* AuthGrpcService::ValidateKey(grpc::CallbackServerContext* ctx,
                                                       const pb::ValidateKeyRequest* request,
                                                       pb::ValidateKeyResponse* response) {
  absl::Status status;
  KeyManager* m = ManagerOrStatus(&status);
  if (m == nullptr) return FinishNow(ctx, status);
  auto found = m->FindByKey(request->key());
  (found.has_value() ? validations_found_ : validations_not_found_).fetch_add(1, std::memory_order_relaxed);
  response->set_found(found.has_value());
  if (found.has_value()) ToRecord(*found, response->mutable_key());
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<pb::KeyEvent>* AuthGrpcService::WatchKeys(grpc::CallbackServerContext* ctx,
                                                                   const pb::WatchKeysRequest* request) {
  absl::Status status;
  KeyManager* m = ManagerOrStatus(&status);
  auto* reactor = new WatchKeysReactor(this, m, Printable(request->watcher()), ctx->peer());
  reactor->Start(status);
  return reactor;
}

grpc::ServerUnaryReactor* AuthGrpcService::AdminWrite(grpc::CallbackServerContext* ctx,
                                                      std::function<absl::Status(KeyManager*)> write) {
  absl::Status status;
  KeyManager* m = AdminManagerOrStatus(ctx, &status);
  if (m == nullptr) return FinishNow(ctx, status);
  auto* reactor = ctx->DefaultReactor();
  writer_.Post([m, reactor, write = std::move(write)] { reactor->Finish(ToGrpcStatus(write(m))); });
  return reactor;
}

grpc::ServerUnaryReactor* AuthGrpcService::CreateKey(grpc::CallbackServerContext* ctx,
                                                     const pb::CreateKeyRequest* request,
                                                     pb::CreateKeyResponse* response) {
  return AdminWrite(ctx, [request, response](KeyManager* m) {
    auto created = m->CreateKey(request->name(), KeyPolicyFromProto(request->policy()));
    if (created.ok()) {
      response->set_api_key(created->api_key);
      ToInfo(created->entry, response->mutable_key());
    }
    return created.status();
  });
}

grpc::ServerUnaryReactor* AuthGrpcService::ListKeys(grpc::CallbackServerContext* ctx,
                                                    const pb::ListKeysRequest* /*request*/,
                                                    pb::ListKeysResponse* response) {
  absl::Status status;
  KeyManager* m = AdminManagerOrStatus(ctx, &status);
  if (m == nullptr) return FinishNow(ctx, status);
  for (const KeyEntry& e : m->ListKeys()) ToInfo(e, response->add_keys());
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* AuthGrpcService::GetKey(grpc::CallbackServerContext* ctx, const pb::KeyRef* request,
                                                  pb::KeyInfo* response) {
  absl::Status status;
  KeyManager* m = AdminManagerOrStatus(ctx, &status);
  if (m == nullptr) return FinishNow(ctx, status);
  auto key = m->GetKey(request->key());
  if (key.ok()) ToInfo(*key, response);
  return FinishNow(ctx, key.status());
}

grpc::ServerUnaryReactor* AuthGrpcService::DisableKey(grpc::CallbackServerContext* ctx, const pb::KeyRef* request,
                                                      pb::KeyInfo* response) {
  return AdminWrite(ctx, [request, response](KeyManager* m) {
    auto key = m->DisableKey(request->key());
    if (key.ok()) ToInfo(*key, response);
    return key.status();
  });
}

grpc::ServerUnaryReactor* AuthGrpcService::EnableKey(grpc::CallbackServerContext* ctx, const pb::KeyRef* request,
                                                     pb::KeyInfo* response) {
  return AdminWrite(ctx, [request, response](KeyManager* m) {
    auto key = m->EnableKey(request->key());
    if (key.ok()) ToInfo(*key, response);
    return key.status();
  });
}

grpc::ServerUnaryReactor* AuthGrpcService::SetKeyPolicy(grpc::CallbackServerContext* ctx,
                                                        const pb::SetKeyPolicyRequest* request, pb::KeyInfo* response) {
  return AdminWrite(ctx, [request, response](KeyManager* m) {
    auto key = m->SetKeyPolicy(request->key().key(), KeyPolicyFromProto(request->policy()));
    if (key.ok()) ToInfo(*key, response);
    return key.status();
  });
}

grpc::ServerUnaryReactor* AuthGrpcService::DeleteKey(grpc::CallbackServerContext* ctx, const pb::KeyRef* request,
                                                     pb::DeleteKeyResponse* response) {
  return AdminWrite(ctx, [request, response](KeyManager* m) {
    auto key = m->DeleteKey(request->key());
    if (key.ok()) response->set_id(key->id);
    return key.status();
  });
}

grpc::ServerUnaryReactor* AuthGrpcService::CheckAdmin(grpc::CallbackServerContext* ctx,
                                                      const pb::CheckAdminRequest* /*request*/,
                                                      pb::CheckAdminResponse* /*response*/) {
  absl::Status status;
  AdminManagerOrStatus(ctx, &status);
  return FinishNow(ctx, status);
}

grpc::ServerUnaryReactor* AuthGrpcService::GetLegacyUsage(grpc::CallbackServerContext* ctx,
                                                          const pb::GetLegacyUsageRequest* /*request*/,
                                                          pb::GetLegacyUsageResponse* response) {
  absl::Status status;
  KeyManager* m = ManagerOrStatus(&status);
  if (m == nullptr) return FinishNow(ctx, status);
  // Deleted keys keep their history: their names are no longer known, only their ids.
  std::unordered_map<std::string, std::string> names;
  for (const KeyEntry& e : m->ListKeys()) names.emplace(e.id, e.name);
  for (const auto& [key_id, usage_json] : m->legacy_usage()) {
    auto* entry = response->add_entries();
    entry->set_key_id(key_id);
    if (auto it = names.find(key_id); it != names.end()) entry->set_name(it->second);
    entry->set_usage_json(usage_json);
  }
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace luna::authsvc
