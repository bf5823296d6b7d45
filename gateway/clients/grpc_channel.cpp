#include "gateway/clients/grpc_channel.h"

namespace luna::gateway {

std::shared_ptr<grpc::Channel> MakeServiceChannel(const std::string& target, const GrpcSecurity& security) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // The WatchKeys snapshot is one message with every key (~150 bytes each): gRPC's default 4 MB
  // limit would refuse it beyond about 25,000 keys.
  args.SetMaxReceiveMessageSize(1 << 30);
  return security.CreateChannel(target, args);
}

}  // namespace luna::gateway
