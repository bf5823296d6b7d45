#include "common/runtime.h"

#include <absl/synchronization/mutex.h>

#include <cstdlib>

#ifdef LUNA_WITH_MIMALLOC
#include <mimalloc.h>
#endif

namespace luna {

void SetUpRuntime() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

std::string AllocatorName() {
#ifdef LUNA_WITH_MIMALLOC
  // Linking the library is not enough: malloc is mimalloc's only if the dynamic linker finds its
  // malloc before glibc's. Ask mimalloc whether a block just allocated is one of its own.
  void* probe = std::calloc(1, 64);
  const bool ours = mi_is_in_heap_region(probe);
  std::free(probe);
  if (ours) {
    const int v = mi_version();  // 209 for 2.0.9
    return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10);
  }
#endif
  return "glibc malloc";
}

}  // namespace luna
