#include "fallbacksvc/fallback_grpc_service.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "common/serial_write_reactor.h"

namespace luna::fallbacksvc {
namespace pb = luna::fallback::v1;

namespace {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// For logs: a watcher names itself; keep it short and printable.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out.empty() ? "(unnamed)" : out;
}

void ToProto(const PlanView& plan, pb::RoutePlan* out) {
  out->mutable_tiers()->Add(plan.tiers.begin(), plan.tiers.end());
  out->set_reason(plan.reason);
}

}  // namespace

void ToProto(const RouteTableData& table, bool redact, pb::RouteTable* out) {
  out->Clear();
  out->set_version(table.version);
  out->set_enabled(table.enabled);
  for (const ProviderConfig& p : table.providers) {
    pb::Provider* o = out->add_providers();
    o->set_name(p.name);
    o->set_base_url(p.base_url);
    o->set_format(p.format);
    if (!redact) o->set_api_key(p.api_key);
    o->set_auth_style(p.auth_style);
  }
  for (const TierView& t : table.tiers) {
    pb::Tier* o = out->add_tiers();
    o->set_name(t.name);
    o->set_model(t.model);
    o->set_provider(t.provider);
    o->set_max_tokens_limit(t.max_tokens_limit);
    pb::Capabilities* caps = o->mutable_capabilities();
    if (t.capabilities.context_window) caps->set_context_window(*t.capabilities.context_window);
    if (t.capabilities.tools) caps->set_tools(*t.capabilities.tools);
    if (t.capabilities.images) caps->set_images(*t.capabilities.images);
    if (t.capabilities.thinking) caps->set_thinking(*t.capabilities.thinking);
    o->set_available(t.available);
    o->set_remaining_fraction(t.remaining_fraction);
    o->set_quota_low(t.quota_low);
    o->set_cooldown_until_unix_ms(t.cooldown_until_unix_ms);
    o->set_cooldown_reason(t.cooldown_reason);
    o->set_cooldown_transient(t.cooldown_transient);
    o->set_consecutive_failures(t.consecutive_failures);
    o->set_quota_polled(t.quota_polled);
  }
  for (const auto& [model, plan] : table.plans) ToProto(plan, &(*out->mutable_plans())[model]);
  ToProto(table.default_plan, out->mutable_default_plan());
  out->set_generated_unix_ms(table.generated_unix_ms);
}

absl::StatusOr<std::vector<Outcome>> FromProto(const pb::ReportOutcomesRequest& request) {
  if (request.outcomes_size() > FallbackGrpcService::kMaxOutcomesPerBatch) {
    return absl::InvalidArgumentError("outcomes: more than " +
                                      std::to_string(FallbackGrpcService::kMaxOutcomesPerBatch) + " in one batch");
  }
  std::vector<Outcome> out;
  out.reserve(static_cast<size_t>(request.outcomes_size()));
  for (int i = 0; i < request.outcomes_size(); ++i) {
    const pb::Outcome& o = request.outcomes(i);
    std::string where = "outcomes[" + std::to_string(i) + "].";
    if (o.kind() < pb::OK || o.kind() > pb::SERVER_ERROR) {
      return absl::InvalidArgumentError(where + "kind: must be one of OK .. SERVER_ERROR, got " +
                                        std::to_string(static_cast<int>(o.kind())));
    }
    if (o.tier().empty() && o.model().empty()) {
      return absl::InvalidArgumentError(where + "tier, model: at least one must be set");
    }
    if (o.retry_after_ms() < 0) return absl::InvalidArgumentError(where + "retry_after_ms: must not be negative");
    if (o.status() < 0 || o.status() > 999) return absl::InvalidArgumentError(where + "status: not an HTTP status");
    Outcome d;
    d.tier = o.tier();
    d.provider = o.provider();
    d.model = o.model();
    d.status = o.status();
    d.kind = static_cast<OutcomeKind>(o.kind());
    d.retry_after_ms = o.retry_after_ms();
    d.message = TruncateUtf8(o.message(), 300);
    out.push_back(std::move(d));
  }
  return out;
}

