// Wire protocol between coordinator (ZeroMQ ROUTER) and workers (DEALER).
// A message is multipart: [tag "CSW1"] [type name] [JSON object body] [optional binary payload].
// The ROUTER side sees an extra identity frame in front, which the broker strips.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::protocol {

// Bump the digit when a change is not backward compatible; a peer speaking
// another version is refused with a log line.
inline constexpr const char* kTag = "CSW1";

// Sent on the wire as their names; never rename a released type.
enum class MsgType {
  kHello,      // worker -> coord: {worker_id, host, device, slots, pid, version, gpu?,
               // running:[[trial,attempt]]}
  kReady,      // worker -> coord: {free_slots}
  kTask,       // coord -> worker: {trial_id, attempt, kind, settings, teacher?:{hash}}
  kProgress,   // worker -> coord: {trial_id, attempt, data}
  kResult,     // worker -> coord: {trial_id, attempt, metrics} [+ payload: teacher file]
  kFailed,     // worker -> coord: {trial_id, attempt, error}
  kHeartbeat,  // both ways: {} (worker adds running:[[trial,attempt]])
  kCancel,     // coord -> worker: {trial_id, attempt}
  kAck,        // coord -> worker: {trial_id, attempt}
  kBye,        // worker -> coord: {}
  kFetch,      // worker -> coord: {hash}
  kArtifact,   // coord -> worker: {hash, found} + payload
};

const char* TypeName(MsgType t);
std::optional<MsgType> TypeFromName(const std::string& name);

struct Message {
  MsgType type = MsgType::kHeartbeat;
  nlohmann::json body = nlohmann::json::object();
  std::string payload;  // binary, may be empty
};

// Frames to send (without any routing identity).
std::vector<std::string> Encode(const Message& msg);

// A body field whose value is JSON text already, e.g. trial settings the
// coordinator stored with json::dump(): Encode(msg, raw) puts it into the body
// as it is, so a TASK costs no parse and no re-serialization of its settings.
// REQUIRES: json is one well-formed JSON value and key is not in msg.body.
struct RawField {
  std::string key;
  std::string json;
};
std::vector<std::string> Encode(const Message& msg, const RawField& raw);

// Decodes and validates frames (identity already removed): tag/version, known
// type, JSON object body, and the required fields of the type with their types.
// Returns InvalidArgument with a description of the first problem otherwise.
Result<Message> Decode(const std::vector<std::string>& frames);

}  // namespace compsweep::protocol
