#include "coordinator/api_columns.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "common/pareto.h"
#include "coordinator/api_queries.h"
#include "coordinator/api_sqlite.h"

namespace compsweep::coordinator {

using nlohmann::json;

namespace {

constexpr size_t kNoColumn = static_cast<size_t>(-1);

// Beyond this many trials new since the front was last brought up to date (or when
// inserting them one by one would cost more than sorting them all), the front is
// recomputed from scratch, outside the lock.
constexpr size_t kIncrementalRows = 4096;

json Finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string FrontKey(const std::vector<Objective>& objectives) {
  std::string key;
  for (const auto& o : objectives) key += o.metric + (o.maximize ? ":max," : ":min,");
  return key;
}

// Rows come ordered by (trial_id, metric), so the next name is usually the one
// after the last.
size_t FindName(const std::vector<std::string>& names, std::string_view name, size_t hint) {
  const size_t n = names.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t c = (hint + i) % n;
    if (names[c] == name) return c;
  }
  return kNoColumn;
}

std::optional<std::string> StringField(const json& data, const char* name) {
  auto it = data.find(name);
  if (it == data.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// What Store::TrialSucceeded writes of a trial_finished event's metrics: the
// numeric ones, as doubles. Adding 0.0 turns -0.0 into 0.0, as SQLite does when it
// stores an integral REAL.
std::vector<std::pair<std::string, double>> NumericMetrics(const json& data) {
  std::vector<std::pair<std::string, double>> out;
  auto metrics = data.find("metrics");
  if (metrics == data.end() || !metrics->is_object()) return out;
  out.reserve(metrics->size());
  for (auto it = metrics->begin(); it != metrics->end(); ++it) {
    if (it.value().is_number()) out.emplace_back(it.key(), it.value().get<double>() + 0.0);
  }
  return out;
}

// What an event means for the columns.
enum class Effect {
  kNone,       // changes no succeeded kind='trial' row
  kAppend,     // a trial succeeded: *sweep_id, *trial_id
  kDropSweep,  // *sweep_id may have changed otherwise: read it again
  kDropAll,    // the sweep is unknown
};

Effect Classify(const Event& e, int64_t* sweep_id, int64_t* trial_id) {
  if (e.kind != "trial_finished" && e.kind != "sweep_updated" && e.kind != "sweep_submitted") {
    return Effect::kNone;  // progress, starts, workers
  }
  const json& data = e.data;
  auto sweep = data.is_object() ? data.find("sweep_id") : data.end();
  if (!data.is_object() || sweep == data.end() || !sweep->is_number_integer()) {
    return Effect::kDropAll;
  }
  *sweep_id = sweep->get<int64_t>();
  if (e.kind == "sweep_updated") {
    // "done" follows the last trial_finished and changes no trial; "cancelled"
    // (Store::CancelSweep: queued, running and lost trials only) and "active"
    // (retry-failed: failed trials queued again) change no succeeded trial either.
    // Any other state is not known to leave them alone: read the sweep again.
    const auto state = StringField(data, "state");
    const bool harmless = state == "done" || state == "cancelled" || state == "active";
    return harmless ? Effect::kNone : Effect::kDropSweep;
  }
  if (e.kind == "sweep_submitted") return Effect::kDropSweep;
  const auto state = StringField(data, "state");
  const auto kind = StringField(data, "kind");
  auto trial = data.find("trial_id");
  if (!state.has_value()) return Effect::kDropSweep;
  if (*state != "succeeded") return Effect::kNone;                    // failed: it never succeeded
  if (kind == "teacher" || kind == "baseline") return Effect::kNone;  // not kind='trial' rows
  if (kind != "trial" || trial == data.end() || !trial->is_number_integer()) {
    return Effect::kDropSweep;
  }
  *trial_id = trial->get<int64_t>();
  return Effect::kAppend;
}

}  // namespace

Result<SweepColumnsData> LoadSweepColumns(SQLite::Database& db, int64_t sweep_id, ColumnLoad how) {
  SweepColumnsData out;
  try {
    // The sweep's succeeded rows from the (sweep_id, state) index, less the other
    // kinds (teachers) from the UNIQUE (sweep_id, kind, hash) index: no table row
    // is read.
    std::vector<int64_t> succeeded;
    {
      RawStatement q(
          db, "SELECT id FROM trials WHERE sweep_id = ?1 AND state = 'succeeded' ORDER BY id");
      q.Bind(1, sweep_id);
      while (q.Step()) succeeded.push_back(q.Int(0));
    }
    const std::vector<int64_t> other_kinds = NonTrialIds(db, sweep_id);
    out.ids.reserve(succeeded.size());
    for (int64_t id : succeeded) {
      if (!std::binary_search(other_kinds.begin(), other_kinds.end(), id)) out.ids.push_back(id);
    }
    const size_t n = out.ids.size();
    if (n == 0) return out;
    const IdIndex index(out.ids);
    if (how == ColumnLoad::kAuto) {
      RawStatement q(db, "SELECT max(id) FROM trials");  // a cheap upper bound of the count
      const int64_t db_trials = q.Step() ? q.Int(0) : 0;
      how = static_cast<int64_t>(n) * 4 >= db_trials ? ColumnLoad::kPerMetric : ColumnLoad::kRange;
    }

    if (how == ColumnLoad::kRange) {
      size_t hint = 0;
      auto column = [&](std::string_view name) -> std::vector<double>& {
        size_t c = FindName(out.metrics, name, hint);
        if (c == kNoColumn) {
          c = out.metrics.size();
          out.metrics.emplace_back(name);
          out.columns.emplace_back(n, NAN);
        }
        hint = c + 1;
        return out.columns[c];
      };
      if (index.dense()) {
        // The rows of other sweeps' trials in the range, if any, are skipped.
        RawStatement q(db,
                       "SELECT trial_id, metric, value FROM trial_values WHERE trial_id BETWEEN ?1 "
                       "AND ?2");
        q.Bind(1, out.ids.front());
        q.Bind(2, out.ids.back());
        while (q.Step()) {
          const int64_t row = index.Find(q.Int(0));
          if (row >= 0) column(q.Text(1))[row] = q.Real(2);
        }
      } else {
        RawStatement q(db, "SELECT metric, value FROM trial_values WHERE trial_id = ?1");
        for (size_t row = 0; row < n; ++row) {
          q.Reset();
          q.Bind(1, out.ids[row]);
          while (q.Step()) column(q.Text(0))[row] = q.Real(1);
        }
      }
    } else {
      // The metric names, by seeking through the (metric, value) index.
      std::vector<std::string> names;
      {
        RawStatement first(db, "SELECT metric FROM trial_values ORDER BY metric LIMIT 1");
        RawStatement next(
            db, "SELECT metric FROM trial_values WHERE metric > ?1 ORDER BY metric LIMIT 1");
        if (first.Step()) names.emplace_back(first.Text(0));
        while (!names.empty()) {
          next.Reset();
          next.Bind(1, names.back());
          if (!next.Step()) break;
          names.emplace_back(next.Text(0));
        }
      }
      RawStatement q(db, "SELECT trial_id, value FROM trial_values WHERE metric = ?1");
      for (const std::string& name : names) {
        std::vector<double> values(n, NAN);
        bool any = false;
        q.Reset();
        q.Bind(1, name);
        while (q.Step()) {
          const int64_t row = index.Find(q.Int(0));
          if (row < 0) continue;
          values[row] = q.Real(1);
          any = true;
        }
        if (any) {
          out.metrics.push_back(name);
          out.columns.push_back(std::move(values));
        }
      }
    }
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("loading the columns of sweep ") + std::to_string(sweep_id) + ": " +
                   e.what());
  }
  return out;
}

// The front of one objective set over rows [0, rows_done) of a sweep.
// Invariants: rows holds exactly the rows of [0, rows_done) with every objective
// that no such row dominates; considered counts the rows with every objective;
// worst/best are their extremes (TrackExtremes).
struct LiveColumns::FrontCache {
  std::vector<Objective> objectives;
  std::vector<size_t> cols;  // the objectives' columns (kNoColumn: not seen yet)
  size_t rows_done = 0;
  size_t considered = 0;
  std::vector<double> worst, best;
  std::vector<size_t> rows;      // the front
  std::vector<double> oriented;  // its values, minimizing: oriented[j * d + k]
  uint64_t last_used = 0;
};

// Invariants (once ready): ids[0, loaded_rows) ascending, from SQLite; every id
// appears once; each column holds values for rows [first_row, ids.size()).
struct LiveColumns::Sweep {
  struct Column {
    std::string name;
    size_t first_row = 0;  // the metric first appeared in this row
    std::vector<double> values;
    double at(size_t row) const { return row < first_row ? NAN : values[row - first_row]; }
  };

