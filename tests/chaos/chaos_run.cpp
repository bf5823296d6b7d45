// The chaos run (issue #9): a steady mixed load through the real gateway — both client APIs, streaming
// and not, several keys, one of them disabled — while every process is killed with SIGKILL in turn
// (gateway, authsvc, usagesvc, fallbacksvc, fake upstream) and restarted on its port. Afterwards it
// checks, and prints:
//   - every request a client saw complete is in the ledger exactly once, with the tokens the client
//     was told (ListEvents per key, by x-request-id), and the ledger's totals equal its events;
//   - every error a client saw is one the outage policies explain: the gateway or the upstream was
//     down while the request ran (authsvc, usagesvc and fallbacksvc outages must cost clients nothing),
//     and the disabled key was refused every time it reached a gateway;
//   - every state file loads (each service restarted once more at the end) and the keys and their
//     states are what they were before the first kill.
// Exit status 0 only if all of that holds.
//
// Usage: luna_chaos [--seconds N] [--seed S] [--clients N] [--json PATH]
// (ctest runs the short form, chaos_short; deploy/chaos.sh runs a longer one.)
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster.h"
#include "usage.grpc.pb.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace upb = luna::usage::v1;

struct Options {
  int seconds = 40;
  uint64_t seed = 0;
  int clients = 6;
  std::string json_path;
};

// What one client request came to.
struct Outcome {
  std::string request_id;
  int client = 0;
  bool openai = false;
  bool stream = false;
  bool disabled_key = false;
  Clock::time_point start, end;
  int status = 0;
  bool completed = false;   // 200 and the whole answer, with its usage
  int64_t tokens = 0;       // the answer's tokens (input + output + cache), as the client was told
  std::string error;        // why it did not complete
};

// One kill and restart.
struct Outage {
  std::string process;
  Clock::time_point killed, ready;
};

const char* const kProcesses[] = {"gateway", "authsvc", "usagesvc", "fallbacksvc", "upstream"};

std::string Body(bool openai, bool stream) {
  json b = {{"model", "chaos-a"}, {"max_tokens", 32}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  if (stream) {
    b["stream"] = true;
    if (openai) b["stream_options"] = {{"include_usage", true}};
  }
  return b.dump();
}

int64_t Num(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

int64_t AnthropicTokens(const json& usage) {
  return Num(usage, "input_tokens") + Num(usage, "output_tokens") + Num(usage, "cache_read_input_tokens") +
         Num(usage, "cache_creation_input_tokens");
}

// The usage an answer told its client, and whether the answer is whole. False if it is not.
bool ReadAnswer(const HttpResponse& r, bool openai, bool stream, int64_t* tokens, std::string* why) {
  if (!stream) {
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("usage")) {
      *why = "answer without usage";
      return false;
    }
    const json& u = j["usage"];
    *tokens = openai ? Num(u, "prompt_tokens") + Num(u, "completion_tokens") : AnthropicTokens(u);
    return true;
  }
  // SSE: read each data line.
  bool ended = false;
  int64_t in = 0, out = 0;
  size_t pos = 0;
  while (pos < r.body.size()) {
    size_t eol = r.body.find('\n', pos);
    if (eol == std::string::npos) eol = r.body.size();
    std::string_view line(r.body.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.rfind("data: ", 0) != 0) continue;
    line.remove_prefix(6);
    if (line == "[DONE]") {
      ended = openai;
      continue;
    }
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (openai) {
      if (j.contains("usage") && j["usage"].is_object()) {
        in = Num(j["usage"], "prompt_tokens");
        out = Num(j["usage"], "completion_tokens");
      }
      continue;
    }
    std::string type = j.value("type", "");
    if (type == "message_start") {
      // Its output_tokens is a placeholder; message_delta carries the count.
      json u = j["message"].value("usage", json::object());
      u.erase("output_tokens");
      in = AnthropicTokens(u);
    } else if (type == "message_delta" && j.contains("usage")) {
      out = Num(j["usage"], "output_tokens");
    } else if (type == "message_stop") {
      ended = true;
    } else if (type == "error") {
      *why = "error event in the stream";
      return false;
    }
  }
  if (!ended) {
    *why = "stream cut before its end";
    return false;
  }
  *tokens = in + out;
  return true;
}

class ChaosRun {
 public:
  explicit ChaosRun(Options o)
      : opts_(o),
        fb_port_(UnusedPort()),
        cluster_(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", "127.0.0.1:" + std::to_string(fb_port_)},
                                                  {"UPSTREAM_TIMEOUT_SECONDS", "10"}}}) {}

  int Run();

 private:
  void StartAll();
  void SetUpstreamModels();
  void Client(int index, const std::string& key, bool disabled);
  void Killer();
  void KillAndRestart(const std::string& process, std::mt19937_64& rng);
  json KeysSnapshot();
  bool WaitSpoolDrained();
  // usagesvc's admin API for one call: the stub, with `ctx` given the admin key and a deadline.
  std::unique_ptr<upb::UsageService::Stub> UsageAdmin(grpc::ClientContext* ctx);
  std::vector<upb::UsageEvent> Events(const std::string& key_id, bool* capped);
  bool Explained(const Outcome& o) const;
  void Violation(const std::string& what);
  int64_t Ms(Clock::time_point t) const;  // since the run began

  Options opts_;
  int fb_port_;
  Cluster cluster_;
  std::unique_ptr<Process> fallback_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Outcome> outcomes_;
  std::vector<Outage> outages_;
  std::vector<std::string> violations_;
  int64_t request_seq_ = 0;
  Clock::time_point t0_ = Clock::now();
};

