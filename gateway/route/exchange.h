// One client request's trip to one upstream target: the request made for the target's API (spliced
// when the API is the same, converted when it is not), and the answer brought back into the client's
// API. Pure: no I/O, no Beast; the router does the sending.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config/gateway_config.h"
#include "gateway/convert/anthropic_to_openai_stream.h"
#include "gateway/convert/convert_types.h"
#include "gateway/convert/openai_to_anthropic_stream.h"
#include "gateway/upstream/url.h"
#include "gateway/upstream/wire_format.h"
#include "gateway/usage/usage_observer.h"

namespace luna::gateway {

// Where one attempt goes.
struct UpstreamTarget {
  std::string tier;                  // fallback tier name; "" = the default upstream as asked
  std::string provider = "upstream";
  Url url;
  WireFormat format = WireFormat::kAnthropic;
  std::string model;                 // the model sent upstream; "" = the client's
  std::string api_key;               // "" = no credential
  UpstreamAuthStyle auth_style = UpstreamAuthStyle::kAuto;
  int64_t max_tokens_limit = 0;      // 0 = no clamp
  // fallbacksvc has this tier failing or cooling down: a success is news worth reporting. (Successes
  // of healthy tiers are not reported: that would be a message per request for nothing.)
  bool report_success = false;
};

// The client's request, as far as the gateway reads it.
struct ClientCall {
  WireFormat api = WireFormat::kAnthropic;
  std::string_view body;
  std::string model;   // "" when absent or not a plain string
  bool stream = false;
};

// The API path of a format: /v1/messages or /v1/chat/completions.
std::string_view ApiPath(WireFormat format);

struct PreparedAttempt {
  // True: the client's body goes upstream as it is (the caller sends it without a copy).
  bool body_unchanged = false;
  std::string body;
  bool converting = false;
  // Same-format OpenAI stream for which the gateway asked for usage itself: hide the usage chunk.
  bool hide_usage_chunk = false;
  // Conversion state the answer needs.
  bool client_include_usage = false;
  ToolNameMap tool_names;
  std::vector<std::string> warnings;
};

// Builds the upstream body for `target`. Same API: byte-faithful, with only `model` spliced when the
// target serves another model, max_tokens clamped to the tier's limit and, for OpenAI streams,
// stream_options.include_usage added. Other API: converted (FORMATS.md §7.1 / §7.2). An error is a
// request the conversion cannot take (HTTP 400, the message names the field).
absl::StatusOr<PreparedAttempt> PrepareAttempt(const ClientCall& call, const UpstreamTarget& target);

// An upstream answer read whole (an error, or any non-streaming answer that is converted).
struct HeldAnswer {
  int status = 0;
  std::string_view body;
  std::string_view content_type;
  const HeaderList* headers = nullptr;  // lower-case names
};

// What goes to the client for a held answer, and what to bill for it.
struct ClientAnswer {
  int status = 0;
  std::string body;
  std::string content_type;
  HeaderList headers;
  bool usage_known = false;
  UsageCounts usage;
  std::string served_model;  // the model the upstream said answered ("" if unknown)
};

// Renders a held answer in the client's API: as it is for the same API (status, body, end-to-end
// headers), converted otherwise (errors keep their status, retry-after and request id).
ClientAnswer RenderHeldAnswer(const ClientCall& call, const PreparedAttempt& attempt, const UpstreamTarget& target,
                              const HeldAnswer& held, int64_t now_unix_seconds);

// Relays a streaming answer into the other API, event by event, and meters the upstream's usage on
// the way (the meter reads the upstream's own format).
class ConvertingStreamObserver final : public UsageObserver {
 public:
  // An OpenAI client served by an Anthropic upstream.
  ConvertingStreamObserver(AnthropicToOpenAIStreamOptions options);
  // An Anthropic client served by an OpenAI upstream.
  ConvertingStreamObserver(OpenAIToAnthropicStreamOptions options);

  bool RewritesBody() const override { return true; }
  std::string_view OnBody(std::string_view piece) override;
  std::string_view OnEnd(bool complete) override;

 private:
  std::variant<AnthropicToOpenAIStream, OpenAIToAnthropicStream> conv_;
  std::string tail_;
};

// The observer for a committed answer of `attempt` to `target`: a converter for a converted stream,
// else the usage meter (which also hides the usage chunk where the gateway asked for it).
std::unique_ptr<UsageObserver> MakeAnswerObserver(const ClientCall& call, const PreparedAttempt& attempt,
                                                  const UpstreamTarget& target, std::string_view message_id,
                                                  int64_t now_unix_seconds);

// The request conversion reads: the upstream headers it looks at, from a header list.
UpstreamHeaders PickUpstreamHeaders(const HeaderList& headers);

}  // namespace luna::gateway