  bool ready = false;
  bool invalidated = false;  // while loading: drop what the load brings
  uint64_t version = 0;
  uint64_t last_used = 0;
  uint64_t load = 0;         // identifies this load of the sweep
  std::vector<Row> pending;  // trials that finished while loading

  std::vector<int64_t> ids;  // row -> trial id
  size_t loaded_rows = 0;
  std::unordered_set<int64_t> appended;
  std::vector<Column> columns;
  std::unordered_map<std::string, size_t> column_of;
  std::unordered_map<std::string, FrontCache> fronts;  // by FrontKey

  bool Has(int64_t id) const {
    return std::binary_search(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(loaded_rows),
                              id) ||
           appended.count(id) != 0;
  }
  size_t ColumnOf(const std::string& name) const {
    auto it = column_of.find(name);
    return it == column_of.end() ? kNoColumn : it->second;
  }
  // Values of row r for the objectives of f (NaN where missing); false unless all are there.
  bool RowValues(const FrontCache& f, size_t r, double* out) const {
    bool complete = true;
    for (size_t k = 0; k < f.cols.size(); ++k) {
      out[k] = f.cols[k] == kNoColumn ? NAN : columns[f.cols[k]].at(r);
      complete = complete && !std::isnan(out[k]);
    }
    return complete;
  }
};

LiveColumns::LiveColumns(EventHub* hub, ReaderPool* readers, ColumnLoad how)
    : hub_(hub), readers_(readers), how_(how) {
  // Subscribing under mu_ keeps the first delivery (which takes mu_) after the
  // backlog below, which tells the sequence number the deliveries continue from.
  // The backlog's results are committed (the core publishes after its commits),
  // so any load reads them from SQLite.
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Event> backlog;
  bool complete = true;
  subscription_ = hub_->SubscribeAfter(
      0, [this](const Event& e) { OnEvent(e); }, &backlog, &complete);
  if (!backlog.empty()) last_seq_ = backlog.back().seq;
}

LiveColumns::~LiveColumns() { hub_->Unsubscribe(subscription_); }

int64_t LiveColumns::loads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loads_;
}

