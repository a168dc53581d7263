// Text from peers (worker ids are ZeroMQ routing ids: any bytes) made safe to
// put in a log line: printable ASCII is kept, every other byte becomes \xNN,
// and long text is cut with "...".
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace compsweep {

std::string LogSafe(std::string_view text, size_t max_bytes = 64);

// Offset of the first byte that does not belong to well-formed UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or npos when the
// whole text is UTF-8. Text that reaches JSON must be UTF-8: nlohmann::json
// throws when it dumps anything else.
size_t FirstInvalidUtf8(std::string_view text);

}  // namespace compsweep
