#include "fake_state.h"

#include <openssl/evp.h>

#include <chrono>

namespace luna::fake {
namespace {

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

std::shared_ptr<const ModelBehaviour> FakeState::BehaviourFor(std::string_view model) const {
  static const auto kDefault = std::make_shared<const ModelBehaviour>();
  std::lock_guard lock(behaviours_mutex_);
  auto it = behaviours_.find(model);
  return it == behaviours_.end() ? kDefault : it->second;
}

void FakeState::SetBehaviour(const std::string& model, ModelBehaviour behaviour) {
  auto shared = std::make_shared<const ModelBehaviour>(std::move(behaviour));
  std::lock_guard lock(behaviours_mutex_);
  behaviours_[model] = std::move(shared);
}

bool FakeState::RemoveBehaviour(std::string_view model) {
  std::lock_guard lock(behaviours_mutex_);
  auto it = behaviours_.find(model);
  if (it == behaviours_.end()) return false;
  behaviours_.erase(it);
  return true;
}

nlohmann::json FakeState::BehavioursJson() const {
  std::lock_guard lock(behaviours_mutex_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [model, behaviour] : behaviours_) out[model] = ToJson(*behaviour);
  return out;
}

void FakeState::SetAccounts(std::string accounts_json) {
  std::lock_guard lock(behaviours_mutex_);
  accounts_json_ = std::move(accounts_json);
}

std::string FakeState::AccountsJson() const {
  std::lock_guard lock(behaviours_mutex_);
  return accounts_json_;
}

void FakeState::RecordRequest(uint64_t number, std::string_view method, std::string_view target,
                              const HeaderList& headers, std::string_view body) {
  {
    std::lock_guard lock(stats_mutex_);
    ++total_requests_;
    std::string_view path = PathOf(target);
    auto it = by_path_.find(path);
    if (it == by_path_.end()) it = by_path_.emplace(std::string(path), 0).first;
    ++it->second;
  }
  if (!record_) return;
  RecordedRequest r;
  r.number = number;
  r.method = method;
  r.target = target;
  r.headers.reserve(headers.size());
  for (const auto& [name, value] : headers) r.headers.emplace_back(Lowercase(name), value);
  r.body_bytes = body.size();
  r.body_sha256 = Sha256Hex(body);
  if (body.size() <= kMaxRecordedBody) r.body = std::string(body);
  r.received_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  std::lock_guard lock(requests_mutex_);
  requests_.push_back(std::move(r));
  while (requests_.size() > kMaxRecorded) requests_.pop_front();
}

void FakeState::RecordCompleted(const CompletedAnswer& answer) {
  std::lock_guard lock(stats_mutex_);
  ++completed_;
  auto it = by_model_.find(answer.model);
  if (it == by_model_.end()) it = by_model_.emplace(answer.model, ModelStats{}).first;
  ModelStats& s = it->second;
  ++s.requests;
  s.usage.input_tokens += answer.usage.input_tokens;
  s.usage.output_tokens += answer.usage.output_tokens;
  s.usage.cache_read_input_tokens += answer.usage.cache_read_input_tokens;
  s.usage.cache_creation_input_tokens += answer.usage.cache_creation_input_tokens;
}

nlohmann::json FakeState::RequestsJson(std::optional<std::string_view> path_filter) const {
  nlohmann::json list = nlohmann::json::array();
  std::lock_guard lock(requests_mutex_);
  for (const RecordedRequest& r : requests_) {
    if (path_filter && PathOf(r.target) != *path_filter) continue;
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : r.headers) {
      auto it = headers.find(name);
      if (it == headers.end()) {
        headers[name] = value;
      } else {
        it->get_ref<std::string&>().append(", ").append(value);
      }
    }
    list.push_back({{"n", r.number},
                    {"method", r.method},
                    {"target", r.target},
                    {"headers", std::move(headers)},
                    {"body_bytes", r.body_bytes},
                    {"body_sha256", r.body_sha256},
                    {"body", r.body ? nlohmann::json(*r.body) : nlohmann::json(nullptr)},
                    {"received_unix_ms", r.received_unix_ms}});
  }
  return {{"recording", record_}, {"requests", std::move(list)}};
}

nlohmann::json FakeState::StatsJson() const {
  std::lock_guard lock(stats_mutex_);
  nlohmann::json by_model = nlohmann::json::object();
  for (const auto& [model, s] : by_model_) {
    by_model[model] = {{"requests", s.requests},
                       {"input_tokens", s.usage.input_tokens},
                       {"output_tokens", s.usage.output_tokens},
                       {"cache_read_input_tokens", s.usage.cache_read_input_tokens},
                       {"cache_creation_input_tokens", s.usage.cache_creation_input_tokens}};
  }
  return {{"requests", total_requests_},
          {"completed_ok", completed_},
          {"by_path", by_path_},
          {"by_model", std::move(by_model)}};
}

void FakeState::ClearRequests() {
  std::lock_guard lock(requests_mutex_);
  requests_.clear();
}

void FakeState::Reset() {
  {
    std::lock_guard lock(behaviours_mutex_);
    behaviours_.clear();
    accounts_json_ = "[]";
  }
  ClearRequests();
  std::lock_guard lock(stats_mutex_);
  total_requests_ = 0;
  completed_ = 0;
  by_path_.clear();
  by_model_.clear();
}

}  // namespace luna::fake