void LiveColumns::OnEvent(const Event& e) {
  // What the event means, worked out before taking the lock.
  Effect effect = Effect::kNone;
  Row row;
  try {
    effect = Classify(e, &row.sweep_id, &row.trial_id);
    if (effect == Effect::kAppend) row.metrics = NumericMetrics(e.data);
  } catch (const std::exception&) {
    effect = Effect::kDropAll;
  }
  std::lock_guard<std::mutex> lock(mu_);
  try {
    // Deliveries are gap-free and in order (EventHub); a gap means results may
    // have been missed.
    if (e.seq != last_seq_ + 1) InvalidateAll();
    last_seq_ = e.seq;
    switch (effect) {
      case Effect::kNone:
        break;
      case Effect::kAppend: {
        auto it = sweeps_.find(row.sweep_id);
        if (it == sweeps_.end()) break;  // not held: a load will read it
        if (it->second->ready) {
          Append(it->second.get(), row);
        } else {
          it->second->pending.push_back(row);
        }
        break;
      }
      case Effect::kDropSweep:
        Invalidate(row.sweep_id);
        break;
      case Effect::kDropAll:
        InvalidateAll();
        break;
    }
  } catch (const std::exception&) {
    InvalidateAll();  // frees memory; no allocation
  }
}

void LiveColumns::Append(Sweep* s, const Row& row) {
  if (s->Has(row.trial_id)) return;  // already read from SQLite, or a repeated event
  const size_t r = s->ids.size();
  s->ids.push_back(row.trial_id);
  s->appended.insert(row.trial_id);
  for (auto& c : s->columns) c.values.push_back(NAN);
  for (const auto& [name, value] : row.metrics) {
    auto it = s->column_of.find(name);
    if (it != s->column_of.end()) {
      s->columns[it->second].values.back() = value;
    } else {
      s->column_of.emplace(name, s->columns.size());
      s->columns.push_back(Sweep::Column{name, r, {value}});
    }
  }
  s->version = next_version_++;
}

void LiveColumns::Invalidate(int64_t sweep_id) {
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return;
  if (it->second->ready) {
    sweeps_.erase(it);
  } else {
    it->second->invalidated = true;
  }
}

void LiveColumns::InvalidateAll() {
  for (auto it = sweeps_.begin(); it != sweeps_.end();) {
    if (it->second->ready) {
      it = sweeps_.erase(it);
    } else {
      it->second->invalidated = true;
      ++it;
    }
  }
}

