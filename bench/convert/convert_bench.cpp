// Conversion cost on the request path (issue 4, "Speed"): a 60 KB OpenClaw-like Anthropic request
// converted to OpenAI and its answer converted back (target: < 200 µs together), and the stream
// converters' throughput in events per second on one core (target: ≥ 200,000 events/s).
//
//   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLUNA_BUILD_BENCH=ON
//   ninja -C build convert_bench && build/bench/convert/convert_bench
#include <benchmark/benchmark.h>

#include <string>

#include <nlohmann/json.hpp>

#include "gateway/convert/anthropic_to_openai_request.h"
#include "gateway/convert/anthropic_to_openai_stream.h"
#include "gateway/convert/openai_to_anthropic_request.h"
#include "gateway/convert/openai_to_anthropic_response.h"
#include "gateway/convert/openai_to_anthropic_stream.h"

namespace luna::gateway {
namespace {

using json = nlohmann::json;

// Prose-like text of about `bytes` bytes with the escapes real prompts have (newlines, quotes,
// backslashes, tabs, some non-ASCII).
std::string Prose(size_t bytes, int seed) {
  static const char* kWords[] = {"the", "agent", "must", "always", "read", "\"files\"", "before", "editing;",
                                 "use", "tools", "C:\\path", "caf\xc3\xa9", "when", "needed.\n", "-", "\tindent",
                                 "configuration", "workspace", "\xe2\x86\x92", "OpenClaw", "session", "memory"};
  std::string s;
  unsigned x = static_cast<unsigned>(seed) * 2654435761u + 1;
  while (s.size() < bytes) {
    x = x * 1103515245u + 12345u;
    s += kWords[(x >> 16) % (sizeof(kWords) / sizeof(kWords[0]))];
    s += ' ';
  }
  return s;
}

json ToolSchema(int i) {
  return {{"type", "object"},
          {"properties",
           {{"path", {{"type", "string"}, {"description", Prose(300, i)}}},
            {"command", {{"type", "string"}, {"description", Prose(250, i + 50)}}},
            {"timeout_ms", {{"type", "integer"}, {"minimum", 0}, {"maximum", 600000}}},
            {"mode", {{"type", "string"}, {"enum", {"read", "write", "append"}}}}}},
          {"required", {"path"}}};
}

// ~60 KB: 2 system blocks (~26 KB, cache_control), 12 tools (the last with cache_control),
// tool_use / tool_result turns (cache_control on the last result), thinking adaptive + effort.
std::string OpenClawAnthropicRequest() {
  json tools = json::array();
  for (int i = 0; i < 12; ++i) {
    tools.push_back({{"name", i == 11 ? "mcp__workspace_server__read_multiple_files_with_line_numbers_and_metadata"
                                      : "tool_" + std::to_string(i)},
                     {"description", Prose(350, 100 + i)},
                     {"input_schema", ToolSchema(i)}});
  }
  tools.back()["cache_control"] = {{"type", "ephemeral"}};
  json messages = json::array();
  messages.push_back({{"role", "user"}, {"content", Prose(2000, 7)}});
  for (int turn = 0; turn < 6; ++turn) {
    std::string id = "toolu_01Xq" + std::to_string(turn) + "AbCdEfGh";
    messages.push_back({{"role", "assistant"},
                        {"content",
                         {{{"type", "text"}, {"text", Prose(200, 20 + turn)}},
                          {{"type", "tool_use"}, {"id", id}, {"name", "tool_" + std::to_string(turn % 11)},
                           {"input", {{"path", "src/file_" + std::to_string(turn) + ".ts"}, {"mode", "read"}}}}}}});
    json result = {{"type", "tool_result"}, {"tool_use_id", id}, {"content", Prose(2000, 40 + turn)}};
    if (turn == 5) result["cache_control"] = {{"type", "ephemeral"}};
    messages.push_back({{"role", "user"}, {"content", {result}}});
  }
  messages.push_back({{"role", "user"}, {"content", {{{"type", "text"}, {"text", Prose(400, 99)}}}}});
  json request = {{"model", "claude-sonnet-4-5"},
                  {"max_tokens", 32000},
                  {"stream", true},
                  {"system", {{{"type", "text"}, {"text", Prose(21000, 1)}, {"cache_control", {{"type", "ephemeral"}}}},
                              {{"type", "text"}, {"text", Prose(5000, 2)}, {"cache_control", {{"type", "ephemeral"}}}}}},
                  {"tools", tools},
                  {"messages", messages},
                  {"thinking", {{"type", "adaptive"}}},
                  {"output_config", {{"effort", "medium"}}}};
  return request.dump();
}

// The same conversation as an OpenAI-format client sends it.
std::string OpenClawOpenAIRequest() {
  json messages = json::array();
  messages.push_back({{"role", "system"}, {"content", Prose(26000, 1)}});
  messages.push_back({{"role", "user"}, {"content", Prose(2000, 7)}});
  for (int turn = 0; turn < 6; ++turn) {
    std::string id = "call_" + std::to_string(turn) + "AbCdEfGh";
    messages.push_back({{"role", "assistant"},
                        {"content", Prose(200, 20 + turn)},
                        {"tool_calls",
                         {{{"id", id}, {"type", "function"},
                           {"function", {{"name", "tool_" + std::to_string(turn % 11)},
                                         {"arguments", "{\"path\":\"src/file.ts\",\"mode\":\"read\"}"}}}}}}});
    messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", Prose(2000, 40 + turn)}});
  }
  messages.push_back({{"role", "user"}, {"content", Prose(400, 99)}});
  json tools = json::array();
  for (int i = 0; i < 12; ++i) {
    tools.push_back({{"type", "function"},
                     {"function", {{"name", "tool_" + std::to_string(i)}, {"description", Prose(350, 100 + i)},
                                   {"parameters", ToolSchema(i)}}}});
  }
  json request = {{"model", "gpt-x"}, {"max_completion_tokens", 32000}, {"stream", true},
                  {"stream_options", {{"include_usage", true}}}, {"messages", messages}, {"tools", tools}};
  return request.dump();
}

// A typical non-streaming answer to it: some reasoning, text and a tool call with usage.
std::string OpenAIAnswer() {
  json message = {{"role", "assistant"},
                  {"content", Prose(600, 5)},
                  {"reasoning_content", Prose(800, 6)},
                  {"tool_calls",
                   {{{"id", "call_9xY"}, {"type", "function"},
                     {"function", {{"name", "mcp__workspace_server__read_multiple_files_with_lin_9c2b1e0f"},
                                   {"arguments", "{\"paths\":[\"a.ts\",\"b.ts\"],\"with_line_numbers\":true}"}}}}}}};
  json answer = {{"id", "chatcmpl-B1"}, {"object", "chat.completion"}, {"created", 1767225600}, {"model", "gpt-x"},
                 {"choices", {{{"index", 0}, {"message", message}, {"finish_reason", "tool_calls"}}}},
                 {"usage", {{"prompt_tokens", 15230}, {"completion_tokens", 420},
                            {"prompt_tokens_details", {{"cached_tokens", 14000}}}}}};
  return answer.dump();
}

void BM_AnthropicToOpenAIRequest_OpenClaw60KB(benchmark::State& state) {
  std::string body = OpenClawAnthropicRequest();
  AnthropicToOpenAIRequestOptions options;
  options.model = "gpt-upstream";
  for (auto _ : state) {
    auto r = ConvertAnthropicToOpenAIRequest(body, options);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["request_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_AnthropicToOpenAIRequest_OpenClaw60KB)->Unit(benchmark::kMicrosecond);

void BM_OpenAIToAnthropicResponse(benchmark::State& state) {
  std::string answer = OpenAIAnswer();
  ToolNameMap names;
  names.Shorten("mcp__workspace_server__read_multiple_files_with_line_numbers_and_metadata");
  OpenAIToAnthropicResponseOptions options;
  options.tool_names = &names;
  options.message_id = "msg_bench";
  for (auto _ : state) {
    auto r = ConvertOpenAIToAnthropicResponse(200, answer, {}, options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_OpenAIToAnthropicResponse)->Unit(benchmark::kMicrosecond);

// The figure: the 60 KB request to OpenAI and its answer back.
void BM_OpenClawRequestAndAnswer(benchmark::State& state) {
  std::string body = OpenClawAnthropicRequest();
  std::string answer = OpenAIAnswer();
  for (auto _ : state) {
    auto request = ConvertAnthropicToOpenAIRequest(body, {});
    OpenAIToAnthropicResponseOptions options;
    options.tool_names = &request->tool_names;
    options.message_id = "msg_bench";
    auto response = ConvertOpenAIToAnthropicResponse(200, answer, {}, options);
    benchmark::DoNotOptimize(response);
  }
}
BENCHMARK(BM_OpenClawRequestAndAnswer)->Unit(benchmark::kMicrosecond);

void BM_OpenAIToAnthropicRequest_OpenClaw60KB(benchmark::State& state) {
  std::string body = OpenClawOpenAIRequest();
  for (auto _ : state) {
    auto r = ConvertOpenAIToAnthropicRequest(body, {});
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["request_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_OpenAIToAnthropicRequest_OpenClaw60KB)->Unit(benchmark::kMicrosecond);

// A recorded-style OpenAI stream: reasoning, text deltas of a few tokens each, two tool calls with
// argument fragments, finish, usage, [DONE]. Returns the number of SSE events.
int OpenAIStream(std::string* out) {
  int events = 0;
  auto chunk = [&](const json& delta, const json& finish = nullptr) {
    json c = {{"id", "chatcmpl-S"}, {"object", "chat.completion.chunk"}, {"created", 1767225600},
              {"model", "gpt-4.1-2025-04-14"}, {"system_fingerprint", "fp_b3f1157249"},
              {"choices", {{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}}}},
              {"usage", nullptr}};
    *out += "data: " + c.dump() + "\n\n";
    ++events;
  };
  chunk({{"role", "assistant"}, {"content", ""}});
  for (int i = 0; i < 200; ++i) chunk({{"reasoning_content", " thinking step " + std::to_string(i)}});
  for (int i = 0; i < 600; ++i) chunk({{"content", i % 7 == 0 ? " \"quoted\"\n" : " word"}});
  for (int t = 0; t < 2; ++t) {
    chunk({{"tool_calls", {{{"index", t}, {"id", "call_" + std::to_string(t)}, {"type", "function"},
                            {"function", {{"name", "Bash"}, {"arguments", ""}}}}}}});
    for (int i = 0; i < 100; ++i) chunk({{"tool_calls", {{{"index", t}, {"function", {{"arguments", "ls -la "}}}}}}});
  }
  chunk(json::object(), "tool_calls");
  *out += "data: " + json({{"choices", json::array()}, {"usage", {{"prompt_tokens", 1000}, {"completion_tokens", 900}}}}).dump() +
          "\n\ndata: [DONE]\n\n";
  return events + 2;
}

// The same answer as an Anthropic stream.
int AnthropicStream(std::string* out) {
  int events = 0;
  auto ev = [&](const json& d) {
    *out += "event: " + d["type"].get<std::string>() + "\ndata: " + d.dump() + "\n\n";
    ++events;
  };
  ev({{"type", "message_start"},
      {"message", {{"id", "msg_S"}, {"type", "message"}, {"role", "assistant"}, {"model", "claude-sonnet-4-5"},
                   {"content", json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                   {"usage", {{"input_tokens", 1000}, {"output_tokens", 1}}}}}});
  ev({{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}}});
  for (int i = 0; i < 200; ++i) {
    ev({{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "thinking_delta"}, {"thinking", " step " + std::to_string(i)}}}});
  }
  ev({{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "signature_delta"}, {"signature", std::string(300, 'S')}}}});
  ev({{"type", "content_block_stop"}, {"index", 0}});
  ev({{"type", "content_block_start"}, {"index", 1}, {"content_block", {{"type", "text"}, {"text", ""}}}});
  for (int i = 0; i < 600; ++i) {
    ev({{"type", "content_block_delta"}, {"index", 1}, {"delta", {{"type", "text_delta"}, {"text", i % 7 == 0 ? " \"quoted\"\n" : " word"}}}});
    if (i % 100 == 0) ev({{"type", "ping"}});
  }
  ev({{"type", "content_block_stop"}, {"index", 1}});
  for (int t = 0; t < 2; ++t) {
    ev({{"type", "content_block_start"}, {"index", 2 + t},
        {"content_block", {{"type", "tool_use"}, {"id", "toolu_" + std::to_string(t)}, {"name", "Bash"}, {"input", json::object()}}}});
    for (int i = 0; i < 100; ++i) {
      ev({{"type", "content_block_delta"}, {"index", 2 + t}, {"delta", {{"type", "input_json_delta"}, {"partial_json", "ls -la "}}}});
    }
    ev({{"type", "content_block_stop"}, {"index", 2 + t}});
  }
  ev({{"type", "message_delta"}, {"delta", {{"stop_reason", "tool_use"}, {"stop_sequence", nullptr}}}, {"usage", {{"output_tokens", 900}}}});
  ev({{"type", "message_stop"}});
  return events;
}

// Feeds the stream in 1400-byte reads (one TCP segment each), as the relay would.
template <class Converter, class Options>
void RunStream(benchmark::State& state, const std::string& stream, int events, const Options& options) {
  std::string out;
  out.reserve(stream.size() * 2);
  for (auto _ : state) {
    Converter conv(options);
    out.clear();
    for (size_t i = 0; i < stream.size(); i += 1400) conv.Feed(std::string_view(stream).substr(i, 1400), &out);
    conv.Finish(true, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
  state.counters["events"] = events;
}

void BM_OpenAIToAnthropicStream(benchmark::State& state) {
  std::string stream;
  int events = OpenAIStream(&stream);
  OpenAIToAnthropicStreamOptions options;
  options.message_id = "msg_bench";
  options.tool_mode = state.range(0) == 0 ? ParallelToolMode::kKeepOpen : ParallelToolMode::kBuffer;
  RunStream<OpenAIToAnthropicStream>(state, stream, events, options);
}
BENCHMARK(BM_OpenAIToAnthropicStream)->Arg(0)->Arg(1)->ArgName("buffer_tools")->Unit(benchmark::kMicrosecond);

void BM_AnthropicToOpenAIStream(benchmark::State& state) {
  std::string stream;
  int events = AnthropicStream(&stream);
  AnthropicToOpenAIStreamOptions options;
  options.created = 1767225600;
  options.client_include_usage = true;
  RunStream<AnthropicToOpenAIStream>(state, stream, events, options);
}
BENCHMARK(BM_AnthropicToOpenAIStream)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace luna::gateway

BENCHMARK_MAIN();
