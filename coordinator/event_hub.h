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

#include <nlohmann/json.hpp>

namespace compsweep::coordinator {

struct Event {
  int64_t seq = 0;       // increasing, starts at 1
  std::string kind;      // trial_started | trial_progress | trial_finished | worker_joined | worker_lost | sweep_submitted | sweep_updated
  nlohmann::json data;   // at least sweep_id / trial_id / worker as relevant
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
  void Unsubscribe(int64_t id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace compsweep::coordinator
