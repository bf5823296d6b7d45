#include "usagesvc/legacy_usage.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace luna::usagesvc {
namespace {

using Json = nlohmann::json;

absl::Status Bad(const std::string& where, std::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", std::string(reason)));
}

// No old figure comes near this (a trillion tokens); bounding them keeps every sum the ledger makes
// of millions of them inside int64 (the old proxy's JSON held any number).
constexpr int64_t kMaxCount = 1'000'000'000'000;

// A non-negative count; null/missing -> 0.
absl::Status ReadCount(const Json& object, const char* field, const std::string& where, int64_t* out) {
  *out = 0;
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  std::string path = absl::StrCat(where, ".", field);
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return Bad(path, "too large");
    *out = static_cast<int64_t>(v);
  } else if (it->is_number_integer()) {
    *out = it->get<int64_t>();
  } else if (it->is_number_float()) {
    double d = it->get<double>();
    if (!std::isfinite(d) || d > 9e18) return Bad(path, "not a finite count");
    *out = static_cast<int64_t>(d);
  } else {
    return Bad(path, absl::StrCat("expected a number, got ", it->type_name()));
  }
  if (*out < 0) return Bad(path, "negative");
  if (*out > kMaxCount) return Bad(path, "too large");
  return absl::OkStatus();
}

absl::Status ReadFigures(const Json& value, const std::string& where, LegacyModelFigures* out) {
  if (!value.is_object()) return Bad(where, absl::StrCat("expected an object, got ", value.type_name()));
  int64_t total = 0;
  for (auto st : {ReadCount(value, "input", where, &out->input), ReadCount(value, "output", where, &out->output),
                  ReadCount(value, "total", where, &total), ReadCount(value, "requests", where, &out->requests)}) {
    if (!st.ok()) return st;
  }
  // The old admin code took "total" when non-zero, else input + output. Keep the split where it is known
  // and put the rest in total_only, so that input + output + total_only is always the old figure.
  if (total != 0) {
    if (total >= out->input + out->output) {
      out->total_only = total - out->input - out->output;
    } else {
      out->input = out->output = 0;
      out->total_only = total;
    }
  }
  return absl::OkStatus();
}

absl::Status ReadByModel(const Json& parent, const std::string& where, std::map<std::string, LegacyModelFigures>* out) {
  auto it = parent.find("by_model");
  if (it == parent.end() || it->is_null()) return absl::OkStatus();
  std::string path = where + ".by_model";
  if (!it->is_object()) return Bad(path, absl::StrCat("expected an object, got ", it->type_name()));
  for (const auto& [model, figures] : it->items()) {
    LegacyModelFigures f;
    if (auto st = ReadFigures(figures, absl::StrCat(path, "[\"", model, "\"]"), &f); !st.ok()) return st;
    (*out)[model] = f;
  }
  return absl::OkStatus();
}

const Json* Section(const Json& root, const char* name, absl::Status* status) {
  auto it = root.find(name);
  if (it == root.end() || it->is_null()) return nullptr;
  if (!it->is_object()) {
    *status = Bad(name, absl::StrCat("expected an object, got ", it->type_name()));
    return nullptr;
  }
  return &*it;
}

}  // namespace

absl::StatusOr<LegacyKeyUsage> ParseLegacyUsage(std::string_view json_text, const LedgerZone& legacy_zone) {
  // nlohmann's parser ends its input at a NUL byte: what follows would be kept with the text (in the
  // journal and the snapshot, as a protobuf string) unchecked, invalid UTF-8 included, and a snapshot
  // holding invalid UTF-8 does not parse back.
  if (json_text.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("not JSON: a NUL byte");
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    // parse_error, and out_of_range for a number too large for any type
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", e.what()));
  }
  if (!root.is_object()) return Bad("usage", absl::StrCat("expected an object, got ", root.type_name()));
  LegacyKeyUsage u;
  for (auto st : {ReadCount(root, "total_input", "usage", &u.total_input),
                  ReadCount(root, "total_output", "usage", &u.total_output),
                  ReadCount(root, "total_requests", "usage", &u.total_requests)}) {
    if (!st.ok()) return st;
  }
  if (auto it = root.find("last_used"); it != root.end() && it->is_string()) {
    u.last_used_text = it->get<std::string>();
    u.last_used_unix_ms = ParseIsoTimeMs(u.last_used_text, legacy_zone).value_or(0);
  }

  absl::Status status;
  if (const Json* by_model = Section(root, "total_by_model", &status)) {
    Json wrapper = {{"by_model", *by_model}};
    if (auto st = ReadByModel(wrapper, "usage.total", &u.total_by_model); !st.ok()) return st;
  }
  if (!status.ok()) return status;

  if (const Json* daily = Section(root, "daily", &status)) {
    for (const auto& [date, stats] : daily->items()) {
      std::string where = absl::StrCat("daily[\"", date, "\"]");
      auto day = ParseDay(date);
      if (!day) return Bad(where, "not a YYYY-MM-DD date");
      if (!stats.is_object()) return Bad(where, absl::StrCat("expected an object, got ", stats.type_name()));
      LegacyDay d;
      for (auto st : {ReadCount(stats, "input", where, &d.input), ReadCount(stats, "output", where, &d.output),
                      ReadCount(stats, "requests", where, &d.requests), ReadByModel(stats, where, &d.by_model)}) {
        if (!st.ok()) return st;
      }
      u.daily[*day] = std::move(d);
    }
  }
  if (!status.ok()) return status;

  if (const Json* hourly = Section(root, "hourly", &status)) {
    for (const auto& [hour_text, stats] : hourly->items()) {
      std::string where = absl::StrCat("hourly[\"", hour_text, "\"]");
      auto hour = ParseHour(hour_text);
      if (!hour) return Bad(where, "not a \"YYYY-MM-DD HH:00\" hour");
      if (!stats.is_object()) return Bad(where, absl::StrCat("expected an object, got ", stats.type_name()));
      std::map<std::string, LegacyModelFigures> by_model;
      if (auto st = ReadByModel(stats, where, &by_model); !st.ok()) return st;
      u.hourly[*hour] = std::move(by_model);
    }
  }
  if (!status.ok()) return status;
  return u;
}

}  // namespace luna::usagesvc
