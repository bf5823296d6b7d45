// The routing rules: quota hysteresis, cooldown backoff and expiry, bad credentials, and the plans
// built from them (3 tiers in detail, 100 for cost).
#include "fallbacksvc/route_engine.h"

#include <gtest/gtest.h>

#include <chrono>

namespace luna::fallbacksvc {
namespace {

constexpr int64_t kT0 = 1772323200000;  // 2026-03-01T00:00:00Z

// opus, sonnet on the default upstream; deepseek on an external provider.
std::shared_ptr<const FallbackConfig> ThreeTiers() {
  auto c = std::make_shared<FallbackConfig>();
  c->min_remaining_fraction = 0.1;
  c->quota_recovery_margin = 0.05;
  ProviderConfig up;
  up.name = "upstream";
  up.format = "anthropic";
  up.quota_url = "http://127.0.0.1:8080/health";
  ProviderConfig ds;
  ds.name = "deepseek";
  ds.base_url = "https://api.deepseek.com";
  ds.format = "openai";
  ds.api_key = "sk-ds";
  c->providers = {up, ds};
  c->tiers = {TierConfig{"opus", "claude-opus", "upstream", "claude-opus", 0, {}},
              TierConfig{"sonnet", "claude-sonnet", "upstream", "claude-sonnet", 0, {}},
              TierConfig{"deepseek", "deepseek-chat", "deepseek", "deepseek-chat", 8192, {}}};
  return c;
}

Outcome Failure(const std::string& tier, OutcomeKind kind, int status, int64_t retry_after_ms = 0) {
  Outcome o;
  o.tier = tier;
  o.kind = kind;
  o.status = status;
  o.retry_after_ms = retry_after_ms;
  return o;
}

Outcome Ok(const std::string& tier) { return Failure(tier, OutcomeKind::kOk, 200); }

std::vector<int32_t> Plan(const RouteTableData& t, const std::string& model) { return t.plans.at(model).tiers; }

TEST(RouteEngineTest, HealthyChainRoutesEachModelToItsOwnTierFirst) {
  // Nothing cooling, quotas unknown: each model starts at its own tier, then the chain in order.
  RouteEngine e(ThreeTiers());
  RouteTableData t = e.Build(kT0);
  EXPECT_TRUE(t.enabled);
  ASSERT_EQ(t.tiers.size(), 3u);
  EXPECT_EQ(Plan(t, "claude-opus"), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(Plan(t, "claude-sonnet"), (std::vector<int32_t>{1, 0, 2}));
  EXPECT_EQ(Plan(t, "deepseek-chat"), (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(t.default_plan.tiers, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(t.plans.at("claude-opus").reason, "tier opus (quota unknown)");
  EXPECT_EQ(t.plans.at("deepseek-chat").reason, "tier deepseek (no quota endpoint)");
  EXPECT_TRUE(t.tiers[0].quota_polled);
  EXPECT_FALSE(t.tiers[2].quota_polled);
  EXPECT_EQ(t.tiers[2].max_tokens_limit, 8192);
  EXPECT_DOUBLE_EQ(t.tiers[0].remaining_fraction, -1);
}

TEST(RouteEngineTest, NamesTheTiersANewCooldownStartsOn) {
  // For the cooldowns_entered metric: a new cooldown names its tiers; an extension, a success and an
  // outcome for no tier name none; a rejected credential names every tier of its provider.
  auto c = std::make_shared<FallbackConfig>(*ThreeTiers());
  c->tiers.push_back(TierConfig{"opus-again", "claude-opus", "upstream", "claude-opus", 0, {}});
  RouteEngine e(c);
  std::vector<std::string> cooled;
  EXPECT_TRUE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429), kT0, &cooled));
  EXPECT_EQ(cooled, (std::vector<std::string>{"opus", "opus-again"}));  // same provider and model
  cooled.clear();
  EXPECT_TRUE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429, 120000), kT0 + 1000, &cooled));
  EXPECT_TRUE(cooled.empty());  // already cooling: extended to its retry-after, not a new cooldown
  EXPECT_TRUE(e.ApplyOutcome(Ok("opus"), kT0 + 2000, &cooled));
  EXPECT_TRUE(cooled.empty());
  EXPECT_FALSE(e.ApplyOutcome(Failure("nope", OutcomeKind::kOverloaded, 529), kT0 + 2000, &cooled));
  EXPECT_TRUE(cooled.empty());
  EXPECT_TRUE(e.ApplyOutcome(Failure("sonnet", OutcomeKind::kBadCredential, 401), kT0 + 3000, &cooled));
  EXPECT_EQ(cooled, (std::vector<std::string>{"opus", "sonnet", "opus-again"}));  // every upstream tier
  cooled.clear();
  EXPECT_TRUE(e.ApplyOutcome(Failure("opus", OutcomeKind::kBadCredential, 401), kT0 + 4000, &cooled));
  EXPECT_TRUE(cooled.empty());  // the provider's cooldown only moves on
  // Without the list the rules are the same.
  EXPECT_TRUE(e.ApplyOutcome(Failure("deepseek", OutcomeKind::kTimeout, 0), kT0 + 5000));
}

