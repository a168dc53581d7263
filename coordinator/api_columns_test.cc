#include "coordinator/api_columns.h"

#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>

#include "coordinator/api_queries.h"
#include "coordinator/http_api.h"
#include "coordinator/http_test_util.h"

namespace compsweep::coordinator {
namespace {

namespace http = boost::beast::http;
using nlohmann::json;
using testing::MakeRequest;
using testing::TempDir;
using testing::TestDb;

const json kObjectives = json::array({{{"metric", "val_accuracy"}, {"maximize", true}},
                                      {{"metric", "size_bytes"}, {"maximize", false}}});

// Brute-force O(n^2) front in the test's own terms.
std::set<int64_t> BruteFront(const std::map<int64_t, std::vector<double>>& points,
                             const std::vector<bool>& maximize) {
  std::set<int64_t> out;
  for (const auto& [id, p] : points) {
    bool dominated = false;
    for (auto it = points.begin(); it != points.end() && !dominated; ++it) {
      const std::vector<double>& q = it->second;
      bool no_worse = true, better = false;
      for (size_t k = 0; k < maximize.size(); ++k) {
        const double a = maximize[k] ? -q[k] : q[k];
        const double b = maximize[k] ? -p[k] : p[k];
        no_worse = no_worse && a <= b;
        better = better || a < b;
      }
      dominated = no_worse && better;
    }
    if (!dominated) out.insert(id);
  }
  return out;
}

// A real SQLite file, a real EventHub, and two handlers over them: one with the
// live columns, one that reads SQLite for every request. Trials finish as the core
// finishes them (core.cc OnResult): the event is published, then the store's
// batch commits the row and its values.
class LiveColumnsTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = std::make_unique<TestDb>((dir_.path() / "sweeps.db").string()); }

  std::unique_ptr<ApiHandler> LiveHandler() {
    ApiOptions o;
    o.db_path = db_->path();
    return std::make_unique<ApiHandler>(o, nullptr, &hub_);
  }
  std::unique_ptr<ApiHandler> SqliteHandler() {
    ApiOptions o;
    o.db_path = db_->path();
    o.live_columns = false;
    return std::make_unique<ApiHandler>(o, nullptr, &hub_);
  }

  static std::string GetBody(ApiHandler& api, const std::string& target) {
    HttpResponse res = api.HandleRequest(MakeRequest(http::verb::get, target));
    EXPECT_EQ(res.result(), http::status::ok) << target << ": " << res.body();
    return res.body();
  }
  static json Get(ApiHandler& api, const std::string& target) {
    return json::parse(GetBody(api, target), nullptr, false);
  }

  // A trial row as the sweep's creation writes it, waiting for its result.
  int64_t AddRunning(int64_t sweep, int64_t number, const std::string& kind = "trial") {
    return db_->AddTrial(sweep, number, "running", {{"n", number}}, {}, kind);
  }

  void Publish(int64_t sweep, int64_t id, const json& metrics, const std::string& kind = "trial",
               const std::string& state = "succeeded") {
    hub_.Publish("trial_finished", {{"trial_id", id},
                                    {"sweep_id", sweep},
                                    {"state", state},
                                    {"kind", kind},
                                    {"metrics", metrics}});
  }

