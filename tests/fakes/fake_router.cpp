#include "fake_router.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "gateway/convert/json_scan.h"

namespace luna::fake {
namespace {

constexpr std::string_view kControlPrefix = "/_control/";
constexpr std::string_view kModelsPrefix = "/_control/models/";

ResponsePlan JsonAnswer(uint64_t n, int status, std::string body) {
  ResponsePlan plan;
  plan.number = n;
  plan.status = status;
  plan.body = std::move(body);
  return plan;
}

ResponsePlan ControlError(uint64_t n, int status, std::string_view message) {
  return JsonAnswer(n, status, Dump({{"error", message}}));
}

// The value of `name` in a query string such as "a=1&path=%2Fv1%2Fmessages".
std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string() : UrlDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string UrlDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

ResponsePlan FakeRouter::Handle(const IncomingRequest& request) {
  uint64_t n = state_.NextNumber();
  std::string_view path = request.target.substr(0, request.target.find('?'));
  if (path.starts_with(kControlPrefix)) return HandleControl(request, path, n);

  state_.RecordRequest(n, request.method, request.target, request.headers, request.body);
  if (request.method == "POST" && path == "/v1/messages") {
    return HandleModelCall(request, Api::kAnthropic, n);
  }
  if (request.method == "POST" && path == "/v1/chat/completions") {
    return HandleModelCall(request, Api::kOpenAi, n);
  }
  if (request.method == "GET" && path == "/health") {
    return JsonAnswer(n, 200, R"({"status":"ok","accounts":)" + state_.AccountsJson() + "}");
  }
  if (request.method == "GET" && path == "/v1/models") {
    return JsonAnswer(n, 200, R"({"object":"list","data":[{"id":"fake-model","object":"model"}]})");
  }
  return JsonAnswer(n, 200,
                    Dump({{"path", request.target},
                          {"method", request.method},
                          {"body_bytes", request.body.size()}}));
}

ResponsePlan FakeRouter::Reject(std::string_view target, int status, std::string_view message) {
  Api api = target.starts_with("/v1/chat/") ? Api::kOpenAi : Api::kAnthropic;
  uint64_t n = state_.NextNumber();
  return JsonAnswer(n, status, ErrorBody(api, status, message, n));
}

void FakeRouter::Completed(const ResponsePlan& plan) {
  if (plan.on_complete) state_.RecordCompleted(*plan.on_complete);
}

ResponsePlan FakeRouter::HandleModelCall(const IncomingRequest& request, Api api, uint64_t n) {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  if (state_.recording()) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return JsonAnswer(n, 400, ErrorBody(api, 400, "The request body is not a JSON object.", n));
    }
    if (auto it = body.find("model"); it != body.end() && it->is_string())
      model = it->get<std::string>();
    if (auto it = body.find("stream"); it != body.end() && it->is_boolean()) stream = it->get<bool>();
    if (auto it = body.find("stream_options"); it != body.end() && it->is_object()) {
      auto usage = it->find("include_usage");
      include_usage = usage != it->end() && usage->is_boolean() && usage->get<bool>();
    }
  } else {
    // Benchmarks (--no-record): one structural pass, no DOM (see CMakeLists.txt).
    std::string_view text = request.body;
    std::optional<luna::gateway::JsonSpan> m, s, o;
    bool whole = luna::gateway::ScanTopLevelMembers(text, [&](std::string_view key, luna::gateway::JsonSpan v) {
      if (key == "model") m = v;
      else if (key == "stream") s = v;
      else if (key == "stream_options") o = v;
      return true;
    });
    if (!whole) return JsonAnswer(n, 400, ErrorBody(api, 400, "The request body is not a JSON object.", n));
    if (m) {
      if (auto v = luna::gateway::StringAt(text, *m)) model = std::string(*v);
    }
    if (s) stream = luna::gateway::BoolAt(text, *s).value_or(false);
    if (o) {
      include_usage =
          luna::gateway::TopLevelBool(text.substr(o->begin, o->end - o->begin), "include_usage").value_or(false);
    }
  }
  std::shared_ptr<const ModelBehaviour> b = state_.BehaviourFor(model);
  ResponsePlan plan;
  plan.number = n;
  plan.delay_ms = b->delay_ms;
  if (b->mode != Mode::kOk && b->mode != Mode::kCut) {
    ErrorAnswer error = ErrorForMode(b->mode, api, n);
    plan.status = error.status;
    plan.body = std::move(error.body);
    if (error.retry_after)
      plan.extra_headers.emplace_back("retry-after", std::to_string(b->retry_after));
    return plan;
  }
  if (stream) {
    plan.streaming = true;
    plan.content_type = "text/event-stream";
    plan.interval_ms = b->interval_ms;
    plan.events = api == Api::kAnthropic
                      ? AnthropicStreamEvents(*b, model, n)
                      : OpenAiStreamChunks(*b, model, n, UnixSeconds(), include_usage);
  } else {
    plan.body = api == Api::kAnthropic ? AnthropicMessageBody(*b, model, n)
                                       : OpenAiCompletionBody(*b, model, n, UnixSeconds());
  }
  if (b->mode == Mode::kCut) {
    plan.cut = true;
    plan.cut_after_events = static_cast<size_t>(b->cut_after_events);
  } else {
    plan.on_complete = CompletedAnswer{std::move(model), b->usage};
  }
  return plan;
}

