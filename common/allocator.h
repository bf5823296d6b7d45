// The memory allocator a binary runs on. The four services link mimalloc (Debian's libmimalloc2.0)
// unless built without it (LUNA_MIMALLOC=OFF, and always in the sanitizer and fuzz builds, whose
// runtimes bring their own malloc): on the gateway's request path malloc and free were the largest
// single cost, and mimalloc cuts the instructions of a small request by about 12%.
#pragma once

#include <string>

namespace luna {

// "mimalloc <version>" when malloc is mimalloc's (checked on a live allocation, not assumed from the
// build), else "glibc malloc". The services log it at start.
std::string AllocatorName();

}  // namespace luna
