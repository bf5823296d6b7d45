#include "gateway/clients/grpc_fallback_client.h"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

#include "gateway/clients/grpc_channel.h"

namespace luna::gateway {

namespace fbpb = luna::fallback::v1;

namespace {

constexpr size_t kMaxQueued = 10000;
constexpr int kMaxBatch = 500;
constexpr auto kSuccessDelay = std::chrono::milliseconds(200);

fbpb::OutcomeKind ToProto(AttemptKind k) {
  switch (k) {
    case AttemptKind::kOk: return fbpb::OK;
    case AttemptKind::kRateLimited: return fbpb::RATE_LIMITED;
    case AttemptKind::kOverloaded: return fbpb::OVERLOADED;
    case AttemptKind::kQuotaExhausted: return fbpb::QUOTA_EXHAUSTED;
    case AttemptKind::kBadCredential: return fbpb::BAD_CREDENTIAL;
    case AttemptKind::kTimeout: return fbpb::TIMEOUT;
    case AttemptKind::kConnectFailed: return fbpb::CONNECT_FAILED;
    case AttemptKind::kServerError: return fbpb::SERVER_ERROR;
  }
  return fbpb::OUTCOME_KIND_UNSPECIFIED;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::shared_ptr<const CompiledRoutes> CompileRoutes(const fbpb::RouteTable& table, const UpstreamTarget& default_target,
                                                    std::vector<std::string>* warnings) {
  auto routes = std::make_shared<CompiledRoutes>();
  routes->version = table.version();
  routes->enabled = table.enabled();
  std::map<std::string, const fbpb::Provider*, std::less<>> providers;
  for (const auto& p : table.providers()) providers[p.name()] = &p;
  // Table index -> compiled index (tiers left out shift the rest).
  std::vector<int> index_of(static_cast<size_t>(table.tiers_size()), -1);
  for (int i = 0; i < table.tiers_size(); ++i) {
    const auto& t = table.tiers(i);
    auto pit = providers.find(t.provider());
    if (pit == providers.end()) {
      warnings->push_back("tier " + t.name() + ": unknown provider " + t.provider());
      continue;
    }
    const fbpb::Provider& p = *pit->second;
    RouteTier tier;
    UpstreamTarget& target = tier.target;
    if (p.base_url().empty()) {
      target = default_target;  // the gateway's own upstream: its URL, API and credential
      if (!p.api_key().empty()) target.api_key = p.api_key();
    } else {
      auto url = ParseUrl(p.base_url());
      if (!url.ok()) {
        warnings->push_back("tier " + t.name() + ": provider " + p.name() + ": " + std::string(url.status().message()));
        continue;
      }
      target.url = *url;
      target.format = p.format() == "openai" ? WireFormat::kOpenAI : WireFormat::kAnthropic;
      target.api_key = p.api_key();
      target.auth_style = UpstreamAuthStyle::kAuto;
    }
    if (p.auth_style() == "x-api-key") target.auth_style = UpstreamAuthStyle::kXApiKey;
    if (p.auth_style() == "bearer") target.auth_style = UpstreamAuthStyle::kBearer;
    target.tier = t.name();
    target.provider = p.name();
    target.model = t.model();
    target.max_tokens_limit = t.max_tokens_limit();
    const auto& c = t.capabilities();
    if (c.has_context_window()) tier.caps.context_window = c.context_window();
    if (c.has_tools()) tier.caps.tools = c.tools();
    if (c.has_images()) tier.caps.images = c.images();
    if (c.has_thinking()) tier.caps.thinking = c.thinking();
    routes->any_caps = routes->any_caps || tier.caps.Restricts();
    tier.available = t.available();
    tier.quota_low = t.quota_low();
    tier.remaining_fraction = t.remaining_fraction();
    tier.cooldown_until_unix_ms = t.cooldown_until_unix_ms();
    tier.cooldown_reason = t.cooldown_reason();
    tier.cooldown_transient = t.cooldown_transient();
    target.report_success = !t.available() || t.cooldown_until_unix_ms() != 0 || t.consecutive_failures() > 0;
    index_of[static_cast<size_t>(i)] = static_cast<int>(routes->tiers.size());
    routes->tiers.push_back(std::move(tier));
  }
  auto compile_plan = [&](const fbpb::RoutePlan& plan) {
    RoutePlanEntry e;
    e.reason = plan.reason();
    for (int index : plan.tiers()) {
      if (index >= 0 && index < table.tiers_size() && index_of[static_cast<size_t>(index)] >= 0) {
        e.tiers.push_back(index_of[static_cast<size_t>(index)]);
      }
    }
    return e;
  };
  for (const auto& [model, plan] : table.plans()) routes->plans.emplace(model, compile_plan(plan));
  routes->default_plan = compile_plan(table.default_plan());
  FinishCompiling(routes.get());
  return routes;
}

GrpcFallbackClient::GrpcFallbackClient(const std::string& target, const GrpcSecurity& security,
                                       UpstreamTarget default_target, std::string gateway_id)
    : channel_(MakeServiceChannel(target, security)),
      stub_(fbpb::FallbackService::NewStub(channel_)),
      default_target_(std::move(default_target)),
      gateway_id_(std::move(gateway_id)),
      watcher_([this](grpc::ClientContext& ctx, bool* delivered) { return RunWatch(ctx, delivered); },
               [this](const grpc::Status& st) {
                 if (synced_.exchange(false)) {
                   spdlog::warn("fallbacksvc watch stream ended ({}): routing from the last known table",
                                st.error_message().empty() ? "stream closed" : st.error_message());
                 }
               }) {}

GrpcFallbackClient::~GrpcFallbackClient() { Stop(); }

void GrpcFallbackClient::Start() {
  watcher_.Start();
  report_thread_ = std::thread([this] { ReportLoop(); });
}

void GrpcFallbackClient::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  watcher_.Stop();
  if (report_thread_.joinable()) report_thread_.join();
}

std::shared_ptr<const CompiledRoutes> GrpcFallbackClient::routes() const {
  std::lock_guard lock(routes_mu_);
  return routes_;
}

GrpcFallbackClient::Stats GrpcFallbackClient::stats() const {
  Stats s;
  if (auto r = routes()) s.table_version = r->version;
  std::lock_guard lock(mu_);
  s.reports_sent = reports_sent_;
  s.reports_dropped = reports_dropped_;
  return s;
}

void GrpcFallbackClient::Report(AttemptReport report) {
  bool wake = report.kind != AttemptKind::kOk;  // failures go at once; successes ride the next batch
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      ++reports_dropped_;
      return;
    }
    queue_.push_back(std::move(report));
    wake = wake || queue_.size() >= static_cast<size_t>(kMaxBatch);
    urgent_ = urgent_ || wake;
  }
  if (wake) cv_.notify_all();
}