TEST(RouteEngineTest, DisabledConfigHasNoPlans) {
  // enabled=false: tiers are still listed (for status) but there are no plans.
  auto c = std::make_shared<FallbackConfig>(*ThreeTiers());
  c->enabled = false;
  RouteEngine e(c);
  RouteTableData t = e.Build(kT0);
  EXPECT_FALSE(t.enabled);
  EXPECT_EQ(t.tiers.size(), 3u);
  EXPECT_TRUE(t.plans.empty());
  EXPECT_TRUE(t.default_plan.tiers.empty());
}

TEST(RouteEngineTest, QuotaUsesTheBestAccountAndMissingModelIsUnknown) {
  // The document's best account counts; a model the document lacks is unknown, not low.
  RouteEngine e(ThreeTiers());
  QuotaDocument doc{{"claude-opus", 0.42}};
  EXPECT_TRUE(e.ApplyQuotas("upstream", doc, kT0));
  RouteTableData t = e.Build(kT0);
  EXPECT_DOUBLE_EQ(t.tiers[0].remaining_fraction, 0.42);
  EXPECT_DOUBLE_EQ(t.tiers[1].remaining_fraction, -1);
  EXPECT_FALSE(t.tiers[1].quota_low);
  EXPECT_EQ(t.plans.at("claude-opus").reason, "tier opus has quota (42%)");
  // The same document again changes nothing.
  EXPECT_FALSE(e.ApplyQuotas("upstream", doc, kT0 + 1000));
}

