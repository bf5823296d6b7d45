// The admin dashboard's session table (see dashboard_sessions.h).
#include "gateway/api/dashboard_sessions.h"

#include <algorithm>

#include "common/crypto.h"

namespace luna::gateway {

DashboardSessions::Opened DashboardSessions::Open(std::string credential, TimePoint now) {
  Opened opened{RandomBase64Url(32), RandomBase64Url(32)};
  std::lock_guard lock(mu_);
  Sweep(now);
  while (by_id_hash_.size() >= settings_.max_sessions && !by_id_hash_.empty()) {
    auto oldest = std::min_element(by_id_hash_.begin(), by_id_hash_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    by_id_hash_.erase(oldest);
  }
  by_id_hash_[Sha256Hex(opened.id)] = Entry{std::move(credential), Sha256Hex(opened.csrf_token), now, now};
  return opened;
}

bool DashboardSessions::Expired(const Entry& e, TimePoint now) const {
  return now - e.last_used >= settings_.idle || now - e.opened >= settings_.lifetime;
}

void DashboardSessions::Sweep(TimePoint now) {
  std::erase_if(by_id_hash_, [&](const auto& kv) { return Expired(kv.second, now); });
}

std::optional<std::string> DashboardSessions::Use(std::string_view id, const std::string_view* csrf_token,
                                                  TimePoint now) {
  if (id.empty()) return std::nullopt;
  std::string key = Sha256Hex(id);
  std::lock_guard lock(mu_);
  auto it = by_id_hash_.find(key);
  if (it == by_id_hash_.end()) return std::nullopt;
  if (Expired(it->second, now)) {
    by_id_hash_.erase(it);
    return std::nullopt;
  }
  if (csrf_token != nullptr && !ConstantTimeEquals(Sha256Hex(*csrf_token), it->second.csrf_hash)) return std::nullopt;
  it->second.last_used = now;
  return it->second.credential;
}

std::optional<std::string> DashboardSessions::RenewCsrf(std::string_view id, TimePoint now) {
  if (!Use(id, nullptr, now)) return std::nullopt;
  std::string token = RandomBase64Url(32);
  std::lock_guard lock(mu_);
  auto it = by_id_hash_.find(Sha256Hex(id));
  if (it == by_id_hash_.end()) return std::nullopt;
  it->second.csrf_hash = Sha256Hex(token);
  return token;
}

bool DashboardSessions::Close(std::string_view id) {
  if (id.empty()) return false;
  std::lock_guard lock(mu_);
  return by_id_hash_.erase(Sha256Hex(id)) > 0;
}

size_t DashboardSessions::size() const {
  std::lock_guard lock(mu_);
  return by_id_hash_.size();
}

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      std::string_view value = part.substr(eq + 1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return value;
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

}  // namespace luna::gateway
