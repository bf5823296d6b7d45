#include "fake_behaviour.h"

#include <array>
#include <utility>

namespace luna::fake {
namespace {

// Output objects keep insertion order so the bodies read like the real APIs'.
using OJson = nlohmann::ordered_json;

constexpr std::array<std::pair<Mode, std::string_view>, 7> kModeNames = {{
    {Mode::kOk, "ok"},
    {Mode::k429, "429"},
    {Mode::k503, "503"},
    {Mode::k529, "529"},
    {Mode::kCredit, "credit"},
    {Mode::k402, "402"},
    {Mode::kCut, "cut"},
}};

constexpr std::string_view kAnthropicCreditMessage =
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to "
    "upgrade or purchase credits.";
constexpr std::string_view kOpenAiQuotaMessage =
    "You exceeded your current quota, please check your plan and billing details.";

std::string DumpOrdered(const OJson& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string RequestId(uint64_t n) { return "req_fake_" + std::to_string(n); }

bool ReadInt(const nlohmann::json& object, const char* key, int64_t min, int64_t max, int64_t& out,
             std::string& error) {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_number_integer()) {
    error = std::string("`") + key + "` must be an integer";
    return false;
  }
  int64_t value = it->get<int64_t>();
  if (value < min || value > max) {
    error = std::string("`") + key + "` must be between " + std::to_string(min) + " and " +
            std::to_string(max);
    return false;
  }
  out = value;
  return true;
}

bool ReadInt(const nlohmann::json& object, const char* key, int64_t min, int64_t max, int& out,
             std::string& error) {
  int64_t value = out;
  if (!ReadInt(object, key, min, max, value, error)) return false;
  out = static_cast<int>(value);
  return true;
}

bool CheckKeys(const nlohmann::json& object, std::initializer_list<std::string_view> allowed,
               std::string_view where, std::string& error) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) {
      error = "unknown key `" + key + "` in " + std::string(where);
      return false;
    }
  }
  return true;
}

OJson AnthropicUsage(const FakeUsage& u) {
  return OJson{{"input_tokens", u.input_tokens},
               {"output_tokens", u.output_tokens},
               {"cache_creation_input_tokens", u.cache_creation_input_tokens},
               {"cache_read_input_tokens", u.cache_read_input_tokens}};
}

OJson OpenAiUsage(const FakeUsage& u) {
  int64_t prompt = u.input_tokens + u.cache_read_input_tokens;
  return OJson{{"prompt_tokens", prompt},
               {"completion_tokens", u.output_tokens},
               {"total_tokens", prompt + u.output_tokens},
               {"prompt_tokens_details", {{"cached_tokens", u.cache_read_input_tokens}}}};
}

std::string SseEvent(std::string_view name, const OJson& data) {
  std::string frame;
  std::string json = DumpOrdered(data);
  frame.reserve(json.size() + name.size() + 16);
  frame.append("event: ").append(name).append("\ndata: ").append(json).append("\n\n");
  return frame;
}

std::string SseData(const OJson& data) { return "data: " + DumpOrdered(data) + "\n\n"; }

std::string AnthropicErrorType(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string AnthropicError(std::string_view type, std::string_view message, uint64_t n) {
  return DumpOrdered(OJson{{"type", "error"},
                           {"error", {{"type", type}, {"message", message}}},
                           {"request_id", RequestId(n)}});
}

std::string OpenAiError(std::string_view message, std::string_view type, const OJson& code) {
  return DumpOrdered(
      OJson{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}});
}

}  // namespace

std::string_view ModeName(Mode mode) {
  for (const auto& [m, name] : kModeNames) {
    if (m == mode) return name;
  }
  return "ok";
}

