#include "fallbacksvc/quota_document.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace luna::fallbacksvc {

absl::StatusOr<QuotaDocument> ParseQuotaDocument(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("the quota document is not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("the quota document is not a JSON object");
  auto accounts = doc.find("accounts");
  if (accounts == doc.end() || !accounts->is_array()) {
    return absl::InvalidArgumentError("the quota document has no \"accounts\" array");
  }
  QuotaDocument out;
  for (const auto& account : *accounts) {
    if (!account.is_object()) continue;
    auto models = account.find("models");
    if (models == account.end() || !models->is_object()) continue;
    for (const auto& [name, entry] : models->items()) {
      if (!entry.is_object()) continue;
      auto fraction = entry.find("remainingFraction");
      if (fraction == entry.end() || !fraction->is_number()) continue;
      double f = std::clamp(fraction->get<double>(), 0.0, 1.0);
      auto [it, inserted] = out.emplace(name, f);
      if (!inserted) it->second = std::max(it->second, f);
    }
  }
  return out;
}

}  // namespace luna::fallbacksvc