Result<SweepColumnsData> LiveColumns::Load(int64_t sweep_id) {
  try {
    auto lease = readers_->Acquire();
    if (!lease.ok()) return lease.status();
    // A snapshot that starts now, after the sweep was marked as loading: any trial
    // it misses was committed later, so its event comes later too, into pending.
    ReadSnapshot snapshot(lease->db());
    return LoadSweepColumns(lease->db(), sweep_id, how_);
  } catch (const std::exception& e) {
    return Internal(std::string("loading sweep columns: ") + e.what());
  }
}

Result<LiveColumns::Sweep*> LiveColumns::ReadySweep(std::unique_lock<std::mutex>& lock,
                                                    int64_t sweep_id) {
  while (true) {
    auto it = sweeps_.find(sweep_id);
    if (it != sweeps_.end()) {
      if (it->second->ready) {
        it->second->last_used = ++tick_;
        return it->second.get();
      }
      loaded_.wait(lock);  // another request is loading it
      continue;
    }
    if (sweeps_.size() >= kMaxSweeps) {
      auto victim = sweeps_.end();
      for (auto j = sweeps_.begin(); j != sweeps_.end(); ++j) {
        if (j->second->ready &&
            (victim == sweeps_.end() || j->second->last_used < victim->second->last_used)) {
          victim = j;
        }
      }
      if (victim != sweeps_.end()) sweeps_.erase(victim);
    }
    auto fresh = std::make_unique<Sweep>();
    fresh->load = next_load_++;
    sweeps_[sweep_id] = std::move(fresh);

    lock.unlock();
    Result<SweepColumnsData> data = Load(sweep_id);
    lock.lock();

    // Only its loader removes a loading sweep.
    it = sweeps_.find(sweep_id);
    Sweep* s = it->second.get();
    if (!data.ok() || s->invalidated) {
      sweeps_.erase(it);
      loaded_.notify_all();
      if (!data.ok()) return data.status();
      return Unavailable("sweep " + std::to_string(sweep_id) + " changed while its columns loaded");
    }
    try {
      s->ids = std::move(data->ids);
      s->loaded_rows = s->ids.size();
      s->columns.reserve(data->metrics.size());
      for (size_t c = 0; c < data->metrics.size(); ++c) {
        s->column_of.emplace(data->metrics[c], c);
        s->columns.push_back(Sweep::Column{data->metrics[c], 0, std::move(data->columns[c])});
      }
      // Results that came while loading: those the snapshot already holds are
      // skipped by Append.
      for (const Row& r : s->pending) Append(s, r);
      s->pending = {};
    } catch (...) {
      sweeps_.erase(sweep_id);
      loaded_.notify_all();
      throw;
    }
    s->ready = true;
    s->version = next_version_++;
    s->last_used = ++tick_;
    ++loads_;
    loaded_.notify_all();
    return s;
  }
}

