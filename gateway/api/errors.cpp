#include "gateway/api/errors.h"

#include <nlohmann/json.hpp>

#include "gateway/convert/error_mapping.h"

namespace luna::gateway {

ApiFlavor FlavorForPath(std::string_view path) {
  auto q = path.find('?');
  std::string_view p = path.substr(0, q);
  if (p.rfind("/v1/messages", 0) == 0) return ApiFlavor::kAnthropic;
  if (p.rfind("/v1/chat/completions", 0) == 0) return ApiFlavor::kOpenAI;
  if (p.rfind("/admin", 0) == 0) return ApiFlavor::kAdmin;
  return ApiFlavor::kGeneric;
}

std::string_view AnthropicErrorType(int status) { return AnthropicErrorTypeForStatus(status); }

std::string_view OpenAIErrorType(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    case 504: return "timeout_error";
    default: return status < 500 ? "invalid_request_error" : "api_error";
  }
}

std::string ErrorBody(ApiFlavor flavor, int status, std::string_view message, std::string_view type) {
  nlohmann::json j;
  switch (flavor) {
    case ApiFlavor::kAnthropic:
      j = {{"type", "error"},
           {"error", {{"type", type.empty() ? AnthropicErrorType(status) : type}, {"message", message}}}};
      break;
    case ApiFlavor::kOpenAI:
    case ApiFlavor::kGeneric: {
      nlohmann::json code = nullptr;
      if (status == 401) code = "invalid_api_key";
      j = {{"error",
            {{"message", message}, {"type", type.empty() ? OpenAIErrorType(status) : type}, {"param", nullptr},
             {"code", code}}}};
      break;
    }
    case ApiFlavor::kAdmin:
      j = {{"detail", message},
           {"error", {{"type", type.empty() ? AnthropicErrorType(status) : type}, {"message", message}}}};
      break;
  }
  return j.dump();
}

}  // namespace luna::gateway
