// Reading fields of a serialized protobuf message without parsing it: for code that keeps messages as
// the bytes they came in (the gateway's usage spool, usagesvc's ledger detail) and needs one field, or
// each nested message's bytes, out of them.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace luna {

// Calls `visit` with the payload of each length-delimited field numbered `number` at the top level of
// `message`, and its offset in `message`, in order, until `visit` returns false. Returns false if the
// bytes walked are not a well-formed message (a bad tag, a field running past the end); the fields
// after the last visited one are not looked at once `visit` has returned false.
bool ForEachLengthDelimited(std::string_view message, int number,
                            absl::FunctionRef<bool(std::string_view payload, size_t offset)> visit);

}  // namespace luna
