#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace luna::testing {

HttpConnection::HttpConnection(int port, const std::string& host) : host_(host) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool HttpConnection::SendRaw(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool HttpConnection::Send(const std::string& method, const std::string& target, const Headers& headers,
                          const std::string& body) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n";
  bool has_len = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    std::string lk = k;
    std::transform(lk.begin(), lk.end(), lk.begin(), ::tolower);
    if (lk == "content-length" || lk == "transfer-encoding") has_len = true;
  }
  if (!has_len && (!body.empty() || method == "POST" || method == "PUT")) {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  return SendRaw(req);
}

bool HttpConnection::Fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0) return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char tmp[65536];
  ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

bool HttpConnection::ClosedByPeer(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, 50);
    if (r > 0) {
      char tmp[4096];
      ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
    }
  }
  return false;
}

HttpResponse HttpConnection::Read(std::chrono::milliseconds timeout,
                                  const std::function<void(const std::string&)>& on_piece) {
  HttpResponse r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t hdr_end;
  while (true) {
    hdr_end = buf_.find("\r\n\r\n");
    if (hdr_end != std::string::npos) {
      // Skip interim 1xx answers (100 Continue).
      if (buf_.rfind("HTTP/1.1 1", 0) == 0) {
        buf_.erase(0, hdr_end + 4);
        continue;
      }
      break;
    }
    if (!Fill(deadline)) return r;
  }
  std::string head = buf_.substr(0, hdr_end);
  buf_.erase(0, hdr_end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.size() >= 12) r.status = std::atoi(status_line.c_str() + 9);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon);
      std::transform(k.begin(), k.end(), k.begin(), ::tolower);
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.headers[k] = v;
    }
    pos = e + 2;
  }
  auto emit = [&](const std::string& piece) {
    r.body += piece;
    if (on_piece && !piece.empty()) on_piece(piece);
  };
  if (r.status == 204 || r.status == 304) {
    r.complete = true;
    return r;
  }
  if (r.Header("transfer-encoding").find("chunked") != std::string::npos) {
    while (true) {
      size_t le;
      while ((le = buf_.find("\r\n")) == std::string::npos) {
        if (!Fill(deadline)) return r;
      }
      size_t len = std::strtoul(buf_.substr(0, le).c_str(), nullptr, 16);
      while (buf_.size() < le + 2 + len + 2) {
        if (!Fill(deadline)) {
          // Deliver what arrived of this chunk before giving up.
          return r;
        }
      }
      std::string piece = buf_.substr(le + 2, len);
      buf_.erase(0, le + 2 + len + 2);
      if (len == 0) {
        r.complete = true;
        return r;
      }
      emit(piece);
    }
  }
  if (r.headers.count("content-length")) {
    size_t len = std::strtoul(r.Header("content-length").c_str(), nullptr, 10);
    while (buf_.size() < len) {
      if (!buf_.empty() && on_piece) {
        emit(buf_);
        len -= buf_.size();
        buf_.clear();
        continue;
      }
      if (!Fill(deadline)) {
        emit(buf_);
        buf_.clear();
        return r;
      }
    }
    emit(buf_.substr(0, len));
    buf_.erase(0, len);
    r.complete = true;
    return r;
  }
  // Body until close.
  while (Fill(deadline)) {
  }
  emit(buf_);
  buf_.clear();
  r.complete = true;
  return r;
}

HttpResponse Fetch(int port, const std::string& method, const std::string& target, const Headers& headers,
                   const std::string& body, std::chrono::milliseconds timeout) {
  HttpConnection c(port);
  if (!c.connected()) return {};
  if (!c.Send(method, target, headers, body)) return {};
  return c.Read(timeout);
}

}  // namespace luna::testing
