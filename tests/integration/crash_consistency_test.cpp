// Crash consistency of the services' state files under kill -9 at random moments (issue #9). Writer
// threads drive the real authsvc / usagesvc over gRPC without pause while a killer thread SIGKILLs
// the service after a random delay, restarts it on the same files, and checks — after every restart —
// that the files load and that everything acknowledged is there exactly as acknowledged; what was
// in flight at the kill may or may not be there, and once it is seen it is held to it.
//
// LUNA_CRASH_KILLS (default 150 per test) sets the number of kills, LUNA_CRASH_SEED the random seed
// (printed at the start, so a failure can be replayed with the same delays and operations).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "auth.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "usage.grpc.pb.h"

namespace luna::testing {
namespace {

using namespace std::chrono_literals;
namespace apb = luna::auth::v1;
namespace upb = luna::usage::v1;
using Clock = std::chrono::steady_clock;

int KillsFromEnv() {
  const char* v = std::getenv("LUNA_CRASH_KILLS");
  int n = v != nullptr ? std::atoi(v) : 0;
  return n > 0 ? n : 150;
}

uint64_t SeedFromEnv() {
  const char* v = std::getenv("LUNA_CRASH_SEED");
  if (v != nullptr && *v != '\0') return std::strtoull(v, nullptr, 10);
  return std::random_device{}();
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
}

template <class Ctx>
void Deadline(Ctx* ctx, std::chrono::milliseconds d = 10s) {
  ctx->set_deadline(std::chrono::system_clock::now() + d);
}

// The files in `dir` whose names start with `prefix` (temporary files of interrupted atomic writes).
std::vector<std::string> TempFiles(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Runs writer threads against a service that a killer kills and restarts. Writers call `op(w)`
// repeatedly while the service is up; `op` returns false when its call failed (the service is gone),
// and the writer then waits for the next incarnation, so each writer has at most one operation of
// unknown outcome per kill. Between a kill and the resumption the writers are idle, so the checks see
// a still state.
class KillLoop {
 public:
  KillLoop(int writers, std::function<bool(int)> op) : op_(std::move(op)) {
    for (int w = 0; w < writers; ++w) threads_.emplace_back([this, w] { Run(w); });
  }
  ~KillLoop() { Finish(); }

  // Lets the writers go (again).
  void Resume() {
    std::lock_guard lock(mu_);
    running_ = true;
    ++generation_;
    cv_.notify_all();
  }
  // Stops new operations and waits until none is in flight.
  void Pause() {
    std::unique_lock lock(mu_);
    running_ = false;
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }
  void Finish() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  uint64_t operations() const { return operations_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void Run(int w) {
    uint64_t seen_generation = 0;
    bool wait_next = false;
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || (running_ && (!wait_next || generation_ != seen_generation)); });
        if (stop_) return;
        seen_generation = generation_;
        wait_next = false;
        ++in_flight_;
      }
      bool ok = op_(w);
      ++operations_;
      if (!ok) {
        ++failed_;
        wait_next = true;
      }
      std::lock_guard lock(mu_);
      --in_flight_;
      cv_.notify_all();
    }
  }

  std::function<bool(int)> op_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int in_flight_ = 0;
  std::atomic<uint64_t> operations_{0};
  std::atomic<uint64_t> failed_{0};
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------------
// authsvc: the keys file under kill -9 during CreateKey, EnableKey/DisableKey, SetKeyPolicy, DeleteKey.

// One key as a writer knows it. The sets hold the values the key may have: one after an acknowledged
// change, more while a change of unknown outcome is pending (until the next check sees which).
struct TrackedKey {
  std::string name;
  std::string id;       // "" while its creation is unacknowledged
  std::string api_key;  // the full key, if its creation was acknowledged
  std::set<bool> enabled{true};
  std::set<int64_t> rpm{0};  // policy requests_per_minute; 0 = no policy
  bool create_unknown = false;
  bool maybe_deleted = false;
  // The change of unknown outcome, if one is pending (to count how often a kill came after the write).
  std::optional<bool> pending_enabled;
  std::optional<int64_t> pending_rpm;
};

struct KeyWriter {
  std::mt19937_64 rng;
  int next_name = 0;
  std::vector<TrackedKey> keys;
  std::set<std::string> deleted_ids;  // acknowledged deletions: never to be seen again
  uint64_t acked = 0, unknown = 0;
};

class AuthCrash {
 public:
  AuthCrash(Cluster* c, int writers, uint64_t seed) : c_(c) {
    for (int w = 0; w < writers; ++w) {
      writers_.emplace_back();
      writers_.back().rng.seed(seed * 31 + static_cast<uint64_t>(w));
    }
    Reconnect();
  }

