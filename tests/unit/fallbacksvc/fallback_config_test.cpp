// FALLBACK_CONFIG parsing: the old proxy's format as it is, the extended format, and every validation
// error with the field it names.
#include "fallbacksvc/fallback_config.h"

#include <gtest/gtest.h>

#include <map>

#include "common/atomic_file.h"
#include "tests/support/process.h"

namespace luna::fallbacksvc {
namespace {

const std::map<std::string, std::string> kEnv = {{"DEEPSEEK_KEY", "sk-deepseek-from-env"}, {"EMPTY_KEY", ""}};

ConfigContext Context() {
  ConfigContext c;
  c.path = "/etc/luna/fallback.json";
  c.upstream_url = "http://127.0.0.1:8080/";
  c.getenv = [](const std::string& name) -> std::optional<std::string> {
    auto it = kEnv.find(name);
    if (it == kEnv.end()) return std::nullopt;
    return it->second;
  };
  return c;
}

absl::StatusOr<FallbackConfig> Parse(const std::string& text) { return ParseFallbackConfig(text, Context()); }

// The error message of a config that must not parse.
std::string ErrorOf(const std::string& text) {
  auto c = Parse(text);
  EXPECT_FALSE(c.ok()) << text;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

constexpr char kOldConfig[] = R"({
  "enabled": true,
  "health_poll_interval_seconds": 60,
  "min_remaining_fraction": 0.2,
  "tiers": [
    {"name": "opus", "model": "claude-opus-4", "type": "antigravity", "health_key": "claude-opus-4-thinking"},
    {"name": "sonnet", "model": "claude-sonnet-4-5", "type": "upstream", "max_tokens_limit": null},
    {"name": "deepseek", "model": "deepseek-chat", "type": "openai", "base_url": "https://api.deepseek.com/v1/",
     "api_key": "sk-ds", "max_tokens_limit": 8192, "health_key": null},
    {"name": "deepseek-r", "model": "deepseek-reasoner", "type": "openai", "base_url": "https://api.deepseek.com",
     "api_key": "sk-ds"},
    {"name": "other-key", "model": "deepseek-chat", "type": "custom", "base_url": "https://api.deepseek.com",
     "api_key": "sk-other"}
  ]
})";

TEST(FallbackConfigTest, OldFormatLoadsAsItIs) {
  // The old proxy's file: upstream types map to the default upstream, others to one OpenAI provider per
  // distinct (base_url, api_key), named after the host; "/v1" is cut from base URLs.
  auto c = Parse(kOldConfig);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->extended);
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->health_poll_interval_seconds, 60);
  EXPECT_DOUBLE_EQ(c->min_remaining_fraction, 0.2);
  ASSERT_EQ(c->tiers.size(), 5u);
  EXPECT_EQ(c->tiers[0].provider, "upstream");
  EXPECT_EQ(c->tiers[0].health_key, "claude-opus-4-thinking");
  EXPECT_EQ(c->tiers[1].provider, "upstream");
  EXPECT_EQ(c->tiers[1].health_key, "claude-sonnet-4-5");  // defaults to the model
  EXPECT_EQ(c->tiers[1].max_tokens_limit, 0);
  EXPECT_EQ(c->tiers[2].provider, "api.deepseek.com");
  EXPECT_EQ(c->tiers[2].max_tokens_limit, 8192);
  EXPECT_EQ(c->tiers[3].provider, "api.deepseek.com");  // same URL and key: same provider
  EXPECT_EQ(c->tiers[4].provider, "api.deepseek.com-2");

  ASSERT_EQ(c->providers.size(), 3u);
  const ProviderConfig& up = c->providers[0];
  EXPECT_EQ(up.name, "upstream");
  EXPECT_TRUE(up.IsDefaultUpstream());
  EXPECT_EQ(up.format, "anthropic");
  EXPECT_EQ(up.quota_url, "http://127.0.0.1:8080/health");
  const ProviderConfig& ds = c->providers[1];
  EXPECT_EQ(ds.base_url, "https://api.deepseek.com");
  EXPECT_EQ(ds.format, "openai");
  EXPECT_EQ(ds.api_key, "sk-ds");
  EXPECT_EQ(ds.quota_url, "");
  EXPECT_EQ(c->providers[2].api_key, "sk-other");
  EXPECT_TRUE(c->warnings.empty());
}

