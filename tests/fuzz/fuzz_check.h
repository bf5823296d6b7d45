// Shared by the fuzz targets: reporting a broken invariant (printed, then abort(), which libFuzzer and
// the replay driver both treat as a finding).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace luna::fuzz {

[[noreturn]] inline void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "INVARIANT BROKEN: %s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace luna::fuzz