std::optional<ModelBehaviour> ParseModelBehaviour(const nlohmann::json& body, std::string& error) {
  if (!body.is_object()) {
    error = "the body must be a JSON object";
    return std::nullopt;
  }
  if (!CheckKeys(body,
                 {"mode", "retry_after", "delay_ms", "cut_after_events", "events", "interval_ms",
                  "text", "tool_call", "usage"},
                 "the model config", error)) {
    return std::nullopt;
  }
  ModelBehaviour b;
  if (auto it = body.find("mode"); it != body.end()) {
    bool found = false;
    if (it->is_string()) {
      for (const auto& [m, name] : kModeNames) {
        if (it->get_ref<const std::string&>() == name) {
          b.mode = m;
          found = true;
        }
      }
    }
    if (!found) {
      error = "`mode` must be one of ok, 429, 503, 529, credit, cut";
      return std::nullopt;
    }
  }
  constexpr int64_t kMaxMs = 3'600'000;
  if (!ReadInt(body, "retry_after", 0, 86'400, b.retry_after, error) ||
      !ReadInt(body, "delay_ms", 0, kMaxMs, b.delay_ms, error) ||
      !ReadInt(body, "cut_after_events", 0, 1'000'000, b.cut_after_events, error) ||
      !ReadInt(body, "events", 0, 1'000'000, b.events, error) ||
      !ReadInt(body, "interval_ms", 0, kMaxMs, b.interval_ms, error)) {
    return std::nullopt;
  }
  if (auto it = body.find("text"); it != body.end()) {
    if (!it->is_string()) {
      error = "`text` must be a string";
      return std::nullopt;
    }
    b.text = it->get<std::string>();
  }
  if (auto it = body.find("tool_call"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || !CheckKeys(*it, {"name", "input"}, "`tool_call`", error)) {
      if (error.empty()) error = "`tool_call` must be an object {name, input}";
      return std::nullopt;
    }
    auto name = it->find("name");
    if (name == it->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      error = "`tool_call.name` must be a non-empty string";
      return std::nullopt;
    }
    FakeToolCall call{name->get<std::string>(), nlohmann::json::object()};
    if (auto input = it->find("input"); input != it->end()) {
      if (!input->is_object()) {
        error = "`tool_call.input` must be an object";
        return std::nullopt;
      }
      call.input = *input;
    }
    b.tool_call = std::move(call);
  }
  if (auto it = body.find("usage"); it != body.end()) {
    if (!it->is_object() || !CheckKeys(*it,
                                       {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                        "cache_creation_input_tokens"},
                                       "`usage`", error)) {
      if (error.empty()) error = "`usage` must be an object";
      return std::nullopt;
    }
    constexpr int64_t kMaxTokens = 1'000'000'000'000;
    if (!ReadInt(*it, "input_tokens", 0, kMaxTokens, b.usage.input_tokens, error) ||
        !ReadInt(*it, "output_tokens", 0, kMaxTokens, b.usage.output_tokens, error) ||
        !ReadInt(*it, "cache_read_input_tokens", 0, kMaxTokens, b.usage.cache_read_input_tokens,
                 error) ||
        !ReadInt(*it, "cache_creation_input_tokens", 0, kMaxTokens,
                 b.usage.cache_creation_input_tokens, error)) {
      return std::nullopt;
    }
  }
  return b;
}

nlohmann::json ToJson(const ModelBehaviour& b) {
  nlohmann::json out = {{"mode", ModeName(b.mode)},
                        {"retry_after", b.retry_after},
                        {"delay_ms", b.delay_ms},
                        {"cut_after_events", b.cut_after_events},
                        {"events", b.events},
                        {"interval_ms", b.interval_ms},
                        {"text", b.text},
                        {"tool_call", nullptr},
                        {"usage",
                         {{"input_tokens", b.usage.input_tokens},
                          {"output_tokens", b.usage.output_tokens},
                          {"cache_read_input_tokens", b.usage.cache_read_input_tokens},
                          {"cache_creation_input_tokens", b.usage.cache_creation_input_tokens}}}};
  if (b.tool_call) out["tool_call"] = {{"name", b.tool_call->name}, {"input", b.tool_call->input}};
  return out;
}

std::vector<std::string> SplitUtf8(std::string_view text, int pieces) {
  std::vector<std::string> out;
  if (pieces <= 0) return out;
  // Byte offsets where a code point starts (continuation bytes are 10xxxxxx), plus the end.
  std::vector<size_t> starts;
  starts.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  size_t code_points = starts.size();
  starts.push_back(text.size());
  out.reserve(pieces);
  for (int i = 0; i < pieces; ++i) {
    size_t from = starts[code_points * i / pieces];
    size_t to = starts[code_points * (i + 1) / pieces];
    out.emplace_back(text.substr(from, to - from));
  }
  return out;
}

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string AnthropicMessageBody(const ModelBehaviour& b, std::string_view model, uint64_t n) {
  std::string suffix = std::to_string(n);
  OJson content = OJson::array({OJson{{"type", "text"}, {"text", b.text}}});
  if (b.tool_call) {
    content.push_back(OJson{{"type", "tool_use"},
                            {"id", "toolu_fake_" + suffix},
                            {"name", b.tool_call->name},
                            {"input", OJson(b.tool_call->input)}});
  }
  return DumpOrdered(OJson{{"id", "msg_fake_" + suffix},
                           {"type", "message"},
                           {"role", "assistant"},
                           {"model", model},
                           {"content", std::move(content)},
                           {"stop_reason", b.tool_call ? "tool_use" : "end_turn"},
                           {"stop_sequence", nullptr},
                           {"usage", AnthropicUsage(b.usage)}});
}

std::vector<std::string> AnthropicStreamEvents(const ModelBehaviour& b, std::string_view model,
                                               uint64_t n) {
  std::string suffix = std::to_string(n);
  const FakeUsage& u = b.usage;
  std::vector<std::string> events;
  events.reserve(static_cast<size_t>(b.events) + 12);
  events.push_back(SseEvent(
      "message_start", OJson{{"type", "message_start"},
                             {"message",
                              {{"id", "msg_fake_" + suffix},
                               {"type", "message"},
                               {"role", "assistant"},
                               {"content", OJson::array()},
                               {"model", model},
                               {"stop_reason", nullptr},
                               {"stop_sequence", nullptr},
                               {"usage",
                                {{"input_tokens", u.input_tokens},
                                 {"cache_creation_input_tokens", u.cache_creation_input_tokens},
                                 {"cache_read_input_tokens", u.cache_read_input_tokens},
                                 {"output_tokens", 1}}}}}}));
  events.push_back(
      SseEvent("content_block_start", OJson{{"type", "content_block_start"},
                                            {"index", 0},
                                            {"content_block", {{"type", "text"}, {"text", ""}}}}));
  for (std::string& piece : SplitUtf8(b.text, b.events)) {
    events.push_back(
        SseEvent("content_block_delta",
                 OJson{{"type", "content_block_delta"},
                       {"index", 0},
                       {"delta", {{"type", "text_delta"}, {"text", std::move(piece)}}}}));
  }
  events.push_back(
      SseEvent("content_block_stop", OJson{{"type", "content_block_stop"}, {"index", 0}}));
  if (b.tool_call) {
    events.push_back(SseEvent("content_block_start", OJson{{"type", "content_block_start"},
                                                           {"index", 1},
                                                           {"content_block",
                                                            {{"type", "tool_use"},
                                                             {"id", "toolu_fake_" + suffix},
                                                             {"name", b.tool_call->name},
                                                             {"input", OJson::object()}}}}));
    // Like the real API: an empty first piece, then the arguments in a few fragments.
    std::vector<std::string> pieces = SplitUtf8(Dump(b.tool_call->input), 3);
    pieces.insert(pieces.begin(), std::string());
    for (std::string& piece : pieces) {
      events.push_back(SseEvent(
          "content_block_delta",
          OJson{{"type", "content_block_delta"},
                {"index", 1},
                {"delta", {{"type", "input_json_delta"}, {"partial_json", std::move(piece)}}}}));
    }
    events.push_back(
        SseEvent("content_block_stop", OJson{{"type", "content_block_stop"}, {"index", 1}}));
  }
  events.push_back(SseEvent(
      "message_delta",
      OJson{{"type", "message_delta"},
            {"delta",
             {{"stop_reason", b.tool_call ? "tool_use" : "end_turn"}, {"stop_sequence", nullptr}}},
            {"usage",
             {{"output_tokens", u.output_tokens},
              {"input_tokens", u.input_tokens},
              {"cache_read_input_tokens", u.cache_read_input_tokens},
              {"cache_creation_input_tokens", u.cache_creation_input_tokens}}}}));
  events.push_back(SseEvent("message_stop", OJson{{"type", "message_stop"}}));
  return events;
}

std::string OpenAiCompletionBody(const ModelBehaviour& b, std::string_view model, uint64_t n,
                                 int64_t created) {
  std::string suffix = std::to_string(n);
  OJson message = {{"role", "assistant"}, {"content", b.text}, {"refusal", nullptr}};
  if (b.tool_call) {
    message["tool_calls"] = OJson::array({OJson{
        {"id", "call_fake_" + suffix},
        {"type", "function"},
        {"function", {{"name", b.tool_call->name}, {"arguments", Dump(b.tool_call->input)}}}}});
  }
  return DumpOrdered(OJson{
      {"id", "chatcmpl-fake_" + suffix},
      {"object", "chat.completion"},
      {"created", created},
      {"model", model},
      {"choices", OJson::array({OJson{{"index", 0},
                                      {"message", std::move(message)},
                                      {"logprobs", nullptr},
                                      {"finish_reason", b.tool_call ? "tool_calls" : "stop"}}})},
      {"usage", OpenAiUsage(b.usage)}});
}

std::vector<std::string> OpenAiStreamChunks(const ModelBehaviour& b, std::string_view model,
                                            uint64_t n, int64_t created, bool include_usage) {
  std::string suffix = std::to_string(n);
  std::string id = "chatcmpl-fake_" + suffix;
  auto chunk = [&](OJson delta, const OJson& finish_reason) {
    return SseData(OJson{{"id", id},
                         {"object", "chat.completion.chunk"},
                         {"created", created},
                         {"model", model},
                         {"choices", OJson::array({OJson{{"index", 0},
                                                         {"delta", std::move(delta)},
                                                         {"logprobs", nullptr},
                                                         {"finish_reason", finish_reason}}})},
                         {"usage", nullptr}});
  };
  std::vector<std::string> chunks;
  chunks.reserve(static_cast<size_t>(b.events) + 10);
  chunks.push_back(chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr));
  for (std::string& piece : SplitUtf8(b.text, b.events)) {
    chunks.push_back(chunk({{"content", std::move(piece)}}, nullptr));
  }
  if (b.tool_call) {
    chunks.push_back(chunk(
        {{"tool_calls",
          OJson::array({OJson{{"index", 0},
                              {"id", "call_fake_" + suffix},
                              {"type", "function"},
                              {"function", {{"name", b.tool_call->name}, {"arguments", ""}}}}})}},
        nullptr));
    for (std::string& piece : SplitUtf8(Dump(b.tool_call->input), 3)) {
      chunks.push_back(chunk(
          {{"tool_calls",
            OJson::array({OJson{{"index", 0}, {"function", {{"arguments", std::move(piece)}}}}})}},
          nullptr));
    }
  }
  chunks.push_back(chunk(OJson::object(), b.tool_call ? "tool_calls" : "stop"));
  if (include_usage) {
    chunks.push_back(SseData(OJson{{"id", id},
                                   {"object", "chat.completion.chunk"},
                                   {"created", created},
                                   {"model", model},
                                   {"choices", OJson::array()},
                                   {"usage", OpenAiUsage(b.usage)}}));
  }
  chunks.emplace_back("data: [DONE]\n\n");
  return chunks;
}

