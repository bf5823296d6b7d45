// Bridges a callback that arrives on a foreign thread (a gRPC completion) into a coroutine: the
// result is posted back to the awaiting coroutine's executor before it resumes (TOOLCHAIN.md, pitfall 8).
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "gateway/http/beast_fwd.h"

namespace luna::gateway {

// `start(done)` begins the operation and must call `done(Result)` exactly once, from any thread.
// `start` must capture only references and pointers (use [&]): GCC 12 destroys closure objects that
// are passed through Asio's initiation coroutine twice, so a captured std::string is freed twice.
// Not a coroutine itself (GCC 12 mishandles coroutine parameters of lambda type): it returns the
// awaitable that async_initiate builds.
template <class Result, class Start>
Awaitable<Result> AwaitCallback(Start start) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [start = std::move(start)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start(std::function<void(Result)>([h](Result r) {
          auto ex = asio::get_associated_executor(*h);
          asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
        }));
      },
      asio::use_awaitable);
}

}  // namespace luna::gateway