  void Reconnect() {
    std::lock_guard lock(stub_mu_);
    stub_ = apb::AuthService::NewStub(Channel(c_->auth_port()));
  }

  // One random change by writer `w`; false if the call failed.
  bool Op(int w) {
    std::shared_ptr<apb::AuthService::Stub> stub;
    {
      std::lock_guard lock(stub_mu_);
      stub = stub_;
    }
    KeyWriter& kw = writers_[static_cast<size_t>(w)];
    std::vector<size_t> live;
    for (size_t i = 0; i < kw.keys.size(); ++i) {
      if (!kw.keys[i].id.empty()) live.push_back(i);
    }
    // 30% creations, 30% enable/disable, 30% policy changes, 10% deletions; from 12 keys on, deletions
    // take most of the creations' share, so the table (and each check) stays small in long runs.
    int dice = static_cast<int>(kw.rng() % 100);
    if (live.size() >= 12 && dice < 20) dice = 95;
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("x-api-key", c_->admin_key());
    auto random_rpm = [&] { return kw.rng() % 3 == 0 ? int64_t{0} : static_cast<int64_t>(1 + kw.rng() % 5000); };
    auto note = [&](const grpc::Status& st) {
      (st.ok() ? kw.acked : kw.unknown)++;
      if (!st.ok() && st.error_code() != grpc::StatusCode::UNAVAILABLE &&
          st.error_code() != grpc::StatusCode::CANCELLED && st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        ADD_FAILURE() << "unexpected answer " << st.error_code() << ": " << st.error_message();
      }
      return st.ok();
    };

    if (live.size() < 6 || dice < 30) {
      TrackedKey k;
      k.name = "w" + std::to_string(w) + "-" + std::to_string(kw.next_name++);
      k.rpm = {random_rpm()};
      apb::CreateKeyRequest req;
      req.set_name(k.name);
      if (*k.rpm.begin() > 0) req.mutable_policy()->set_requests_per_minute(*k.rpm.begin());
      apb::CreateKeyResponse res;
      grpc::Status st = stub->CreateKey(&ctx, req, &res);
      if (st.ok()) {
        k.id = res.key().id();
        k.api_key = res.api_key();
      } else {
        k.create_unknown = true;
      }
      kw.keys.push_back(std::move(k));
      return note(st);
    }
    TrackedKey& k = kw.keys[live[kw.rng() % live.size()]];
    if (dice < 60) {
      bool want = !*k.enabled.begin();
      apb::KeyRef ref;
      ref.set_key(k.id);
      apb::KeyInfo info;
      grpc::Status st = want ? stub->EnableKey(&ctx, ref, &info) : stub->DisableKey(&ctx, ref, &info);
      if (st.ok()) {
        k.enabled = {want};
        EXPECT_EQ(info.enabled(), want);
      } else {
        k.enabled.insert(want);
        k.pending_enabled = want;
      }
      return note(st);
    }
    if (dice < 90) {
      int64_t rpm = random_rpm();
      apb::SetKeyPolicyRequest req;
      req.mutable_key()->set_key(k.id);
      if (rpm > 0) req.mutable_policy()->set_requests_per_minute(rpm);
      apb::KeyInfo info;
      grpc::Status st = stub->SetKeyPolicy(&ctx, req, &info);
      if (st.ok()) {
        k.rpm = {rpm};
        EXPECT_EQ(info.policy().requests_per_minute(), rpm);
      } else if (k.rpm.insert(rpm).second) {
        k.pending_rpm = rpm;
      }
      return note(st);
    }
    apb::KeyRef ref;
    ref.set_key(k.id);
    apb::DeleteKeyResponse res;
    grpc::Status st = stub->DeleteKey(&ctx, ref, &res);
    if (st.ok()) {
      kw.deleted_ids.insert(k.id);
      k.id.clear();
      k.create_unknown = false;
      k.maybe_deleted = false;
      std::erase_if(kw.keys, [](const TrackedKey& t) { return t.id.empty() && !t.create_unknown; });
    } else {
      k.maybe_deleted = true;
    }
    return note(st);
  }

