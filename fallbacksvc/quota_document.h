// The quota document a provider serves (the default upstream's GET /health):
//   {"accounts": [{"models": {"<name>": {"remainingFraction": 0.42}, ...}}, ...]}
// The best account counts: a model's remaining fraction is the largest over all accounts.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace luna::fallbacksvc {

// Model name -> remaining fraction in [0, 1]. A model absent from the map is "unknown".
using QuotaDocument = std::map<std::string, double>;

// InvalidArgument when the body is not JSON or has no `accounts` array. Entries of the wrong shape
// (an account without `models`, a fraction that is not a number) are skipped, not fatal: one odd
// account must not hide the others. Fractions are clamped to [0, 1].
absl::StatusOr<QuotaDocument> ParseQuotaDocument(std::string_view body);

}  // namespace luna::fallbacksvc