TEST(RouteEngineTest, LowQuotaRoutesToTheFirstTierWithQuotaAndRecoversWithHysteresis) {
  // Below 10% the model goes to the next tier with quota; it comes back only at 15% (10% + 5%).
  RouteEngine e(ThreeTiers());
  ASSERT_TRUE(e.ApplyQuotas("upstream", {{"claude-opus", 0.03}, {"claude-sonnet", 0.5}}, kT0));
  RouteTableData t = e.Build(kT0);
  EXPECT_TRUE(t.tiers[0].quota_low);
  EXPECT_EQ(Plan(t, "claude-opus"), (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(t.plans.at("claude-opus").reason, "claude-opus quota 3% < 10%: starting at tier sonnet");
  // Other models keep their order, with the low tier last.
  EXPECT_EQ(Plan(t, "deepseek-chat"), (std::vector<int32_t>{2, 1, 0}));
  EXPECT_EQ(t.default_plan.tiers, (std::vector<int32_t>{1, 2, 0}));

  // 12%: above the threshold but not recovered.
  EXPECT_TRUE(e.ApplyQuotas("upstream", {{"claude-opus", 0.12}, {"claude-sonnet", 0.5}}, kT0 + 1));
  t = e.Build(kT0 + 1);
  EXPECT_TRUE(t.tiers[0].quota_low);
  EXPECT_EQ(t.plans.at("claude-opus").reason,
            "claude-opus quota 12% has not recovered to 15%: starting at tier sonnet");
  // 15%: recovered.
  e.ApplyQuotas("upstream", {{"claude-opus", 0.15}, {"claude-sonnet", 0.5}}, kT0 + 2);
  t = e.Build(kT0 + 2);
  EXPECT_FALSE(t.tiers[0].quota_low);
  EXPECT_EQ(Plan(t, "claude-opus"), (std::vector<int32_t>{0, 1, 2}));
  // 9.9%: low again, and not before.
  e.ApplyQuotas("upstream", {{"claude-opus", 0.10}, {"claude-sonnet", 0.5}}, kT0 + 3);
  EXPECT_FALSE(e.Build(kT0 + 3).tiers[0].quota_low);
  e.ApplyQuotas("upstream", {{"claude-opus", 0.099}, {"claude-sonnet", 0.5}}, kT0 + 4);
  EXPECT_TRUE(e.Build(kT0 + 4).tiers[0].quota_low);
}

TEST(RouteEngineTest, EveryTierLowStillServesInChainOrderStartingWithItsOwn) {
  // Low quota is a preference, not a ban: when every tier is low, the plan keeps them all.
  auto c = std::make_shared<FallbackConfig>(*ThreeTiers());
  c->providers[1].quota_url = "https://api.deepseek.com/quota";
  RouteEngine e(c);
  e.ApplyQuotas("upstream", {{"claude-opus", 0.01}, {"claude-sonnet", 0.02}}, kT0);
  e.ApplyQuotas("deepseek", {{"deepseek-chat", 0.05}}, kT0);
  RouteTableData t = e.Build(kT0);
  EXPECT_EQ(Plan(t, "claude-sonnet"), (std::vector<int32_t>{1, 0, 2}));
  EXPECT_EQ(t.plans.at("claude-sonnet").reason,
            "claude-sonnet quota 2% < 10%; every available tier is low on quota: starting at tier sonnet");
}

TEST(RouteEngineTest, RecoveryThresholdIsCappedAtOne) {
  // With min 0.98 and margin 0.05 a full quota (1.0) must still count as recovered.
  auto c = std::make_shared<FallbackConfig>(*ThreeTiers());
  c->min_remaining_fraction = 0.98;
  RouteEngine e(c);
  e.ApplyQuotas("upstream", {{"claude-opus", 0.5}}, kT0);
  EXPECT_TRUE(e.Build(kT0).tiers[0].quota_low);
  e.ApplyQuotas("upstream", {{"claude-opus", 1.0}}, kT0);
  EXPECT_FALSE(e.Build(kT0).tiers[0].quota_low);
}

TEST(RouteEngineTest, RateLimitCoolsTheTierAndExpiresByItself) {
  // A 429 takes the tier out of every plan until the cooldown ends; at the end it is back without any
  // new event, and NextExpiry says when.
  RouteEngine e(ThreeTiers());
  ASSERT_TRUE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429), kT0));
  RouteTableData t = e.Build(kT0);
  EXPECT_FALSE(t.tiers[0].available);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, kT0 + 30000);
  EXPECT_EQ(t.tiers[0].cooldown_reason, "429 rate_limited: cooling 30s");
  EXPECT_EQ(t.tiers[0].consecutive_failures, 1);
  EXPECT_EQ(Plan(t, "claude-opus"), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(t.plans.at("claude-opus").reason,
            "tier opus is cooling down (429 rate_limited: cooling 30s): starting at tier sonnet");
  EXPECT_EQ(t.default_plan.tiers, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(e.NextExpiry(kT0), kT0 + 30000);

  EXPECT_FALSE(e.Build(kT0 + 29999).tiers[0].available);
  t = e.Build(kT0 + 30000);
  EXPECT_TRUE(t.tiers[0].available);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, 0);
  EXPECT_EQ(t.tiers[0].consecutive_failures, 1);  // remembered for the next backoff step
  EXPECT_EQ(Plan(t, "claude-opus"), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_FALSE(e.NextExpiry(kT0 + 30000).has_value());
}

TEST(RouteEngineTest, RepeatedFailuresBackOffStepwiseAndRetryAfterWinsIfLonger) {
  // 30 s, 1 min, 5 min, then 5 min again; a longer retry-after replaces the step, a shorter one does not.
  RouteEngine e(ThreeTiers());
  int64_t now = kT0;
  std::vector<int64_t> durations;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(e.ApplyOutcome(Failure("sonnet", OutcomeKind::kOverloaded, 529, 1000), now));
    RouteTableData t = e.Build(now);
    durations.push_back(t.tiers[1].cooldown_until_unix_ms - now);
    EXPECT_EQ(t.tiers[1].consecutive_failures, i + 1);
    now = t.tiers[1].cooldown_until_unix_ms + 1;  // the retry after the cooldown fails again
  }
  EXPECT_EQ(durations, (std::vector<int64_t>{30000, 60000, 300000, 300000, 300000}));
  EXPECT_EQ(e.Build(now - 2).tiers[1].cooldown_reason, "529 overloaded: cooling 5m, retry-after 1s (5th in a row)");

  // retry-after longer than the step wins.
  RouteEngine f(ThreeTiers());
  Outcome o = Failure("opus", OutcomeKind::kRateLimited, 429, 120000);
  o.message = "Too many requests";
  ASSERT_TRUE(f.ApplyOutcome(o, kT0));
  RouteTableData t = f.Build(kT0);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, kT0 + 120000);
  EXPECT_EQ(t.tiers[0].cooldown_reason, "429 rate_limited: cooling 2m, retry-after 2m: Too many requests");
}

