#include "stream_support.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace luna::gateway::testing {

using json = nlohmann::json;

std::vector<SseEvent> ParseSse(std::string_view bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed(bytes, &events);
  return events;
}

std::string CheckAnthropicStream(std::string_view bytes, bool check_tool_json) {
  auto events = ParseSse(bytes);
  if (events.empty()) return "no events";
  bool started = false, delta_seen = false, stopped = false, errored = false;
  int next_index = 0;
  struct Block {
    std::string type;
    bool open = true;
    bool signature_seen = false;
    std::string partial_json;
  };
  std::map<int, Block> blocks;
  for (size_t n = 0; n < events.size(); ++n) {
    const auto& e = events[n];
    std::string where = "event " + std::to_string(n) + " (" + e.event + "): ";
    if (stopped || errored) return where + "event after message_stop / error";
    if (e.event.empty()) return where + "no event: line";
    json d = json::parse(e.data, nullptr, false);
    if (d.is_discarded() || !d.is_object()) return where + "data is not a JSON object";
    if (d.value("type", "") != e.event) return where + "data.type differs from the event name";
    if (e.event == "error") {
      if (!d["error"].is_object() || !d["error"]["type"].is_string() || !d["error"]["message"].is_string()) {
        return where + "malformed error";
      }
      errored = true;
      continue;
    }
    if (!started) {
      if (e.event != "message_start") return where + "first event is not message_start";
      started = true;
      const json& m = d["message"];
      if (!m.is_object() || !m["id"].is_string() || m["role"] != "assistant" || !m["content"].is_array() ||
          !m["usage"].is_object()) {
        return where + "malformed message_start";
      }
      continue;
    }
    if (e.event == "message_start") return where + "second message_start";
    if (e.event == "ping") continue;
    if (e.event == "content_block_start") {
      if (delta_seen) return where + "block after message_delta";
      int idx = d["index"].get<int>();
      if (idx != next_index) return where + "index " + std::to_string(idx) + ", expected " + std::to_string(next_index);
      ++next_index;
      std::string type = d["content_block"]["type"].get<std::string>();
      if (type != "text" && type != "thinking" && type != "tool_use" && type != "redacted_thinking") {
        return where + "unknown block type " + type;
      }
      if (type == "tool_use" && (!d["content_block"]["id"].is_string() || !d["content_block"]["name"].is_string())) {
        return where + "tool_use without id / name";
      }
      if (type == "tool_use") {
        static const std::string kIdChars =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
        std::string id = d["content_block"]["id"];
        if (id.empty() || id.find_first_not_of(kIdChars) != std::string::npos) return where + "invalid tool id " + id;
      }
      blocks[idx] = Block{type};
      continue;
    }
    if (e.event == "content_block_delta" || e.event == "content_block_stop") {
      int idx = d["index"].get<int>();
      auto it = blocks.find(idx);
      if (it == blocks.end()) return where + "unknown block " + std::to_string(idx);
      Block& b = it->second;
      if (!b.open) return where + "block " + std::to_string(idx) + " already stopped";
      if (e.event == "content_block_stop") {
        b.open = false;
        if (check_tool_json && b.type == "tool_use" && !b.partial_json.empty()) {
          json input = json::parse(b.partial_json, nullptr, false);
          if (input.is_discarded() || !input.is_object()) return where + "tool input is not a JSON object";
        }
        continue;
      }
      std::string dt = d["delta"]["type"].get<std::string>();
      bool ok = (dt == "text_delta" && b.type == "text" && d["delta"]["text"].is_string()) ||
                (dt == "thinking_delta" && b.type == "thinking" && d["delta"]["thinking"].is_string()) ||
                (dt == "signature_delta" && b.type == "thinking" && d["delta"]["signature"].is_string()) ||
                (dt == "input_json_delta" && b.type == "tool_use" && d["delta"]["partial_json"].is_string());
      if (!ok) return where + dt + " in a " + b.type + " block";
      if (b.signature_seen) return where + "delta after signature_delta";
      if (dt == "signature_delta") b.signature_seen = true;
      if (dt == "input_json_delta") b.partial_json += d["delta"]["partial_json"].get<std::string>();
      continue;
    }
    if (e.event == "message_delta") {
      if (delta_seen) return where + "second message_delta";
      for (const auto& [idx, b] : blocks) {
        if (b.open) return where + "message_delta while block " + std::to_string(idx) + " is open";
      }
      if (!d["delta"]["stop_reason"].is_string()) return where + "message_delta without stop_reason";
      if (!d["usage"]["output_tokens"].is_number_integer()) return where + "message_delta without output_tokens";
      delta_seen = true;
      continue;
    }
    if (e.event == "message_stop") {
      if (!delta_seen) return where + "message_stop without message_delta";
      stopped = true;
      continue;
    }
    return where + "unexpected event";
  }
  if (!stopped && !errored) return "stream ends without message_stop or error";
  return "";
}

