// The admin dashboard's sign-in sessions: a server-side table from a random session id (held by the
// browser in an HttpOnly cookie) to the admin credential it was opened with, a CSRF token the page
// sends back as a header, and its expiry. Pure logic (no Beast, no gRPC): time is passed in.
// Thread-safe: the gateway's I/O threads share one table.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace luna::gateway {

class DashboardSessions {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Settings {
    std::chrono::seconds idle{1800};      // a session unused this long ends
    std::chrono::seconds lifetime{43200};  // and every session ends this long after sign-in
    size_t max_sessions = 1000;           // past this, the session used least recently is dropped
  };

  // What a new session gives the browser: the cookie value and the CSRF token. Neither is stored
  // as given (the table keeps their SHA-256), so a memory dump does not hand out live sessions.
  struct Opened {
    std::string id;
    std::string csrf_token;
  };

  explicit DashboardSessions(Settings settings) : settings_(settings) {}

  // Opens a session for `credential` (already checked to be the admin key by the caller).
  Opened Open(std::string credential, TimePoint now);

  // The credential of the live session `id`, refreshing its idle timer. With `csrf_token` non-null,
  // the token must match the session's too. nullopt for an unknown, expired or mismatched session.
  std::optional<std::string> Use(std::string_view id, const std::string_view* csrf_token, TimePoint now);

  // The CSRF token cannot be read back (it is stored hashed): a page reloaded in the same tab gets a
  // fresh one, replacing the old. nullopt for an unknown or expired session.
  std::optional<std::string> RenewCsrf(std::string_view id, TimePoint now);

  // Ends the session `id` (sign-out). Returns whether it existed.
  bool Close(std::string_view id);

  size_t size() const;

 private:
  struct Entry {
    std::string credential;
    std::string csrf_hash;
    TimePoint opened;
    TimePoint last_used;
  };
  // Removes expired entries; the caller holds mu_.
  void Sweep(TimePoint now);
  bool Expired(const Entry& e, TimePoint now) const;

  Settings settings_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_id_hash_;
};

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "" if absent.
std::string_view CookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace luna::gateway