int64_t ChaosRun::Ms(Clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - t0_).count();
}

void ChaosRun::Violation(const std::string& what) {
  std::lock_guard lock(mu_);
  if (violations_.size() < 200) violations_.push_back(what);
}

void ChaosRun::SetUpstreamModels() {
  // A stream of ~300 ms, so kills land in the middle of streams too.
  cluster_.SetModel("chaos-a", R"({"events": 10, "interval_ms": 30, "usage": {"input_tokens": 7, "output_tokens": 5}})");
  cluster_.SetModel("chaos-b", R"({"events": 4, "usage": {"input_tokens": 3, "output_tokens": 2}})");
}

void ChaosRun::StartAll() {
  cluster_.StartUpstream();
  SetUpstreamModels();
  cluster_.StartAuth();
  cluster_.StartUsage();
  json cfg = {{"enabled", true},
              {"health_poll_interval_seconds", 30},
              {"tiers",
               {{{"name", "first"}, {"model", "chaos-a"}, {"type", "upstream"}},
                {{"name", "second"}, {"model", "chaos-b"}, {"type", "upstream"}}}}};
  fallback_ = StartFallbackService(cluster_, cfg.dump(), &fb_port_);
  cluster_.StartGateway();
}

json ChaosRun::KeysSnapshot() {
  auto r = cluster_.Gateway("GET", "/admin/keys", {{"x-api-key", cluster_.admin_key()}});
  if (r.status != 200) throw std::runtime_error("GET /admin/keys: " + std::to_string(r.status) + " " + r.body);
  json out = json::object();
  const json list = json::parse(r.body).at("keys");
  for (const auto& k : list) {
    out[k.at("id").get<std::string>()] = {{"key", k["key"]},         {"name", k["name"]},
                                          {"enabled", k["enabled"]}, {"created", k["created"]},
                                          {"imported", k["imported"]}, {"policy", k["policy"]}};
  }
  return out;
}

void ChaosRun::Client(int index, const std::string& key, bool disabled) {
  std::mt19937_64 rng(opts_.seed * 1000 + static_cast<uint64_t>(index));
  while (!stop_.load()) {
    Outcome o;
    o.client = index;
    o.disabled_key = disabled;
    o.openai = rng() % 2 == 0;
    o.stream = rng() % 2 == 0;
    {
      std::lock_guard lock(mu_);
      o.request_id = "chaos-" + std::to_string(opts_.seed) + "-" + std::to_string(++request_seq_);
    }
    Headers h = {{"content-type", "application/json"}, {"x-request-id", o.request_id}};
    if (o.openai) {
      h.emplace_back("authorization", "Bearer " + key);
    } else {
      h.emplace_back("x-api-key", key);
    }
    o.start = Clock::now();
    HttpResponse r = Fetch(cluster_.gateway_port(), "POST", o.openai ? "/v1/chat/completions" : "/v1/messages", h,
                           Body(o.openai, o.stream), 15s);
    o.end = Clock::now();
    o.status = r.status;
    if (r.status == 0) {
      o.error = "no answer (connection refused or cut)";
    } else if (r.status != 200) {
      json j = json::parse(r.body, nullptr, false);
      std::string msg = j.is_object() && j.contains("error") && j["error"].is_object()
                            ? j["error"].value("message", std::string())
                            : r.body.substr(0, 120);
      o.error = "HTTP " + std::to_string(r.status) + ": " + msg;
    } else if (!r.complete) {
      o.error = "answer cut before its end";
    } else {
      o.completed = ReadAnswer(r, o.openai, o.stream, &o.tokens, &o.error);
    }
    {
      std::lock_guard lock(mu_);
      outcomes_.push_back(o);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 40));
  }
}

