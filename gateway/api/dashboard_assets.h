// The admin dashboard's page and assets, compiled into the gateway: the build generates the table
// from gateway/dashboard (see gateway/CMakeLists.txt and gateway/dashboard/build.mjs), so the binary
// serves the page with no files beside it and no internet access.
#pragma once

#include <string_view>

namespace luna::gateway {

struct DashboardAsset {
  std::string_view path;          // "/dashboard" or "/dashboard/assets/<name>-<hash>.<ext>"
  std::string_view content_type;
  std::string_view body;
  std::string_view gzip_body;     // the same bytes gzip-compressed (empty: not worth it)
  bool immutable;                 // a content-hashed name: cacheable for a year
};

// The asset served at `path`, or null. Returns null for every path in a build without the page
// (LUNA_BUILD_DASHBOARD=OFF).
const DashboardAsset* FindDashboardAsset(std::string_view path);

// Whether this build has the page.
bool DashboardBuilt();

}  // namespace luna::gateway
