// The gateway's per-request table work, at the sizes operators reach: a key lookup (hash the presented
// key, find it in the table authsvc streams) with 10 to 1,000,000 keys, and route choice with a chain of
// 3 and of 100 tiers (the plan compiled for the model, as requests use it, and one computed afresh).
// Each family's smallest size is its baseline; the ratios are printed at the end.
//
//   build-bench/bench/gateway_tables_bench
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "gateway/clients/grpc_fallback_client.h"
#include "gateway/clients/key_table.h"
#include "gateway/route/route_plan.h"

namespace luna::gateway {
namespace {

namespace fbpb = luna::fallback::v1;

std::map<std::string, double>& Results() {
  static std::map<std::string, double> r;
  return r;
}

// (Appended piece by piece: GCC 12 at -O3 warns falsely, -Wrestrict, on "literal" + std::to_string.)
std::string Cat(std::string_view a, int64_t i, std::string_view b = "") {
  std::string s(a);
  s += std::to_string(i);
  s += b;
  return s;
}

std::map<int64_t, std::pair<double, double>>& KeyStats() {  // keys -> bytes per key, load ms
  static std::map<int64_t, std::pair<double, double>> s;
  return s;
}

// Bytes malloc has handed out, including the blocks it mmaps on their own (a large table's slots).
size_t HeapBytes() {
  auto m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

std::string KeyText(int64_t i) { return Cat("sk-bench-", i, "-0123456789abcdef"); }

struct KeyFixture {
  KeyTable table;
  double load_ms = 0;
  double bytes_per_key = 0;
};

// One table per size, built once (1,000,000 keys take a while): how long ReplaceAll (a WatchKeys
// snapshot) takes and what each key costs in memory are measured here too.
KeyFixture& Keys(int64_t n) {
  static std::map<int64_t, std::unique_ptr<KeyFixture>> cache;
  auto& f = cache[n];
  if (f) return *f;
  f = std::make_unique<KeyFixture>();
  // The hashes arrive in the WatchKeys snapshot; building the table from them is the load.
  std::vector<Sha256Digest> digests;
  digests.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) digests.push_back(Sha256(KeyText(i)));
  size_t before = HeapBytes();
  auto t0 = std::chrono::steady_clock::now();
  KeyTable::Snapshot entries;
  entries.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    entries.emplace_back(digests[static_cast<size_t>(i)], KeyEntry{Cat("key_", i), Cat("agent-", i), true});
  }
  f->table.ReplaceAll(std::move(entries));
  f->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  f->bytes_per_key = static_cast<double>(HeapBytes() - before) / static_cast<double>(n);
  return *f;
}

// What the request path does per request: hash the key the client sent, then find it.
void BM_KeyLookup(benchmark::State& state) {
  const int64_t n = state.range(0);
  KeyFixture& f = Keys(n);
  int64_t i = 0;
  for (auto _ : state) {
    auto hit = f.table.Find(Sha256(KeyText(i)));
    benchmark::DoNotOptimize(hit);
    i = (i * 7919 + 13) % n;
  }
  KeyStats()[n] = {f.bytes_per_key, f.load_ms};
}
BENCHMARK(BM_KeyLookup)->Arg(10)->Arg(1000)->Arg(100000)->Arg(1000000);

// 1,000,000 keys in the table, requests from 1,000 of them: an agent sends all its requests with one
// key, so the keys in use at any time are few, however many exist.
void BM_KeyLookupHotSet(benchmark::State& state) {
  const int64_t n = 1000000;
  const int64_t active = state.range(0);
  KeyFixture& f = Keys(n);
  int64_t i = 0;
  for (auto _ : state) {
    auto hit = f.table.Find(Sha256(KeyText(i * (n / active))));
    benchmark::DoNotOptimize(hit);
    i = (i * 7919 + 13) % active;
  }
}
BENCHMARK(BM_KeyLookupHotSet)->Arg(1000);

// The machine's floor: one read at a random place of a 256 MB array (each depends on the one before,
// as a table's probes do). At 10 keys a lookup's reads hit the CPU's cache; at 1,000,000 random keys
// each is one of these.
void BM_RandomMemoryRead(benchmark::State& state) {
  static std::vector<uint64_t> mem = [] {
    std::vector<uint64_t> v(size_t{32} << 20);
    for (size_t i = 0; i < v.size(); ++i) v[i] = (i * 2654435761u + 12345) % v.size();
    return v;
  }();
  uint64_t at = 1;
  for (auto _ : state) {
    at = mem[at];
    benchmark::DoNotOptimize(at);
  }
}
BENCHMARK(BM_RandomMemoryRead);

std::shared_ptr<const CompiledRoutes> Chain(int tiers, UpstreamTarget* def) {
  def->url = *ParseUrl("http://upstream.test:8080");
  fbpb::RouteTable t;
  t.set_enabled(true);
  t.add_providers()->set_name("upstream");
  for (int i = 0; i < tiers; ++i) {
    auto* tier = t.add_tiers();
    tier->set_name(Cat("t", i));
    tier->set_model(Cat("m", i));
    tier->set_provider("upstream");
    tier->set_available(true);
    tier->set_remaining_fraction(-1);
    t.mutable_default_plan()->add_tiers(i);
  }
  // The requested model is the chain's first; its plan lists every tier, as fallbacksvc makes it.
  fbpb::RoutePlan p;
  for (int i = 0; i < tiers; ++i) p.add_tiers(i);
  (*t.mutable_plans())["m0"] = p;
  std::vector<std::string> warnings;
  return CompileRoutes(t, *def, &warnings);
}

// What the request path does: the plan compiled for the model when the table arrived.
void BM_ChooseRoute(benchmark::State& state) {
  UpstreamTarget def;
  auto routes = Chain(static_cast<int>(state.range(0)), &def);
  RoutePlan scratch;
  for (auto _ : state) {
    const RoutePlan* plan = ChooseRoute(routes.get(), def, "m0", [] { return RequestNeeds{}; }, 0, &scratch);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_ChooseRoute)->Arg(3)->Arg(100);

// A plan computed for the request: what happens when a cooldown has just ended, or when what the
// request needs can change the plan. It walks the chain.
void BM_PlanRoute(benchmark::State& state) {
  UpstreamTarget def;
  auto routes = Chain(static_cast<int>(state.range(0)), &def);
  for (auto _ : state) {
    auto plan = PlanRoute(routes.get(), def, "m0", nullptr, 0);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_PlanRoute)->Arg(3)->Arg(100);

// Prints each size against its family's smallest, measured in the same run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) Results()[r.benchmark_name()] = r.GetAdjustedCPUTime();
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto ratio = [](const char* name, const char* base) {
      auto& r = Results();
      if (!r.count(name) || !r.count(base)) return;
      std::printf("%-24s %8.0f ns  = %.2fx %s\n", name, r[name], r[name] / r[base], base);
    };
    std::printf("\ncost against the smallest size (the target: flat)\n");
    for (const auto& [n, f] : KeyStats()) {
      std::printf("key table of %8lld keys: %.0f bytes per key, built from a snapshot in %.1f ms\n",
                  static_cast<long long>(n), f.first, f.second);
    }
    ratio("BM_KeyLookup/10", "BM_KeyLookup/10");
    ratio("BM_KeyLookup/1000", "BM_KeyLookup/10");
    ratio("BM_KeyLookup/100000", "BM_KeyLookup/10");
    ratio("BM_KeyLookup/1000000", "BM_KeyLookup/10");
    ratio("BM_KeyLookupHotSet/1000", "BM_KeyLookup/10");
    auto& r = Results();
    if (r.count("BM_RandomMemoryRead") && r.count("BM_KeyLookup/1000000") && r.count("BM_KeyLookup/10")) {
      std::printf("one random read of main memory: %.0f ns; a lookup among 1,000,000 random keys costs %.1f of them"
                  " more than among 10\n",
                  r["BM_RandomMemoryRead"],
                  (r["BM_KeyLookup/1000000"] - r["BM_KeyLookup/10"]) / r["BM_RandomMemoryRead"]);
    }
    ratio("BM_ChooseRoute/3", "BM_ChooseRoute/3");
    ratio("BM_ChooseRoute/100", "BM_ChooseRoute/3");
    ratio("BM_PlanRoute/3", "BM_PlanRoute/3");
    ratio("BM_PlanRoute/100", "BM_PlanRoute/3");
  }
};

}  // namespace
}  // namespace luna::gateway

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  luna::gateway::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
