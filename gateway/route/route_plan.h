// Route choice on the request path, from the route table fallbacksvc pushes (DESIGN.md, "Fallback"):
// which targets one request tries, in order, and how an attempt's answer is judged. Pure: the table
// is compiled once when it arrives, so choosing costs a hash lookup and a short walk.
#pragma once

#include <absl/functional/function_ref.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/convert/convert_types.h"
#include "gateway/route/exchange.h"

namespace luna::gateway {

// What a tier's model can take (absent = no limit).
struct TierCaps {
  std::optional<int64_t> context_window;
  bool tools = true;
  bool images = true;
  bool thinking = true;
  bool Restricts() const { return context_window.has_value() || !tools || !images || !thinking; }
};

struct RouteTier {
  UpstreamTarget target;  // tier name, provider, URL, API, model, credential, max_tokens_limit
  TierCaps caps;
  bool available = true;
  bool quota_low = false;
  double remaining_fraction = -1;
  int64_t cooldown_until_unix_ms = 0;
  std::string cooldown_reason;
  bool cooldown_transient = false;  // cooled by a connection failure, timeout or server error
  // Tiers sending the same model to the same provider share an id (0..target_ids-1; -1 when the
  // tier sends the model asked for, which only a request knows): set by FinishCompiling.
  int target_id = -1;
};

struct RoutePlan {
  std::vector<const UpstreamTarget*> targets;  // in order; never the same provider+model twice
  std::string reason;                          // why it does not start at the requested model ("" = it does)
  std::vector<std::string> skipped;            // "tier: why", for the error if nothing answers
  int64_t earliest_back_unix_ms = 0;           // soonest end of a skipped tier's cooldown (0 = none)
};

struct RoutePlanEntry {
  std::vector<int> tiers;
  std::string reason;
  // PlanRoute's answer for this model, computed once by FinishCompiling, so that choosing a route
  // costs the same with 3 tiers and with 100. It holds while no tier left out of the plan comes back
  // from its cooldown (before `ready_until_unix_ms`), and only when what a request needs cannot change
  // it (`needs_matter` false: no tier it may add restricts what it takes).
  std::shared_ptr<const RoutePlan> ready;
  int64_t ready_until_unix_ms = 0;
  bool needs_matter = true;
};

// Lets a map keyed by std::string be searched with a string_view (no allocation per request).
struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A route table ready for the request path.
struct CompiledRoutes {
  uint64_t version = 0;
  bool enabled = false;
  std::vector<RouteTier> tiers;  // chain order
  std::unordered_map<std::string, RoutePlanEntry, TransparentStringHash, std::equal_to<>> plans;
  RoutePlanEntry default_plan;
  bool any_caps = false;  // some tier restricts what it takes: read the request's needs
  int target_ids = 0;
  // "provider\0model" -> target_id, to tell whether the default upstream as asked is a tier too.
  std::unordered_map<std::string, int, TransparentStringHash, std::equal_to<>> target_id_of;
};

// Assigns the tiers' target ids once the tiers are in place (CompileRoutes calls it), so route choice
// tells repeated targets apart in one pass, whatever the chain's length.
void FinishCompiling(CompiledRoutes* routes);

// What a request needs of a model, read without parsing the body into a DOM.
struct RequestNeeds {
  bool tools = false;
  bool images = false;
  bool thinking = false;
  int64_t estimated_input_tokens = 0;  // body bytes / 4: a deliberate over-estimate
};
RequestNeeds ReadRequestNeeds(WireFormat api, std::string_view body);

// The targets for `model`. `routes` null or disabled: the default upstream as asked. A model of the
// chain: its plan, plus tiers whose cooldown has already run out by `now` (the table may be stale);
// when that leaves nothing, the tiers cooling down for a transient failure (cooldown_transient).
// Any other model: the default upstream as asked, then the default plan. Fallback targets that
// cannot take `needs` (when given) are left out; the requested model's own tier never is.
RoutePlan PlanRoute(const CompiledRoutes* routes, const UpstreamTarget& default_target, std::string_view model,
                    const RequestNeeds* needs, int64_t now_unix_ms);

// Route choice for one request: the plan compiled for `model` when it holds at `now_unix_ms` (no
// allocation, no walk of the chain), else PlanRoute's, computed into `*scratch`. `needs` is called only
// when what the request needs can change the plan (it reads the body). The answer lives as long as
// `routes` and `*scratch`.
const RoutePlan* ChooseRoute(const CompiledRoutes* routes, const UpstreamTarget& default_target, std::string_view model,
                             absl::FunctionRef<RequestNeeds()> needs, int64_t now_unix_ms, RoutePlan* scratch);

// How one attempt ended, as fallbacksvc is told (OutcomeKind in fallback.proto).
enum class AttemptKind {
  kOk,             // answered (2xx), or a 4xx that is the request's own fault
  kRateLimited,    // 429, or a 400/403 saying a rate limit was hit
  kOverloaded,     // 503, 529
  kQuotaExhausted, // 402, or a 400/403/429 saying quota, credit or balance is exhausted
  kBadCredential,  // 401, or a 403 refusing the gateway's credential
  kTimeout,
  kConnectFailed,
  kServerError,    // other 5xx, or an answer cut off
};

// Judges an upstream answer by its status and (error) body.
AttemptKind ClassifyAnswer(int status, std::string_view body);
// Whether the next target should be tried after an attempt that ended so (nothing sent yet).
bool ShouldFailOver(AttemptKind kind);
std::string_view AttemptKindName(AttemptKind kind);

// The wait an upstream asked for, in ms: retry-after-ms, else retry-after (seconds or an HTTP date,
// against `now_unix_ms`); 0 if none or unreadable.
int64_t RetryAfterMs(const HeaderList& headers, int64_t now_unix_ms);

}  // namespace luna::gateway