  // What Store::TrialSucceeded commits.
  void Commit(int64_t id, const json& metrics) {
    SQLite::Transaction tx(db_->db());
    db_->db().exec("UPDATE trials SET state = 'succeeded', finished_ms = 9000 WHERE id = " +
                   std::to_string(id));
    for (auto it = metrics.begin(); it != metrics.end(); ++it) {
      if (!it.value().is_number()) continue;
      SQLite::Statement st(
          db_->db(), "INSERT OR REPLACE INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
      st.bind(1, id);
      st.bind(2, it.key());
      st.bind(3, it.value().get<double>());
      st.exec();
    }
    tx.commit();
  }

  // As the core does: the batch commits, then its events are published.
  void Finish(int64_t sweep, int64_t id, const json& metrics, const std::string& kind = "trial") {
    Commit(id, metrics);
    Publish(sweep, id, metrics, kind);
  }

  TempDir dir_;
  std::unique_ptr<TestDb> db_;
  EventHub hub_;
};

std::string ParetoTarget(int64_t sweep, const std::string& objectives = "") {
  return "/api/sweeps/" + std::to_string(sweep) + "/pareto" +
         (objectives.empty() ? "" : "?objectives=" + objectives);
}

std::set<int64_t> FrontIds(const json& doc) {
  std::set<int64_t> out;
  for (const auto& id : doc["front_ids"]) out.insert(id.get<int64_t>());
  return out;
}

TEST_F(LiveColumnsTest, MatchesSqliteAndBruteForceAsTrialsArrive) {
  const int64_t s = db_->AddSweep("live", kObjectives);
  const int64_t teacher = AddRunning(s, 0, "teacher");
  Finish(s, teacher, {{"val_accuracy", 0.99}, {"size_bytes", 1.0}, {"latency_ms", 0.1}}, "teacher");
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> acc(50, 99), size(10, 60), lat(1, 20);
  // id -> (accuracy, size_bytes, latency_ms) of the succeeded trials with all three.
  std::map<int64_t, std::vector<double>> points;
  std::map<int64_t, std::vector<double>> two;  // those with accuracy and size_bytes
  int64_t number = 0;
  auto finish_random = [&](bool published) {
    const int64_t id = AddRunning(s, number);
    const double a = acc(rng) / 100.0, b = size(rng) * 1000.0, c = lat(rng) / 2.0;
    json metrics{{"val_accuracy", a}, {"latency_ms", c}, {"note", "text is not a value"}};
    if (number % 11 != 3) metrics["size_bytes"] = b;  // some trials lack a metric
    if (number % 13 == 5) metrics["sparsity"] = 0.5;
    if (number >= 320 && number % 3 == 0) metrics["throughput"] = lat(rng);  // appears later
    if (number % 7 == 2) {
      if (published) Publish(s, id, metrics, "trial", "failed");
      db_->db().exec("UPDATE trials SET state = 'failed' WHERE id = " + std::to_string(id));
    } else {
      if (published) {
        Finish(s, id, metrics);
      } else {
        Commit(id, metrics);
      }
      if (metrics.contains("size_bytes")) {
        points[id] = {a, b, c};
        two[id] = {a, b};
      }
    }
    ++number;
    return id;
  };
  for (int i = 0; i < 300; ++i) finish_random(false);  // before the server started

  auto live = LiveHandler();
  auto sqlite = SqliteHandler();
  const std::vector<std::string> sets = {"",
                                         "val_accuracy,size_bytes,latency_ms",
                                         "val_accuracy:min,size_bytes:max",
                                         "latency_ms",
                                         "val_accuracy,size_bytes,latency_ms,sparsity",
                                         "val_accuracy,throughput"};
  auto check = [&](const std::string& objectives) {
    // Byte for byte: JSON equality would take -0.0 for 0.0.
    const std::string a = GetBody(*live, ParetoTarget(s, objectives));
    EXPECT_EQ(a, GetBody(*sqlite, ParetoTarget(s, objectives))) << objectives;
    return json::parse(a);
  };
  auto check_all = [&] {
    EXPECT_EQ(FrontIds(check("")), BruteFront(two, {true, false}));
    EXPECT_EQ(FrontIds(check(sets[1])), BruteFront(points, {true, false, false}));
    for (size_t i = 2; i < sets.size(); ++i) check(sets[i]);
    const json a = Get(*live, "/api/sweeps/" + std::to_string(s));
    const json b = Get(*sqlite, "/api/sweeps/" + std::to_string(s));
    EXPECT_EQ(a["hypervolume"], b["hypervolume"]);
  };
  check_all();
  for (int i = 0; i < 150; ++i) {
    finish_random(true);
    if (i % 25 == 0) {
      // A second event for a trial the columns hold: ignored.
      Publish(s, two.begin()->first, {{"val_accuracy", 1.0}, {"size_bytes", 1.0}});
    }
    if (i % 40 == 0) {  // a new trial that dominates everything, then ties with it
      const int64_t best = AddRunning(s, number++);
      Finish(s, best,
             {{"val_accuracy", 1.0}, {"size_bytes", 5.0}, {"latency_ms", 0.5}, {"zero", -0.0}});
      const int64_t twin = AddRunning(s, number++);
      Finish(s, twin, {{"val_accuracy", 1.0}, {"size_bytes", 5.0}, {"latency_ms", 0.5}});
      points[best] = points[twin] = {1.0, 5.0, 0.5};
      two[best] = two[twin] = {1.0, 5.0};
    }
    check("");
    if (i % 10 == 0) check_all();
  }
  check_all();
  // Everything after the first request came from events, not from SQLite.
  EXPECT_EQ(live->live_columns()->loads(), 1);
}

TEST_F(LiveColumnsTest, ResultCommittedThenPublishedIsServedFromTheEvent) {
  const int64_t s = db_->AddSweep("live", kObjectives);
  const int64_t a = AddRunning(s, 0);
  Finish(s, a, {{"val_accuracy", 0.8}, {"size_bytes", 100}});
  auto live = LiveHandler();
  auto sqlite = SqliteHandler();
  EXPECT_EQ(Get(*live, ParetoTarget(s)), Get(*sqlite, ParetoTarget(s)));
  const int64_t b = AddRunning(s, 1);
  const json metrics{{"val_accuracy", 0.9}, {"size_bytes", 50}, {"latency_ms", 2}};
  Finish(s, b, metrics);
  json doc = Get(*live, ParetoTarget(s));
  EXPECT_EQ(doc["front_ids"], json::array({b}));
  EXPECT_EQ(doc["front"][0]["metrics"],
            json({{"val_accuracy", 0.9}, {"latency_ms", 2.0}, {"size_bytes", 50.0}}));
  EXPECT_EQ(doc["front"][0]["params"], json({{"n", 1}}));
  EXPECT_EQ(doc, Get(*sqlite, ParetoTarget(s)));
  EXPECT_EQ(live->live_columns()->loads(), 1) << "the second result came from its event";
}

TEST_F(LiveColumnsTest, ResultsBeforeTheFirstLoadAreNotLost) {
  const int64_t s = db_->AddSweep("live", kObjectives);
  const int64_t a = AddRunning(s, 0);
  const int64_t b = AddRunning(s, 1);
  const int64_t c = AddRunning(s, 2);
  // Committed and published before the server subscribed: the load reads it.
  Finish(s, a, {{"val_accuracy", 0.9}, {"size_bytes", 100}});
  auto live = LiveHandler();
  auto sqlite = SqliteHandler();
  // After subscribing, before the sweep was ever asked for.
  Finish(s, b, {{"val_accuracy", 0.95}, {"size_bytes", 200}});
  Finish(s, c, {{"val_accuracy", 0.5}, {"size_bytes", 10}});
  json doc = Get(*live, ParetoTarget(s));
  EXPECT_EQ(doc["considered"], 3);
  EXPECT_EQ(FrontIds(doc), (std::set<int64_t>{a, b, c}));
  EXPECT_EQ(doc, Get(*sqlite, ParetoTarget(s)));
  EXPECT_EQ(live->live_columns()->loads(), 1);
}

TEST_F(LiveColumnsTest, ChangedSweepsAndUnclearEventsReload) {
  const int64_t s = db_->AddSweep("live", kObjectives);
  const int64_t other = db_->AddSweep("other", kObjectives);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(AddRunning(s, i));
    Finish(s, ids.back(), {{"val_accuracy", 0.5 + 0.1 * i}, {"size_bytes", 100.0 * (i + 1)}});
  }
  auto live = LiveHandler();
  auto sqlite = SqliteHandler();
  LiveColumns* columns = live->live_columns();
  ASSERT_NE(columns, nullptr);
  auto same = [&] { EXPECT_EQ(Get(*live, ParetoTarget(s)), Get(*sqlite, ParetoTarget(s))); };
  same();
  EXPECT_EQ(columns->loads(), 1);