TEST(RouteEngineTest, FailuresWhileCoolingDoNotEscalateButHonourRetryAfter) {
  // Requests that were in flight when the cooldown began fail too: they are not repeats.
  RouteEngine e(ThreeTiers());
  ASSERT_TRUE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429), kT0));
  EXPECT_FALSE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429), kT0 + 100));
  EXPECT_FALSE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429, 5000), kT0 + 100));
  RouteTableData t = e.Build(kT0 + 100);
  EXPECT_EQ(t.tiers[0].consecutive_failures, 1);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, kT0 + 30000);
  // A retry-after past the current end extends it.
  EXPECT_TRUE(e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429, 60000), kT0 + 100));
  t = e.Build(kT0 + 100);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, kT0 + 60100);
  EXPECT_EQ(t.tiers[0].consecutive_failures, 1);
}

TEST(RouteEngineTest, SuccessClearsTheCooldownAndTheCount) {
  // OK ends a cooldown at once and the next failure starts the backoff over at 30 s.
  RouteEngine e(ThreeTiers());
  e.ApplyOutcome(Failure("opus", OutcomeKind::kServerError, 500), kT0);
  e.ApplyOutcome(Failure("opus", OutcomeKind::kServerError, 500), kT0 + 31000);
  EXPECT_EQ(e.Build(kT0 + 31000).tiers[0].consecutive_failures, 2);
  EXPECT_TRUE(e.ApplyOutcome(Ok("opus"), kT0 + 32000));
  RouteTableData t = e.Build(kT0 + 32000);
  EXPECT_TRUE(t.tiers[0].available);
  EXPECT_EQ(t.tiers[0].consecutive_failures, 0);
  EXPECT_FALSE(e.ApplyOutcome(Ok("opus"), kT0 + 33000));  // nothing to clear
  e.ApplyOutcome(Failure("opus", OutcomeKind::kTimeout, 0), kT0 + 40000);
  t = e.Build(kT0 + 40000);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, kT0 + 70000);
  EXPECT_EQ(t.tiers[0].cooldown_reason, "timeout: cooling 30s");
}