void ChaosRun::KillAndRestart(const std::string& process, std::mt19937_64& rng) {
  Process* p = process == "gateway"    ? cluster_.gateway()
               : process == "authsvc"  ? cluster_.auth()
               : process == "usagesvc" ? cluster_.usage()
               : process == "upstream" ? cluster_.upstream()
                                       : fallback_.get();
  Outage o{process, Clock::now(), {}};
  p->Stop(SIGKILL, 5s);  // and reaped, so its port is free
  std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 900));
  if (process == "gateway") {
    cluster_.StartGateway(/*same_port=*/true);
  } else if (process == "authsvc") {
    cluster_.StartAuth();
  } else if (process == "usagesvc") {
    cluster_.StartUsage();
  } else if (process == "upstream") {
    cluster_.StartUpstream(/*same_port=*/true);
    SetUpstreamModels();
  } else {
    fallback_ = StartFallbackService(cluster_, "", &fb_port_);
  }
  o.ready = Clock::now();
  std::lock_guard lock(mu_);
  outages_.push_back(o);
}

void ChaosRun::Killer() {
  std::mt19937_64 rng(opts_.seed);
  auto end = Clock::now() + std::chrono::seconds(opts_.seconds);
  size_t next = 0;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 + rng() % 1500));
    if (Clock::now() >= end) break;
    KillAndRestart(kProcesses[next++ % std::size(kProcesses)], rng);
  }
  stop_ = true;
}

// An error is explained by an outage of the process that causes that kind of error, while the request
// ran: no answer or an answer cut short by the gateway's or the upstream's death (the gateway cuts a
// stream whose upstream died); "No upstream could answer" by the upstream's; "Authentication service
// unavailable" by the gateway's restart (a gateway starting listens before its key table has arrived,
// and validates an unknown key with one call, which can fail while authsvc's channel is still being
// set up). Nothing is explained by authsvc, usagesvc or fallbacksvc outages: their policies keep
// clients served.
bool ChaosRun::Explained(const Outcome& o) const {
  const bool gateway_or_upstream = o.status == 0 || o.status == 200;
  const bool no_upstream = (o.status == 502 || o.status == 503 || o.status == 504) &&
                           o.error.find("No upstream could answer") != std::string::npos;
  const bool gateway_starting =
      o.status == 503 && o.error.find("Authentication service unavailable") != std::string::npos;
  for (const Outage& out : outages_) {
    const bool explains = out.process == "upstream" ? gateway_or_upstream || no_upstream
                          : out.process == "gateway" ? gateway_or_upstream || gateway_starting
                                                     : false;
    // The gateway's pooled connections to a restarted upstream may fail once more just after it is
    // back; allow a second.
    if (explains && o.start <= out.ready + 1s && o.end >= out.killed) return true;
  }
  return false;
}

bool ChaosRun::WaitSpoolDrained() {
  return Eventually(
      [&] {
        auto r = cluster_.Gateway("GET", "/health");
        json h = json::parse(r.body, nullptr, false);
        if (!h.is_object()) return false;
        const json& u = h["services"]["usagesvc"];
        return u.value("connected", false) && u.value("events_pending", -1) == 0;
      },
      60s);
}

std::unique_ptr<upb::UsageService::Stub> ChaosRun::UsageAdmin(grpc::ClientContext* ctx) {
  ctx->AddMetadata("x-api-key", cluster_.admin_key());
  ctx->set_deadline(std::chrono::system_clock::now() + 20s);
  return upb::UsageService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(cluster_.usage_port()), grpc::InsecureChannelCredentials()));
}