  // A change no event describes (here: a trial's value rewritten), then a
  // sweep_updated with a state the columns do not know: they are dropped and read
  // again.
  db_->db().exec(
      "UPDATE trial_values SET value = 0.99 WHERE metric = 'val_accuracy' AND trial_id = " +
      std::to_string(ids[0]));
  hub_.Publish("sweep_updated", {{"sweep_id", s}, {"state", "rewritten"}});
  same();
  EXPECT_EQ(columns->loads(), 2);

  // "done", "cancelled" and "active" (retry-failed) change no succeeded trial;
  // events of another sweep, progress and workers neither.
  hub_.Publish("sweep_updated", {{"sweep_id", s}, {"state", "done"}});
  hub_.Publish("sweep_updated", {{"sweep_id", s}, {"state", "cancelled"}});
  hub_.Publish("sweep_updated", {{"sweep_id", s}, {"state", "active"}});
  hub_.Publish("sweep_updated", {{"sweep_id", other}, {"state", "cancelled"}});
  hub_.Publish("trial_progress", {{"trial_id", ids[1]}, {"sweep_id", s}});
  hub_.Publish("worker_lost", {{"worker", "w1"}});
  Publish(other, 999, {{"val_accuracy", 1.0}});
  same();
  EXPECT_EQ(columns->loads(), 2);

