// libFuzzer target for the conversion layer and the SSE parser (gateway/convert): the first input
// byte picks what to feed the rest to. It checks more than "no crash": converted bodies must be valid
// JSON, stream output must not depend on how the input is split, and produced streams must keep the
// invariants of FORMATS.md §7.4 step 9 / §7.5. Run it with deploy/fuzz.sh.
#include <cstdlib>
#include <cstdio>
#include <string>
#include "gateway/convert/anthropic_to_openai_request.h"
#include "gateway/convert/anthropic_to_openai_response.h"
#include "gateway/convert/anthropic_to_openai_stream.h"
#include "gateway/convert/openai_to_anthropic_request.h"
#include "gateway/convert/openai_to_anthropic_response.h"
#include "gateway/convert/openai_to_anthropic_stream.h"
#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"
#include "tests/unit/convert/stream_support.h"
using namespace luna::gateway;
static void MustBeJson(const std::string& s, const char* what, std::string_view in) {
  JsonDoc d;
  if (!d.Parse(s)) { fprintf(stderr, "%s produced invalid JSON: %s\n%s\nINPUT: %.*s\n", what, d.error().c_str(), s.c_str(), (int)in.size(), in.data()); abort(); }
}
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 7;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (mode) {
    case 0: {
      JsonDoc d;
      if (d.Parse(in)) { std::string c; AppendCompactJson(d.root(), &c); MustBeJson(c, "compact", in);
        JsonDoc e; e.Parse(c); std::string c2; AppendCompactJson(e.root(), &c2); if (c != c2) abort(); }
      break;
    }
    case 1: { AnthropicToOpenAIRequestOptions o; o.thinking_to_reasoning_content = true; auto r = ConvertAnthropicToOpenAIRequest(in, o); if (r.ok()) MustBeJson(r->body, "a2o request", in); break; }
    case 2: { OpenAIToAnthropicRequestOptions o; o.target_verifies_signatures = true; o.max_tokens_limit = 3000; auto r = ConvertOpenAIToAnthropicRequest(in, o); if (r.ok()) MustBeJson(r->body, "o2a request", in); break; }
    case 3: { auto r = ConvertAnthropicToOpenAIResponse(200, in, {}, {}); MustBeJson(r.body, "a2o response", in); break; }
    case 4: { auto r = ConvertOpenAIToAnthropicResponse(200, in, {}, {}); MustBeJson(r.body, "o2a response", in); break; }
    case 5: {
      for (auto mode2 : {ParallelToolMode::kKeepOpen, ParallelToolMode::kBuffer}) {
        OpenAIToAnthropicStreamOptions o; o.tool_mode = mode2;
        OpenAIToAnthropicStream a(o), b(o);
        std::string whole = a.Feed(in); whole += a.Finish(true);
        std::string pieces; for (size_t i = 0; i < in.size(); i += 7) pieces += b.Feed(in.substr(i, 7)); pieces += b.Finish(true);
        if (whole != pieces) { fprintf(stderr, "split-dependent output\n"); abort(); }
        std::string err = luna::gateway::testing::CheckAnthropicStream(whole, false);
        if (!err.empty()) { fprintf(stderr, "invariant: %s\n%s\n", err.c_str(), whole.c_str()); abort(); }
      }
      break;
    }
    case 6: {
      AnthropicToOpenAIStreamOptions o; o.client_include_usage = true;
      AnthropicToOpenAIStream a(o), b(o);
      std::string whole = a.Feed(in); whole += a.Finish(true);
      std::string pieces; for (size_t i = 0; i < in.size(); i += 5) pieces += b.Feed(in.substr(i, 5)); pieces += b.Finish(true);
      if (whole != pieces) { fprintf(stderr, "split-dependent output (a2o)\n"); abort(); }
      std::string err = luna::gateway::testing::CheckOpenAIStream(whole);
      if (!err.empty()) { fprintf(stderr, "openai stream: %s\n%s\n", err.c_str(), whole.c_str()); abort(); }
      break;
    }
  }
  return 0;
}
