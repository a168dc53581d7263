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

}  // namespace compsweep