  // Events that cannot be read as a known change: a succeeded trial of no known
  // kind, a trial_finished without a state, one without a sweep.
  db_->db().exec("UPDATE trials SET state = 'failed' WHERE id = " + std::to_string(ids[4]));
  Publish(s, ids[4], {{"val_accuracy", 0.1}}, "mystery");
  same();
  EXPECT_EQ(columns->loads(), 3);
  hub_.Publish("trial_finished", {{"trial_id", ids[3]}, {"sweep_id", s}});
  same();
  EXPECT_EQ(columns->loads(), 4);
  hub_.Publish("trial_finished", {{"trial_id", ids[3]}, {"state", "succeeded"}});
  same();
  EXPECT_EQ(columns->loads(), 5);
}

TEST_F(LiveColumnsTest, GapInSequenceNumbersReloads) {
  const int64_t s = db_->AddSweep("live", kObjectives);
  const int64_t a = AddRunning(s, 0);
  Finish(s, a, {{"val_accuracy", 0.8}, {"size_bytes", 100}});
  ReaderPool readers(db_->path());
  LiveColumns columns(&hub_, &readers);
  std::vector<Objective> objectives = {{"val_accuracy", true}, {"size_bytes", false}};
  ASSERT_TRUE(columns.Pareto(s, objectives).ok());
  EXPECT_EQ(columns.loads(), 1);

  // A result the columns never hear of (its event is lost), then an event whose
  // sequence number shows the gap.
  const int64_t b = AddRunning(s, 1);
  Commit(b, {{"val_accuracy", 0.9}, {"size_bytes", 50}});
  auto front = columns.Pareto(s, objectives);
  ASSERT_TRUE(front.ok());
  EXPECT_EQ(front->summary.front_ids, std::vector<int64_t>({a}));  // it cannot know
  columns.OnEvent(Event{hub_.last_seq() + 2, "trial_progress", {{"trial_id", b}}});
  front = columns.Pareto(s, objectives);
  ASSERT_TRUE(front.ok());
  EXPECT_EQ(columns.loads(), 2);
  EXPECT_EQ(front->summary.front_ids, std::vector<int64_t>({b}));

  // The hub's next delivery follows the hub's numbering, not the injected one: a
  // gap again, and again a reload.
  const int64_t c = AddRunning(s, 2);
  Finish(s, c, {{"val_accuracy", 0.95}, {"size_bytes", 40}});
  front = columns.Pareto(s, objectives);
  ASSERT_TRUE(front.ok());
  EXPECT_EQ(columns.loads(), 3);
  EXPECT_EQ(front->summary.front_ids, std::vector<int64_t>({c}));
  // In sequence again: appended, no reload.
  const int64_t d = AddRunning(s, 3);
  Finish(s, d, {{"val_accuracy", 0.96}, {"size_bytes", 30}});
  front = columns.Pareto(s, objectives);
  ASSERT_TRUE(front.ok());
  EXPECT_EQ(columns.loads(), 3);
  EXPECT_EQ(front->summary.front_ids, std::vector<int64_t>({d}));
}

