// Route choice on the request path: which targets a request tries, how answers are judged, and the
// compiled route table.
#include "gateway/route/route_plan.h"

#include <gtest/gtest.h>

#include "gateway/clients/grpc_fallback_client.h"

namespace luna::gateway {
namespace {

namespace fbpb = luna::fallback::v1;

UpstreamTarget Default() {
  UpstreamTarget t;
  t.url = *ParseUrl("http://upstream.test:8080");
  t.api_key = "sk-default";
  return t;
}

// opus, sonnet (default upstream), gpt (an OpenAI provider); plans as fallbacksvc makes them.
fbpb::RouteTable Table() {
  fbpb::RouteTable t;
  t.set_version(7);
  t.set_enabled(true);
  auto* up = t.add_providers();
  up->set_name("upstream");
  up->set_format("anthropic");
  auto* ext = t.add_providers();
  ext->set_name("ext");
  ext->set_base_url("https://api.ext.test/openai");
  ext->set_format("openai");
  ext->set_api_key("sk-ext");
  for (auto [name, model, provider] : {std::tuple{"opus", "claude-opus", "upstream"},
                                       std::tuple{"sonnet", "claude-sonnet", "upstream"},
                                       std::tuple{"gpt", "gpt-x", "ext"}}) {
    auto* tier = t.add_tiers();
    tier->set_name(name);
    tier->set_model(model);
    tier->set_provider(provider);
    tier->set_available(true);
    tier->set_remaining_fraction(-1);
  }
  t.mutable_tiers(2)->set_max_tokens_limit(4096);
  t.mutable_tiers(2)->mutable_capabilities()->set_images(false);
  auto plan = [&](const char* model, std::vector<int> tiers, const char* reason) {
    fbpb::RoutePlan p;
    for (int i : tiers) p.add_tiers(i);
    p.set_reason(reason);
    (*t.mutable_plans())[model] = p;
  };
  plan("claude-opus", {0, 1, 2}, "tier opus has quota");
  plan("claude-sonnet", {1, 0, 2}, "tier sonnet has quota");
  plan("gpt-x", {2, 0, 1}, "");
  for (int i : {0, 1, 2}) t.mutable_default_plan()->add_tiers(i);
  return t;
}

std::vector<std::string> Names(const RoutePlan& p) {
  std::vector<std::string> out;
  for (const auto* t : p.targets) out.push_back(t->tier.empty() ? "default:" + t->model : t->tier);
  return out;
}

TEST(CompileRoutesTest, ProvidersBecomeTargets) {
  std::vector<std::string> warnings;
  auto r = CompileRoutes(Table(), Default(), &warnings);
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(r->tiers.size(), 3u);
  EXPECT_EQ(r->version, 7u);
  // The default upstream's tiers take the gateway's own URL and credential.
  EXPECT_EQ(r->tiers[0].target.url.host, "upstream.test");
  EXPECT_EQ(r->tiers[0].target.api_key, "sk-default");
  EXPECT_EQ(r->tiers[0].target.model, "claude-opus");
  const auto& gpt = r->tiers[2].target;
  EXPECT_EQ(gpt.url.host, "api.ext.test");
  EXPECT_TRUE(gpt.url.tls);
  EXPECT_EQ(gpt.url.base_path, "/openai");
  EXPECT_EQ(gpt.format, WireFormat::kOpenAI);
  EXPECT_EQ(gpt.api_key, "sk-ext");
  EXPECT_EQ(gpt.max_tokens_limit, 4096);
  EXPECT_FALSE(r->tiers[2].caps.images);
  EXPECT_TRUE(r->any_caps);
}

TEST(CompileRoutesTest, BadTiersAreLeftOutAndPlansReindexed) {
  auto t = Table();
  t.mutable_tiers(0)->set_provider("nowhere");
  std::vector<std::string> warnings;
  auto r = CompileRoutes(t, Default(), &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("nowhere"), std::string::npos);
  ASSERT_EQ(r->tiers.size(), 2u);
  // claude-opus's plan {0,1,2} loses tier 0; the others shift down.
  EXPECT_EQ(r->plans.at("claude-opus").tiers, (std::vector<int>{0, 1}));
  EXPECT_EQ(r->tiers[0].target.tier, "sonnet");
}

TEST(PlanRouteTest, NoTableOrDisabledMeansTheDefaultUpstreamAsAsked) {
  auto def = Default();
  EXPECT_EQ(Names(PlanRoute(nullptr, def, "claude-opus", nullptr, 0)), (std::vector<std::string>{"default:"}));
  std::vector<std::string> w;
  auto t = Table();
  t.set_enabled(false);
  auto r = CompileRoutes(t, def, &w);
  EXPECT_EQ(PlanRoute(r.get(), def, "claude-opus", nullptr, 0).targets.size(), 1u);
}

TEST(PlanRouteTest, ChainModelFollowsItsPlan) {
  auto def = Default();
  std::vector<std::string> w;
  auto r = CompileRoutes(Table(), def, &w);
  auto p = PlanRoute(r.get(), def, "claude-sonnet", nullptr, 0);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"sonnet", "opus", "gpt"}));
  EXPECT_EQ(p.reason, "") << "starting at the model asked for is no news";
}

