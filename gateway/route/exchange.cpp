#include "gateway/route/exchange.h"

#include "gateway/convert/anthropic_to_openai_request.h"
#include "gateway/convert/anthropic_to_openai_response.h"
#include "gateway/convert/json_scan.h"
#include "gateway/convert/json_writer.h"
#include "gateway/convert/openai_to_anthropic_request.h"
#include "gateway/convert/openai_to_anthropic_response.h"
#include "gateway/usage/stream_usage.h"
#include "gateway/usage/usage_meter.h"

namespace luna::gateway {

std::string_view ApiPath(WireFormat format) {
  return format == WireFormat::kAnthropic ? "/v1/messages" : "/v1/chat/completions";
}

namespace {

// Lowers a top-level token limit to `limit` if it is above it.
void ClampTopLevel(std::string* body, std::string_view key, int64_t limit) {
  auto v = TopLevelInt64(*body, key);
  if (v && *v > limit) ReplaceTopLevelValue(body, key, std::to_string(limit));
}

absl::StatusOr<PreparedAttempt> PrepareSameFormat(const ClientCall& call, const UpstreamTarget& target) {
  PreparedAttempt a;
  bool swap_model = !target.model.empty() && target.model != call.model;
  bool need_usage = call.api == WireFormat::kOpenAI && call.stream;
  if (!swap_model && target.max_tokens_limit <= 0 && !need_usage) {
    a.body_unchanged = true;
    return a;
  }
  a.body = std::string(call.body);
  if (swap_model) {
    std::string quoted;
    quoted.reserve(target.model.size() + 2);
    quoted += '"';
    AppendJsonEscaped(target.model, &quoted);
    quoted += '"';
    ReplaceTopLevelValue(&a.body, "model", quoted);
  }
  if (target.max_tokens_limit > 0) {
    ClampTopLevel(&a.body, "max_tokens", target.max_tokens_limit);
    if (call.api == WireFormat::kOpenAI) ClampTopLevel(&a.body, "max_completion_tokens", target.max_tokens_limit);
  }
  // OpenAI streams carry usage only when asked: always ask, hide it again if the client did not.
  if (need_usage) a.hide_usage_chunk = !EnsureIncludeUsage(&a.body);
  return a;
}

UsageCounts MeterWhole(WireFormat format, std::string_view body, bool* known, std::string* served_model) {
  UsageMeter meter(format, /*streaming=*/false);
  meter.Feed(body);
  meter.Finish();
  *known = meter.saw_usage();
  *served_model = meter.served_model();
  return meter.usage();
}

}  // namespace

absl::StatusOr<PreparedAttempt> PrepareAttempt(const ClientCall& call, const UpstreamTarget& target) {
  if (call.api == target.format) return PrepareSameFormat(call, target);
  PreparedAttempt a;
  a.converting = true;
  absl::StatusOr<ConvertedRequest> converted;
  if (call.api == WireFormat::kAnthropic) {
    AnthropicToOpenAIRequestOptions opt;
    opt.model = target.model;
    opt.max_tokens_limit = target.max_tokens_limit;
    converted = ConvertAnthropicToOpenAIRequest(call.body, opt);
  } else {
    OpenAIToAnthropicRequestOptions opt;
    opt.model = target.model;
    opt.max_tokens_limit = target.max_tokens_limit;
    converted = ConvertOpenAIToAnthropicRequest(call.body, opt);
  }
  if (!converted.ok()) return converted.status();
  a.body = std::move(converted->body);
  a.client_include_usage = converted->client_include_usage;
  a.tool_names = std::move(converted->tool_names);
  a.warnings = std::move(converted->warnings);
  return a;
}

UpstreamHeaders PickUpstreamHeaders(const HeaderList& headers) {
  UpstreamHeaders h;
  for (const auto& [name, value] : headers) {
    if (name == "retry-after") {
      h.retry_after = value;
    } else if (name == "retry-after-ms") {
      h.retry_after_ms = value;
    } else if (name == "x-should-retry") {
      h.should_retry = value;
    } else if (name == "request-id" || (name == "x-request-id" && h.request_id.empty())) {
      h.request_id = value;
    }
  }
  return h;
}

ClientAnswer RenderHeldAnswer(const ClientCall& call, const PreparedAttempt& attempt, const UpstreamTarget& target,
                              const HeldAnswer& held, int64_t now_unix_seconds) {
  ClientAnswer a;
  a.usage = MeterWhole(target.format, held.body, &a.usage_known, &a.served_model);
  if (!attempt.converting) {
    a.status = held.status;
    a.body = std::string(held.body);
    a.content_type = held.content_type.empty() ? "application/json" : std::string(held.content_type);
    if (held.headers != nullptr) a.headers = *held.headers;
    return a;
  }
  static const HeaderList kNone;
  UpstreamHeaders uh = PickUpstreamHeaders(held.headers != nullptr ? *held.headers : kNone);
  ConvertedResponse r;
  if (call.api == WireFormat::kAnthropic) {
    OpenAIToAnthropicResponseOptions opt;
    opt.tool_names = &attempt.tool_names;
    r = ConvertOpenAIToAnthropicResponse(held.status, held.body, uh, opt);
  } else {
    AnthropicToOpenAIResponseOptions opt;
    opt.created = now_unix_seconds;
    r = ConvertAnthropicToOpenAIResponse(held.status, held.body, uh, opt);
  }
  a.status = r.status;
  a.body = std::move(r.body);
  a.content_type = "application/json";
  a.headers = std::move(r.headers);
  return a;
}

ConvertingStreamObserver::ConvertingStreamObserver(AnthropicToOpenAIStreamOptions options)
    : UsageObserver(WireFormat::kAnthropic, false),
      conv_(std::in_place_type<AnthropicToOpenAIStream>, std::move(options)) {}

ConvertingStreamObserver::ConvertingStreamObserver(OpenAIToAnthropicStreamOptions options)
    : UsageObserver(WireFormat::kOpenAI, false),
      conv_(std::in_place_type<OpenAIToAnthropicStream>, std::move(options)) {}

std::string_view ConvertingStreamObserver::OnBody(std::string_view piece) {
  UsageObserver::OnBody(piece);  // meters the upstream's own bytes
  out_.clear();
  std::visit([&](auto& c) { c.Feed(piece, &out_); }, conv_);
  return out_;
}

std::string_view ConvertingStreamObserver::OnEnd(bool complete) {
  UsageObserver::OnEnd(complete);
  // A separate buffer: the relay may still hold the view OnBody returned.
  tail_.clear();
  std::visit([&](auto& c) { c.Finish(complete, &tail_); }, conv_);
  return tail_;
}

std::unique_ptr<UsageObserver> MakeAnswerObserver(const ClientCall& call, const PreparedAttempt& attempt,
                                                  const UpstreamTarget& target, std::string_view message_id,
                                                  int64_t now_unix_seconds) {
  if (!attempt.converting || !call.stream) {
    return std::make_unique<UsageObserver>(target.format, attempt.hide_usage_chunk);
  }
  if (call.api == WireFormat::kOpenAI) {
    AnthropicToOpenAIStreamOptions opt;
    opt.created = now_unix_seconds;
    opt.client_include_usage = attempt.client_include_usage;
    return std::make_unique<ConvertingStreamObserver>(std::move(opt));
  }
  OpenAIToAnthropicStreamOptions opt;
  opt.message_id = std::string(message_id);
  opt.tool_names = attempt.tool_names;
  return std::make_unique<ConvertingStreamObserver>(std::move(opt));
}

}  // namespace luna::gateway
