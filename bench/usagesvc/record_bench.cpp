// usagesvc through its real gRPC service, on this machine:
//   - durable recording: several concurrent clients send batches; every acknowledged event is journaled and
//     fdatasync'ed. Baseline (same run): one fdatasync'ed journal append per event, i.e. what recording
//     costs without batching and group commit; "x_baseline" is the ratio.
//   - queries: a year of hourly data for 1,000 keys x 20 models (every key active every hour, with one of the
//     20 models, so the all-keys hour x model rollup is as full as with every pair active), loaded from a
//     snapshot as at a restart; the daily and hourly queries the old admin endpoints need, over gRPC.
// Memory per aggregate row and per event id is measured with mallinfo2 and printed at the start.
//
//   usagesvc_record_bench [--benchmark_filter=Record]   (TMPDIR picks the disk; default /tmp)
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/atomic_file.h"
#include "common/grpc_server.h"
#include "usage.grpc.pb.h"
#include "usagesvc/grpc_auth_client.h"
#include "usagesvc/journal.h"
#include "usagesvc/ledger.h"
#include "usagesvc/snapshot_file.h"
#include "usagesvc/usage_grpc_service.h"
#include "usagesvc/usage_store.h"

namespace luna::usagesvc {
namespace {

namespace pb = luna::usage::v1;
namespace spb = luna::usage::storage::v1;

constexpr int64_t kYearStartMs = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int kKeys = 1000;
constexpr int kModels = 20;
constexpr int kHours = 365 * 24;

double baseline_events_per_second = 0;

class AllowAllAuth final : public AuthClient {
 public:
  void CheckAdmin(const std::string&, std::function<void(absl::Status)> done) override { done(absl::OkStatus()); }
  absl::StatusOr<std::vector<LegacyUsageEntry>> GetLegacyUsage() override { return std::vector<LegacyUsageEntry>(); }
};

std::string TempDir(const char* tag) {
  std::string base = std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp";
  std::string pattern = base + "/usagesvc-bench-" + tag + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

size_t HeapBytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

pb::UsageEvent MakeEvent(const std::string& id, int key, int model, int64_t time_ms) {
  pb::UsageEvent e;
  e.set_event_id(id);
  e.set_key_id("key_" + std::to_string(1000000 + key));
  e.set_time_unix_ms(time_ms);
  e.set_requested_model("model-" + std::to_string(model));
  e.set_served_model("model-" + std::to_string(model));
  e.set_input_tokens(12000 + key);
  e.set_output_tokens(800);
  e.set_cache_read_tokens(30000);
  e.set_status(200);
  e.set_total_latency_us(1500000);
  e.set_api("anthropic");
  e.set_stream(true);
  e.set_gateway_id("gw-bench");
  return e;
}

// A usagesvc (store + service + server on port 0) in a fresh directory.
struct Service {
  explicit Service(const std::string& dir) {
    UsageStoreOptions o;
    o.data_dir = dir;
    o.snapshot_every_events = 100000;
    auto s = UsageStore::Open(o);
    if (!s.ok()) std::abort();
    store = std::move(*s);
    service = std::make_unique<UsageGrpcService>(&auth, store.get());
    auto started = GrpcServer::Start("127.0.0.1:0", {service.get()}, UsageGrpcService::kHealthName);
    if (!started.ok()) std::abort();
    server = std::move(*started);
    target = "127.0.0.1:" + std::to_string(server->port());
  }
  ~Service() { server->Shutdown(1000); }

  AllowAllAuth auth;
  std::unique_ptr<UsageStore> store;
  std::unique_ptr<UsageGrpcService> service;
  std::unique_ptr<GrpcServer> server;
  std::string target;
};

std::unique_ptr<pb::UsageService::Stub> NewStub(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // one connection per client
  return pb::UsageService::NewStub(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
}

void BM_FsyncBaseline(benchmark::State& state) {
  // One event per journal record, each fdatasync'ed: recording without batching or group commit.
  std::string dir = TempDir("fsync");
  std::string path = dir + "/journal.1.log";
  if (!JournalFile::Create(path, 1).ok()) std::abort();
  auto journal = JournalFile::OpenForAppend(path, 1, JournalFile::kHeaderBytes, nullptr);
  spb::JournalRecord record;
  *record.add_events() = MakeEvent("gw-bench-1", 1, 1, kYearStartMs);
  std::string framed;
  JournalFile::AppendRecord(&framed, record.SerializeAsString());
  for (auto _ : state) {
    if (!(*journal)->Append(framed).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
  journal->reset();
  std::filesystem::remove_all(dir);
}

void BM_RecordDurable(benchmark::State& state) {
  // `clients` threads, each with its own connection, send batches of `batch` new events back to back;
  // the figure counts acknowledged (durable) events per second of wall time.
  const int clients = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  const int64_t total_events = 400000;
  const int batches_per_client = static_cast<int>(total_events / clients / batch);
  for (auto _ : state) {
    std::string dir = TempDir("record");
    auto svc = std::make_unique<Service>(dir);
    // Requests are built up front so the clients only send.
    std::vector<std::vector<pb::RecordUsageRequest>> requests(static_cast<size_t>(clients));
    int64_t seq = 0;
    for (int c = 0; c < clients; ++c) {
      for (int b = 0; b < batches_per_client; ++b) {
        pb::RecordUsageRequest r;
        for (int i = 0; i < batch; ++i, ++seq) {
          *r.add_events() =
              MakeEvent("gw" + std::to_string(c) + "-" + std::to_string(seq), static_cast<int>(seq % kKeys),
                        static_cast<int>(seq % kModels), kYearStartMs + seq * 10);
        }
        requests[static_cast<size_t>(c)].push_back(std::move(r));
      }
    }
    std::atomic<int64_t> acknowledged{0};
    std::atomic<int> failures{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        auto stub = NewStub(svc->target);
        for (const auto& r : requests[static_cast<size_t>(c)]) {
          grpc::ClientContext ctx;
          pb::RecordUsageResponse resp;
          if (stub->RecordUsage(&ctx, r, &resp).ok()) {
            acknowledged += resp.recorded();
          } else {
            ++failures;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(seconds);
    double rate = static_cast<double>(acknowledged.load()) / seconds;
    state.counters["events_per_s"] = rate;
    state.counters["events_per_fsync"] =
        static_cast<double>(acknowledged.load()) / std::max<int64_t>(1, svc->store->records_written());
    state.counters["failures"] = failures.load();
    if (baseline_events_per_second > 0) state.counters["x_baseline"] = rate / baseline_events_per_second;
    state.SetItemsProcessed(acknowledged.load());
    svc.reset();
    std::filesystem::remove_all(dir);
  }
}

// The year of data, built once: a ledger filled directly, saved as a snapshot, loaded by a real store.
struct YearFixture {
  YearFixture() {
    dir = TempDir("year");
    LedgerOptions lo;
    lo.detail_retention_ms = 0;  // no per-request detail: the bench is about the aggregates
    lo.now_ms = [] { return kYearStartMs + 400LL * 86400 * 1000; };
    size_t before = HeapBytes();
    {
      Ledger ledger(lo);
      int64_t seq = 0;
      for (int h = 0; h < kHours; ++h) {
        spb::JournalRecord record;
        for (int k = 0; k < kKeys; ++k, ++seq) {
          *record.add_events() =
              MakeEvent("y-" + std::to_string(seq), k, (k + h) % kModels, kYearStartMs + int64_t{h} * 3600000 + k);
        }
        ledger.Apply(record);
      }
      size_t after = HeapBytes();
      auto stats = ledger.Stats();
      rows = stats.aggregate_rows;
      ids = stats.event_ids;
      bytes_rows_and_ids = after - before;
      auto t0 = std::chrono::steady_clock::now();
      auto file = SnapshotFileWriter::Open(dir + "/snapshot.bin");  // as usagesvc writes it
      if (!file.ok()) std::abort();
      if (!ledger.WriteSnapshot(1, [&](std::string_view piece) { return (*file)->Append(piece); }).ok()) std::abort();
      if (!(*file)->Commit().ok()) std::abort();
      snapshot_bytes = (*file)->file_bytes();
      snapshot_write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    // The ids alone: 2 M distinct ids, all in one aggregate row.
    {
      size_t b = HeapBytes();
      Ledger ids_only(lo);
      for (int chunk = 0; chunk < 200; ++chunk) {
        spb::JournalRecord record;
        for (int i = 0; i < 10000; ++i)
          *record.add_events() = MakeEvent("i-" + std::to_string(chunk * 10000 + i), 1, 1, kYearStartMs);
        ids_only.Apply(record);
      }
      bytes_per_id = static_cast<double>(HeapBytes() - b) / 2e6;
    }
    bytes_per_row =
        (static_cast<double>(bytes_rows_and_ids) - bytes_per_id * static_cast<double>(ids)) / static_cast<double>(rows);
    auto t0 = std::chrono::steady_clock::now();
    svc = std::make_unique<Service>(dir);
    load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stub = NewStub(svc->target);
    std::printf(
        "year fixture: %zu aggregate rows, %zu event ids; heap %.1f MB => %.1f bytes per aggregate row (incl. "
        "rollup share), %.1f bytes per event id; snapshot %.1f MB written in %.2f s, loaded (restart) in %.2f s\n",
        rows, ids, static_cast<double>(bytes_rows_and_ids) / 1e6, bytes_per_row, bytes_per_id,
        static_cast<double>(snapshot_bytes) / 1e6, snapshot_write_s, load_s);
    std::fflush(stdout);
  }
  ~YearFixture() {
    svc.reset();
    std::filesystem::remove_all(dir);
  }

  std::string dir;
  size_t rows = 0, ids = 0, bytes_rows_and_ids = 0, snapshot_bytes = 0;
  double bytes_per_id = 0, bytes_per_row = 0, snapshot_write_s = 0, load_s = 0;
  std::unique_ptr<Service> svc;
  std::unique_ptr<pb::UsageService::Stub> stub;
};

YearFixture& Year() {
  static YearFixture* fixture = new YearFixture();
  return *fixture;
}

void RunQuery(benchmark::State& state, const pb::QueryUsageRequest& request) {
  YearFixture& year = Year();
  int rows = 0;
  for (auto _ : state) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", "sk-admin-bench");
    pb::QueryUsageResponse resp;
    auto st = year.stub->QueryUsage(&ctx, request, &resp);
    if (!st.ok()) {
      state.SkipWithError(st.error_message().c_str());
      return;
    }
    rows = resp.rows_size();
  }
  state.counters["rows"] = rows;
}

pb::QueryUsageRequest Query(bool day, bool hour, bool key, bool model, const std::string& from = "",
                            const std::string& to = "", const std::string& key_id = "") {
  pb::QueryUsageRequest q;
  q.set_by_day(day);
  q.set_by_hour(hour);
  q.set_by_key(key);
  q.set_by_model(model);
  q.set_from_date(from);
  q.set_to_date(to);
  q.set_key_id(key_id);
  return q;
}

void BM_QueryYear_GrandTotal(benchmark::State& s) { RunQuery(s, Query(false, false, false, false)); }
void BM_QueryYear_Daily(benchmark::State& s) { RunQuery(s, Query(true, false, false, false)); }
void BM_QueryYear_DailyByModel(benchmark::State& s) { RunQuery(s, Query(true, false, false, true)); }
void BM_QueryYear_Hourly(benchmark::State& s) { RunQuery(s, Query(false, true, false, false)); }
void BM_QueryYear_HourlyByModel(benchmark::State& s) { RunQuery(s, Query(false, true, false, true)); }
void BM_QueryYear_OneDayHourlyByModel(benchmark::State& s) {
  RunQuery(s, Query(false, true, false, true, "2026-06-15", "2026-06-15"));
}
void BM_QueryYear_OneDayByKeyByModel(benchmark::State& s) {
  RunQuery(s, Query(true, false, true, true, "2026-06-15", "2026-06-15"));
}
void BM_QueryYear_OneKeyDailyByModel(benchmark::State& s) {
  RunQuery(s, Query(true, false, false, true, "", "", "key_1000123"));
}
void BM_QueryYear_ByKey(benchmark::State& s) { RunQuery(s, Query(false, false, true, false)); }

void BM_LedgerOnly_Daily(benchmark::State& state) {
  // The same daily query without gRPC: the ledger's share of the time.
  const Ledger& ledger = Year().svc->store->ledger();
  UsageQuery q;
  q.by_day = true;
  for (auto _ : state) benchmark::DoNotOptimize(ledger.Query(q));
}
void BM_LedgerOnly_Hourly(benchmark::State& state) {
  const Ledger& ledger = Year().svc->store->ledger();
  UsageQuery q;
  q.by_day = q.by_hour = true;
  for (auto _ : state) benchmark::DoNotOptimize(ledger.Query(q));
}

}  // namespace
}  // namespace luna::usagesvc

// The baseline's rate is derived after the run from its items; Google Benchmark gives it per iteration time.
namespace {
class BaselineCapture : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.benchmark_name().find("BM_FsyncBaseline") != std::string::npos && r.iterations > 0) {
        double seconds_per_event = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
        luna::usagesvc::baseline_events_per_second = 1.0 / seconds_per_event;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};
}  // namespace

BENCHMARK(luna::usagesvc::BM_FsyncBaseline)->Iterations(300)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(luna::usagesvc::BM_RecordDurable)
    ->ArgNames({"clients", "batch"})
    ->Args({4, 100})
    ->Args({8, 250})
    ->Args({16, 500})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_GrandTotal)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_Daily)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_DailyByModel)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_Hourly)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_HourlyByModel)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_OneDayHourlyByModel)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_OneDayByKeyByModel)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_OneKeyDailyByModel)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_QueryYear_ByKey)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_LedgerOnly_Daily)->Unit(benchmark::kMillisecond);
BENCHMARK(luna::usagesvc::BM_LedgerOnly_Hourly)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  BaselineCapture reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
