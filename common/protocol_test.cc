#include "common/protocol.h"

#include <gtest/gtest.h>

namespace compsweep::protocol {
namespace {

TEST(ProtocolTest, RoundTripsEveryField) {
  Message m;
  m.type = MsgType::kTask;
  m.body = {{"trial_id", 7}, {"attempt", 2}, {"kind", "trial"}, {"settings", {{"a", 1}}}};
  m.payload = std::string("\0\x01\x02", 3);
  auto frames = Encode(m);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0], "CSW1");
  EXPECT_EQ(frames[1], "TASK");
  auto back = Decode(frames);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->type, MsgType::kTask);
  EXPECT_EQ(back->body["trial_id"], 7);
  EXPECT_EQ(back->body["settings"]["a"], 1);
  EXPECT_EQ(back->payload, m.payload);
}

TEST(ProtocolTest, RawFieldIsSplicedIntoTheBodyAsJson) {
  Message m{MsgType::kTask, {{"trial_id", 7}, {"attempt", 1}, {"kind", "trial"}}, ""};
  const nlohmann::json settings = {{"seed", 3}, {"note", "a \"quoted\" word"}, {"x", {1, 2}}};
  auto back = Decode(Encode(m, RawField{"settings", settings.dump()}));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->body["trial_id"], 7);
  EXPECT_EQ(back->body["settings"], settings);
  // Into an empty body too, with a key that needs escaping.
  Message empty{MsgType::kHeartbeat, {}, ""};
  auto frames = Encode(empty, RawField{"k\"ey", "[1,2]"});
  EXPECT_EQ(frames[2], R"({"k\"ey":[1,2]})");
  EXPECT_TRUE(Decode(frames).ok());
}

TEST(ProtocolTest, EveryTypeNameRoundTrips) {
  for (int i = 0; i <= static_cast<int>(MsgType::kArtifact); ++i) {
    auto t = static_cast<MsgType>(i);
    EXPECT_EQ(TypeFromName(TypeName(t)), t);
  }
  EXPECT_FALSE(TypeFromName("NOPE").has_value());
}

TEST(ProtocolTest, RejectsMalformedFrames) {
  // Each of these must be refused with an error, never crash or throw.
  std::vector<std::vector<std::string>> bad = {
      {},
      {"CSW1"},
      {"CSW1", "HEARTBEAT"},
      {"CSW9", "HEARTBEAT", "{}"},
      {std::string("\xff\x00garbage", 9), "HEARTBEAT", "{}"},
      {"CSW1", "DANCE", "{}"},
      {"CSW1", "HEARTBEAT", "{not json"},
      {"CSW1", "HEARTBEAT", "[1,2]"},
      {"CSW1", "HEARTBEAT", "\"str\""},
      {"CSW1", "TASK", "{}"},
      {"CSW1", "TASK", R"({"trial_id":"7","attempt":1,"kind":"trial","settings":{}})"},
      {"CSW1", "RESULT", R"({"trial_id":7,"attempt":1,"metrics":[]})"},
      {"CSW1", "HELLO", R"({"worker_id":"w","device":"cpu","slots":1.5})"},
      {"CSW1", "HEARTBEAT", "{}", "payload", "extra"},
  };
  for (const auto& frames : bad) {
    auto r = Decode(frames);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(r.status().message().empty());
  }
}

TEST(ProtocolTest, ErrorNamesTheProblem) {
  auto r = Decode({"CSW1", "FAILED", R"({"trial_id":1,"attempt":1})"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing field 'error'"), std::string::npos);
}

}  // namespace
}  // namespace compsweep::protocol

namespace compsweep::protocol {
namespace {
TEST(ProtocolTest, EmptyBodyIsSentAsObject) {
  Message m{MsgType::kBye, {}, ""};
  auto r = Decode(Encode(m));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->body.is_object());
}
}  // namespace
}  // namespace compsweep::protocol

namespace compsweep::protocol {
namespace {
TEST(ProtocolTest, IntegersOutsideTheirRangeAreMalformed) {
  // slots -3 was accepted and 2^40 was cut to 0 by a narrowing read.
  const std::vector<std::string> bodies = {
      R"({"worker_id":"w","device":"cpu","slots":-3})",
      R"({"worker_id":"w","device":"cpu","slots":0})",
      R"({"worker_id":"w","device":"cpu","slots":1099511627776})",
      R"({"worker_id":"w","device":"cpu","slots":18446744073709551615})",
      R"({"worker_id":"","device":"cpu","slots":1})",
      R"({"worker_id":"w","device":"","slots":1})",
  };
  for (const auto& body : bodies) {
    auto r = Decode({"CSW1", "HELLO", body});
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find("out of range"), std::string::npos);
  }
  EXPECT_FALSE(Decode({"CSW1", "RESULT", R"({"trial_id":-1,"attempt":1,"metrics":{}})"}).ok());
  EXPECT_FALSE(
      Decode({"CSW1", "RESULT", R"({"trial_id":1,"attempt":4294967297,"metrics":{}})"}).ok());
  EXPECT_FALSE(Decode({"CSW1", "READY", R"({"free_slots":-1})"}).ok());
  EXPECT_TRUE(Decode({"CSW1", "HELLO", R"({"worker_id":"w","device":"cpu","slots":1024})"}).ok());
  EXPECT_TRUE(Decode({"CSW1", "READY", R"({"free_slots":0})"}).ok());
}
}  // namespace
}  // namespace compsweep::protocol

#include "common/log_text.h"

namespace compsweep {
namespace {
TEST(LogSafeTest, EscapesBinaryAndCutsLongText) {
  EXPECT_EQ(LogSafe("worker-1"), "worker-1");
  EXPECT_EQ(LogSafe(std::string("a\0b\n\xff", 5)), "a\\x00b\\x0a\\xff");
  EXPECT_EQ(LogSafe("back\\slash"), "back\\x5cslash");
  EXPECT_EQ(LogSafe(std::string(100, 'x'), 8), "xxxxxxxx...");
}
}  // namespace
}  // namespace compsweep
