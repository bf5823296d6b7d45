// GET /v1/models bodies in both APIs' shapes, from the configured model names. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace luna::gateway {

// OpenAI: {"object":"list","data":[{"id","object":"model","created","owned_by"}…]}.
std::string OpenAIModelList(const std::vector<std::string>& names, int64_t created_unix,
                            std::string_view owned_by = "luna");

// Anthropic: {"data":[{"type":"model","id","display_name","created_at"}…],"has_more":false,
// "first_id","last_id"} (first_id / last_id null when the list is empty). `display_name` is the id;
// `created_at` is an RFC 3339 time.
std::string AnthropicModelList(const std::vector<std::string>& names, std::string_view created_at_rfc3339);

// Formats unix seconds as RFC 3339 UTC ("2026-01-02T03:04:05Z").
std::string Rfc3339Utc(int64_t unix_seconds);

}  // namespace luna::gateway