TEST(FallbackConfigTest, OldFormatDefaultsAndUnknownFieldsAreWarnings) {
  // Missing settings take their defaults; fields the old proxy may have had are warnings, not errors.
  auto c = Parse(R"({"comment": "mine", "tiers": [{"name": "a", "model": "m", "type": "antigravity", "extra": 1}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->health_poll_interval_seconds, 30);
  EXPECT_DOUBLE_EQ(c->min_remaining_fraction, 0.1);
  EXPECT_DOUBLE_EQ(c->quota_recovery_margin, 0.05);
  EXPECT_EQ(c->cooldown_steps_ms, (std::vector<int64_t>{30000, 60000, 300000}));
  ASSERT_EQ(c->warnings.size(), 2u);
  EXPECT_EQ(c->warnings[0], "comment: unknown field, ignored");
  EXPECT_EQ(c->warnings[1], "tiers[0].extra: unknown field, ignored");
}

TEST(FallbackConfigTest, OldFormatTypeMissingMeansUpstreamUnlessABaseUrlIsGiven) {
  // No type: the default upstream, unless the tier names a base_url.
  auto c = Parse(R"({"tiers": [{"name": "a", "model": "m"},
                               {"name": "b", "model": "n", "base_url": "http://10.0.0.5:9000"}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tiers[0].provider, "upstream");
  EXPECT_EQ(c->tiers[1].provider, "10.0.0.5");
  EXPECT_EQ(c->providers[1].base_url, "http://10.0.0.5:9000");
}

constexpr char kExtendedConfig[] = R"({
  "enabled": true,
  "min_remaining_fraction": 0.1,
  "quota_recovery_margin": 0.1,
  "cooldown_steps_seconds": [10, 20.5],
  "bad_credential_cooldown_seconds": 600,
  "providers": [
    {"name": "upstream", "quota_url": "http://127.0.0.1:8080/quota"},
    {"name": "deepseek", "base_url": "https://api.deepseek.com", "format": "openai", "api_key_env": "DEEPSEEK_KEY"},
    {"name": "kimi", "base_url": "https://api.moonshot.ai/anthropic", "format": "anthropic", "api_key": "sk-kimi",
     "auth_style": "bearer", "quota_url": "https://api.moonshot.ai/quota"}
  ],
  "tiers": [
    {"name": "opus", "model": "claude-opus-4", "capabilities": {"context_window": 200000, "tools": true,
                                                                "images": true, "thinking": true}},
    {"name": "kimi", "model": "kimi-k2", "provider": "kimi", "max_tokens_limit": 16384},
    {"name": "deepseek", "model": "deepseek-chat", "provider": "deepseek", "health_key": "ds",
     "capabilities": {"images": false, "thinking": false}}
  ]
})";

