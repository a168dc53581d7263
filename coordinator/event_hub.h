// EventHub: fan-out of live events (trial started/progress/finished, worker
// joined/lost, sweep submitted/cancelled) from the coordinator core to HTTP
// subscribers (Server-Sent Events).
// Thread-safety: all methods are thread-safe. Publish never blocks on a slow
// subscriber: each subscriber has a bounded queue and drops the oldest events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace compsweep::coordinator {

struct Event {
  int64_t seq = 0;      // increasing, starts at 1
  std::string kind;     // trial_started | trial_progress | trial_finished | worker_joined |
                        // worker_lost | sweep_submitted | sweep_updated
  nlohmann::json data;  // at least sweep_id / trial_id / worker as relevant
};

class EventHub {
 public:
  EventHub();
  ~EventHub();
  void Publish(const std::string& kind, nlohmann::json data);

  // The callback runs on the publisher's thread and must only enqueue/post work.
  using Callback = std::function<void(const Event&)>;
  // Returns a subscription id for Unsubscribe.
  int64_t Subscribe(Callback cb);
  // After Unsubscribe returns, the callback is not running and will not run again
  // (unless Unsubscribe is called from inside a callback, which is allowed).
  void Unsubscribe(int64_t id);

  // The last kRingSize events are kept so that a reconnecting client (SSE
  // Last-Event-ID) can catch up.
  static constexpr size_t kRingSize = 1000;

  // Subscribes and, atomically with it, copies the retained events with
  // seq > after_seq into *backlog: every later event goes to the callback, none
  // is seen twice. *complete is false when events after after_seq have already
  // left the ring (the client must refetch its state).
  int64_t SubscribeAfter(int64_t after_seq, Callback cb, std::vector<Event>* backlog,
                         bool* complete);

  // Retained events with seq > after_seq (see SubscribeAfter for *complete).
  std::vector<Event> EventsAfter(int64_t after_seq, bool* complete) const;

  // Sequence number of the last published event (0 before the first).
  int64_t last_seq() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace compsweep::coordinator
