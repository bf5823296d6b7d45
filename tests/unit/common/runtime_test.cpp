#include "common/runtime.h"

#include <absl/synchronization/mutex.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace luna {
namespace {

// Debian's abseil tracks the order absl::Mutexes are taken in (gRPC takes many per call) and aborts
// on an inversion; the services turn that off. Two mutexes taken in both orders, one after the
// other (no deadlock is possible): the process goes on.
TEST(RuntimeTest, MutexOrderTrackingIsOff) {
  SetUpRuntime();
  absl::Mutex a, b;
  {
    absl::MutexLock la(&a);
    absl::MutexLock lb(&b);
  }
  {
    absl::MutexLock lb(&b);
    absl::MutexLock la(&a);
  }
  SUCCEED();
}

// Linked as the services link it: malloc (and so operator new) is mimalloc's in the default build,
// glibc's in the sanitizer and fuzz builds and with LUNA_MIMALLOC=OFF.
TEST(AllocatorTest, ServicesRunOnTheAllocatorTheBuildChose) {
#ifdef LUNA_EXPECT_MIMALLOC
  EXPECT_EQ(AllocatorName().rfind("mimalloc 2.", 0), 0u) << AllocatorName();
#else
  EXPECT_EQ(AllocatorName(), "glibc malloc");
#endif
}

// Blocks cross threads (the gateway frees on one thread what another allocated: spool, gRPC) and
// realloc keeps their contents.
TEST(AllocatorTest, BlocksFreedOnAnotherThreadAndReallocated) {
  std::vector<std::unique_ptr<std::string>> made;
  std::thread maker([&] {
    for (int i = 0; i < 10000; ++i) made.push_back(std::make_unique<std::string>(100 + i % 300, 'x'));
  });
  maker.join();
  std::thread freer([&] { made.clear(); });
  freer.join();
  EXPECT_TRUE(made.empty());
  char* p = static_cast<char*>(std::malloc(16));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 16; ++i) p[i] = static_cast<char>(i);
  p = static_cast<char*>(std::realloc(p, 1 << 20));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(p[i], static_cast<char>(i));
  std::free(p);
}

}  // namespace
}  // namespace luna