TEST(FallbackConfigTest, ExtendedFormatReadsProvidersCapabilitiesAndTuning) {
  // Providers declared once and referenced by name; credentials from the environment; capabilities.
  auto c = Parse(kExtendedConfig);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->extended);
  EXPECT_DOUBLE_EQ(c->quota_recovery_margin, 0.1);
  EXPECT_EQ(c->cooldown_steps_ms, (std::vector<int64_t>{10000, 20500}));
  EXPECT_EQ(c->bad_credential_cooldown_ms, 600000);
  ASSERT_EQ(c->tiers.size(), 3u);
  EXPECT_EQ(c->tiers[0].provider, "upstream");
  EXPECT_EQ(c->tiers[0].capabilities.context_window, 200000);
  EXPECT_EQ(c->tiers[0].capabilities.thinking, true);
  EXPECT_EQ(c->tiers[1].max_tokens_limit, 16384);
  EXPECT_EQ(c->tiers[2].health_key, "ds");
  EXPECT_EQ(c->tiers[2].capabilities.images, false);
  EXPECT_FALSE(c->tiers[2].capabilities.tools.has_value());
  // Providers in order of first use.
  ASSERT_EQ(c->providers.size(), 3u);
  EXPECT_EQ(c->providers[0].name, "upstream");
  EXPECT_EQ(c->providers[0].quota_url, "http://127.0.0.1:8080/quota");
  EXPECT_EQ(c->providers[1].name, "kimi");
  EXPECT_EQ(c->providers[1].format, "anthropic");
  EXPECT_EQ(c->providers[1].auth_style, "bearer");
  EXPECT_EQ(c->providers[1].quota_url, "https://api.moonshot.ai/quota");
  EXPECT_EQ(c->providers[2].api_key, "sk-deepseek-from-env");
  EXPECT_EQ(c->providers[2].api_key_env, "DEEPSEEK_KEY");
  // The inline credential is allowed but discouraged.
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0], "providers[2].api_key: an inline credential; prefer api_key_env");
}

TEST(FallbackConfigTest, ExtendedFormatUpstreamIsImplicitAndUnusedProvidersAreWarned) {
  // A tier without provider is served by the default upstream; a provider no tier uses is left out.
  auto c = Parse(R"({"providers": [{"name": "idle", "base_url": "http://x", "format": "openai"}],
                     "tiers": [{"name": "a", "model": "m"}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->providers.size(), 1u);
  EXPECT_EQ(c->providers[0].name, "upstream");
  EXPECT_EQ(c->providers[0].quota_url, "http://127.0.0.1:8080/health");
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0], "providers[0]: \"idle\" is not used by any tier");
}