  // With the writers paused: the service's key table against what the writers know; then the writers'
  // knowledge is narrowed to what was found. Returns the number of keys.
  size_t Check(const std::string& when) {
    auto stub = apb::AuthService::NewStub(Channel(c_->auth_port()));
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("x-api-key", c_->admin_key());
    apb::ListKeysResponse list;
    grpc::Status st = stub->ListKeys(&ctx, {}, &list);
    EXPECT_TRUE(st.ok()) << when << ": ListKeys: " << st.error_message();
    std::map<std::string, apb::KeyInfo> by_id, by_name;
    for (const auto& k : list.keys()) {
      EXPECT_TRUE(by_id.emplace(k.id(), k).second) << when << ": key id twice: " << k.id();
      EXPECT_TRUE(by_name.emplace(k.name(), k).second) << when << ": key name twice: " << k.name();
    }
    std::set<std::string> accounted;
    for (KeyWriter& kw : writers_) {
      for (const std::string& id : kw.deleted_ids) {
        EXPECT_EQ(by_id.count(id), 0u) << when << ": key " << id << " was deleted (acknowledged) but is back";
      }
      for (auto it = kw.keys.begin(); it != kw.keys.end();) {
        TrackedKey& k = *it;
        const apb::KeyInfo* info = nullptr;
        if (k.create_unknown) {
          auto f = by_name.find(k.name);
          if (f == by_name.end()) {
            ++not_applied_;
            it = kw.keys.erase(it);  // its creation never became durable
            continue;
          }
          ++applied_;
          info = &f->second;
          k.id = info->id();
          k.create_unknown = false;
        } else {
          auto f = by_id.find(k.id);
          if (f == by_id.end()) {
            EXPECT_TRUE(k.maybe_deleted) << when << ": acknowledged key " << k.id << " (" << k.name << ") is lost";
            if (k.maybe_deleted) {
              ++applied_;
              kw.deleted_ids.insert(k.id);
            }
            it = kw.keys.erase(it);
            continue;
          }
          info = &f->second;
          EXPECT_EQ(info->name(), k.name) << when;
        }
        accounted.insert(info->id());
        EXPECT_EQ(k.enabled.count(info->enabled()), 1u)
            << when << ": key " << k.id << " is " << (info->enabled() ? "enabled" : "disabled")
            << ", which no acknowledged or pending change made it";
        EXPECT_EQ(k.rpm.count(info->policy().requests_per_minute()), 1u)
            << when << ": key " << k.id << " has requests_per_minute " << info->policy().requests_per_minute()
            << ", which no acknowledged or pending change set";
        if (k.maybe_deleted) ++not_applied_;
        if (k.pending_enabled) ++(info->enabled() == *k.pending_enabled ? applied_ : not_applied_);
        if (k.pending_rpm) ++(info->policy().requests_per_minute() == *k.pending_rpm ? applied_ : not_applied_);
        k.enabled = {info->enabled()};
        k.rpm = {info->policy().requests_per_minute()};
        k.maybe_deleted = false;
        k.pending_enabled.reset();
        k.pending_rpm.reset();
        if (!k.api_key.empty()) {
          // The key itself still works: its hash on disk is right.
          grpc::ClientContext vctx;
          Deadline(&vctx);
          apb::ValidateKeyRequest vreq;
          vreq.set_key(k.api_key);
          apb::ValidateKeyResponse vres;
          grpc::Status vst = stub->ValidateKey(&vctx, vreq, &vres);
          EXPECT_TRUE(vst.ok() && vres.found() && vres.key().id() == k.id && vres.key().enabled() == info->enabled())
              << when << ": key " << k.id << " does not validate: " << vst.error_message();
        }
        ++it;
      }
    }
    for (const auto& [id, info] : by_id) {
      EXPECT_EQ(accounted.count(id), 1u) << when << ": key " << id << " (" << info.name() << ") came from nowhere";
    }
    return by_id.size();
  }

