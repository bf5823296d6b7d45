#include "gateway/convert/error_mapping.h"

#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"

namespace luna::gateway {
namespace {

constexpr size_t kMaxRawMessage = 500;

void AddPassThroughHeaders(const UpstreamHeaders& h, HeaderList* out) {
  if (!h.retry_after.empty()) out->emplace_back("retry-after", h.retry_after);
  if (!h.retry_after_ms.empty()) out->emplace_back("retry-after-ms", h.retry_after_ms);
  if (!h.should_retry.empty()) out->emplace_back("x-should-retry", h.should_retry);
}

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string TrimmedBody(std::string_view body) {
  size_t b = body.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = body.find_last_not_of(" \t\r\n");
  std::string_view t = CutUtf8(body.substr(b, e - b + 1), kMaxRawMessage);
  if (IsValidUtf8(t)) return std::string(t);
  std::string ascii;  // a raw body may hold anything: keep the ASCII, mark the rest
  for (char c : t) ascii += static_cast<unsigned char>(c) < 0x80 ? c : '?';
  return ascii;
}

}  // namespace

std::string_view AnthropicErrorTypeForStatus(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 500: return "api_error";
    case 503: return "overloaded_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
  }
}

int StatusForAnthropicErrorType(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;
}

std::string ErrorMessageFromBody(int status, std::string_view body) {
  JsonDoc doc;
  if (doc.Parse(body)) {
    JsonRef root = doc.root();
    JsonRef err = root["error"];
    if (err["message"].IsString()) return err["message"].str();
    if (err.IsString()) return err.str();
    if (root["message"].IsString()) return root["message"].str();
    if (root["detail"].IsString()) return root["detail"].str();
    if (root["detail"].present()) {
      std::string s;
      AppendCompactJson(root["detail"], &s);
      return std::string(CutUtf8(s, kMaxRawMessage));
    }
  } else {
    std::string t = TrimmedBody(body);
    if (!t.empty()) return t;
  }
  return "upstream returned HTTP " + std::to_string(status);
}

ConvertedResponse OpenAIErrorToAnthropic(int status, std::string_view body, const UpstreamHeaders& headers) {
  ConvertedResponse r;
  r.status = status;
  r.is_error = true;
  AddPassThroughHeaders(headers, &r.headers);
  if (!headers.request_id.empty()) r.headers.emplace_back("request-id", headers.request_id);
  JsonDoc doc;
  if (doc.Parse(body)) {
    JsonRef root = doc.root();
    if (root["type"].Is("error") && root["error"]["type"].IsString() && root["error"]["message"].IsString()) {
      r.body.assign(body);  // already Anthropic-shaped
      return r;
    }
  }
  JsonWriter w(&r.body);
  w.BeginObject();
  w.Key("type").String("error");
  w.Key("error").BeginObject();
  w.Key("type").String(AnthropicErrorTypeForStatus(status));
  w.Key("message").String(ErrorMessageFromBody(status, body));
  w.EndObject();
  w.EndObject();
  return r;
}

ConvertedResponse AnthropicErrorToOpenAI(int status, std::string_view body, const UpstreamHeaders& headers,
                                         bool map_529_to_503) {
  ConvertedResponse r;
  r.status = (status == 529 && map_529_to_503) ? 503 : status;
  r.is_error = true;
  AddPassThroughHeaders(headers, &r.headers);
  if (!headers.request_id.empty()) r.headers.emplace_back("x-request-id", headers.request_id);
  std::string type(AnthropicErrorTypeForStatus(status));
  JsonDoc doc;
  if (doc.Parse(body) && doc.root()["error"]["type"].IsString()) type = doc.root()["error"]["type"].str();
  JsonWriter w(&r.body);
  w.BeginObject();
  w.Key("error").BeginObject();
  w.Key("message").String(ErrorMessageFromBody(status, body));
  w.Key("type").String(type);
  w.Key("param").Null();
  w.Key("code").Null();
  w.EndObject();
  w.EndObject();
  return r;
}

void AppendAnthropicErrorEvent(std::string_view type, std::string_view message, std::string* out) {
  out->append("event: error\ndata: ");
  JsonWriter w(out);
  w.BeginObject();
  w.Key("type").String("error");
  w.Key("error").BeginObject().Key("type").String(type).Key("message").String(message).EndObject();
  w.EndObject();
  out->append("\n\n");
}

void AppendOpenAIErrorChunk(std::string_view type, std::string_view message, std::string* out) {
  out->append("data: ");
  JsonWriter w(out);
  w.BeginObject();
  w.Key("error").BeginObject();
  w.Key("message").String(message);
  w.Key("type").String(type);
  w.Key("param").Null();
  w.Key("code").Null();
  w.EndObject();
  w.EndObject();
  out->append("\n\n");
}

}  // namespace luna::gateway