std::vector<upb::UsageEvent> ChaosRun::Events(const std::string& key_id, bool* capped) {
  grpc::ClientContext ctx;
  auto stub = UsageAdmin(&ctx);
  upb::ListEventsRequest req;
  req.set_key_id(key_id);
  req.set_limit(10000);
  upb::ListEventsResponse resp;
  grpc::Status st = stub->ListEvents(&ctx, req, &resp);
  if (!st.ok()) throw std::runtime_error("ListEvents: " + st.error_message());
  *capped = resp.events_size() >= 10000;
  return {resp.events().begin(), resp.events().end()};
}

int ChaosRun::Run() {
  auto t0 = Clock::now();
  StartAll();
  if (!Eventually(
          [&] {
            json h = json::parse(cluster_.Gateway("GET", "/health").body, nullptr, false);
            return h.is_object() && h["services"]["fallbacksvc"]["watch"] == "synced";
          },
          20s)) {
    std::cerr << "chaos: the gateway never synced its route table\n";
    return 2;
  }
  std::vector<std::string> keys;
  for (int i = 0; i < opts_.clients; ++i) keys.push_back(cluster_.CreateKey("chaos-" + std::to_string(i)));
  // One key with a policy (its allow-list admits the chain), one disabled.
  auto pr = cluster_.Gateway("POST", "/admin/keys",
                             {{"x-api-key", cluster_.admin_key()}, {"content-type", "application/json"}},
                             R"({"name":"chaos-policy","policy":{"models":["chaos-*"],"requests_per_minute":100000}})");
  if (pr.status != 200) throw std::runtime_error("create policy key: " + pr.body);
  keys.push_back(json::parse(pr.body).at("api_key").get<std::string>());
  std::string disabled = cluster_.CreateKey("chaos-disabled");
  cluster_.SetEnabled(disabled, false);
  json keys_before = KeysSnapshot();
  if (keys_before.size() != keys.size() + 1) {  // the chaos keys and the disabled one
    throw std::runtime_error("the admin API lists " + std::to_string(keys_before.size()) + " keys");
  }

  std::cout << "chaos: seed " << opts_.seed << ", " << opts_.seconds << " s, " << keys.size() + 1
            << " clients (one with a disabled key), logs in " << cluster_.dir().path() << "\n";
  std::vector<std::thread> clients;
  for (size_t i = 0; i < keys.size(); ++i) clients.emplace_back([&, i] { Client(static_cast<int>(i), keys[i], false); });
  clients.emplace_back([&] { Client(static_cast<int>(keys.size()), disabled, true); });
  std::thread killer([&] { Killer(); });
  killer.join();
  for (auto& t : clients) t.join();

  // Settle: every process up, the gateway's spool delivered.
  bool drained = WaitSpoolDrained();
  if (!drained) Violation("the gateway's usage spool was not delivered within 60 s of the end");

  // The ledger, per key, before and after one more restart of every service (every state file loads).
  json key_ids = keys_before;
  auto ledger = [&](std::map<std::string, std::vector<upb::UsageEvent>>* by_key) {
    for (const auto& [id, info] : key_ids.items()) {
      bool capped = false;
      (*by_key)[id] = Events(id, &capped);
      if (capped) Violation("key " + id + " has 10,000 events or more: the run is too long to verify");
    }
  };
  std::map<std::string, std::vector<upb::UsageEvent>> events;
  ledger(&events);
  {
    bool capped = false;
    auto all = Events("", &capped);
    size_t listed = 0;
    for (const auto& [id, list] : events) listed += list.size();
    if (!capped && all.size() != listed) {
      Violation(std::to_string(all.size()) + " events in the ledger, " + std::to_string(listed) +
                " of them under the run's keys" + (all.empty() ? "" : " (e.g. key " + all[0].key_id() + ")"));
    }
  }

  for (const char* p : {"authsvc", "usagesvc", "fallbacksvc", "gateway"}) {
    std::mt19937_64 rng(opts_.seed + 7);
    try {
      KillAndRestart(p, rng);
      outages_.pop_back();  // not during the load
    } catch (const std::exception& e) {
      Violation(std::string(p) + " did not start again on its state: " + e.what());
    }
  }
  std::map<std::string, std::vector<upb::UsageEvent>> events_after;
  ledger(&events_after);
  json keys_after = KeysSnapshot();
  if (keys_after != keys_before) {
    Violation("keys changed: before " + keys_before.dump() + " after " + keys_after.dump());
  }

  // Every completed request exactly once, with its tokens.
  std::map<std::string, std::vector<const upb::UsageEvent*>> by_request;
  std::set<std::string> event_ids;
  size_t total_events = 0;
  for (const auto& [id, list] : events) {
    total_events += list.size();
    for (const auto& e : list) {
      by_request[e.request_id()].push_back(&e);
      if (!event_ids.insert(e.event_id()).second) Violation("event id listed twice: " + e.event_id());
    }
    auto after = events_after.find(id);
    if (after == events_after.end() || after->second.size() != list.size()) {
      Violation("key " + id + ": " + std::to_string(list.size()) + " events before the final restarts, " +
                std::to_string(after == events_after.end() ? 0 : after->second.size()) + " after");
    }
  }
  size_t completed = 0, lost = 0, duplicated = 0, wrong_tokens = 0, explained = 0, unexplained = 0,
         disabled_refused = 0, events_of_failed = 0;
  int64_t client_tokens = 0, ledger_tokens = 0;
  std::map<std::string, int> error_kinds;
  for (const Outcome& o : outcomes_) {
    auto it = by_request.find(o.request_id);
    size_t n = it == by_request.end() ? 0 : it->second.size();
    if (n > 1) {
      ++duplicated;
      Violation(o.request_id + " is in the ledger " + std::to_string(n) + " times");
    }
    if (o.disabled_key) {
      if (o.status == 200) Violation(o.request_id + ": the disabled key was served");
      if (o.status == 403) {
        ++disabled_refused;
        continue;
      }
    }
    if (o.completed) {
      ++completed;
      client_tokens += o.tokens;
      if (n == 0) {
        ++lost;
        Violation(o.request_id + " completed but is not in the ledger");
        continue;
      }
      const upb::UsageEvent& e = *it->second.front();
      int64_t t = e.input_tokens() + e.output_tokens() + e.cache_read_tokens() + e.cache_write_tokens();
      ledger_tokens += t;
      if (t != o.tokens || e.status() != 200 || e.partial()) {
        ++wrong_tokens;
        Violation(o.request_id + ": client was told " + std::to_string(o.tokens) + " tokens, the ledger has " +
                  std::to_string(t) + " (status " + std::to_string(e.status()) + (e.partial() ? ", partial" : "") +
                  ")");
      }
      continue;
    }
    if (n > 0) ++events_of_failed;
    std::string kind = o.error.substr(0, 90);
    ++error_kinds[kind];
    if (Explained(o)) {
      ++explained;
    } else {
      ++unexplained;
      std::string when = " at +" + std::to_string(Ms(o.start)) + "..+" + std::to_string(Ms(o.end)) + " ms; outages:";
      for (const Outage& out : outages_) {
        if (Ms(out.ready) + 3000 >= Ms(o.start) && Ms(out.killed) <= Ms(o.end) + 3000) {
          when += " " + out.process + " +" + std::to_string(Ms(out.killed)) + "..+" + std::to_string(Ms(out.ready));
        }
      }
      Violation(o.request_id + " (" + (o.openai ? "openai" : "anthropic") + (o.stream ? ", stream" : "") +
                ") failed and no outage explains it: " + o.error + when);
    }
  }

  // The ledger's totals equal its events, per key.
  grpc::ClientContext ctx;
  auto stub = UsageAdmin(&ctx);
  upb::QueryUsageRequest q;
  q.set_by_key(true);
  upb::QueryUsageResponse qr;
  grpc::Status st = stub->QueryUsage(&ctx, q, &qr);
  if (!st.ok()) Violation("QueryUsage: " + st.error_message());
  for (const auto& row : qr.rows()) {
    auto it = events_after.find(row.key_id());
    int64_t req = 0, tok = 0;
    if (it != events_after.end()) {
      for (const auto& e : it->second) {
        ++req;
        tok += e.input_tokens() + e.output_tokens() + e.cache_read_tokens() + e.cache_write_tokens();
      }
    }
    const auto& t = row.totals();
    int64_t row_tok = t.input_tokens() + t.output_tokens() + t.cache_read_tokens() + t.cache_write_tokens();
    if (t.requests() != req || row_tok != tok) {
      Violation("key " + row.key_id() + ": ledger totals " + std::to_string(t.requests()) + " requests / " +
                std::to_string(row_tok) + " tokens, its events " + std::to_string(req) + " / " + std::to_string(tok));
    }
  }

  std::map<std::string, int> kills;
  std::map<std::string, double> down_ms;
  for (const Outage& o : outages_) {
    ++kills[o.process];
    down_ms[o.process] += std::chrono::duration<double, std::milli>(o.ready - o.killed).count();
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  json report = {{"seed", opts_.seed},
                 {"seconds_of_load", opts_.seconds},
                 {"seconds_in_all", secs},
                 {"requests", outcomes_.size()},
                 {"completed", completed},
                 {"disabled_key_refused", disabled_refused},
                 {"errors_explained", explained},
                 {"errors_unexplained", unexplained},
                 {"error_kinds", error_kinds},
                 {"ledger_events", total_events},
                 {"events_of_failed_requests", events_of_failed},
                 {"lost", lost},
                 {"duplicated", duplicated},
                 {"token_mismatches", wrong_tokens},
                 {"client_tokens", client_tokens},
                 {"ledger_tokens_of_completed", ledger_tokens},
                 {"kills", kills},
                 {"down_ms", down_ms},
                 {"keys_unchanged", keys_after == keys_before},
                 {"spool_drained", drained},
                 {"violations", violations_}};
  std::printf("\nchaos run: seed %llu, %d s of load, %.1f s in all\n", static_cast<unsigned long long>(opts_.seed),
              opts_.seconds, secs);
  std::printf("  kills (SIGKILL, then restart):");
  for (const auto& [p, n] : kills) std::printf(" %s %d (%.0f ms down)", p.c_str(), n, down_ms[p]);
  std::printf("\n  requests %zu: completed %zu, disabled key refused %zu, errors explained %zu, unexplained %zu\n",
              outcomes_.size(), completed, disabled_refused, explained, unexplained);
  for (const auto& [k, n] : error_kinds) std::printf("    %6d  %s\n", n, k.c_str());
  std::printf("  ledger: %zu events; completed requests lost %zu, duplicated %zu, token mismatches %zu\n", total_events,
              lost, duplicated, wrong_tokens);
  std::printf("  tokens: clients were told %lld, the ledger holds %lld for them\n",
              static_cast<long long>(client_tokens), static_cast<long long>(ledger_tokens));
  std::printf("  (%zu events belong to requests whose client saw an error: cut streams, counted as partial)\n",
              events_of_failed);
  std::printf("  state files load after the run: %s; keys unchanged: %s\n",
              violations_.empty() || keys_after == keys_before ? "yes" : "see violations",
              keys_after == keys_before ? "yes" : "NO");
  for (const auto& v : violations_) std::printf("  VIOLATION: %s\n", v.c_str());
  std::printf("  result: %s\n", violations_.empty() ? "PASS" : "FAIL");
  if (!opts_.json_path.empty()) std::ofstream(opts_.json_path) << report.dump(2) << "\n";
  fallback_->Stop(SIGTERM, 10s);
  return violations_.empty() ? 0 : 1;
}

}  // namespace
}  // namespace luna::testing

int main(int argc, char** argv) {
  luna::testing::Options o;
  o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") {
      o.seconds = std::stoi(value());
    } else if (a == "--seed") {
      o.seed = std::stoull(value());
    } else if (a == "--clients") {
      o.clients = std::stoi(value());
    } else if (a == "--json") {
      o.json_path = value();
    } else {
      std::cerr << "usage: luna_chaos [--seconds N] [--seed S] [--clients N] [--json PATH]\n";
      return 2;
    }
  }
  if (o.seconds < 5 || o.seconds > 3600 || o.clients < 1 || o.clients > 64) {
    std::cerr << "luna_chaos: --seconds must be 5..3600 and --clients 1..64\n";
    return 2;
  }
  try {
    return luna::testing::ChaosRun(o).Run();
  } catch (const std::exception& e) {
    std::cerr << "chaos: " << e.what() << "\n";
    return 2;
  }
}
