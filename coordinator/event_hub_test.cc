#include "coordinator/event_hub.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace compsweep::coordinator {
namespace {

TEST(EventHubTest, DeliversInOrderWithIncreasingSeq) {
  EventHub hub;
  std::vector<Event> got;
  const int64_t id = hub.Subscribe([&](const Event& e) { got.push_back(e); });
  hub.Publish("trial_started", {{"trial_id", 1}});
  hub.Publish("trial_finished", {{"trial_id", 1}});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 1);
  EXPECT_EQ(got[1].seq, 2);
  EXPECT_EQ(got[1].kind, "trial_finished");
  EXPECT_EQ(got[1].data["trial_id"], 1);
  hub.Unsubscribe(id);
  hub.Publish("x", {});
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(hub.last_seq(), 3);
}

TEST(EventHubTest, RingKeepsTheLastEvents) {
  EventHub hub;
  const int n = static_cast<int>(EventHub::kRingSize) + 50;
  for (int i = 0; i < n; ++i) hub.Publish("e", {{"i", i}});
  bool complete = false;
  auto recent = hub.EventsAfter(n - 10, &complete);
  EXPECT_TRUE(complete);
  ASSERT_EQ(recent.size(), 10u);
  EXPECT_EQ(recent.front().seq, n - 9);
  auto old = hub.EventsAfter(3, &complete);
  EXPECT_FALSE(complete);  // events 4..50 are gone
  EXPECT_EQ(old.size(), EventHub::kRingSize);
  EXPECT_TRUE(hub.EventsAfter(n, &complete).empty());
  EXPECT_TRUE(complete);
  // Oldest retained is exactly reachable.
  hub.EventsAfter(n - static_cast<int>(EventHub::kRingSize), &complete);
  EXPECT_TRUE(complete);
}

TEST(EventHubTest, SubscribeAfterHasNoGapsOrDuplicates) {
  EventHub hub;
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop) hub.Publish("tick", {});
  });
  while (hub.last_seq() < 100) std::this_thread::yield();
  std::vector<int64_t> seen;
  std::mutex mu;
  std::vector<Event> backlog;
  bool complete = false;
  const int64_t start = hub.last_seq();
  const int64_t id = hub.SubscribeAfter(
      start - 50,
      [&](const Event& e) {
        std::lock_guard<std::mutex> lock(mu);
        seen.push_back(e.seq);
      },
      &backlog, &complete);
  while (hub.last_seq() < start + 2000) std::this_thread::yield();
  hub.Unsubscribe(id);
  stop = true;
  publisher.join();
  EXPECT_TRUE(complete);
  std::vector<int64_t> all;
  for (const auto& e : backlog) all.push_back(e.seq);
  all.insert(all.end(), seen.begin(), seen.end());
  ASSERT_GT(all.size(), 1000u);
  for (size_t i = 1; i < all.size(); ++i) ASSERT_EQ(all[i], all[i - 1] + 1) << i;
}

TEST(EventHubTest, UnsubscribeFromInsideCallback) {
  EventHub hub;
  int calls = 0;
  int64_t id = 0;
  id = hub.Subscribe([&](const Event&) {
    ++calls;
    hub.Unsubscribe(id);
  });
  hub.Publish("a", {});
  hub.Publish("b", {});
  EXPECT_EQ(calls, 1);
}

TEST(EventHubTest, ThrowingSubscriberDoesNotStopOthers) {
  EventHub hub;
  int calls = 0;
  hub.Subscribe([](const Event&) { throw std::runtime_error("x"); });
  hub.Subscribe([&](const Event&) { ++calls; });
  hub.Publish("a", {});
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace compsweep::coordinator