TEST(FallbackConfigTest, EmptyQuotaUrlSwitchesPollingOff) {
  // quota_url "" means: no quota endpoint, even for the default upstream.
  auto c = Parse(R"({"providers": [{"name": "upstream", "quota_url": ""}], "tiers": [{"name": "a", "model": "m"}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->providers[0].quota_url, "");
}

TEST(FallbackConfigTest, ErrorsNameTheFileAndTheField) {
  // Each problem is reported as "fallback config <path>: <field>: <problem>", all of them at once.
  std::string e = ErrorOf(R"({"tiers": [{"name": "a", "model": "m"}, {"name": "b"}, {"name": "c", "model": ""}]})");
  EXPECT_EQ(e,
            "fallback config /etc/luna/fallback.json: tiers[1].model: must be a non-empty string; "
            "tiers[2].model: must be a non-empty string");
}

struct BadCase {
  const char* name;
  const char* json;
  const char* expected;  // a substring of the message
};

class FallbackConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(FallbackConfigErrorTest, IsRefusedNamingTheField) {
  // Every validation rule: the config is refused and the message names the field and the problem.
  std::string e = ErrorOf(GetParam().json);
  EXPECT_NE(e.find(GetParam().expected), std::string::npos) << e;
  EXPECT_EQ(e.rfind("fallback config /etc/luna/fallback.json: ", 0), 0u) << e;
}

INSTANTIATE_TEST_SUITE_P(
    AllRules, FallbackConfigErrorTest,
    ::testing::Values(
        BadCase{"NotJson", R"({"tiers": [)", "not valid JSON"},
        BadCase{"NotAnObject", R"([1, 2])", "must be a JSON object"},
        BadCase{"EnabledNotBool", R"({"enabled": "yes"})", "enabled: must be true or false"},
        BadCase{"IntervalZero", R"({"health_poll_interval_seconds": 0})",
                "health_poll_interval_seconds: must be between 1 and 86400, got 0"},
        BadCase{"IntervalFraction", R"({"health_poll_interval_seconds": 1.5})",
                "health_poll_interval_seconds: must be an integer"},
        BadCase{"FractionTooBig", R"({"min_remaining_fraction": 10})",
                "min_remaining_fraction: must be between 0 and 1, got 10"},
        BadCase{"FractionNotNumber", R"({"min_remaining_fraction": "10%"})",
                "min_remaining_fraction: must be a number"},
        BadCase{"MarginNegative", R"({"quota_recovery_margin": -0.1})", "quota_recovery_margin: must be between"},
        BadCase{"StepsEmpty", R"({"cooldown_steps_seconds": []})",
                "cooldown_steps_seconds: must be a non-empty array of seconds"},
        BadCase{"StepNegative", R"({"cooldown_steps_seconds": [30, -1]})",
                "cooldown_steps_seconds[1]: must be a number of seconds in (0, 86400]"},
        BadCase{"BadCredentialCooldownZero", R"({"bad_credential_cooldown_seconds": 0})",
                "bad_credential_cooldown_seconds: must be between"},
        BadCase{"TiersNotArray", R"({"tiers": {}})", "tiers: must be an array"},
        BadCase{"TierNotObject", R"({"tiers": ["opus"]})", "tiers[0]: must be an object"},
        BadCase{"TierNameMissing", R"({"tiers": [{"model": "m"}]})", "tiers[0].name: must be a non-empty string"},
        BadCase{"TierModelNotString", R"({"tiers": [{"name": "a", "model": 5}]})",
                "tiers[0].model: must be a non-empty string"},
        BadCase{"DuplicateTierName", R"({"tiers": [{"name": "a", "model": "m"}, {"name": "a", "model": "n"}]})",
                "tiers[1].name: \"a\" is already the name of tiers[0]"},
        BadCase{"HealthKeyNotString", R"({"tiers": [{"name": "a", "model": "m", "health_key": 1}]})",
                "tiers[0].health_key: must be a string"},
        BadCase{"MaxTokensNegative", R"({"tiers": [{"name": "a", "model": "m", "max_tokens_limit": -5}]})",
                "tiers[0].max_tokens_limit: must be between 0 and"},
        BadCase{"MaxTokensNotInteger", R"({"tiers": [{"name": "a", "model": "m", "max_tokens_limit": "8k"}]})",
                "tiers[0].max_tokens_limit: must be an integer"},
        BadCase{"ExternalWithoutBaseUrl", R"({"tiers": [{"name": "a", "model": "m", "type": "openai"}]})",
                "tiers[0].base_url: must be a non-empty string (type \"openai\" is an external OpenAI-format "
                "provider)"},
        BadCase{"ExternalBadUrl",
                R"({"tiers": [{"name": "a", "model": "m", "type": "openai", "base_url": "ftp://x"}]})",
                "tiers[0].base_url: not an http:// or https:// URL"},
        BadCase{"ExternalBadPort",
                R"({"tiers": [{"name": "a", "model": "m", "type": "openai", "base_url": "http://x:99999"}]})",
                "tiers[0].base_url: bad port"},
        BadCase{"ProvidersNotArray", R"({"providers": {}, "tiers": []})", "providers: must be an array"},
        BadCase{"ProviderNameMissing", R"({"providers": [{"base_url": "http://x", "format": "openai"}]})",
                "providers[0].name: must be a non-empty string"},
        BadCase{"ProviderNameBad", R"({"providers": [{"name": "a b", "base_url": "http://x", "format": "openai"}]})",
                "providers[0].name: \"a b\": use letters, digits"},
        BadCase{"ProviderDuplicate",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai"},
                                  {"name": "p", "base_url": "http://y", "format": "openai"}]})",
                "providers[1].name: \"p\" is already providers[0]"},
        BadCase{"ProviderBaseUrlMissing", R"({"providers": [{"name": "p", "format": "openai"}]})",
                "providers[0].base_url: must be a non-empty string"},
        BadCase{"ProviderFormatBad", R"({"providers": [{"name": "p", "base_url": "http://x", "format": "gemini"}]})",
                "providers[0].format: must be \"anthropic\" or \"openai\""},
        BadCase{"ProviderEnvMissing",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai", "api_key_env": "NOPE"}]})",
                "providers[0].api_key_env: environment variable NOPE is not set"},
        BadCase{"ProviderEnvEmpty",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai",
                                   "api_key_env": "EMPTY_KEY"}]})",
                "providers[0].api_key_env: environment variable EMPTY_KEY is not set"},
        BadCase{"ProviderBothKeys",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai", "api_key": "k",
                                   "api_key_env": "DEEPSEEK_KEY"}]})",
                "providers[0]: give api_key_env or api_key, not both"},
        BadCase{"ProviderAuthStyleBad",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai", "auth_style": "basic"}]})",
                "providers[0].auth_style: must be \"x-api-key\" or \"bearer\""},
        BadCase{"ProviderQuotaUrlBad",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai", "quota_url": "x"}]})",
                "providers[0].quota_url: not an http:// or https:// URL"},
        BadCase{"UpstreamWithBaseUrl", R"({"providers": [{"name": "upstream", "base_url": "http://x"}]})",
                "providers[0].base_url: must be absent"},
        BadCase{"UpstreamNotAnthropic", R"({"providers": [{"name": "upstream", "format": "openai"}]})",
                "providers[0].format: the default upstream speaks \"anthropic\""},
        BadCase{"ProviderUnknownField",
                R"({"providers": [{"name": "p", "base_url": "http://x", "format": "openai", "region": "eu"}]})",
                "providers[0].region: unknown field"},
        BadCase{"ExtendedTopLevelUnknownField", R"({"providers": [], "tier": []})", "tier: unknown field"},
        BadCase{"ExtendedTierUnknownField", R"({"providers": [], "tiers": [{"name": "a", "model": "m",
                                                                          "type": "openai"}]})",
                "tiers[0].type: unknown field"},
        BadCase{"ExtendedTierProviderMissing", R"({"providers": [], "tiers": [{"name": "a", "model": "m",
                                                                             "provider": "ghost"}]})",
                "tiers[0].provider: \"ghost\" is not in providers[]"},
        BadCase{"CapabilitiesNotObject", R"({"providers": [], "tiers": [{"name": "a", "model": "m",
                                                                       "capabilities": true}]})",
                "tiers[0].capabilities: must be an object"},
        BadCase{"CapabilityWindowZero", R"({"providers": [], "tiers": [{"name": "a", "model": "m",
                                                                      "capabilities": {"context_window": 0}}]})",
                "tiers[0].capabilities.context_window: must be between 1 and"},
        BadCase{"CapabilityNotBool", R"({"providers": [], "tiers": [{"name": "a", "model": "m",
                                                                   "capabilities": {"tools": "yes"}}]})",
                "tiers[0].capabilities.tools: must be true or false"},
        BadCase{"CapabilityUnknown", R"({"providers": [], "tiers": [{"name": "a", "model": "m",
                                                                   "capabilities": {"audio": true}}]})",
                "tiers[0].capabilities.audio: unknown field"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(FallbackConfigTest, MissingFileDisablesFallback) {
  // The old proxy ran without a fallback.json: so does fallbacksvc, with fallback off and a warning.
  luna::testing::TempDir dir;
  ConfigContext c = Context();
  c.path = dir.File("absent.json");
  auto config = LoadFallbackConfig(c);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->enabled);
  EXPECT_TRUE(config->tiers.empty());
  ASSERT_EQ(config->warnings.size(), 1u);
  EXPECT_NE(config->warnings[0].find("does not exist"), std::string::npos);
}

TEST(FallbackConfigTest, LoadReadsTheFile) {
  // LoadFallbackConfig reads the named file and parses it with the same rules.
  luna::testing::TempDir dir;
  ConfigContext c = Context();
  c.path = dir.File("fallback.json");
  ASSERT_TRUE(WriteFileAtomically(c.path, kOldConfig).ok());
  auto config = LoadFallbackConfig(c);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tiers.size(), 5u);
}

}  // namespace
}  // namespace luna::fallbacksvc