  uint64_t acked() const {
    uint64_t n = 0;
    for (const auto& w : writers_) n += w.acked;
    return n;
  }
  // Changes cut by a kill that turned out to be on disk (the kill came after the write, before the
  // answer), and ones that were not.
  uint64_t applied() const { return applied_; }
  uint64_t not_applied() const { return not_applied_; }
  uint64_t unknown() const {
    uint64_t n = 0;
    for (const auto& w : writers_) n += w.unknown;
    return n;
  }

 private:
  Cluster* c_;
  std::vector<KeyWriter> writers_;
  uint64_t applied_ = 0, not_applied_ = 0;
  std::mutex stub_mu_;
  std::shared_ptr<apb::AuthService::Stub> stub_;
};

// kill -9 of authsvc at random moments while two admins change keys without pause: after every
// restart the keys file loads, every acknowledged key is there with its acknowledged state, policy
// and working key, no acknowledged deletion comes back, and nothing appears that no one created; no
// temporary file of an interrupted write is left behind.
TEST(CrashConsistencyTest, AuthsvcKeysFileSurvivesKill9DuringKeyWrites) {
  const int kills = KillsFromEnv();
  const uint64_t seed = SeedFromEnv();
  std::cout << "[ seed     ] LUNA_CRASH_SEED=" << seed << " LUNA_CRASH_KILLS=" << kills << std::endl;
  RecordProperty("seed", std::to_string(seed));
  Cluster c;
  c.StartAuth();
  AuthCrash model(&c, 2, seed);
  KillLoop loop(2, [&](int w) { return model.Op(w); });
  std::mt19937_64 rng(seed);
  auto start = Clock::now();
  Clock::duration down{};
  size_t keys = 0;
  int done = 0;
  for (int kill = 1; kill <= kills && !HasFailure(); ++kill, ++done) {
    loop.Resume();
    std::this_thread::sleep_for(std::chrono::microseconds(1000 + rng() % 100000));
    c.auth()->Stop(SIGKILL);
    loop.Pause();
    auto t0 = Clock::now();
    c.StartAuth();  // throws if the keys file no longer loads
    down += Clock::now() - t0;
    model.Reconnect();
    keys = model.Check("after kill " + std::to_string(kill));
    std::vector<std::string> temps = TempFiles(c.dir().path(), "keys.json.tmp.");
    EXPECT_TRUE(temps.empty()) << "after kill " << kill << ": left behind: " << temps.front();
  }
  loop.Finish();
  // A clean stop and start at the end: the same table again.
  c.auth()->Stop(SIGTERM);
  c.StartAuth();
  EXPECT_EQ(model.Check("after the final clean restart"), keys);
  auto secs = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  std::cout << "[ crash    ] " << done << " kills of authsvc in " << secs(Clock::now() - start) << " s (" << secs(down)
            << " s restarting); " << model.acked() << " acknowledged changes, " << model.unknown()
            << " cut by a kill or refused while down (of those, " << model.applied()
            << " found on disk after the restart, " << model.not_applied() << " not); " << keys << " keys at the end; "
            << Count(c.auth()->Log(), "the temporary file of a write interrupted by a crash")
            << " temporary files of interrupted writes removed at start" << std::endl;
  EXPECT_EQ(done, kills);
  EXPECT_GT(model.acked(), static_cast<uint64_t>(done));
}

// ---------------------------------------------------------------------------------------------
// usagesvc: the ledger (journal, snapshots) under kill -9 during RecordUsage.

struct SentEvent {
  std::string key_id;
  int64_t input = 0, output = 0;
  bool acked = false;
};

struct EventWriter {
  std::mt19937_64 rng;
  uint64_t next = 0;
  std::map<std::string, SentEvent> sent;  // by event id
  std::vector<std::string> unacked;       // sent, not acknowledged: sent again in later batches
  std::vector<std::string> acked_ids;
  std::vector<std::string> cut;  // one new event of each batch whose call failed, until the next check
  uint64_t batches_acked = 0, batches_unknown = 0, duplicates_seen = 0;
};

class UsageCrash {
 public:
  UsageCrash(Cluster* c, int writers, uint64_t seed) : c_(c) {
    for (int w = 0; w < writers; ++w) {
      writers_.emplace_back();
      writers_.back().rng.seed(seed * 37 + static_cast<uint64_t>(w));
    }
    Reconnect();
  }

  void Reconnect() {
    std::lock_guard lock(stub_mu_);
    stub_ = upb::UsageService::NewStub(Channel(c_->usage_port()));
  }
  // Events go to a new key id every 5 kills, so that each check lists few events per key.
  void SetEpoch(int epoch) { epoch_ = epoch; }