ErrorAnswer ErrorForMode(Mode mode, Api api, uint64_t n) {
  bool anthropic = api == Api::kAnthropic;
  switch (mode) {
    case Mode::k429:
      return {429,
              anthropic
                  ? AnthropicError("rate_limit_error",
                                   "This request would exceed the rate limit (fake upstream).", n)
                  : OpenAiError("Rate limit reached (fake upstream).", "requests",
                                "rate_limit_exceeded"),
              true};
    case Mode::k503:
      return {503,
              anthropic ? AnthropicError("api_error", "Service unavailable (fake upstream).", n)
                        : OpenAiError("The server is overloaded or not ready yet.", "server_error",
                                      "service_unavailable"),
              true};
    case Mode::k529:
      return {529,
              anthropic ? AnthropicError("overloaded_error", "Overloaded", n)
                        : OpenAiError("Overloaded", "server_error", "overloaded"),
              true};
    case Mode::kCredit:
      return {400,
              anthropic
                  ? AnthropicError("invalid_request_error", kAnthropicCreditMessage, n)
                  : OpenAiError(kOpenAiQuotaMessage, "insufficient_quota", "insufficient_quota"),
              false};
    case Mode::k402:
      return {402,
              anthropic ? AnthropicError("billing_error", "Payment required: the account is out of funds.", n)
                        : OpenAiError("Payment required: the account is out of funds.", "billing_error",
                                      "payment_required"),
              false};
    case Mode::kOk:
    case Mode::kCut:
      break;
  }
  return {500, ErrorBody(api, 500, "not an error mode", n), false};
}

std::string ErrorBody(Api api, int status, std::string_view message, uint64_t n) {
  if (api == Api::kAnthropic) return AnthropicError(AnthropicErrorType(status), message, n);
  return OpenAiError(message, status >= 500 ? "server_error" : "invalid_request_error", nullptr);
}

}  // namespace luna::fake
