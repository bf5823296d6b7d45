#include "gateway/clients/grpc_spend_watch.h"

#include <spdlog/spdlog.h>

#include "gateway/clients/grpc_channel.h"

namespace luna::gateway {

namespace usagepb = luna::usage::v1;

GrpcSpendWatch::GrpcSpendWatch(const std::string& target, const GrpcSecurity& security, std::string gateway_id,
                               SpendBook* book)
    : stub_(usagepb::UsageService::NewStub(MakeServiceChannel(target, security))),
      gateway_id_(std::move(gateway_id)),
      book_(book),
      watcher_(
          [this](grpc::ClientContext& ctx, bool* delivered) { return RunOnce(ctx, delivered); },
          [this](const grpc::Status& st) {
            if (book_->connected()) {
              spdlog::warn("usagesvc spend stream ended ({}): budgets count this gateway's own spend until it is back",
                           st.error_message().empty() ? "stream closed" : st.error_message());
            }
            book_->SetConnected(false);
          }) {}

grpc::Status GrpcSpendWatch::RunOnce(grpc::ClientContext& ctx, bool* delivered) {
  usagepb::WatchSpendRequest req;
  req.set_gateway_id(gateway_id_);
  auto reader = stub_->WatchSpend(&ctx, req);
  usagepb::SpendUpdate update;
  while (reader->Read(&update)) {
    book_->Apply(update);
    if (update.snapshot()) {
      if (!book_->connected()) spdlog::info("key spend synced from usagesvc: {} keys", update.keys_size());
      book_->SetConnected(true);
    }
    *delivered = true;
  }
  return reader->Finish();
}

}  // namespace luna::gateway
