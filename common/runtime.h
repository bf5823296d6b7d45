// The process's runtime, set up the same way in the four services.
//
// The allocator: the services link mimalloc (Debian's libmimalloc2.0) unless built without it
// (LUNA_MIMALLOC=OFF, and always in the sanitizer and fuzz builds, whose runtimes bring their own
// malloc). On the gateway's request path malloc and free were the largest single cost, and mimalloc
// cuts the instructions of a small request by about 12%.
#pragma once

#include <string>

namespace luna {

// Called first thing in main. Turns off abseil's mutex deadlock detection, which Debian's abseil
// (built without NDEBUG) leaves on: every absl::Mutex lock in gRPC's client and server paths went
// through its lock-order graph, about 2% of the gateway's instructions per small request. Our own
// code uses std::mutex; the suite's sanitizer pass is where lock-order bugs would show.
void SetUpRuntime();

// "mimalloc <version>" when malloc is mimalloc's (checked on a live allocation, not assumed from the
// build), else "glibc malloc". The services log it at start.
std::string AllocatorName();

}  // namespace luna