Result<LiveColumns::Front> LiveColumns::Pareto(int64_t sweep_id,
                                               const std::vector<Objective>& objectives) {
  const size_t d = objectives.size();
  if (d == 0 || d > 4) return InvalidArgument("between 1 and 4 objectives");
  std::vector<bool> maximize;
  for (const auto& o : objectives) maximize.push_back(o.maximize);
  const std::string key = FrontKey(objectives);

  // The objective set's front in s, created (or restarted when one of its metrics
  // has appeared since) as needed.
  // REQUIRES: mu_ held.
  auto front_of = [&](Sweep* s) -> FrontCache* {
    auto it = s->fronts.find(key);
    bool fresh = it == s->fronts.end();
    if (!fresh) {
      for (size_t k = 0; k < d; ++k) {
        fresh = fresh ||
                (it->second.cols[k] == kNoColumn && s->ColumnOf(objectives[k].metric) != kNoColumn);
      }
    }
    if (fresh) {
      if (it == s->fronts.end() && s->fronts.size() >= kMaxFrontsPerSweep) {
        auto victim = s->fronts.begin();
        for (auto j = s->fronts.begin(); j != s->fronts.end(); ++j) {
          if (j->second.last_used < victim->second.last_used) victim = j;
        }
        s->fronts.erase(victim);
      }
      FrontCache f;
      f.objectives = objectives;
      for (const auto& o : objectives) f.cols.push_back(s->ColumnOf(o.metric));
      f.worst.assign(d, NAN);
      f.best.assign(d, NAN);
      it = s->fronts.insert_or_assign(key, std::move(f)).first;
    }
    it->second.last_used = ++tick_;
    return &it->second;
  };

  std::unique_lock<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    Result<Sweep*> ready = ReadySweep(lock, sweep_id);
    if (!ready.ok()) return ready.status();
    Sweep* s = *ready;
    FrontCache* f = front_of(s);
    const size_t n = s->ids.size();
    const size_t fresh = n - f->rows_done;
    if (fresh > kIncrementalRows || fresh * (f->rows.size() + 1) > 8 * n + 65536) {
      // From scratch: copy the rows out (O(n d)), sort outside the lock.
      FrontCache built = *f;
      built.rows_done = n;
      built.considered = 0;
      built.worst.assign(d, NAN);
      built.best.assign(d, NAN);
      std::vector<double> flat;
      std::vector<size_t> rows;
      flat.reserve(n * d);
      rows.reserve(n);
      std::vector<double> v(d);
      for (size_t r = 0; r < n; ++r) {
        if (!s->RowValues(built, r, v.data())) continue;
        flat.insert(flat.end(), v.begin(), v.end());
        rows.push_back(r);
        TrackExtremes(objectives, v.data(), &built.worst, &built.best);
      }
      built.considered = rows.size();
      const uint64_t load = s->load;
      lock.unlock();
      built.rows.clear();
      built.oriented.clear();
      for (size_t i : ParetoFrontFlat(flat, maximize)) {
        built.rows.push_back(rows[i]);
        for (size_t k = 0; k < d; ++k)
          built.oriented.push_back(maximize[k] ? -flat[i * d + k] : flat[i * d + k]);
      }
      lock.lock();
      auto it = sweeps_.find(sweep_id);
      if (it == sweeps_.end() || !it->second->ready || it->second->load != load)
        continue;  // dropped
      s = it->second.get();
      f = front_of(s);
      if (f->cols != built.cols) continue;  // a metric appeared meanwhile
      if (f->rows_done < built.rows_done) {
        built.last_used = f->last_used;
        *f = std::move(built);
      }
    }
    // New rows one by one: a row joins unless a member dominates it (a dominated
    // row is always dominated by some member), and evicts the members it dominates.
    std::vector<double> v(d), o(d);
    for (size_t r = f->rows_done; r < s->ids.size(); ++r) {
      if (!s->RowValues(*f, r, v.data())) continue;
      ++f->considered;
      TrackExtremes(objectives, v.data(), &f->worst, &f->best);
      for (size_t k = 0; k < d; ++k) o[k] = maximize[k] ? -v[k] : v[k];
      bool dominated = false;
      for (size_t j = 0; j < f->rows.size() && !dominated; ++j) {
        dominated = Dominates(f->oriented.data() + j * d, o.data(), d);
      }
      if (dominated) continue;
      size_t kept = 0;
      for (size_t j = 0; j < f->rows.size(); ++j) {
        if (Dominates(o.data(), f->oriented.data() + j * d, d)) continue;
        f->rows[kept] = f->rows[j];
        std::copy_n(f->oriented.begin() + static_cast<std::ptrdiff_t>(j * d), d,
                    f->oriented.begin() + static_cast<std::ptrdiff_t>(kept * d));
        ++kept;
      }
      f->rows.resize(kept);
      f->oriented.resize(kept * d);
      f->rows.push_back(r);
      f->oriented.insert(f->oriented.end(), o.begin(), o.end());
    }
    f->rows_done = s->ids.size();

    // Copy out what the document needs; the JSON is built after the lock.
    Front out;
    out.version = s->version;
    ParetoSummary& sum = out.summary;
    sum.objectives = objectives;
    sum.considered = f->considered;
    sum.reference = ReferenceFromExtremes(objectives, f->worst, f->best);
    std::vector<std::string> names;
    for (const auto& c : s->columns) names.push_back(c.name);
    const size_t m = names.size();
    std::vector<double> metric_values;
    metric_values.reserve(f->rows.size() * m);
    for (size_t r : f->rows) {
      sum.front_ids.push_back(s->ids[r]);
      sum.front_values.emplace_back(d);
      s->RowValues(*f, r, sum.front_values.back().data());
      for (const auto& c : s->columns) metric_values.push_back(c.at(r));
    }
    lock.unlock();

    for (size_t j = 0; j < sum.front_ids.size(); ++j) {
      json metrics = json::object();
      for (size_t c = 0; c < m; ++c) {
        const double x = metric_values[j * m + c];
        if (!std::isnan(x)) metrics[names[c]] = Finite(x);
      }
      sum.front_metrics[std::to_string(sum.front_ids[j])] = std::move(metrics);
    }
    SortFrontBestFirst(objectives, &sum.front_ids, &sum.front_values);
    return out;
  }
  return Unavailable("the columns of sweep " + std::to_string(sweep_id) + " kept being dropped");
}

}  // namespace compsweep::coordinator
