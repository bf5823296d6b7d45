#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/process.h"

namespace luna {
namespace {

// A thread that used OpenSSL and ends while the process exits must find OpenSSL still initialised,
// or its error state is lost (a LeakSanitizer report, as in CI). The probe exits 3 if OpenSSL had
// already cleaned up, which it does unless common/openssl_at_exit.cpp is linked in.
TEST(OpenSslAtExitTest, ThreadsEndingDuringExitStillFindOpenSslInitialised) {
  testing::TempDir dir;
  testing::Process probe(LUNA_OPENSSL_EXIT_PROBE, {}, {}, dir.File("probe.log"));
  ASSERT_TRUE(testing::Eventually([&] { return !probe.Running(); }));
  const int status = probe.Stop(0);
  ASSERT_TRUE(WIFEXITED(status)) << probe.Log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: OpenSSL cleaned up before the thread ended\n" << probe.Log();
}

}  // namespace
}  // namespace luna