TEST(PlanRouteTest, OtherModelsTryTheDefaultUpstreamFirstThenTheChain) {
  auto def = Default();
  std::vector<std::string> w;
  auto r = CompileRoutes(Table(), def, &w);
  EXPECT_EQ(Names(PlanRoute(r.get(), def, "claude-haiku", nullptr, 0)),
            (std::vector<std::string>{"default:", "opus", "sonnet", "gpt"}));
  // Never the same provider and model twice: asking for "claude-opus" by another route is deduplicated.
  auto t = Table();
  t.mutable_plans()->erase("claude-opus");
  r = CompileRoutes(t, def, &w);
  EXPECT_EQ(Names(PlanRoute(r.get(), def, "claude-opus", nullptr, 0)),
            (std::vector<std::string>{"default:", "sonnet", "gpt"}));
}

TEST(PlanRouteTest, CoolingTiersAreSkippedUntilTheirCooldownEnds) {
  auto def = Default();
  auto t = Table();
  t.mutable_tiers(0)->set_available(false);
  t.mutable_tiers(0)->set_cooldown_until_unix_ms(10'000);
  t.mutable_tiers(0)->set_cooldown_reason("429 rate_limited");
  (*t.mutable_plans())["claude-opus"].clear_tiers();
  (*t.mutable_plans())["claude-opus"].add_tiers(1);
  (*t.mutable_plans())["claude-opus"].add_tiers(2);
  (*t.mutable_plans())["claude-opus"].set_reason("opus cooling down: starting at sonnet");
  std::vector<std::string> w;
  auto r = CompileRoutes(t, def, &w);
  auto p = PlanRoute(r.get(), def, "claude-opus", nullptr, 5'000);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"sonnet", "gpt"}));
  EXPECT_EQ(p.reason, "opus cooling down: starting at sonnet");
  EXPECT_EQ(p.earliest_back_unix_ms, 10'000);
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_NE(p.skipped[0].find("429"), std::string::npos);
  // The table is stale (fallbacksvc unreachable) and the cooldown is over: tried again, last.
  p = PlanRoute(r.get(), def, "claude-opus", nullptr, 20'000);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"sonnet", "gpt", "opus"}));
  EXPECT_EQ(p.earliest_back_unix_ms, 0);
}

// Every tier cooling down: those cooled by a transient failure (the upstream was unreachable) are
// tried anyway, in chain order; those cooled by a rate limit are still skipped with their cooldown.
TEST(PlanRouteTest, WhenEveryTierCoolsDownTransientOnesAreTriedAnyway) {
  auto def = Default();
  auto t = Table();
  for (int i : {0, 1, 2}) {
    t.mutable_tiers(i)->set_available(false);
    t.mutable_tiers(i)->set_cooldown_until_unix_ms(40'000 + i);
  }
  t.mutable_tiers(0)->set_cooldown_reason("connect_failed: cooling 30s");
  t.mutable_tiers(0)->set_cooldown_transient(true);
  t.mutable_tiers(1)->set_cooldown_reason("429 rate_limited: cooling 30s");
  t.mutable_tiers(2)->set_cooldown_reason("200 server_error: cooling 30s");
  t.mutable_tiers(2)->set_cooldown_transient(true);
  (*t.mutable_plans())["claude-opus"].clear_tiers();
  (*t.mutable_plans())["claude-opus"].set_reason("no tier available, every tier is cooling down");
  std::vector<std::string> w;
  auto r = CompileRoutes(t, def, &w);
  auto p = PlanRoute(r.get(), def, "claude-opus", nullptr, 5'000);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"opus", "gpt"}));
  EXPECT_EQ(p.reason, "");  // it starts at the model asked for: nothing to tell
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_NE(p.skipped[0].find("sonnet: cooling down (429"), std::string::npos) << p.skipped[0];
  EXPECT_EQ(p.earliest_back_unix_ms, 40'001);
  // Asked for sonnet (rate-limited): the others are tried, and the answer will say why.
  (*t.mutable_plans())["claude-sonnet"].clear_tiers();
  r = CompileRoutes(t, def, &w);
  p = PlanRoute(r.get(), def, "claude-sonnet", nullptr, 5'000);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"opus", "gpt"}));
  EXPECT_NE(p.reason.find("every tier is cooling down"), std::string::npos) << p.reason;

  // With no transient cooldown there is nothing to try: the request is refused at once.
  t.mutable_tiers(0)->set_cooldown_transient(false);
  t.mutable_tiers(2)->set_cooldown_transient(false);
  r = CompileRoutes(t, def, &w);
  p = PlanRoute(r.get(), def, "claude-opus", nullptr, 5'000);
  EXPECT_TRUE(p.targets.empty());
  EXPECT_EQ(p.skipped.size(), 3u);
  EXPECT_EQ(p.earliest_back_unix_ms, 40'000);

  // A tier still available elsewhere in the plan: the transient ones keep cooling.
  t.mutable_tiers(0)->set_cooldown_transient(true);
  t.mutable_tiers(1)->set_available(true);
  t.mutable_tiers(1)->set_cooldown_until_unix_ms(0);
  (*t.mutable_plans())["claude-opus"].add_tiers(1);
  r = CompileRoutes(t, def, &w);
  p = PlanRoute(r.get(), def, "claude-opus", nullptr, 5'000);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"sonnet"}));
  EXPECT_EQ(p.skipped.size(), 2u);
}

TEST(PlanRouteTest, FallbacksThatCannotTakeTheRequestAreLeftOut) {
  auto def = Default();
  std::vector<std::string> w;
  auto r = CompileRoutes(Table(), def, &w);
  RequestNeeds needs;
  needs.images = true;
  auto p = PlanRoute(r.get(), def, "claude-opus", &needs, 0);
  EXPECT_EQ(Names(p), (std::vector<std::string>{"opus", "sonnet"}));
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_NE(p.skipped[0].find("images"), std::string::npos);
  // Asked for by name, a tier is tried whatever its capabilities say.
  p = PlanRoute(r.get(), def, "gpt-x", &needs, 0);
  EXPECT_EQ(Names(p)[0], "gpt");
}

TEST(PlanRouteTest, HundredTiersStillOnePassEach) {
  fbpb::RouteTable t;
  t.set_enabled(true);
  t.add_providers()->set_name("upstream");
  for (int i = 0; i < 100; ++i) {
    auto* tier = t.add_tiers();
    tier->set_name("t" + std::to_string(i));
    tier->set_model("m" + std::to_string(i));
    tier->set_provider("upstream");
    tier->set_available(true);
    t.mutable_default_plan()->add_tiers(i);
  }
  auto def = Default();
  std::vector<std::string> w;
  auto r = CompileRoutes(t, def, &w);
  auto p = PlanRoute(r.get(), def, "unknown", nullptr, 0);
  EXPECT_EQ(p.targets.size(), 101u);
}

// Never the same provider+model twice, however the repeat arises: two tiers naming the same model at
// the same provider, or a model outside the plans that is also a tier (the default upstream as asked,
// then that tier again).
TEST(PlanRouteTest, RepeatedTargetsAreTriedOnce) {
  fbpb::RouteTable t;
  t.set_enabled(true);
  t.add_providers()->set_name("upstream");
  for (auto [name, model] : {std::pair{"a", "m-a"}, std::pair{"b", "m-b"}, std::pair{"a2", "m-a"},
                             std::pair{"c", "m-c"}}) {
    auto* tier = t.add_tiers();
    tier->set_name(name);
    tier->set_model(model);
    tier->set_provider("upstream");
    tier->set_available(true);
  }
  for (int i : {0, 1, 2, 3}) t.mutable_default_plan()->add_tiers(i);
  fbpb::RoutePlan p;
  for (int i : {0, 1, 2, 3}) p.add_tiers(i);
  (*t.mutable_plans())["m-a"] = p;
  auto def = Default();
  def.provider = "upstream";
  std::vector<std::string> w;
  auto r = CompileRoutes(t, def, &w);
  EXPECT_EQ(Names(PlanRoute(r.get(), def, "m-a", nullptr, 0)), (std::vector<std::string>{"a", "b", "c"}));
  // "m-b" has no plan: the default upstream as asked (which is tier b's target), then the default plan.
  EXPECT_EQ(Names(PlanRoute(r.get(), def, "m-b", nullptr, 0)), (std::vector<std::string>{"default:", "a", "c"}));
}

void ExpectSamePlan(const RoutePlan& a, const RoutePlan& b, const std::string& where) {
  EXPECT_EQ(a.targets, b.targets) << where;
  EXPECT_EQ(a.reason, b.reason) << where;
  EXPECT_EQ(a.skipped, b.skipped) << where;
  EXPECT_EQ(a.earliest_back_unix_ms, b.earliest_back_unix_ms) << where;
}

// The plan compiled when the table arrives is what PlanRoute computes, at every time and for every
// request: with tiers cooling down (before and after their cooldowns end), with capabilities that
// leave tiers out, and for models without a plan. Whether the compiled plan was used is told apart
// by where the answer lives.
TEST(ChooseRouteTest, CompiledPlansAgreeWithPlanRoute) {
  auto def = Default();
  std::vector<fbpb::RouteTable> tables;
  tables.push_back(Table());
  auto no_caps = Table();
  no_caps.mutable_tiers(2)->clear_capabilities();
  tables.push_back(no_caps);
  auto cooling = no_caps;
  cooling.mutable_tiers(0)->set_available(false);
  cooling.mutable_tiers(0)->set_cooldown_until_unix_ms(10'000);
  cooling.mutable_tiers(0)->set_cooldown_reason("429 rate_limited");
  (*cooling.mutable_plans())["claude-opus"].clear_tiers();
  (*cooling.mutable_plans())["claude-opus"].add_tiers(1);
  (*cooling.mutable_plans())["claude-sonnet"].clear_tiers();
  (*cooling.mutable_plans())["claude-sonnet"].add_tiers(1);
  (*cooling.mutable_plans())["claude-sonnet"].add_tiers(2);
  tables.push_back(cooling);
  auto all_cooling = cooling;
  for (int i : {1, 2}) {
    all_cooling.mutable_tiers(i)->set_available(false);
    all_cooling.mutable_tiers(i)->set_cooldown_until_unix_ms(20'000 + i);
    all_cooling.mutable_tiers(i)->set_cooldown_transient(true);
  }
  for (auto& [model, plan] : *all_cooling.mutable_plans()) plan.clear_tiers();
  tables.push_back(all_cooling);

  RequestNeeds images_needed;
  images_needed.images = true;
  const RequestNeeds* images = &images_needed;
  int compiled_used = 0;
  for (size_t ti = 0; ti < tables.size(); ++ti) {
    std::vector<std::string> w;
    auto r = CompileRoutes(tables[ti], def, &w);
    for (const char* model : {"claude-opus", "claude-sonnet", "gpt-x", "other"}) {
      for (int64_t now : {int64_t{0}, int64_t{9'999}, int64_t{10'000}, int64_t{20'001}, int64_t{99'000}}) {
        for (const RequestNeeds* needs : {static_cast<const RequestNeeds*>(nullptr), images}) {
          std::string where = "table " + std::to_string(ti) + ", " + model + " at " + std::to_string(now) +
                              (needs ? " with images" : "");
          RoutePlan scratch;
          bool asked = false;
          const RoutePlan* chosen = ChooseRoute(
              r.get(), def, model,
              [&] {
                asked = true;
                return needs ? *needs : RequestNeeds{};
              },
              now, &scratch);
          RoutePlan expected = PlanRoute(r.get(), def, model, r->any_caps ? needs : nullptr, now);
          if (!r->any_caps) {
            EXPECT_FALSE(asked) << where;
          }
          ExpectSamePlan(*chosen, expected, where);
          if (chosen != &scratch) {
            ++compiled_used;
            EXPECT_FALSE(asked) << where << ": a compiled plan does not read the request";
          }
        }
      }
    }
  }
  // The compiled plans were used wherever they hold (no capabilities in play, no cooldown over).
  EXPECT_GE(compiled_used, 20);
}

// A table without a fallback chain, or disabled: the default upstream, as PlanRoute says.
TEST(ChooseRouteTest, NoTableMeansTheDefaultUpstream) {
  auto def = Default();
  RoutePlan scratch;
  const RoutePlan* p = ChooseRoute(nullptr, def, "claude-opus", [] { return RequestNeeds{}; }, 0, &scratch);
  ASSERT_EQ(p->targets.size(), 1u);
  EXPECT_EQ(p->targets[0], &def);
}

TEST(RequestNeedsTest, ReadsToolsImagesThinkingAndSize) {
  auto n = ReadRequestNeeds(WireFormat::kAnthropic,
                            R"({"model":"m","tools":[{"name":"x"}],"thinking":{"type":"enabled","budget_tokens":1024},
                                "messages":[{"role":"user","content":[{"type":"image","source":{}}]}]})");
  EXPECT_TRUE(n.tools);
  EXPECT_TRUE(n.images);
  EXPECT_TRUE(n.thinking);
  EXPECT_GT(n.estimated_input_tokens, 10);
  n = ReadRequestNeeds(WireFormat::kAnthropic,
                       R"({"model":"m","tools":[],"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"say \"image\""}]})");
  EXPECT_FALSE(n.tools);
  EXPECT_FALSE(n.images) << "an escaped quote inside text is not an image part";
  EXPECT_FALSE(n.thinking);
  n = ReadRequestNeeds(WireFormat::kOpenAI,
                       R"({"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  EXPECT_TRUE(n.images);
  EXPECT_TRUE(n.thinking);
}

TEST(ClassifyAnswerTest, StatusesAndBodies) {
  EXPECT_EQ(ClassifyAnswer(200, ""), AttemptKind::kOk);
  EXPECT_EQ(ClassifyAnswer(429, R"({"error":{"message":"slow down"}})"), AttemptKind::kRateLimited);
  EXPECT_EQ(ClassifyAnswer(429, R"({"error":{"type":"insufficient_quota"}})"), AttemptKind::kQuotaExhausted);
  EXPECT_EQ(ClassifyAnswer(402, ""), AttemptKind::kQuotaExhausted);
  EXPECT_EQ(ClassifyAnswer(400, R"({"error":{"message":"Your credit balance is too low"}})"),
            AttemptKind::kQuotaExhausted);
  EXPECT_EQ(ClassifyAnswer(400, R"({"error":{"message":"messages: field required"}})"), AttemptKind::kOk)
      << "the request's own fault: no failover, no cooldown";
  EXPECT_EQ(ClassifyAnswer(403, R"({"error":{"message":"Rate limit reached"}})"), AttemptKind::kRateLimited);
  EXPECT_EQ(ClassifyAnswer(403, R"({"error":{"message":"forbidden"}})"), AttemptKind::kBadCredential);
  EXPECT_EQ(ClassifyAnswer(401, ""), AttemptKind::kBadCredential);
  EXPECT_EQ(ClassifyAnswer(503, ""), AttemptKind::kOverloaded);
  EXPECT_EQ(ClassifyAnswer(529, ""), AttemptKind::kOverloaded);
  EXPECT_EQ(ClassifyAnswer(500, ""), AttemptKind::kServerError);
  EXPECT_EQ(ClassifyAnswer(404, ""), AttemptKind::kOk);
  EXPECT_FALSE(ShouldFailOver(AttemptKind::kOk));
  EXPECT_TRUE(ShouldFailOver(AttemptKind::kTimeout));
}

TEST(RetryAfterTest, SecondsMillisecondsAndDates) {
  EXPECT_EQ(RetryAfterMs({{"retry-after", "30"}}, 0), 30000);
  EXPECT_EQ(RetryAfterMs({{"retry-after", "1.5"}}, 0), 1500);
  EXPECT_EQ(RetryAfterMs({{"retry-after", "30"}, {"retry-after-ms", "250"}}, 0), 250);
  // Thu, 01 Jan 1970 00:01:40 GMT = 100 s after the epoch.
  EXPECT_EQ(RetryAfterMs({{"retry-after", "Thu, 01 Jan 1970 00:01:40 GMT"}}, 40'000), 60'000);
  EXPECT_EQ(RetryAfterMs({{"retry-after", "soon"}}, 0), 0);
  EXPECT_EQ(RetryAfterMs({}, 0), 0);
}

}  // namespace
}  // namespace luna::gateway
