#include "usagesvc/usage_grpc_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_admin_check.h"
#include "usagesvc/event_validation.h"

namespace luna::usagesvc {
namespace pb = luna::usage::v1;

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

absl::StatusOr<UsageQuery> ToQuery(const pb::QueryUsageRequest& r) {
  UsageQuery q;
  if (!r.from_date().empty()) {
    q.from_day = ParseDay(r.from_date());
    if (!q.from_day)
      return absl::InvalidArgumentError(absl::StrCat("from_date: not a YYYY-MM-DD date: \"", r.from_date(), "\""));
  }
  if (!r.to_date().empty()) {
    q.to_day = ParseDay(r.to_date());
    if (!q.to_day)
      return absl::InvalidArgumentError(absl::StrCat("to_date: not a YYYY-MM-DD date: \"", r.to_date(), "\""));
  }
  if (q.from_day && q.to_day && *q.from_day > *q.to_day) {
    return absl::InvalidArgumentError("from_date is after to_date");
  }
  q.key_id = r.key_id();
  q.by_day = r.by_day() || r.by_hour();
  q.by_hour = r.by_hour();
  q.by_key = r.by_key();
  q.by_model = r.by_model();
  return q;
}

void ToProto(const QueryTotals& t, pb::UsageTotals* out) {
  out->set_requests(t.requests);
  out->set_errors(t.errors);
  out->set_input_tokens(t.input);
  out->set_output_tokens(t.output);
  out->set_cache_read_tokens(t.cache_read);
  out->set_cache_write_tokens(t.cache_write);
  out->set_last_used_unix_ms(t.last_used_ms);
  out->set_total_tokens_only(t.total_only);
}

}  // namespace

UsageGrpcService::UsageGrpcService(AuthClient* auth, UsageStore* store) : auth_(auth), store_(store) {}

void UsageGrpcService::AttachStore(UsageStore* store) { store_.store(store, std::memory_order_release); }

UsageStore* UsageGrpcService::StoreOrStatus(absl::Status* status) const {
  UsageStore* s = store_.load(std::memory_order_acquire);
  if (s == nullptr) *status = absl::UnavailableError("usagesvc is starting: the ledger is not loaded yet");
  return s;
}

grpc::ServerUnaryReactor* UsageGrpcService::RecordUsage(grpc::CallbackServerContext* ctx,
                                                        const pb::RecordUsageRequest* request,
                                                        pb::RecordUsageResponse* response) {
  absl::Status status;
  UsageStore* store = StoreOrStatus(&status);
  if (store == nullptr) return FinishNow(ctx, status);
  if (auto st = ValidateBatch(request->events()); !st.ok()) return FinishNow(ctx, st);
  auto* reactor = ctx->DefaultReactor();
  store->Record(&request->events(), [reactor, response](const absl::Status& st, RecordResult result) {
    if (st.ok()) {
      response->set_recorded(result.recorded);
      response->set_duplicates(result.duplicates);
    }
    reactor->Finish(ToGrpcStatus(st));
  });
  return reactor;
}

grpc::ServerUnaryReactor* UsageGrpcService::QueryUsage(grpc::CallbackServerContext* ctx,
                                                       const pb::QueryUsageRequest* request,
                                                       pb::QueryUsageResponse* response) {
  absl::Status status;
  UsageStore* store = StoreOrStatus(&status);
  if (store == nullptr) return FinishNow(ctx, status);
  auto* reactor = ctx->DefaultReactor();
  auth_->CheckAdmin(CallCredential(*ctx), [store, request, response, reactor](absl::Status st) {
    if (!st.ok()) {
      reactor->Finish(ToGrpcStatus(st));
      return;
    }
    auto query = ToQuery(*request);
    if (!query.ok()) {
      reactor->Finish(ToGrpcStatus(query.status()));
      return;
    }
    const Ledger& ledger = store->ledger();
    std::vector<UsageRow> rows = ledger.Query(*query);
    response->mutable_rows()->Reserve(static_cast<int>(rows.size()));
    for (const UsageRow& r : rows) {
      pb::UsageRow* out = response->add_rows();
      if (r.day) out->set_day(FormatDay(*r.day));
      if (r.hour) out->set_hour(FormatHour(*r.hour));
      if (query->by_key) out->set_key_id(r.key_id);
      if (query->by_model) out->set_model(r.model);
      ToProto(r.totals, out->mutable_totals());
    }
    response->set_time_zone(ledger.options().zone.name);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* UsageGrpcService::ListEvents(grpc::CallbackServerContext* ctx,
                                                       const pb::ListEventsRequest* request,
                                                       pb::ListEventsResponse* response) {
  absl::Status status;
  UsageStore* store = StoreOrStatus(&status);
  if (store == nullptr) return FinishNow(ctx, status);
  auto* reactor = ctx->DefaultReactor();
  auth_->CheckAdmin(CallCredential(*ctx), [store, request, response, reactor](absl::Status st) {
    if (!st.ok()) {
      reactor->Finish(ToGrpcStatus(st));
      return;
    }
    if (request->limit() < 0) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit must not be negative"));
      return;
    }
    int limit = request->limit() == 0 ? kDefaultListLimit : std::min(request->limit(), kMaxListLimit);
    auto events = store->ledger().ListEvents(request->key_id(), request->since_unix_ms(), static_cast<size_t>(limit));
    response->mutable_events()->Reserve(static_cast<int>(events.size()));
    for (auto& e : events) *response->add_events() = std::move(e);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<pb::SpendUpdate>* UsageGrpcService::WatchSpend(grpc::CallbackServerContext* ctx,
                                                                      const pb::WatchSpendRequest* request) {
  SpendWatchHub* hub = spend_.load(std::memory_order_acquire);
  if (hub == nullptr) {
    return FinishedSpendStream(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "usagesvc is starting: the ledger is not loaded yet"));
  }
  return hub->Open(ctx, request);
}

}  // namespace luna::usagesvc