std::string CheckOpenAIStream(std::string_view bytes) {
  auto events = ParseSse(bytes);
  if (events.empty()) return "no events";
  std::string id, model;
  int64_t created = -1;
  int finishes = 0;
  bool ended = false;
  for (size_t n = 0; n < events.size(); ++n) {
    const auto& e = events[n];
    std::string where = "chunk " + std::to_string(n) + ": ";
    if (ended) return where + "data after [DONE] / error";
    if (!e.event.empty()) return where + "OpenAI streams carry no event: lines";
    if (e.data == "[DONE]") {
      if (finishes != 1) return where + "[DONE] without exactly one finish_reason";
      ended = true;
      continue;
    }
    json d = json::parse(e.data, nullptr, false);
    if (d.is_discarded() || !d.is_object()) return where + "not a JSON object";
    if (d.contains("error")) {
      if (!d["error"]["message"].is_string() || !d["error"]["type"].is_string()) return where + "malformed error";
      ended = true;
      continue;
    }
    if (d["object"] != "chat.completion.chunk") return where + "object is not chat.completion.chunk";
    if (id.empty()) {
      id = d["id"];
      model = d["model"];
      created = d["created"];
    } else if (d["id"] != id || d["model"] != model || d["created"] != created) {
      return where + "id / model / created changed";
    }
    for (const auto& c : d["choices"]) {
      if (!c["finish_reason"].is_null()) ++finishes;
      if (finishes > 1) return where + "second finish_reason";
    }
  }
  if (!ended) return "stream ends without [DONE] or error";
  return "";
}

json AccumulateAnthropic(std::string_view bytes) {
  json msg = {{"content", json::array()}, {"stop_reason", nullptr}, {"usage", json::object()},
              {"error", nullptr}, {"events", json::array()}};
  std::map<int, std::string> partial;
  for (const auto& e : ParseSse(bytes)) {
    msg["events"].push_back(e.event);
    json d = json::parse(e.data, nullptr, false);
    if (d.is_discarded()) continue;
    if (e.event == "message_start") {
      msg["id"] = d["message"]["id"];
      msg["model"] = d["message"]["model"];
      msg["usage"] = d["message"]["usage"];
    } else if (e.event == "content_block_start") {
      int idx = d["index"];
      if (msg["content"].size() <= static_cast<size_t>(idx)) msg["content"].get_ref<json::array_t&>().resize(idx + 1);
      msg["content"][idx] = d["content_block"];
    } else if (e.event == "content_block_delta") {
      int idx = d["index"];
      json& b = msg["content"][idx];
      const json& delta = d["delta"];
      if (delta["type"] == "text_delta") b["text"] = b["text"].get<std::string>() + delta["text"].get<std::string>();
      if (delta["type"] == "thinking_delta") {
        b["thinking"] = b["thinking"].get<std::string>() + delta["thinking"].get<std::string>();
      }
      if (delta["type"] == "signature_delta") b["signature"] = delta["signature"];
      if (delta["type"] == "input_json_delta") partial[idx] += delta["partial_json"].get<std::string>();
    } else if (e.event == "content_block_stop") {
      int idx = d["index"];
      json& b = msg["content"][idx];
      if (b["type"] == "tool_use") {
        b["input"] = partial[idx].empty() ? json::object() : json::parse(partial[idx], nullptr, false);
      }
    } else if (e.event == "message_delta") {
      msg["stop_reason"] = d["delta"]["stop_reason"];
      for (const auto& [k, v] : d["usage"].items()) {
        if (!v.is_null()) msg["usage"][k] = v;
      }
    } else if (e.event == "error") {
      msg["error"] = d["error"];
    }
  }
  return msg;
}

