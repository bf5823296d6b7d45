#include "common/proto_fields.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

namespace luna {

bool ForEachLengthDelimited(std::string_view message, int number,
                            absl::FunctionRef<bool(std::string_view payload, size_t offset)> visit) {
  namespace wire = google::protobuf::internal;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(message.data()),
                                            static_cast<int>(message.size()));
  const uint32_t want = wire::WireFormatLite::MakeTag(number, wire::WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  while (uint32_t tag = in.ReadTag()) {
    if (tag != want) {
      if (!wire::WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    uint32_t len;
    if (!in.ReadVarint32(&len)) return false;
    const auto at = static_cast<size_t>(in.CurrentPosition());
    if (len > message.size() - at || !in.Skip(static_cast<int>(len))) return false;
    if (!visit(message.substr(at, len), at)) return true;
  }
  return in.ConsumedEntireMessage();
}

}  // namespace luna
