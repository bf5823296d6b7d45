#include "gateway/convert/models_list.h"

#include <cstdio>

#include "gateway/convert/json_writer.h"

namespace luna::gateway {

std::string OpenAIModelList(const std::vector<std::string>& names, int64_t created_unix, std::string_view owned_by) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("object").String("list").Key("data").BeginArray();
  for (const auto& name : names) {
    w.BeginObject().Key("id").String(name).Key("object").String("model");
    w.Key("created").Int(created_unix).Key("owned_by").String(owned_by).EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

std::string AnthropicModelList(const std::vector<std::string>& names, std::string_view created_at_rfc3339) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("data").BeginArray();
  for (const auto& name : names) {
    w.BeginObject().Key("type").String("model").Key("id").String(name).Key("display_name").String(name);
    w.Key("created_at").String(created_at_rfc3339).EndObject();
  }
  w.EndArray().Key("has_more").Bool(false);
  if (names.empty()) {
    w.Key("first_id").Null().Key("last_id").Null();
  } else {
    w.Key("first_id").String(names.front()).Key("last_id").String(names.back());
  }
  w.EndObject();
  return out;
}

std::string Rfc3339Utc(int64_t t) {
  // Civil-from-days (H. Hinnant), so no time-zone state or locale is involved.
  int64_t days = t / 86400;
  int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs % 3600 / 60), static_cast<long long>(secs % 60));
  return buf;
}

}  // namespace luna::gateway