TEST(RouteEngineTest, CooldownsSayWhetherTheirFailureWasTransient) {
  // Connection failures, timeouts and server errors say nothing about quota: the gateway may still
  // try such a tier when nothing else is left. Rate limits and spent quota are honoured.
  RouteEngine e(ThreeTiers());
  e.ApplyOutcome(Failure("opus", OutcomeKind::kConnectFailed, 0), kT0);
  e.ApplyOutcome(Failure("sonnet", OutcomeKind::kRateLimited, 429), kT0);
  RouteTableData t = e.Build(kT0 + 1);
  EXPECT_TRUE(t.tiers[0].cooldown_transient);
  EXPECT_FALSE(t.tiers[1].cooldown_transient);
  // A rate limit while already cooling for a connection failure: no longer transient.
  e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429, 60000), kT0 + 2);
  t = e.Build(kT0 + 3);
  EXPECT_FALSE(t.tiers[0].cooldown_transient);
  e.ApplyOutcome(Failure("sonnet", OutcomeKind::kServerError, 500), kT0 + 90000);
  t = e.Build(kT0 + 90001);
  EXPECT_TRUE(t.tiers[1].cooldown_transient);
}

TEST(RouteEngineTest, OldFailuresAreForgotten) {
  // A failure long after the previous cooldown ended starts the backoff over.
  RouteEngine e(ThreeTiers());
  e.ApplyOutcome(Failure("opus", OutcomeKind::kConnectFailed, 0), kT0);
  int64_t later = kT0 + 30000 + RouteEngine::kForgetFailuresAfterMs + 1;
  e.ApplyOutcome(Failure("opus", OutcomeKind::kConnectFailed, 0), later);
  RouteTableData t = e.Build(later);
  EXPECT_EQ(t.tiers[0].consecutive_failures, 1);
  EXPECT_EQ(t.tiers[0].cooldown_until_unix_ms, later + 30000);
}

TEST(RouteEngineTest, CooldownIsPerProviderAndModelAndOutcomesResolveWithoutATier) {
  // Tiers sharing (provider, model) cool together; an outcome naming provider+model (no tier) counts;
  // one for a model no tier serves is ignored.
  auto c = std::make_shared<FallbackConfig>(*ThreeTiers());
  c->tiers.push_back(TierConfig{"opus-short", "claude-opus", "upstream", "claude-opus", 4096, {}});
  RouteEngine e(c);
  Outcome o;
  o.model = "claude-opus";  // provider "" = the default upstream
  o.kind = OutcomeKind::kQuotaExhausted;
  o.status = 402;
  EXPECT_TRUE(e.ApplyOutcome(o, kT0));
  RouteTableData t = e.Build(kT0);
  EXPECT_FALSE(t.tiers[0].available);
  EXPECT_FALSE(t.tiers[3].available);
  EXPECT_EQ(Plan(t, "claude-opus"), (std::vector<int32_t>{1, 2}));
  o.model = "gpt-unknown";
  EXPECT_FALSE(e.ApplyOutcome(o, kT0));
  EXPECT_EQ(e.Export().cooldowns.size(), 1u);
}

