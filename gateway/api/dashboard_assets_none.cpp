// The asset table of a gateway built without the dashboard's page (LUNA_BUILD_DASHBOARD=OFF): /dashboard
// answers 404 saying so, and /admin/* keeps working as before.
#include "gateway/api/dashboard_assets.h"

namespace luna::gateway {

const DashboardAsset* FindDashboardAsset(std::string_view) { return nullptr; }
bool DashboardBuilt() { return false; }

}  // namespace luna::gateway