  // One RecordUsage by writer `w`: new events, the unacknowledged ones again, and now and then some
  // acknowledged ones again (which must come back as duplicates). False if the call failed.
  bool Op(int w) {
    std::shared_ptr<upb::UsageService::Stub> stub;
    {
      std::lock_guard lock(stub_mu_);
      stub = stub_;
    }
    EventWriter& ew = writers_[static_cast<size_t>(w)];
    std::vector<std::string> ids;
    std::set<std::string> in_batch;
    for (size_t i = 0; i < ew.unacked.size() && i < 8; ++i) {
      if (in_batch.insert(ew.unacked[i]).second) ids.push_back(ew.unacked[i]);
    }
    size_t already_acked = 0;
    if (!ew.acked_ids.empty() && ew.rng() % 4 == 0) {
      for (int i = 0; i < 2; ++i) {
        const std::string& id = ew.acked_ids[ew.rng() % ew.acked_ids.size()];
        if (in_batch.insert(id).second) {
          ids.push_back(id);
          ++already_acked;
        }
      }
    }
    int fresh = 1 + static_cast<int>(ew.rng() % 12);
    for (int i = 0; i < fresh; ++i) {
      std::string id = "crash-w" + std::to_string(w) + "-" + std::to_string(++ew.next);
      SentEvent e;
      e.key_id = "key_crash_w" + std::to_string(w) + "_e" + std::to_string(epoch_);
      e.input = 1 + static_cast<int64_t>(ew.rng() % 1000);
      e.output = 1 + static_cast<int64_t>(ew.rng() % 100);
      ew.sent.emplace(id, e);
      ew.unacked.push_back(id);
      {
        std::lock_guard lock(touched_mu_);
        touched_.insert(e.key_id);
      }
      in_batch.insert(id);
      ids.push_back(id);
    }
    upb::RecordUsageRequest req;
    int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    for (const std::string& id : ids) {
      const SentEvent& s = ew.sent.at(id);
      upb::UsageEvent* e = req.add_events();
      e->set_event_id(id);
      e->set_key_id(s.key_id);
      e->set_time_unix_ms(now_ms);
      e->set_requested_model("crash-model");
      e->set_served_model("crash-model");
      e->set_input_tokens(s.input);
      e->set_output_tokens(s.output);
      e->set_status(200);
    }
    grpc::ClientContext ctx;
    Deadline(&ctx);
    upb::RecordUsageResponse res;
    grpc::Status st = stub->RecordUsage(&ctx, req, &res);
    if (!st.ok()) {
      ++ew.batches_unknown;
      ew.cut.push_back(ids.back());
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE && st.error_code() != grpc::StatusCode::CANCELLED &&
          st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        ADD_FAILURE() << "unexpected answer " << st.error_code() << ": " << st.error_message();
      }
      return false;
    }
    ++ew.batches_acked;
    EXPECT_EQ(static_cast<size_t>(res.recorded() + res.duplicates()), ids.size());
    EXPECT_GE(static_cast<size_t>(res.duplicates()), already_acked)
        << "an event acknowledged before was recorded again";
    ew.duplicates_seen += static_cast<uint64_t>(res.duplicates());
    for (const std::string& id : ids) {
      SentEvent& s = ew.sent.at(id);
      if (!s.acked) {
        s.acked = true;
        ew.acked_ids.push_back(id);
      }
    }
    std::erase_if(ew.unacked, [&](const std::string& id) { return in_batch.count(id) > 0; });
    return true;
  }

  // With the writers paused: for every key written to since the last check (all keys if `all`), the
  // ledger's detail and aggregates against what was sent and acknowledged.
  void Check(const std::string& when, bool all) {
    std::set<std::string> keys;
    if (all) {
      for (const auto& ew : writers_) {
        for (const auto& [id, s] : ew.sent) keys.insert(s.key_id);
      }
    } else {
      std::lock_guard lock(touched_mu_);
      keys.swap(touched_);
    }
    auto stub = upb::UsageService::NewStub(Channel(c_->usage_port()));
    present_.clear();
    for (const std::string& key : keys) CheckKey(stub.get(), key, when);
    for (auto& ew : writers_) {
      for (const std::string& id : ew.cut) ++(present_.count(id) > 0 ? applied_ : not_applied_);
      ew.cut.clear();
    }
  }
  // Batches cut by a kill that turned out to be durable (the kill came between the fdatasync and the
  // answer), and ones that were not.
  uint64_t applied() const { return applied_; }
  uint64_t not_applied() const { return not_applied_; }