grpc::Status GrpcFallbackClient::RunWatch(grpc::ClientContext& ctx, bool* delivered) {
  fbpb::WatchRoutesRequest req;
  req.set_gateway_id(gateway_id_);
  auto reader = stub_->WatchRoutes(&ctx, req);
  fbpb::RouteTable table;
  while (reader->Read(&table)) {
    std::vector<std::string> warnings;
    auto compiled = CompileRoutes(table, default_target_, &warnings);
    for (const auto& w : warnings) spdlog::warn("route table {}: {}", table.version(), w);
    {
      std::lock_guard lock(routes_mu_);
      if (routes_ && routes_->version > compiled->version && synced()) continue;  // never go back
      routes_ = std::move(compiled);
    }
    if (!synced_.exchange(true, std::memory_order_acq_rel)) {
      spdlog::info("route table {} from fallbacksvc: {} tiers, fallback {}", table.version(), table.tiers_size(),
                   table.enabled() ? "on" : "off");
    }
    *delivered = true;
  }
  return reader->Finish();
}

void GrpcFallbackClient::ReportLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    // Woken at once for failures; successes wait at most kSuccessDelay (no wake-up per request).
    cv_.wait_for(lock, kSuccessDelay, [this] { return stopping_ || urgent_; });
    if (stopping_) return;
    urgent_ = false;
    if (queue_.empty()) continue;
    // Successes of one target in a batch say the same thing once.
    fbpb::ReportOutcomesRequest req;
    std::map<std::tuple<std::string, std::string, std::string>, bool> ok_seen;
    int taken = 0;
    while (!queue_.empty() && taken < kMaxBatch) {
      AttemptReport r = std::move(queue_.front());
      queue_.pop_front();
      ++taken;
      if (r.kind == AttemptKind::kOk && !ok_seen.emplace(std::make_tuple(r.tier, r.provider, r.model), true).second) {
        continue;
      }
      auto* o = req.add_outcomes();
      o->set_tier(r.tier);
      o->set_provider(r.provider);
      o->set_model(r.model);
      o->set_status(r.status);
      o->set_kind(ToProto(r.kind));
      o->set_retry_after_ms(r.retry_after_ms);
      o->set_message(r.message.substr(0, 300));
      o->set_time_unix_ms(r.time_unix_ms != 0 ? r.time_unix_ms : NowUnixMs());
      o->set_gateway_id(gateway_id_);
    }
    lock.unlock();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    fbpb::ReportOutcomesResponse resp;
    grpc::Status st = stub_->ReportOutcomes(&ctx, req, &resp);
    lock.lock();
    if (st.ok()) {
      reports_sent_ += req.outcomes_size();
    } else {
      reports_dropped_ += req.outcomes_size();
      spdlog::debug("ReportOutcomes failed ({}): {} outcomes dropped", st.error_message(), req.outcomes_size());
    }
  }
}

}  // namespace luna::gateway
