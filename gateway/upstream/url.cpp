#include "gateway/upstream/url.h"

#include <cstdlib>

namespace luna::gateway {

std::string Url::HostHeader() const {
  bool default_port = (tls && port == 443) || (!tls && port == 80);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? h : h + ":" + std::to_string(port);
}

absl::StatusOr<Url> ParseUrl(const std::string& text) {
  Url u;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = text.substr(8);
  } else {
    return absl::InvalidArgumentError("expected an http:// or https:// URL, got \"" + text + "\"");
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  if (authority.empty()) return absl::InvalidArgumentError("no host in \"" + text + "\"");
  if (authority.find('@') != std::string::npos) {
    return absl::InvalidArgumentError("credentials in the URL are not supported: use UPSTREAM_API_KEY");
  }
  std::string port_text;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("bad IPv6 host in \"" + text + "\"");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return absl::InvalidArgumentError("bad host in \"" + text + "\"");
      port_text = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return absl::InvalidArgumentError("no host in \"" + text + "\"");
  if (port_text.empty()) {
    u.port = u.tls ? 443 : 80;
  } else {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) {
      return absl::InvalidArgumentError("bad port in \"" + text + "\"");
    }
    u.port = static_cast<uint16_t>(p);
  }
  return u;
}

}  // namespace luna::gateway
