// libFuzzer target: the wire-protocol decoder (protocol::Decode) on frames cut
// from the input at NUL bytes (so "CSW1\0HELLO\0{...}" is a three-frame
// message). Every message that decodes must encode and decode again to the same
// type, body and payload.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/protocol.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "protocol_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace protocol = compsweep::protocol;
  std::vector<std::string> frames(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      frames.emplace_back();
      if (frames.size() > 8) break;  // Decode refuses more than 4 anyway
    } else {
      frames.back().push_back(static_cast<char>(data[i]));
    }
  }
  auto decoded = protocol::Decode(frames);
  if (!decoded.ok()) {
    Check(!decoded.status().message().empty(), "error without message");
    return 0;
  }
  const protocol::Message& msg = *decoded;
  Check(protocol::TypeFromName(protocol::TypeName(msg.type)) == msg.type, "type name round trip");
  auto again = protocol::Decode(protocol::Encode(msg));
  Check(again.ok(), "an accepted message does not decode after Encode");
  Check(again->type == msg.type, "type changed by Encode/Decode");
  Check(again->body == msg.body, "body changed by Encode/Decode");
  Check(again->payload == msg.payload, "payload changed by Encode/Decode");
  return 0;
}