// One WatchRoutes stream. The keeper hands it every new table; it keeps only the newest one not yet
// written, and SerialWriteReactor writes it after the previous write is done. Finish waits until
// Start has subscribed. The object deletes itself in OnDone, after unsubscribing, so no table can
// reach a deleted reactor.
class WatchRoutesReactor final
    : public SerialWriteReactor<pb::RouteTable, std::shared_ptr<const RouteTableData>> {
 public:
  WatchRoutesReactor(FallbackGrpcService* service, RouteKeeper* keeper, std::string watcher, std::string peer)
      : service_(service), keeper_(keeper), watcher_(std::move(watcher)), peer_(std::move(peer)) {
    started_ = false;
  }

  void Start() {
    // Subscribing sends the snapshot at once.
    uint64_t id =
        keeper_->Subscribe([this](std::shared_ptr<const RouteTableData> table) { OnTable(std::move(table)); });
    bool registered = service_->RegisterWatch(this);
    std::unique_lock lock(mu_);
    subscription_ = id;
    started_ = true;
    if (registered) {
      spdlog::info("watch started: {} ({})", watcher_, peer_);
    } else if (!finishing_) {
      BeginFinishLocked(grpc::Status::OK);
    }
    Pump(std::move(lock));
  }

  void OnTable(std::shared_ptr<const RouteTableData> table) {
    std::unique_lock lock(mu_);
    if (finishing_ || table->version <= newest_version_) return;
    newest_version_ = table->version;
    pending_ = std::move(table);
    Pump(std::move(lock));
  }

  void OnCancel() override { RequestFinish(grpc::Status::CANCELLED); }

  void OnDone() override {
    keeper_->Unsubscribe(subscription_);
    service_->UnregisterWatch(this);
    spdlog::info("watch ended: {} ({})", watcher_, peer_);
    delete this;
  }

 private:
  bool TakeNextLocked(std::shared_ptr<const RouteTableData>* out) override {
    if (!pending_) return false;
    *out = std::move(pending_);
    pending_.reset();
    return true;
  }
  void ClearPendingLocked() override { pending_.reset(); }
  void Render(const std::shared_ptr<const RouteTableData>& table, pb::RouteTable* out) override {
    ToProto(*table, /*redact=*/false, out);
  }

  FallbackGrpcService* const service_;
  RouteKeeper* const keeper_;
  const std::string watcher_;
  const std::string peer_;
  uint64_t subscription_ = 0;     // guarded by mu_
  uint64_t newest_version_ = 0;   // guarded by mu_
  std::shared_ptr<const RouteTableData> pending_;  // guarded by mu_
};

FallbackGrpcService::FallbackGrpcService(RouteKeeper* keeper, AdminChecker* admin, std::string config_path)
    : keeper_(keeper), admin_(admin), config_path_(std::move(config_path)) {}

FallbackGrpcService::~FallbackGrpcService() = default;

void FallbackGrpcService::BeginShutdown() {
  std::lock_guard lock(watches_mu_);
  shutting_down_ = true;
  // Safe under watches_mu_: gRPC never runs a reactor's OnDone (which takes watches_mu_) inline
  // inside Finish.
  for (WatchRoutesReactor* w : watches_) w->RequestFinish(grpc::Status::OK);
}

bool FallbackGrpcService::RegisterWatch(WatchRoutesReactor* reactor) {
  std::lock_guard lock(watches_mu_);
  if (shutting_down_) return false;
  watches_.insert(reactor);
  return true;
}

void FallbackGrpcService::UnregisterWatch(WatchRoutesReactor* reactor) {
  std::lock_guard lock(watches_mu_);
  watches_.erase(reactor);
}

size_t FallbackGrpcService::active_watches() {
  std::lock_guard lock(watches_mu_);
  return watches_.size();
}

grpc::ServerWriteReactor<pb::RouteTable>* FallbackGrpcService::WatchRoutes(grpc::CallbackServerContext* ctx,
                                                                           const pb::WatchRoutesRequest* request) {
  auto* reactor = new WatchRoutesReactor(this, keeper_, Printable(request->gateway_id()), ctx->peer());
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* FallbackGrpcService::ReportOutcomes(grpc::CallbackServerContext* ctx,
                                                              const pb::ReportOutcomesRequest* request,
                                                              pb::ReportOutcomesResponse* response) {
  auto outcomes = FromProto(*request);
  if (!outcomes.ok()) return FinishNow(ctx, outcomes.status());
  response->set_table_version(keeper_->ReportOutcomes(*outcomes));
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* FallbackGrpcService::GetStatus(grpc::CallbackServerContext* ctx,
                                                         const pb::GetStatusRequest* /*request*/,
                                                         pb::FallbackStatus* response) {
  auto* reactor = ctx->DefaultReactor();
  admin_->CheckAdmin(CallCredential(*ctx), [this, reactor, response](absl::Status st) {
    if (!st.ok()) {
      reactor->Finish(ToGrpcStatus(st));
      return;
    }
    KeeperStatus s = keeper_->Status();
    ToProto(*s.table, /*redact=*/true, response->mutable_table());
    response->set_config_path(config_path_);
    response->set_min_remaining_fraction(s.config->min_remaining_fraction);
    response->set_health_poll_interval_seconds(s.config->health_poll_interval_seconds);
    for (const ProviderPollStatus& p : s.providers) {
      pb::ProviderStatus* o = response->add_providers();
      o->set_name(p.name);
      o->set_quota_url(p.quota_url);
      o->set_last_poll_unix_ms(p.last_poll_unix_ms);
      o->set_last_poll_error(p.last_poll_error);
    }
    response->set_config_loaded_unix_ms(s.config_loaded_unix_ms);
    response->set_last_reload_error(s.last_reload_error);
    response->set_state_file(keeper_->state_file());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* FallbackGrpcService::ReloadConfig(grpc::CallbackServerContext* ctx,
                                                            const pb::ReloadConfigRequest* /*request*/,
                                                            pb::ReloadConfigResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  admin_->CheckAdmin(CallCredential(*ctx), [this, reactor, response](absl::Status st) {
    if (!st.ok()) {
      reactor->Finish(ToGrpcStatus(st));
      return;
    }
    // Reads one small file; admin calls are rare, so it runs here rather than on a thread of its own.
    auto version = keeper_->Reload();
    if (!version.ok()) {
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(version.status().message())));
      return;
    }
    response->set_table_version(*version);
    response->set_tiers(static_cast<int32_t>(keeper_->config()->tiers.size()));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace luna::fallbacksvc
