#include "common/protocol.h"

#include <utility>

namespace compsweep::protocol {

namespace {

constexpr const char* kNames[] = {"HELLO",     "READY",  "TASK", "PROGRESS", "RESULT", "FAILED",
                                  "HEARTBEAT", "CANCEL", "ACK",  "BYE",      "FETCH",  "ARTIFACT"};
constexpr int kNumTypes = sizeof(kNames) / sizeof(kNames[0]);

enum class FieldType { kInt, kString, kObject, kAny };

struct Field {
  const char* name;
  FieldType type;
};

bool HasType(const nlohmann::json& v, FieldType t) {
  switch (t) {
    case FieldType::kInt:
      return v.is_number_integer();
    case FieldType::kString:
      return v.is_string();
    case FieldType::kObject:
      return v.is_object();
    case FieldType::kAny:
      return true;
  }
  return false;
}

std::vector<Field> RequiredFields(MsgType t) {
  switch (t) {
    case MsgType::kHello:
      return {{"worker_id", FieldType::kString},
              {"device", FieldType::kString},
              {"slots", FieldType::kInt}};
    case MsgType::kReady:
      return {{"free_slots", FieldType::kInt}};
    case MsgType::kTask:
      return {{"trial_id", FieldType::kInt},
              {"attempt", FieldType::kInt},
              {"kind", FieldType::kString},
              {"settings", FieldType::kObject}};
    case MsgType::kProgress:
      return {{"trial_id", FieldType::kInt},
              {"attempt", FieldType::kInt},
              {"data", FieldType::kObject}};
    case MsgType::kResult:
      return {{"trial_id", FieldType::kInt},
              {"attempt", FieldType::kInt},
              {"metrics", FieldType::kObject}};
    case MsgType::kFailed:
      return {{"trial_id", FieldType::kInt},
              {"attempt", FieldType::kInt},
              {"error", FieldType::kString}};
    case MsgType::kCancel:
    case MsgType::kAck:
      return {{"trial_id", FieldType::kInt}, {"attempt", FieldType::kInt}};
    case MsgType::kFetch:
      return {{"hash", FieldType::kString}};
    case MsgType::kArtifact:
      return {{"hash", FieldType::kString}};
    case MsgType::kHeartbeat:
    case MsgType::kBye:
      return {};
  }
  return {};
}

}  // namespace

const char* TypeName(MsgType t) { return kNames[static_cast<int>(t)]; }

std::optional<MsgType> TypeFromName(const std::string& name) {
  for (int i = 0; i < kNumTypes; ++i) {
    if (name == kNames[i]) return static_cast<MsgType>(i);
  }
  return std::nullopt;
}

std::vector<std::string> Encode(const Message& msg) {
  std::vector<std::string> frames;
  frames.reserve(4);
  frames.emplace_back(kTag);
  frames.emplace_back(TypeName(msg.type));
  // A default-constructed body ({} in C++) is JSON null; the wire always carries an object.
  frames.push_back(msg.body.is_null() ? std::string("{}") : msg.body.dump());
  if (!msg.payload.empty()) frames.push_back(msg.payload);
  return frames;
}

Result<Message> Decode(const std::vector<std::string>& frames) {
  if (frames.size() < 3 || frames.size() > 4) {
    return InvalidArgument("expected 3 or 4 frames, got " + std::to_string(frames.size()));
  }
  if (frames[0] != kTag) {
    std::string tag = frames[0].substr(0, 16);
    for (char& c : tag) {
      if (c < 32 || c > 126) c = '?';
    }
    return InvalidArgument("unknown protocol tag '" + tag + "' (want " + kTag + ")");
  }
  auto type = TypeFromName(frames[1]);
  if (!type) {
    return InvalidArgument("unknown message type '" + frames[1].substr(0, 32) + "'");
  }
  Message msg;
  msg.type = *type;
  msg.body = nlohmann::json::parse(frames[2], nullptr, /*allow_exceptions=*/false);
  if (msg.body.is_discarded())
    return InvalidArgument(std::string(TypeName(*type)) + ": body is not JSON");
  if (!msg.body.is_object()) {
    return InvalidArgument(std::string(TypeName(*type)) + ": body is not a JSON object");
  }
  for (const Field& f : RequiredFields(*type)) {
    auto it = msg.body.find(f.name);
    if (it == msg.body.end()) {
      return InvalidArgument(std::string(TypeName(*type)) + ": missing field '" + f.name + "'");
    }
    if (!HasType(*it, f.type)) {
      return InvalidArgument(std::string(TypeName(*type)) + ": field '" + f.name +
                             "' has the wrong type");
    }
  }
  if (frames.size() == 4) msg.payload = frames[3];
  return msg;
}

}  // namespace compsweep::protocol
