// libFuzzer target for the gateway's request handling without live services: raw bytes through
// Beast's request parser with the gateway's limits (a connection's pipelined requests, one after the
// other, as the server's session reads them), then the request-level helpers the router applies to
// each request: credential extraction, the top-level JSON scan of the
// body (model and stream), ReadRequestNeeds and PrepareAttempt for every pair of client and upstream
// API. Checked, beyond "no crash": parsing does not depend on how the bytes arrive; a credential is
// trimmed and comes from the request's own headers; the scan's spans lie in the body, in order,
// agree with the single-member lookups and with splicing; a prepared body the same API left alone is
// the client's, and converted bodies are valid JSON. tests/fuzz/corpus/http_request holds the seeds.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/api/router_internal.h"
#include "gateway/config/gateway_config.h"
#include "gateway/convert/json_scan.h"
#include "gateway/convert/json_view.h"
#include "gateway/route/exchange.h"
#include "gateway/route/route_plan.h"
#include "gateway/upstream/url.h"
#include "tests/fuzz/fuzz_http.h"

using namespace luna::gateway;
using luna::fuzz::Fail;
using luna::fuzz::ParseConnection;
using luna::fuzz::Parsed;

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

void CheckCredential(const Request& req) {
  std::string key = ExtractCredential(req);
  if (key.empty()) return;
  if (IsBlank(key.front()) || IsBlank(key.back())) Fail("credential not trimmed", key);
  bool found = false;
  bool unusable = false;  // a value that, trimmed (and after "Bearer "), has a byte outside '!'..'~'
  auto has_unusable_byte = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    for (char c : v) {
      if (c < '!' || c > '~') return true;
    }
    return false;
  };
  for (const auto& f : req) {
    std::string_view value(f.value().data(), f.value().size());
    if (beast::iequals(f.name_string(), "x-api-key")) {
      unusable |= has_unusable_byte(value);
    } else if (f.name() == http::field::authorization) {
      unusable |= value.size() > 7 && has_unusable_byte(value.substr(7));
    } else {
      continue;
    }
    if (value.find(key) != std::string_view::npos) found = true;
  }
  // A credential that cannot be a key is given as the marker no key equals (a 401), never as bytes.
  if (key == kUnusableCredential && !found) {
    if (!unusable) Fail("usable credential called unusable", key);
    return;
  }
  if (!found) Fail("credential from nowhere", key);
}

void CheckScan(std::string_view body) {
  std::vector<std::pair<std::string, JsonSpan>> members;
  bool whole = ScanTopLevelMembers(body, [&](std::string_view key, JsonSpan v) {
    members.emplace_back(std::string(key), v);
    return true;
  });
  size_t prev_end = 0;
  for (const auto& [key, span] : members) {
    if (span.begin >= span.end || span.end > body.size() || span.begin < prev_end) Fail("span out of place", body);
    prev_end = span.end;
  }
  if (!whole) return;
  // A body the scan walked whole: each single-member lookup finds the last occurrence (plain keys).
  for (const auto& [key, span] : members) {
    if (key.find('\\') != std::string::npos) continue;
    JsonSpan last = span;
    for (const auto& [k2, s2] : members) {
      if (k2 == key) last = s2;
    }
    auto found = FindTopLevelMember(body, key);
    if (!found || found->begin != last.begin || found->end != last.end) Fail("FindTopLevelMember disagrees", body);
  }
  // What the router reads: model and stream.
  std::optional<JsonSpan> model, stream;
  for (const auto& [key, span] : members) {
    if (key == "model") model = span;
    if (key == "stream") stream = span;
  }
  if (model && StringAt(body, *model) != TopLevelString(body, "model")) Fail("model read twice, differently", body);
  if (stream && BoolAt(body, *stream) != TopLevelBool(body, "stream")) Fail("stream read twice, differently", body);
  // Splicing a new model changes that value only.
  if (model) {
    std::string spliced(body);
    if (!ReplaceTopLevelValue(&spliced, "model", "\"fuzz-model\"")) Fail("model present but not replaced", body);
    if (TopLevelString(spliced, "model") != std::optional<std::string_view>("fuzz-model")) {
      Fail("spliced model not read back", spliced);
    }
    auto span = FindTopLevelMember(body, "model");
    std::string expected = std::string(body.substr(0, span->begin)) + "\"fuzz-model\"" +
                           std::string(body.substr(span->end));
    if (spliced != expected) Fail("splice touched other bytes", spliced);
  }
}

void CheckPrepare(const Request& req) {
  std::string_view body = req.body();
  bool body_is_json = JsonDoc().Parse(body);
  for (WireFormat api : {WireFormat::kAnthropic, WireFormat::kOpenAI}) {
    RequestNeeds needs = ReadRequestNeeds(api, body);
    if (needs.estimated_input_tokens != static_cast<int64_t>(body.size() / 4)) Fail("estimate is not bytes / 4", body);
    ClientCall call;
    call.api = api;
    call.body = body;
    if (auto m = TopLevelString(body, "model")) call.model = std::string(*m);
    call.stream = TopLevelBool(body, "stream").value_or(false);
    for (WireFormat target_format : {WireFormat::kAnthropic, WireFormat::kOpenAI}) {
      for (bool other_model : {false, true}) {
        UpstreamTarget target;
        target.format = target_format;
        target.url = *ParseUrl("http://127.0.0.1:9/base");
        if (other_model) {
          target.model = "tier-model";
          target.max_tokens_limit = 100;
        }
        auto prepared = PrepareAttempt(call, target);
        if (!prepared.ok()) continue;
        if (prepared->body_unchanged && !prepared->body.empty() && prepared->body != body) {
          Fail("unchanged body differs", body);
        }
        std::string_view sent = prepared->body_unchanged ? body : std::string_view(prepared->body);
        if ((prepared->converting || body_is_json) && !JsonDoc().Parse(sent)) {
          Fail("prepared body is not JSON", std::string(body) + "\n=>\n" + std::string(sent));
        }
        // The tier's model replaces the client's, and its token limit caps max_tokens.
        bool rewritable = prepared->converting || (body_is_json && TopLevelString(body, "model").has_value());
        if (other_model && rewritable &&
            TopLevelString(sent, "model") != std::optional<std::string_view>("tier-model")) {
          Fail("tier model not sent", sent);
        }
        if (other_model && rewritable && TopLevelInt64(sent, "max_tokens").value_or(0) > 100) {
          Fail("max_tokens above the tier's limit", sent);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks how the bytes arrive for the comparison run.
  size_t step = 1 + data[0] % 61;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  Parsed whole = ParseConnection(bytes, 0);
  Parsed pieces = ParseConnection(bytes, step);
  if (!(whole == pieces)) Fail("parse depends on how the bytes arrive", bytes);
  for (const Request& req : whole.requests) {
    CheckCredential(req);
    CheckScan(req.body());
    CheckPrepare(req);
  }
  return 0;
}
