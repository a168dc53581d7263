#include "coordinator/event_hub.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace compsweep::coordinator {

struct EventHub::Impl {
  // Serializes deliveries so that every subscriber sees events in seq order, and
  // lets Unsubscribe wait for an in-flight delivery. Lock order: publish_mu, mu.
  std::mutex publish_mu;
  std::atomic<std::thread::id> publishing_thread{};

  mutable std::mutex mu;
  int64_t next_seq = 1;                                             // GUARDED_BY(mu)
  int64_t next_id = 1;                                              // GUARDED_BY(mu)
  std::vector<std::pair<int64_t, std::shared_ptr<Callback>>> subs;  // GUARDED_BY(mu)
  std::deque<Event> ring;                                           // GUARDED_BY(mu)

  // REQUIRES: mu held.
  std::vector<Event> CopyAfter(int64_t after_seq, bool* complete) const {
    std::vector<Event> out;
    const int64_t last = next_seq - 1;
    if (after_seq < 0) after_seq = 0;
    if (after_seq >= last) {
      if (complete) *complete = true;
      return out;
    }
    const int64_t first_kept = ring.empty() ? next_seq : ring.front().seq;
    if (complete) *complete = after_seq + 1 >= first_kept;
    for (const Event& e : ring) {
      if (e.seq > after_seq) out.push_back(e);
    }
    return out;
  }
};

EventHub::EventHub() : impl_(std::make_unique<Impl>()) {}
EventHub::~EventHub() = default;

void EventHub::Publish(const std::string& kind, nlohmann::json data) {
  std::lock_guard<std::mutex> publish_lock(impl_->publish_mu);
  impl_->publishing_thread = std::this_thread::get_id();
  std::vector<std::shared_ptr<Callback>> targets;
  const Event* event = nullptr;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    while (impl_->ring.size() >= kRingSize) impl_->ring.pop_front();
    impl_->ring.push_back(Event{impl_->next_seq++, kind, std::move(data)});
    // Only Publish changes the ring, under publish_mu, which this call holds: the
    // element stays put (a deque's push/pop keep references to the others) while
    // the callbacks read it, and readers of the ring only copy under mu.
    event = &impl_->ring.back();
    targets.reserve(impl_->subs.size());
    for (const auto& [id, cb] : impl_->subs) targets.push_back(cb);
  }
  // Callbacks run outside mu so they may Subscribe/Unsubscribe.
  for (const auto& cb : targets) {
    try {
      (*cb)(*event);
    } catch (...) {
      // A subscriber's failure must not stop the others or the publisher.
    }
  }
  impl_->publishing_thread = std::thread::id();
}

int64_t EventHub::Subscribe(Callback cb) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const int64_t id = impl_->next_id++;
  impl_->subs.emplace_back(id, std::make_shared<Callback>(std::move(cb)));
  return id;
}

int64_t EventHub::SubscribeAfter(int64_t after_seq, Callback cb, std::vector<Event>* backlog,
                                 bool* complete) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (backlog) *backlog = impl_->CopyAfter(after_seq, complete);
  const int64_t id = impl_->next_id++;
  impl_->subs.emplace_back(id, std::make_shared<Callback>(std::move(cb)));
  return id;
}

void EventHub::Unsubscribe(int64_t id) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto& subs = impl_->subs;
    for (auto it = subs.begin(); it != subs.end(); ++it) {
      if (it->first == id) {
        subs.erase(it);
        break;
      }
    }
  }
  // Wait for a delivery that may still hold the callback, unless we are inside it.
  if (impl_->publishing_thread.load() != std::this_thread::get_id()) {
    std::lock_guard<std::mutex> wait(impl_->publish_mu);
  }
}

std::vector<Event> EventHub::EventsAfter(int64_t after_seq, bool* complete) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->CopyAfter(after_seq, complete);
}

int64_t EventHub::last_seq() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->next_seq - 1;
}

}  // namespace compsweep::coordinator