TEST(RouteEngineTest, BadCredentialCoolsTheWholeProviderUntilReload) {
  // A rejected credential takes every tier of the provider out, for bad_credential_cooldown_ms, and a
  // config reload lifts it.
  auto c = std::make_shared<FallbackConfig>(*ThreeTiers());
  c->tiers.push_back(TierConfig{"deepseek-r", "deepseek-reasoner", "deepseek", "deepseek-reasoner", 0, {}});
  RouteEngine e(c);
  ASSERT_TRUE(e.ApplyOutcome(Failure("deepseek", OutcomeKind::kBadCredential, 401), kT0));
  RouteTableData t = e.Build(kT0);
  EXPECT_FALSE(t.tiers[2].available);
  EXPECT_FALSE(t.tiers[3].available);
  EXPECT_EQ(t.tiers[3].cooldown_until_unix_ms, kT0 + 3600 * 1000);
  EXPECT_EQ(t.tiers[3].cooldown_reason, "401 bad_credential: cooling 1h (until the config is reloaded)");
  EXPECT_EQ(Plan(t, "deepseek-reasoner"), (std::vector<int32_t>{0, 1}));
  EXPECT_TRUE(t.tiers[0].available);

  e.SetConfig(c);
  t = e.Build(kT0 + 1);
  EXPECT_TRUE(t.tiers[2].available);
  EXPECT_TRUE(t.tiers[3].available);
}

TEST(RouteEngineTest, EveryTierCoolingLeavesEmptyPlansThatSaySo) {
  // When nothing is available the plans are empty (the gateway answers 503 with the earliest end).
  RouteEngine e(ThreeTiers());
  for (const char* tier : {"opus", "sonnet", "deepseek"}) {
    e.ApplyOutcome(Failure(tier, OutcomeKind::kOverloaded, 503), kT0);
  }
  RouteTableData t = e.Build(kT0);
  EXPECT_TRUE(Plan(t, "claude-opus").empty());
  EXPECT_EQ(t.plans.at("claude-opus").reason,
            "tier opus is cooling down (503 overloaded: cooling 30s): no tier available, every tier is cooling down");
  EXPECT_TRUE(t.default_plan.tiers.empty());
}

TEST(RouteEngineTest, ReloadDropsStateOfTiersNoLongerInTheConfig) {
  // State for (provider, model)s no tier uses any more is dropped; the rest stays.
  RouteEngine e(ThreeTiers());
  e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429), kT0);
  e.ApplyOutcome(Failure("deepseek", OutcomeKind::kRateLimited, 429), kT0);
  e.ApplyQuotas("upstream", {{"claude-opus", 0.5}, {"claude-sonnet", 0.5}}, kT0);
  auto smaller = std::make_shared<FallbackConfig>(*ThreeTiers());
  smaller->tiers.erase(smaller->tiers.begin());  // opus goes
  e.SetConfig(smaller);
  EngineState s = e.Export();
  ASSERT_EQ(s.cooldowns.size(), 1u);
  EXPECT_EQ(s.cooldowns[0].model, "deepseek-chat");
  ASSERT_EQ(s.quotas.size(), 1u);
  EXPECT_EQ(s.quotas[0].key, "claude-sonnet");
}

TEST(RouteEngineTest, QuotaOfAProviderNoLongerPolledIsForgotten) {
  // A reload that switches polling off drops the provider's quotas: a low flag must not stick forever.
  RouteEngine e(ThreeTiers());
  e.ApplyQuotas("upstream", {{"claude-opus", 0.01}}, kT0);
  ASSERT_TRUE(e.Build(kT0).tiers[0].quota_low);
  auto unpolled = std::make_shared<FallbackConfig>(*ThreeTiers());
  unpolled->providers[0].quota_url.clear();
  e.SetConfig(unpolled);
  RouteTableData t = e.Build(kT0);
  EXPECT_FALSE(t.tiers[0].quota_low);
  EXPECT_DOUBLE_EQ(t.tiers[0].remaining_fraction, -1);
  EXPECT_TRUE(e.Export().quotas.empty());
}

TEST(RouteEngineTest, ExportImportRoundTrip) {
  // Import(Export()) restores the same table (what a restart relies on).
  RouteEngine e(ThreeTiers());
  e.ApplyOutcome(Failure("opus", OutcomeKind::kRateLimited, 429, 45000), kT0);
  e.ApplyQuotas("upstream", {{"claude-sonnet", 0.05}}, kT0);
  RouteEngine f(ThreeTiers());
  f.Import(e.Export());
  EXPECT_TRUE(f.Build(kT0 + 10).SameRoutes(e.Build(kT0 + 10)));
  EXPECT_EQ(f.Export(), e.Export());
}

