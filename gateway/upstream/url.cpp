#include "gateway/upstream/url.h"

#include <cstdlib>

namespace luna::gateway {

std::string Url::HostHeader() const {
  bool default_port = (tls && port == 443) || (!tls && port == 80);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? h : h + ":" + std::to_string(port);
}

namespace {

// A host name (letters, digits, '.', '-', '_') or, in brackets, an IPv6 address (hex digits, ':' and
// '.', with an optional %zone). Anything else would not read back from the Host header it makes
// (found by fuzzing: "https://[[x]:1" took "[x" for a host).
bool ValidHost(std::string_view host, bool bracketed) {
  auto name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
  };
  if (!bracketed) {
    for (char c : host) {
      if (!name_char(c)) return false;
    }
    return true;
  }
  std::string_view addr = host.substr(0, host.find('%'));
  if (addr.find(':') == std::string_view::npos) return false;
  for (char c : addr) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  if (addr.size() == host.size()) return true;
  std::string_view zone = host.substr(addr.size() + 1);
  if (zone.empty()) return false;
  for (char c : zone) {
    if (!name_char(c)) return false;
  }
  return true;
}

}  // namespace

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
  if (!ValidHost(u.host, authority.front() == '[')) return absl::InvalidArgumentError("bad host in \"" + text + "\"");
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

bool HasDotSegment(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  // Decode %2e, %2f and %5c (any case); a segment is what lies between / or \ separators.
  std::string seg;
  auto dot_segment = [&] { return seg == "." || seg == ".."; };
  for (size_t i = 0; i <= path.size(); ++i) {
    char c = i < path.size() ? path[i] : '/';
    if (c == '%' && i + 2 < path.size()) {
      char a = path[i + 1], b = static_cast<char>(path[i + 2] | 0x20);
      if (a == '2' && b == 'e') c = '.';
      if (a == '2' && b == 'f') c = '/';
      if (a == '5' && b == 'c') c = '\\';
      if (c != '%') i += 2;
    }
    if (c == '/' || c == '\\') {
      if (dot_segment()) return true;
      seg.clear();
    } else {
      seg += c;
    }
  }
  return false;
}

}  // namespace luna::gateway