json AccumulateOpenAI(std::string_view bytes) {
  json msg = {{"role", nullptr},   {"content", ""},  {"reasoning_content", ""}, {"tool_calls", json::array()},
              {"finish_reason", nullptr}, {"usage", nullptr}, {"error", nullptr}, {"done", false},
              {"chunks", 0}};
  for (const auto& e : ParseSse(bytes)) {
    if (e.data == "[DONE]") {
      msg["done"] = true;
      continue;
    }
    json d = json::parse(e.data, nullptr, false);
    if (d.is_discarded()) continue;
    msg["chunks"] = msg["chunks"].get<int>() + 1;
    if (d.contains("error")) {
      msg["error"] = d["error"];
      continue;
    }
    if (d.contains("usage") && !d["usage"].is_null()) msg["usage"] = d["usage"];
    for (const auto& c : d["choices"]) {
      const json& delta = c["delta"];
      if (delta.contains("role")) msg["role"] = delta["role"];
      if (delta.contains("content") && delta["content"].is_string()) {
        msg["content"] = msg["content"].get<std::string>() + delta["content"].get<std::string>();
      }
      if (delta.contains("reasoning_content")) {
        msg["reasoning_content"] = msg["reasoning_content"].get<std::string>() + delta["reasoning_content"].get<std::string>();
      }
      if (delta.contains("tool_calls")) {
        for (const auto& tc : delta["tool_calls"]) {
          size_t k = tc["index"];
          auto& calls = msg["tool_calls"].get_ref<json::array_t&>();
          if (calls.size() <= k) calls.resize(k + 1, json{{"id", nullptr}, {"name", nullptr}, {"arguments", ""}});
          if (tc.contains("id")) calls[k]["id"] = tc["id"];
          if (tc.contains("function") && tc["function"].contains("name")) calls[k]["name"] = tc["function"]["name"];
          if (tc.contains("function") && tc["function"].contains("arguments")) {
            calls[k]["arguments"] = calls[k]["arguments"].get<std::string>() + tc["function"]["arguments"].get<std::string>();
          }
        }
      }
      if (!c["finish_reason"].is_null()) msg["finish_reason"] = c["finish_reason"];
    }
  }
  return msg;
}

std::string FeedPieces(std::string_view input, const std::vector<size_t>& cuts,
                       const std::function<std::string(std::string_view)>& feed,
                       const std::function<std::string()>& finish) {
  std::string out;
  size_t prev = 0;
  for (size_t c : cuts) {
    out += feed(input.substr(prev, c - prev));
    prev = c;
  }
  out += feed(input.substr(prev));
  out += finish();
  return out;
}

std::vector<size_t> RandomCuts(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<size_t> cuts;
  if (size < 2) return cuts;
  int n = std::uniform_int_distribution<int>(1, 20)(rng);
  std::set<size_t> set;
  for (int i = 0; i < n; ++i) set.insert(std::uniform_int_distribution<size_t>(1, size - 1)(rng));
  cuts.assign(set.begin(), set.end());
  return cuts;
}

std::string Frames(const std::vector<std::string>& frames) {
  std::string out;
  for (const auto& f : frames) out += f + "\n\n";
  return out;
}

}  // namespace luna::gateway::testing