TEST(RouteEngineTest, HundredTiersBuildFast) {
  // 100 tiers, 100 models, half cooling, a third low: the table is complete and cheap to build.
  auto c = std::make_shared<FallbackConfig>();
  ProviderConfig up;
  up.name = "upstream";
  up.format = "anthropic";
  up.quota_url = "http://u/health";
  c->providers = {up};
  QuotaDocument doc;
  for (int i = 0; i < 100; ++i) {
    std::string model = "model-" + std::to_string(i);
    c->tiers.push_back(TierConfig{"tier-" + std::to_string(i), model, "upstream", model, 0, {}});
    doc[model] = i % 3 == 0 ? 0.01 : 0.9;
  }
  RouteEngine e(c);
  e.ApplyQuotas("upstream", doc, kT0);
  for (int i = 0; i < 100; i += 2)
    e.ApplyOutcome(Failure("tier-" + std::to_string(i), OutcomeKind::kOverloaded, 503), kT0);

  auto start = std::chrono::steady_clock::now();
  RouteTableData t;
  for (int round = 0; round < 10; ++round) t = e.Build(kT0 + 1);
  auto per_build = (std::chrono::steady_clock::now() - start) / 10;
  EXPECT_LT(per_build, std::chrono::milliseconds(20));
  ASSERT_EQ(t.plans.size(), 100u);
  // model-1 (odd: available, has quota) first, then the other available tiers with quota, then low ones.
  const auto& plan = Plan(t, "model-1");
  ASSERT_EQ(plan.size(), 50u);
  EXPECT_EQ(plan[0], 1);
  for (size_t i = 1; i < plan.size(); ++i) {
    bool low_i = t.tiers[plan[i]].quota_low, low_prev = t.tiers[plan[i - 1]].quota_low;
    EXPECT_TRUE(!low_prev || low_i) << "a low tier before one with quota at " << i;
    EXPECT_TRUE(t.tiers[plan[i]].available);
  }
  // model-0 is cooling: its plan starts elsewhere.
  EXPECT_NE(Plan(t, "model-0").front(), 0);
}

TEST(RouteEngineTest, LongMessagesAreCutOnACharacterBoundary) {
  // Reasons quote the upstream's message: shortened, control characters blanked, UTF-8 kept whole.
  RouteEngine e(ThreeTiers());
  Outcome o = Failure("opus", OutcomeKind::kRateLimited, 429);
  o.message = "line1\nline2 " + std::string(200, 'x');
  for (int i = 0; i < 100; ++i) o.message += "\xc3\xa9";  // é
  e.ApplyOutcome(o, kT0);
  std::string reason = e.Build(kT0).tiers[0].cooldown_reason;
  EXPECT_NE(reason.find("line1 line2 xxx"), std::string::npos) << reason;
  EXPECT_TRUE(reason.ends_with("...")) << reason;
  EXPECT_LT(reason.size(), 220u);
  EXPECT_EQ(TruncateUtf8("ab\xc3\xa9", 3), "ab");
  EXPECT_EQ(TruncateUtf8("ab\xc3\xa9", 4), "ab\xc3\xa9");
  EXPECT_EQ(TruncateUtf8("abc", 10), "abc");
}

TEST(RouteEngineTest, FormatDurationIsShortAndExact) {
  // Durations in reasons read like people write them.
  EXPECT_EQ(FormatDuration(250), "250ms");
  EXPECT_EQ(FormatDuration(30000), "30s");
  EXPECT_EQ(FormatDuration(60000), "1m");
  EXPECT_EQ(FormatDuration(90000), "1m30s");
  EXPECT_EQ(FormatDuration(7200000), "2h");
}

}  // namespace
}  // namespace luna::fallbacksvc
