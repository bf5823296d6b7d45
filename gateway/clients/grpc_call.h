// One unary gRPC call with the caller's credential forwarded as x-api-key metadata, completed by a
// callback on a gRPC thread. Used for the admin RPCs the gateway's HTTP admin API stands in front of.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace luna::gateway {

template <class AsyncInterface, class Req, class Resp>
using AsyncMethod = void (AsyncInterface::*)(grpc::ClientContext*, const Req*, Resp*,
                                             std::function<void(grpc::Status)>);

template <class AsyncInterface, class Req, class Resp>
void CallWithCredential(AsyncInterface* async, AsyncMethod<AsyncInterface, Req, Resp> method,
                        const std::string& credential, Req request, std::function<void(grpc::Status, Resp)> done,
                        std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  struct Call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
  };
  auto call = std::make_shared<Call>();
  call->req = std::move(request);
  if (!credential.empty()) call->ctx.AddMetadata("x-api-key", credential);
  call->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  (async->*method)(&call->ctx, &call->req, &call->resp,
                   [call, done = std::move(done)](grpc::Status st) { done(st, std::move(call->resp)); });
}

}  // namespace luna::gateway
