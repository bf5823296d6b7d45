// Test support: a small blocking HTTP/1.1 client over raw sockets, so tests can send exactly the
// bytes they mean (malformed requests included) and see when each piece of a stream arrives.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace luna::testing {

struct HttpResponse {
  int status = 0;                              // 0: no answer (connection failed or closed)
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;                            // de-chunked
  bool complete = false;                       // the body ended properly (length reached / last chunk)
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpConnection {
 public:
  explicit HttpConnection(int port, const std::string& host = "127.0.0.1");
  ~HttpConnection();
  bool connected() const { return fd_ >= 0; }
  bool SendRaw(const std::string& bytes);
  // Sends a request (Content-Length set from body; Host added).
  bool Send(const std::string& method, const std::string& target, const Headers& headers,
            const std::string& body = "");
  // Reads one response. `on_piece` (if set) is called with each body piece as it arrives.
  HttpResponse Read(std::chrono::milliseconds timeout = std::chrono::seconds(30),
                    const std::function<void(const std::string&)>& on_piece = nullptr);
  // True if the server closed the connection (reads EOF within `timeout`).
  bool ClosedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void Close();

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string host_;
  std::string buf_;
};

// One request on a fresh connection.
HttpResponse Fetch(int port, const std::string& method, const std::string& target, const Headers& headers = {},
                   const std::string& body = "", std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace luna::testing
