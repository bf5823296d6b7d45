#include "fallbacksvc/http_url.h"

#include <charconv>

namespace luna::fallbacksvc {

std::string HttpUrl::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if ((tls && port == 443) || (!tls && port == 80)) return h;
  return h + ":" + std::to_string(port);
}

absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& text) {
  HttpUrl url;
  std::string_view rest = text;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    url.tls = true;
    rest.remove_prefix(8);
  } else {
    return absl::InvalidArgumentError("not an http:// or https:// URL: \"" + text + "\"");
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (auto hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
  // (Not target.insert(0, "/"): GCC 12 at -O3 flags that with a false -Wrestrict, bug 105329.)
  if (url.target.empty() || url.target[0] != '/') url.target = "/" + url.target;
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError("credentials in the URL are not supported: \"" + text + "\"");
  }
  std::string_view port_text;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("bad IPv6 host in \"" + text + "\"");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("bad host in \"" + text + "\"");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return absl::InvalidArgumentError("empty host in \"" + text + "\"");
  url.port = url.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return absl::InvalidArgumentError("bad port in \"" + text + "\"");
    }
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

}  // namespace luna::fallbacksvc