  // Every event sent has been acknowledged (sends the unacknowledged ones until they are).
  void Drain() {
    for (int round = 0; round < 50; ++round) {
      bool pending = false;
      for (size_t w = 0; w < writers_.size(); ++w) {
        if (!writers_[w].unacked.empty()) {
          pending = true;
          Op(static_cast<int>(w));
        }
      }
      if (!pending) return;
    }
    ADD_FAILURE() << "events still unacknowledged after 50 rounds";
  }

  // The grand total over every key: exactly the events sent (all acknowledged after Drain).
  void CheckGrandTotal() {
    int64_t events = 0, input = 0;
    for (const auto& ew : writers_) {
      for (const auto& [id, s] : ew.sent) {
        ++events;
        input += s.input;
      }
    }
    auto stub = upb::UsageService::NewStub(Channel(c_->usage_port()));
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("x-api-key", c_->admin_key());
    upb::QueryUsageResponse res;
    grpc::Status st = stub->QueryUsage(&ctx, {}, &res);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(res.rows_size(), 1);
    EXPECT_EQ(res.rows(0).totals().requests(), events);
    EXPECT_EQ(res.rows(0).totals().input_tokens(), input);
  }

  uint64_t events_sent() const {
    uint64_t n = 0;
    for (const auto& w : writers_) n += w.sent.size();
    return n;
  }
  uint64_t batches_acked() const {
    uint64_t n = 0;
    for (const auto& w : writers_) n += w.batches_acked;
    return n;
  }
  uint64_t batches_unknown() const {
    uint64_t n = 0;
    for (const auto& w : writers_) n += w.batches_unknown;
    return n;
  }
  uint64_t duplicates() const {
    uint64_t n = 0;
    for (const auto& w : writers_) n += w.duplicates_seen;
    return n;
  }

 private:
  void CheckKey(upb::UsageService::Stub* stub, const std::string& key, const std::string& when) {
    grpc::ClientContext lctx;
    Deadline(&lctx);
    lctx.AddMetadata("x-api-key", c_->admin_key());
    upb::ListEventsRequest lreq;
    lreq.set_key_id(key);
    lreq.set_limit(10000);
    upb::ListEventsResponse listed;
    grpc::Status st = stub->ListEvents(&lctx, lreq, &listed);
    ASSERT_TRUE(st.ok()) << when << ": ListEvents " << key << ": " << st.error_message();
    ASSERT_LT(listed.events_size(), 10000) << "too many events per key for a complete check";
    std::set<std::string> present;
    int64_t input = 0, output = 0;
    for (const auto& e : listed.events()) {
      EXPECT_TRUE(present.insert(e.event_id()).second) << when << ": event " << e.event_id() << " listed twice";
      present_.insert(e.event_id());
      const SentEvent* s = Find(e.event_id());
      if (s == nullptr) {
        ADD_FAILURE() << when << ": event " << e.event_id() << " was never sent";
        continue;
      }
      EXPECT_EQ(e.key_id(), s->key_id);
      EXPECT_EQ(e.input_tokens(), s->input) << when << ": event " << e.event_id();
      input += s->input;
      output += s->output;
    }
    size_t acked = 0;
    for (const auto& ew : writers_) {
      for (const auto& [id, s] : ew.sent) {
        if (s.key_id != key || !s.acked) continue;
        ++acked;
        EXPECT_EQ(present.count(id), 1u) << when << ": acknowledged event " << id << " is lost";
      }
    }
    // The aggregates count each present event exactly once.
    grpc::ClientContext qctx;
    Deadline(&qctx);
    qctx.AddMetadata("x-api-key", c_->admin_key());
    upb::QueryUsageRequest q;
    q.set_key_id(key);
    upb::QueryUsageResponse res;
    st = stub->QueryUsage(&qctx, q, &res);
    ASSERT_TRUE(st.ok()) << when << ": QueryUsage " << key << ": " << st.error_message();
    int64_t requests = res.rows_size() == 1 ? res.rows(0).totals().requests() : 0;
    EXPECT_EQ(requests, static_cast<int64_t>(present.size()))
        << when << ": key " << key << " (" << acked << " acknowledged)";
    if (res.rows_size() == 1) {
      EXPECT_EQ(res.rows(0).totals().input_tokens(), input) << when << ": key " << key;
      EXPECT_EQ(res.rows(0).totals().output_tokens(), output) << when << ": key " << key;
    }
  }