ResponsePlan FakeRouter::HandleControl(const IncomingRequest& request, std::string_view path,
                                       uint64_t n) {
  const std::string_view method = request.method;
  auto parse_body = [&](nlohmann::json& out) {
    if (request.body.empty()) {
      out = nlohmann::json::object();
      return true;
    }
    out = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    return !out.is_discarded();
  };

  if (path == "/_control/reset" && method == "POST") {
    state_.Reset();
    return JsonAnswer(n, 200, R"({"ok":true})");
  }
  if (path == "/_control/quota") {
    if (method == "GET") return JsonAnswer(n, 200, R"({"accounts":)" + state_.AccountsJson() + "}");
    if (method != "POST") return ControlError(n, 405, "use GET or POST");
    // Parsed with ordered_json so the accounts come back in the order they were given.
    auto body = nlohmann::ordered_json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || !body.contains("accounts") ||
        !body["accounts"].is_array()) {
      return ControlError(n, 400, "the body must be {\"accounts\": [...]}");
    }
    state_.SetAccounts(
        body["accounts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return JsonAnswer(n, 200, R"({"ok":true})");
  }
  if (path == "/_control/requests") {
    if (method == "DELETE") {
      state_.ClearRequests();
      return JsonAnswer(n, 200, R"({"ok":true})");
    }
    if (method != "GET") return ControlError(n, 405, "use GET or DELETE");
    std::optional<std::string> filter = QueryParam(request.target, "path");
    return JsonAnswer(n, 200, Dump(state_.RequestsJson(filter)));
  }
  if (path == "/_control/stats" && method == "GET") {
    return JsonAnswer(n, 200, Dump(state_.StatsJson()));
  }
  if (path == "/_control/models" && method == "GET") {
    return JsonAnswer(n, 200, Dump({{"models", state_.BehavioursJson()}}));
  }
  if (path.starts_with(kModelsPrefix)) {
    std::string model = UrlDecode(path.substr(kModelsPrefix.size()));
    if (model.empty()) return ControlError(n, 400, "the model name is empty");
    if (method == "DELETE") {
      bool removed = state_.RemoveBehaviour(model);
      return JsonAnswer(n, 200, Dump({{"ok", true}, {"model", model}, {"removed", removed}}));
    }
    if (method == "GET") {
      return JsonAnswer(n, 200,
                        Dump({{"model", model}, {"config", ToJson(*state_.BehaviourFor(model))}}));
    }
    if (method != "POST") return ControlError(n, 405, "use POST, GET or DELETE");
    nlohmann::json body;
    if (!parse_body(body)) return ControlError(n, 400, "the body is not valid JSON");
    std::string error;
    std::optional<ModelBehaviour> behaviour = ParseModelBehaviour(body, error);
    if (!behaviour) return ControlError(n, 400, error);
    nlohmann::json config = ToJson(*behaviour);
    state_.SetBehaviour(model, std::move(*behaviour));
    return JsonAnswer(n, 200,
                      Dump({{"ok", true}, {"model", model}, {"config", std::move(config)}}));
  }
  return ControlError(n, 404,
                      "unknown control endpoint " + std::string(method) + " " + std::string(path));
}

}  // namespace luna::fake
