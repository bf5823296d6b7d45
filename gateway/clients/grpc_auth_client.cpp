#include "gateway/clients/grpc_auth_client.h"

#include <spdlog/spdlog.h>

#include "gateway/clients/grpc_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace luna::gateway {

namespace authpb = luna::auth::v1;

namespace {

KeyEntry ToEntry(const authpb::KeyRecord& r) {
  KeyEntry e{r.id(), r.name(), r.enabled(), nullptr, nullptr};
  if (r.has_policy()) {
    KeyPolicy p = KeyPolicyFromProto(r.policy());
    if (!p.empty()) e.policy = std::make_shared<const KeyPolicy>(std::move(p));
  }
  return e;
}

// The record's key hash (hex, as authsvc stores it) in binary; a record without a valid one matches
// no key, so it is left out, with a warning.
std::optional<Sha256Digest> DigestOf(const authpb::KeyRecord& r) {
  auto d = Sha256FromHex(r.hash());
  if (!d) spdlog::warn("authsvc sent key {} without a valid SHA-256 hash: left out", r.id());
  return d;
}

}  // namespace

GrpcAuthClient::GrpcAuthClient(const std::string& target, const GrpcSecurity& security, KeyTable* table)
    : channel_(MakeServiceChannel(target, security)),
      stub_(authpb::AuthService::NewStub(channel_)),
      table_(table),
      watcher_([this](grpc::ClientContext& ctx, bool* delivered) { return RunWatch(ctx, delivered); },
               [this](const grpc::Status& st) {
                 if (synced_.exchange(false)) {
                   spdlog::warn("authsvc watch stream ended ({}): serving from the last known key table",
                                st.error_message().empty() ? "stream closed" : st.error_message());
                 }
               }) {}

GrpcAuthClient::~GrpcAuthClient() { Stop(); }

void GrpcAuthClient::Start() {
  watcher_.Start();
  health_thread_ = std::thread([this] { HealthLoop(); });
}

void GrpcAuthClient::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  watcher_.Stop();
  if (health_thread_.joinable()) health_thread_.join();
}

bool GrpcAuthClient::SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

grpc::Status GrpcAuthClient::RunWatch(grpc::ClientContext& ctx, bool* delivered) {
  authpb::WatchKeysRequest req;
  req.set_watcher("gateway");
  auto reader = stub_->WatchKeys(&ctx, req);
  authpb::KeyEvent ev;
  while (reader->Read(&ev)) {
    switch (ev.type()) {
      case authpb::KeyEvent::SNAPSHOT: {
        KeyTable::Snapshot all;
        all.reserve(static_cast<size_t>(ev.keys_size()));
        for (const auto& k : ev.keys()) {
          if (auto d = DigestOf(k)) all.emplace_back(*d, ToEntry(k));
        }
        size_t n = all.size();
        table_->ReplaceAll(std::move(all));
        synced_.store(true, std::memory_order_release);
        ever_synced_.store(true, std::memory_order_release);
        *delivered = true;
        spdlog::info("key table synced from authsvc: {} keys", n);
        break;
      }
      case authpb::KeyEvent::UPSERT:
        for (const auto& k : ev.keys()) {
          if (auto d = DigestOf(k)) table_->Upsert(*d, ToEntry(k));
        }
        break;
      case authpb::KeyEvent::DELETE:
        for (const auto& k : ev.keys()) {
          if (auto d = DigestOf(k)) table_->Erase(*d);
        }
        break;
      default:
        break;
    }
  }
  return reader->Finish();
}

void GrpcAuthClient::HealthLoop() {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    auto st = stub->Check(&ctx, req, &resp);
    serving_.store(st.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING,
                   std::memory_order_release);
  } while (SleepUnlessStopped(std::chrono::milliseconds(1000)));
}

void GrpcAuthClient::ValidateKey(const std::string& key, const Sha256Digest& digest,
                                 std::function<void(ValidateOutcome)> done) {
  struct Call {
    grpc::ClientContext ctx;
    authpb::ValidateKeyRequest req;
    authpb::ValidateKeyResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->req.set_key(key);
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  stub_->async()->ValidateKey(
      &call->ctx, &call->req, &call->resp, [this, call, digest, done = std::move(done)](grpc::Status st) {
        ValidateOutcome out;
        if (!st.ok()) {
          out.kind = ValidateOutcome::Kind::kUnavailable;
          out.error = st.error_message();
        } else if (call->resp.found()) {
          out.kind = ValidateOutcome::Kind::kFound;
          table_->Upsert(digest, ToEntry(call->resp.key()));
          // The table's copy: it carries the key's limiter.
          out.entry = table_->Find(digest);
          if (!out.entry) out.entry = std::make_shared<const KeyEntry>(ToEntry(call->resp.key()));
        } else {
          out.kind = ValidateOutcome::Kind::kNotFound;
        }
        done(std::move(out));
      });
}

}  // namespace luna::gateway