TEST_F(LiveColumnsTest, ConcurrentResultsAndRequestsLoseNothing) {
  // 5,000 results before the server starts (the first front is sorted from scratch),
  // 1,000 streamed while three clients ask (the first load races them), then a burst
  // of 4,500 between two requests (sorted from scratch again).
  constexpr int kBefore = 5000, kStreamed = 1000, kBurst = 4500;
  constexpr int kTotal = kBefore + kStreamed + kBurst;
  const int64_t s = db_->AddSweep("live", kObjectives);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int64_t> ids;
  std::vector<json> metrics;
  std::map<int64_t, std::vector<double>> two;
  {
    SQLite::Transaction tx(db_->db());
    for (int i = 0; i < kTotal; ++i) {
      ids.push_back(AddRunning(s, i));
      const double a = std::round(u(rng) * 100) / 100, b = std::round(u(rng) * 1000);
      metrics.push_back({{"val_accuracy", a}, {"size_bytes", b}});
      two[ids[i]] = {a, b};
    }
    tx.commit();
  }
  // The core: each batch committed, then its events published one by one.
  auto run_core = [&](int from, int to, int batch) {
    for (int i = from; i < to; i += batch) {
      const int end = std::min(to, i + batch);
      SQLite::Transaction tx(db_->db());
      SQLite::Statement state(db_->db(), "UPDATE trials SET state = 'succeeded' WHERE id = ?");
      SQLite::Statement value(db_->db(),
                              "INSERT INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
      for (int j = i; j < end; ++j) {
        state.bind(1, ids[j]);
        state.exec();
        state.reset();
        for (const char* m : {"val_accuracy", "size_bytes"}) {
          value.bind(1, ids[j]);
          value.bind(2, m);
          value.bind(3, metrics[j][m].get<double>());
          value.exec();
          value.reset();
        }
      }
      tx.commit();
      for (int j = i; j < end; ++j) Publish(s, ids[j], metrics[j]);
    }
  };
  run_core(0, kBefore, kBefore);
  auto live = LiveHandler();
  std::atomic<bool> done{false};
  std::thread core([&] {
    run_core(kBefore, kBefore + kStreamed, 50);
    done = true;
  });
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (int r = 0; r < 3; ++r) {
    clients.emplace_back([&] {
      do {
        HttpResponse res = live->HandleRequest(MakeRequest(http::verb::get, ParetoTarget(s)));
        if (res.result() == http::status::ok) ++answered;
      } while (!done);
    });
  }
  core.join();
  for (auto& t : clients) t.join();
  EXPECT_GT(answered.load(), 0);
  auto sqlite = SqliteHandler();
  json a = Get(*live, ParetoTarget(s));
  EXPECT_EQ(a, Get(*sqlite, ParetoTarget(s)));
  EXPECT_EQ(a["considered"], kBefore + kStreamed);

  run_core(kBefore + kStreamed, kTotal, 4096);
  a = Get(*live, ParetoTarget(s));
  EXPECT_EQ(a, Get(*sqlite, ParetoTarget(s)));
  EXPECT_EQ(a["considered"], kTotal);
  EXPECT_EQ(FrontIds(a), BruteFront(two, {true, false}));
  EXPECT_EQ(live->live_columns()->loads(), 1);
}

TEST_F(LiveColumnsTest, LoadMethodsAgree) {
  // Sweep a's trials interleave with sweep b's (ids not compact: per-trial lookups);
  // sweep b's are compact (one range scan); both have a teacher and other states.
  const int64_t a = db_->AddSweep("a", kObjectives);
  const int64_t b = db_->AddSweep("b", kObjectives);
  db_->AddTrial(a, 0, "succeeded", json::object(), {{"val_accuracy", 0.9}}, "teacher");
  std::map<int64_t, size_t> want;
  {
    SQLite::Transaction tx(db_->db());
    for (int i = 0; i < 6000; ++i) {
      const bool in_a = i % 1000 == 0;
      const bool failed = i % 9 == 4;
      db_->AddTrial(in_a ? a : b, i, failed ? "failed" : "succeeded", json::object(),
                    {{"val_accuracy", (i % 97) / 100.0},
                     {"size_bytes", 1.0 * (i % 89)},
                     {in_a ? "x" : "y", 1.0}});
      if (!failed) ++want[in_a ? a : b];
    }
    tx.commit();
  }
  for (int64_t sweep : {a, b}) {
    ReadSnapshot snapshot(db_->db());
    auto range = LoadSweepColumns(db_->db(), sweep, ColumnLoad::kRange);
    auto per_metric = LoadSweepColumns(db_->db(), sweep, ColumnLoad::kPerMetric);
    auto automatic = LoadSweepColumns(db_->db(), sweep, ColumnLoad::kAuto);
    ASSERT_TRUE(range.ok() && per_metric.ok() && automatic.ok());
    EXPECT_EQ(range->ids, per_metric->ids);
    EXPECT_EQ(range->ids, automatic->ids);
    EXPECT_EQ(automatic->metrics, sweep == a ? range->metrics : per_metric->metrics);
    EXPECT_EQ(range->ids.size(), want[sweep]);
    std::map<std::string, std::vector<double>> x, y;
    for (size_t c = 0; c < range->metrics.size(); ++c) x[range->metrics[c]] = range->columns[c];
    for (size_t c = 0; c < per_metric->metrics.size(); ++c)
      y[per_metric->metrics[c]] = per_metric->columns[c];
    EXPECT_EQ(x.size(), 3u);
    ASSERT_EQ(x.size(), y.size());
    for (const auto& [name, column] : x) {
      ASSERT_TRUE(y.count(name)) << name;
      ASSERT_EQ(column.size(), y[name].size());
      for (size_t i = 0; i < column.size(); ++i) {
        EXPECT_TRUE(column[i] == y[name][i] || (std::isnan(column[i]) && std::isnan(y[name][i])));
      }
    }
  }
}

TEST_F(LiveColumnsTest, WithoutHubReadsSqlite) {
  const int64_t s = db_->AddSweep("live", kObjectives);
  db_->AddTrial(s, 0, "succeeded", json::object(), {{"val_accuracy", 0.9}, {"size_bytes", 10}});
  ApiOptions o;
  o.db_path = db_->path();
  ApiHandler api(o, nullptr, nullptr);
  EXPECT_EQ(api.live_columns(), nullptr);
  EXPECT_EQ(Get(api, ParetoTarget(s))["considered"], 1);
  db_->AddTrial(s, 1, "succeeded", json::object(), {{"val_accuracy", 0.95}, {"size_bytes", 5}});
  EXPECT_EQ(Get(api, ParetoTarget(s))["considered"], 2);
}

TEST_F(LiveColumnsTest, WarmUpLoadsRecentSweepsSoFirstRequestsReadNoSqlite) {
  std::vector<int64_t> sweeps;
  for (int k = 0; k < 2; ++k) {
    sweeps.push_back(db_->AddSweep("warm" + std::to_string(k), kObjectives));
    for (int i = 0; i < 6; ++i) {
      const int64_t id = AddRunning(sweeps.back(), i);
      Finish(sweeps.back(), id,
             {{"val_accuracy", 0.5 + 0.07 * i},
              {"size_bytes", 100.0 * ((i * 7) % 6 + 1)},
              {"latency_ms", 1.0 + (i % 3)}});
    }
  }
  auto live = LiveHandler();
  auto sqlite = SqliteHandler();
  std::atomic<bool> stop{true};
  EXPECT_EQ(live->WarmUp(stop), 0) << "a stopped warm-up loads nothing";
  EXPECT_EQ(live->live_columns()->loads(), 0);
  stop = false;
  EXPECT_EQ(live->WarmUp(stop), 2);
  EXPECT_EQ(live->live_columns()->loads(), 2);
  // What the dashboard asks first: the sweep (its hypervolume), the whole front and
  // the default axes (x = size, y = accuracy); all from memory, equal to SQLite's.
  for (int64_t s : sweeps) {
    for (const std::string objectives :
         {"", "size_bytes,val_accuracy", "val_accuracy,latency_ms"}) {
      EXPECT_EQ(Get(*live, ParetoTarget(s, objectives)), Get(*sqlite, ParetoTarget(s, objectives)));
    }
    Get(*live, "/api/sweeps/" + std::to_string(s));
  }
  EXPECT_EQ(live->live_columns()->loads(), 2);
  // A new result after the warm-up is appended, not reloaded.
  const int64_t late = AddRunning(sweeps[0], 99);
  Finish(sweeps[0], late, {{"val_accuracy", 0.99}, {"size_bytes", 50.0}, {"latency_ms", 0.5}});
  EXPECT_EQ(Get(*live, ParetoTarget(sweeps[0])), Get(*sqlite, ParetoTarget(sweeps[0])));
  EXPECT_EQ(live->live_columns()->loads(), 2);
}

}  // namespace
}  // namespace compsweep::coordinator
