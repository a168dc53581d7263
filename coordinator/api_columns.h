// Live in-memory columns of each sweep's succeeded kind='trial' rows, so that the
// Pareto endpoint answers a live sweep without re-reading ~300,000 rows of
// trial_values every time the database changes. A sweep's columns are read from
// SQLite on first use, then kept current from the EventHub's trial_finished events;
// anything else that might touch a succeeded trial drops them, and the next request
// reads them again. The front of each objective set is kept too and updated per
// new trial in O(front size).
// Thread-safety: all methods are thread-safe. The hub callback runs on the
// coordinator's core thread; it holds mu_ only for O(metrics of the event) work.
// No SQLite query and no full front computation runs under mu_.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "common/status.h"
#include "common/sweep_spec.h"
#include "coordinator/api_pareto.h"
#include "coordinator/api_readers.h"
#include "coordinator/event_hub.h"

namespace compsweep::coordinator {

// How LoadSweepColumns reads the values (both are timed by bench/pareto_bench.cc).
enum class ColumnLoad {
  kRange,      // one primary-key scan of trial_values over the sweep's id range
  kPerMetric,  // one covering scan of the (metric, value) index per metric name
  // kPerMetric when the sweep holds a good part of the database's trials (10-26%
  // less CPU there: no metric name per row), else kRange, which reads only the
  // sweep's rows.
  kAuto,
};

// The succeeded kind='trial' rows of one sweep, one column per metric.
struct SweepColumnsData {
  std::vector<int64_t> ids;                  // ascending
  std::vector<std::string> metrics;          // column names
  std::vector<std::vector<double>> columns;  // columns[c][row]; NaN when missing or NULL
};

// Reads a sweep's columns. Run it inside a read transaction (ReadSnapshot) so that
// its statements see one snapshot.
Result<SweepColumnsData> LoadSweepColumns(SQLite::Database& db, int64_t sweep_id,
                                          ColumnLoad how = ColumnLoad::kAuto);

class LiveColumns {
 public:
  // Subscribes to hub, which must outlive this object; loads borrow connections
  // from readers, which must outlive it too.
  LiveColumns(EventHub* hub, ReaderPool* readers, ColumnLoad how = ColumnLoad::kAuto);
  ~LiveColumns();
  LiveColumns(const LiveColumns&) = delete;
  LiveColumns& operator=(const LiveColumns&) = delete;

  struct Front {
    ParetoSummary summary;  // front_metrics filled from the columns
    uint64_t version = 0;   // changes whenever the sweep's columns change
  };

  // The Pareto summary of a sweep over the objectives (1 to 4 of them), loading the
  // sweep's columns first when they are not held. Unavailable when the columns
  // cannot be trusted for this request (dropped while loading): read SQLite instead.
  Result<Front> Pareto(int64_t sweep_id, const std::vector<Objective>& objectives);

  // What the hub subscription calls (public so that tests can inject a gap).
  void OnEvent(const Event& event);

  // Loads from SQLite completed so far (tests and benchmarks).
  int64_t loads() const;

  // The core publishes a result only after its batch has committed, so a load's
  // snapshot holds every result whose event came before the load began; those
  // that come while it runs wait in the sweep's pending rows.
  static constexpr size_t kMaxSweeps = 16;         // least recently used dropped beyond
  static constexpr size_t kMaxFrontsPerSweep = 8;  // objective sets kept per sweep

 private:
  struct Row {
    int64_t sweep_id = 0;
    int64_t trial_id = 0;
    std::vector<std::pair<std::string, double>> metrics;  // numeric ones only
  };
  struct Sweep;
  struct FrontCache;

  // REQUIRES: mu_ held (the lock is released while loading). A ready sweep.
  Result<Sweep*> ReadySweep(std::unique_lock<std::mutex>& lock, int64_t sweep_id);
  Result<SweepColumnsData> Load(int64_t sweep_id);
  // REQUIRES: mu_ held.
  void Append(Sweep* sweep, const Row& row);
  void Invalidate(int64_t sweep_id);
  void InvalidateAll();

  EventHub* const hub_;
  ReaderPool* const readers_;
  const ColumnLoad how_;
  int64_t subscription_ = 0;

  mutable std::mutex mu_;
  std::condition_variable loaded_;                              // a load ended
  std::unordered_map<int64_t, std::unique_ptr<Sweep>> sweeps_;  // GUARDED_BY(mu_)
  int64_t last_seq_ = 0;                                        // GUARDED_BY(mu_)
  uint64_t next_version_ = 1;                                   // GUARDED_BY(mu_)
  uint64_t next_load_ = 1;                                      // GUARDED_BY(mu_)
  uint64_t tick_ = 0;                                           // GUARDED_BY(mu_), for LRU
  int64_t loads_ = 0;                                           // GUARDED_BY(mu_)
};

}  // namespace compsweep::coordinator
