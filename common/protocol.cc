#include "common/protocol.h"

#include <cstdint>
#include <limits>
#include <utility>

namespace compsweep::protocol {

namespace {

constexpr const char* kNames[] = {"HELLO",     "READY",  "TASK", "PROGRESS", "RESULT", "FAILED",
                                  "HEARTBEAT", "CANCEL", "ACK",  "BYE",      "FETCH",  "ARTIFACT"};
constexpr int kNumTypes = sizeof(kNames) / sizeof(kNames[0]);

enum class FieldType { kInt, kString, kObject, kAny };

// Integer fields also carry a range: a value outside it (HELLO slots -3, or 2^40,
// which a narrowing get<int> would have cut to 0) makes the message malformed.
struct Field {
  const char* name;
  FieldType type;
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxSlots = 1024;
constexpr int64_t kMaxIdBytes = 256;

// Field definitions shared by several types.
const Field kTrialId{"trial_id", FieldType::kInt, 0};
const Field kAttempt{"attempt", FieldType::kInt, 0, kMaxInt32};

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
      return {{"worker_id", FieldType::kString, 1, kMaxIdBytes},
              {"device", FieldType::kString, 1, 64},
              {"slots", FieldType::kInt, 1, kMaxSlots}};
    case MsgType::kReady:
      return {{"free_slots", FieldType::kInt, 0, kMaxSlots}};
    case MsgType::kTask:
      return {kTrialId, kAttempt, {"kind", FieldType::kString}, {"settings", FieldType::kObject}};
    case MsgType::kProgress:
      return {kTrialId, kAttempt, {"data", FieldType::kObject}};
    case MsgType::kResult:
      return {kTrialId, kAttempt, {"metrics", FieldType::kObject}};
    case MsgType::kFailed:
      return {kTrialId, kAttempt, {"error", FieldType::kString}};
    case MsgType::kCancel:
    case MsgType::kAck:
      return {kTrialId, kAttempt};
    case MsgType::kFetch:
      return {{"hash", FieldType::kString, 1, 128}};
    case MsgType::kArtifact:
      return {{"hash", FieldType::kString, 1, 128}};
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

std::vector<std::string> Encode(const Message& msg, const RawField& raw) {
  std::vector<std::string> frames = Encode(msg);
  std::string& body = frames[2];  // "{...}": an object, never empty
  body.pop_back();
  if (body.size() > 1) body += ',';
  body += nlohmann::json(raw.key).dump();
  body += ':';
  body += raw.json;
  body += '}';
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
    // Integers: the value's range. Strings: the length's range (when given).
    bool in_range = true;
    if (f.type == FieldType::kInt) {
      if (it->is_number_unsigned()) {
        // Every max here is >= 0; an unsigned value above INT64_MAX fails it.
        const uint64_t u = it->get<uint64_t>();
        in_range =
            u <= static_cast<uint64_t>(f.max) && (f.min <= 0 || u >= static_cast<uint64_t>(f.min));
      } else {
        const int64_t v = it->get<int64_t>();
        in_range = v >= f.min && v <= f.max;
      }
    } else if (f.type == FieldType::kString && f.min >= 0) {
      const auto n = static_cast<int64_t>(it->get_ref<const std::string&>().size());
      in_range = n >= f.min && n <= f.max;
    }
    if (!in_range) {
      return InvalidArgument(std::string(TypeName(*type)) + ": field '" + f.name +
                             "' is out of range [" + std::to_string(f.min) + ", " +
                             std::to_string(f.max) + "]" +
                             (f.type == FieldType::kString ? " (length)" : ""));
    }
  }
  if (frames.size() == 4) msg.payload = frames[3];
  return msg;
}

}  // namespace compsweep::protocol