  const SentEvent* Find(const std::string& id) const {
    for (const auto& ew : writers_) {
      auto it = ew.sent.find(id);
      if (it != ew.sent.end()) return &it->second;
    }
    return nullptr;
  }

  Cluster* c_;
  std::vector<EventWriter> writers_;
  std::set<std::string> present_;  // the events listed by the last check
  uint64_t applied_ = 0, not_applied_ = 0;
  std::atomic<int> epoch_{0};
  std::mutex touched_mu_;
  std::set<std::string> touched_;
  std::mutex stub_mu_;
  std::shared_ptr<upb::UsageService::Stub> stub_;
};

// kill -9 of usagesvc at random moments while two gateways' worth of batches arrive without pause
// (with retries of unacknowledged events and repeats of acknowledged ones), with a snapshot every 100
// events so that kills also land in snapshots: after every restart the ledger loads, every
// acknowledged event is there exactly once (detail and aggregates), repeats are duplicates, and no
// event appears that was never sent. At the end every event is delivered and the grand total is exact.
TEST(CrashConsistencyTest, UsagesvcLedgerSurvivesKill9DuringRecording) {
  const int kills = KillsFromEnv();
  const uint64_t seed = SeedFromEnv();
  std::cout << "[ seed     ] LUNA_CRASH_SEED=" << seed << " LUNA_CRASH_KILLS=" << kills << std::endl;
  RecordProperty("seed", std::to_string(seed));
  Cluster c;
  c.StartAuth();  // the query RPCs check the admin key with authsvc
  // (No growth wait: snapshots keep coming every 100 events however large the ledger gets.)
  const std::map<std::string, std::string> env{{"USAGE_SNAPSHOT_EVERY_EVENTS", "100"},
                                               {"USAGE_SNAPSHOT_GROWTH_PERCENT", "0"}};
  c.StartUsage(env);
  UsageCrash model(&c, 2, seed);
  KillLoop loop(2, [&](int w) { return model.Op(w); });
  std::mt19937_64 rng(seed);
  auto start = Clock::now();
  Clock::duration down{};
  int done = 0;
  for (int kill = 1; kill <= kills && !HasFailure(); ++kill, ++done) {
    model.SetEpoch(kill / 5);
    loop.Resume();
    std::this_thread::sleep_for(std::chrono::microseconds(1000 + rng() % 100000));
    c.usage()->Stop(SIGKILL);
    loop.Pause();
    auto t0 = Clock::now();
    c.StartUsage(env);  // throws if the ledger no longer loads
    down += Clock::now() - t0;
    model.Reconnect();
    model.Check("after kill " + std::to_string(kill), false);
  }
  loop.Finish();
  model.Drain();
  c.usage()->Stop(SIGTERM);
  c.StartUsage(env);
  model.Check("after the final clean restart", true);
  model.CheckGrandTotal();
  auto secs = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  std::cout << "[ crash    ] " << done << " kills of usagesvc in " << secs(Clock::now() - start) << " s (" << secs(down)
            << " s restarting); " << model.events_sent() << " events in " << model.batches_acked()
            << " acknowledged batches, " << model.batches_unknown()
            << " batches cut by a kill or refused while down (of those, " << model.applied()
            << " found durable after the restart, " << model.not_applied() << " not), " << model.duplicates()
            << " repeats answered as duplicates; at restarts: "
            << Count(c.usage()->Log(), "left by an interrupted write") << " temporary files of interrupted snapshot "
            << "or journal writes removed, " << Count(c.usage()->Log(), " bytes (of ") << " torn journal tails cut, "
            << Count(c.usage()->Log(), "snapshot written:") << " snapshots written" << std::endl;
  EXPECT_EQ(done, kills);
  EXPECT_GT(model.batches_acked(), static_cast<uint64_t>(done));
}

}  // namespace
}  // namespace luna::testing
