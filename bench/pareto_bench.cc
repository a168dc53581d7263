// Pareto endpoint at scale: a SQLite file with 100,000 succeeded trials (3 metrics
// each) answered through ApiHandler::HandleRequest (the same function the HTTP sessions
// call), against a peer measured in the same run on the same data: the O(n^2)
// pairwise-dominance front that optuna-dashboard computes (each trial scans the
// others until one dominates it).
//
// After the Google Benchmark runs, the live case (a sweep that is running): rounds of
// {one more trial succeeds: its event is published and its row committed, as the
// core does} then {GET /pareto}, through a handler with the live columns
// (api_columns.h) and through one that reads SQLite for every document; median and
// p90 of wall and process CPU time per request.
//
//   build-pareto/bench/pareto_bench [--trials=100000] [--db=FILE] [--rounds=50]
//                                   [--benchmark_filter=...]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <tuple>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <benchmark/benchmark.h>

#include "common/pareto.h"
#include "coordinator/api_columns.h"
#include "coordinator/api_pareto.h"
#include "coordinator/api_queries.h"
#include "coordinator/http_api.h"
#include "coordinator/schema.h"

namespace compsweep::coordinator {
namespace {

namespace http = boost::beast::http;

int64_t g_trials = 100000;
int g_rounds = 50;
std::filesystem::path g_dir;  // removed at exit unless --db= named the file
std::string g_db;

// Fills every NOT NULL column without a default that the insert does not name.
std::string Placeholders(SQLite::Database& db, const std::string& table,
                         const std::vector<std::string>& named, std::string* cols) {
  std::string values;
  SQLite::Statement info(db, "PRAGMA table_info(" + table + ")");
  while (info.executeStep()) {
    const std::string name = info.getColumn(1).getString();
    if (std::find(named.begin(), named.end(), name) != named.end()) continue;
    if (info.getColumn(3).getInt() && info.getColumn(4).isNull() && !info.getColumn(5).getInt()) {
      *cols += "," + name;
      values += info.getColumn(2).getString() == "INTEGER" ? ",0" : ",'x'";
    }
  }
  return values;
}

// Trials of a compression sweep trade accuracy for size: accuracy grows with the
// log of the size, with noise, measured on 2,000 test samples (so many ties).
void BuildDatabase() {
  if (g_db.empty()) {
    g_dir =
        std::filesystem::temp_directory_path() / ("compsweep-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(g_dir);
    g_db = (g_dir / "bench.db").string();
  } else if (std::filesystem::exists(g_db)) {
    std::cerr << "bench: reusing " << g_db << "\n";
    return;
  }
  SQLite::Database db(g_db, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  if (!MigrateSchema(db).ok()) std::abort();
  const auto t0 = std::chrono::steady_clock::now();
  SQLite::Transaction tx(db);
  std::string scols = "name,spec_yaml,objectives,state,created_ms";
  const std::string sextra = Placeholders(
      db, "sweeps", {"name", "spec_yaml", "objectives", "state", "created_ms"}, &scols);
  db.exec(
      "INSERT INTO sweeps(" + scols +
      ") VALUES ('bench','name: bench',"
      "'[{\"metric\":\"val_accuracy\",\"maximize\":true},{\"metric\":\"size_bytes\",\"maximize\":"
      "false},"
      "{\"metric\":\"latency_ms\",\"maximize\":false}]','done',0" +
      sextra + ")");
  std::string tcols =
      "sweep_id,number,kind,hash,params,settings,state,attempt,started_ms,finished_ms";
  const std::string textra =
      Placeholders(db, "trials",
                   {"sweep_id", "number", "kind", "hash", "params", "settings", "state", "attempt",
                    "started_ms", "finished_ms"},
                   &tcols);
  SQLite::Statement trial(
      db, "INSERT INTO trials(" + tcols + ") VALUES (1,?,?,?,?,?,'succeeded',1,?,?" + textra + ")");
  SQLite::Statement value(db, "INSERT INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 0.03);
  for (int64_t i = -1; i < g_trials; ++i) {
    const bool teacher = i < 0;
    const double t = 0.3 * std::sin(static_cast<double>(i)) + u(rng);  // log-size position
    const double size = 20e3 * std::pow(100.0, std::clamp(t, 0.0, 1.0));
    const double acc =
        std::round(std::clamp(0.55 + 0.4 * std::clamp(t, 0.0, 1.0) + noise(rng), 0.0, 1.0) * 2000) /
        2000;
    const double lat = std::round((0.05 + size / 1e6 * 0.4 + 0.02 * u(rng)) * 1000) / 1000;
    const int bits = 2 << (rng() % 3);
    const double sparsity = 0.05 * static_cast<double>(rng() % 19);
    const std::string params = "{\"distill.temperature\":" + std::to_string(1 + rng() % 8) +
                               ",\"prune.final_sparsity\":" + std::to_string(sparsity) +
                               ",\"quantize.bits\":" + std::to_string(bits) + "}";
    trial.bind(1, teacher ? 0 : i);
    trial.bind(2, teacher ? "teacher" : "trial");
    trial.bind(3, (teacher ? "t" : "h") + std::to_string(i));
    trial.bind(4, teacher ? "{}" : params);
    // A settings document of the size real trials carry.
    trial.bind(
        5,
        "{\"data\":{\"dataset\":\"fashion-mnist\",\"train_subset\":6000,\"test_subset\":2000},"
        "\"student\":{\"arch\":\"cnn-small\",\"epochs\":2,\"lr\":0.001,\"batch_size\":128},"
        "\"distill\":{\"alpha\":0.9,\"temperature\":4,\"epochs\":2},"
        "\"prune\":{\"final_sparsity\":0.8,\"schedule\":\"gradual\",\"finetune_epochs\":1},"
        "\"quantize\":{\"bits\":4,\"scheme\":\"linear\"},\"params\":" +
            params + "}");
    trial.bind(6, static_cast<int64_t>(1000 + i));
    trial.bind(7, static_cast<int64_t>(2000 + i));
    trial.exec();
    trial.reset();
    const int64_t id = db.getLastInsertRowid();
    const std::pair<const char*, double> metrics[] = {
        {"val_accuracy", teacher ? 0.97 : acc},
        {"size_bytes", teacher ? 4e6 : std::round(size)},
        {"latency_ms", teacher ? 3.0 : lat}};
    for (const auto& [m, v] : metrics) {
      value.bind(1, id);
      value.bind(2, m);
      value.bind(3, v);
      value.exec();
      value.reset();
    }
  }
  tx.commit();
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "bench: built " << g_trials << " trials in " << secs << " s at " << g_db << "\n";
}

// The uncached handler answers every request from the database; the cached one
// reuses the document while the database is unchanged (what a dashboard polling
// a finished sweep sees).
ApiHandler& Handler(bool cached) {
  static ApiHandler* handlers[2] = {nullptr, nullptr};
  if (!handlers[cached]) {
    ApiOptions o;
    o.db_path = g_db;
    o.cache = cached;
    handlers[cached] = new ApiHandler(o, nullptr, nullptr);
  }
  return *handlers[cached];
}

HttpRequest Get(const std::string& target) {
  HttpRequest req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  return req;
}

void RunEndpoint(benchmark::State& state, const std::string& target, bool cached = false) {
  HttpRequest req = Get(target);
  size_t front = 0;
  for (auto _ : state) {
    HttpResponse res = Handler(cached).HandleRequest(req);
    if (res.result() != http::status::ok) {
      state.SkipWithError(res.body().c_str());
      return;
    }
    front = res.body().size();
    benchmark::DoNotOptimize(front);
  }
  state.counters["trials"] = static_cast<double>(g_trials);
  state.counters["body_bytes"] = static_cast<double>(front);
}

void BM_ParetoEndpoint2D(benchmark::State& state) {
  RunEndpoint(state, "/api/sweeps/1/pareto?objectives=val_accuracy,size_bytes");
}
void BM_ParetoEndpoint3D(benchmark::State& state) {
  RunEndpoint(state, "/api/sweeps/1/pareto?objectives=val_accuracy,size_bytes,latency_ms");
}
void BM_ParetoEndpoint2DCached(benchmark::State& state) {
  RunEndpoint(state, "/api/sweeps/1/pareto?objectives=val_accuracy,size_bytes", true);
}

// optuna-dashboard's front: every trial checks the others until one dominates it.
// `pts` is row-major, d = maximize.size() values per trial.
std::vector<size_t> QuadraticFront(const std::vector<double>& pts,
                                   const std::vector<bool>& maximize) {
  const size_t d = maximize.size();
  const size_t n = pts.size() / d;
  std::vector<size_t> front;
  for (size_t i = 0; i < n; ++i) {
    bool dominated = false;
    for (size_t j = 0; j < n && !dominated; ++j) {
      if (i == j) continue;
      bool no_worse = true, better = false;
      for (size_t k = 0; k < d && no_worse; ++k) {
        const double a = maximize[k] ? -pts[j * d + k] : pts[j * d + k];
        const double b = maximize[k] ? -pts[i * d + k] : pts[i * d + k];
        no_worse = a <= b;
        better = better || a < b;
      }
      dominated = no_worse && better;
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

std::vector<Objective> Objectives(int d) {
  std::vector<Objective> o = {{"val_accuracy", true}, {"size_bytes", false}, {"latency_ms", false}};
  o.resize(d);
  return o;
}

// The peer: the same load, then the O(n^2) front (n = 100,000).
void BM_PeerQuadratic(benchmark::State& state) {
  const auto objectives = Objectives(static_cast<int>(state.range(0)));
  std::vector<bool> maximize;
  for (const auto& o : objectives) maximize.push_back(o.maximize);
  SQLite::Database db(g_db, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
  db.exec("PRAGMA mmap_size=268435456");  // as the API's readers do
  for (auto _ : state) {
    auto pts = LoadParetoPoints(db, 1, objectives);
    auto front = QuadraticFront(pts->values, maximize);
    benchmark::DoNotOptimize(front);
  }
}

// Front computations alone, on the loaded points.
void BM_FrontOnly(benchmark::State& state) {
  const auto objectives = Objectives(static_cast<int>(state.range(0)));
  std::vector<bool> maximize;
  for (const auto& o : objectives) maximize.push_back(o.maximize);
  SQLite::Database db(g_db, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
  db.exec("PRAGMA mmap_size=268435456");  // as the API's readers do
  auto pts = LoadParetoPoints(db, 1, objectives);
  for (auto _ : state) {
    auto front = state.range(1) ? QuadraticFront(pts->values, maximize)
                                : ParetoFrontFlat(pts->values, maximize);
    benchmark::DoNotOptimize(front);
    state.counters["front"] = static_cast<double>(front.size());
  }
}

void BM_LoadPoints(benchmark::State& state) {
  const auto objectives = Objectives(static_cast<int>(state.range(0)));
  SQLite::Database db(g_db, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
  db.exec("PRAGMA mmap_size=268435456");  // as the API's readers do
  for (auto _ : state) {
    auto pts = LoadParetoPoints(db, 1, objectives);
    benchmark::DoNotOptimize(pts);
  }
}

// The hypervolume-over-time series (the dashboard's chart): 400 prefixes of the
// trials in finishing order, 3 objectives, through the uncached endpoint; the
// peer measures each prefix from scratch (what PrefixHypervolumes did for 3+
// objectives before it kept the front incrementally), after the same load.
void BM_HypervolumeSeries3D(benchmark::State& state) {
  RunEndpoint(state, "/api/sweeps/1/hypervolume?objectives=val_accuracy,size_bytes,latency_ms");
}

void BM_HypervolumeSeriesPeer3D(benchmark::State& state) {
  const auto objectives = Objectives(3);
  std::vector<bool> maximize;
  for (const auto& o : objectives) maximize.push_back(o.maximize);
  SQLite::Database db(g_db, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
  db.exec("PRAGMA mmap_size=268435456");
  for (auto _ : state) {
    auto pts = LoadParetoPoints(db, 1, objectives, /*with_finish_times=*/true);
    std::vector<size_t> order(pts->size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return pts->finished_ms[a] != pts->finished_ms[b] ? pts->finished_ms[a] < pts->finished_ms[b]
                                                        : pts->ids[a] < pts->ids[b];
    });
    std::vector<std::vector<double>> rows;
    for (size_t i : order) {
      rows.emplace_back(pts->values.begin() + i * 3, pts->values.begin() + (i + 1) * 3);
    }
    const std::vector<double> ref = ReferencePoint(*pts);
    std::vector<double> series;
    for (size_t s = 1; s <= 400; ++s) {
      const size_t len = s * rows.size() / 400;
      series.push_back(Hypervolume({rows.begin(), rows.begin() + len}, maximize, ref));
    }
    benchmark::DoNotOptimize(series);
  }
}

BENCHMARK(BM_ParetoEndpoint2D)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_ParetoEndpoint3D)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_ParetoEndpoint2DCached)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadPoints)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FrontOnly)
    ->Args({2, 0})
    ->Args({3, 0})
    ->Args({2, 1})
    ->Args({3, 1})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(BM_PeerQuadratic)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_HypervolumeSeries3D)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_HypervolumeSeriesPeer3D)->Unit(benchmark::kMillisecond)->Iterations(1);

// Console output plus the ratios of the peer to our endpoint, from this run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (!r.error_occurred) {
        times_[r.benchmark_name()] = r.GetAdjustedRealTime();
        cpu_[r.benchmark_name()] = r.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Wall and CPU ms of a run by name, if it ran.
  bool Get(const std::string& name, double* wall, double* cpu) const {
    auto it = times_.find(name);
    if (it == times_.end()) return false;
    *wall = it->second;
    *cpu = cpu_.at(name);
    return true;
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    auto ratio = [&](const char* peer, const char* ours, const char* what) {
      if (times_.count(peer) && times_.count(ours)) {
        std::cout << what << ": wall peer " << times_[peer] << " ms / ours " << times_[ours]
                  << " ms = " << times_[peer] / times_[ours] << "x; CPU peer " << cpu_[peer]
                  << " ms / ours " << cpu_[ours] << " ms = " << cpu_[peer] / cpu_[ours] << "x\n";
      }
    };
    std::cout << "\nratios at " << g_trials << " trials:\n";
    ratio("BM_PeerQuadratic/2/iterations:1",
          "BM_ParetoEndpoint2D/min_time:2.000/process_time/real_time",
          "2 objectives, load + front vs endpoint");
    ratio("BM_PeerQuadratic/3/iterations:1",
          "BM_ParetoEndpoint3D/min_time:2.000/process_time/real_time",
          "3 objectives, load + front vs endpoint");
    ratio("BM_HypervolumeSeriesPeer3D/iterations:1", "BM_HypervolumeSeries3D/iterations:3",
          "hypervolume series, 3 objectives, 400 prefixes: from scratch vs endpoint");
    ratio("BM_FrontOnly/2/1/iterations:1", "BM_FrontOnly/2/0/iterations:1",
          "2 objectives, front only");
    ratio("BM_FrontOnly/3/1/iterations:1", "BM_FrontOnly/3/0/iterations:1",
          "3 objectives, front only");
  }

 private:
  std::map<std::string, double> times_;
  std::map<std::string, double> cpu_;  // the endpoints count every thread (process time)
};

// ---- the live case -----------------------------------------------------------

double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double WallMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Wall and process CPU times of some calls, in ms.
struct Samples {
  std::vector<double> wall, cpu;
  template <typename F>
  void Time(F&& f) {
    const double w = WallMs(), c = ProcessCpuMs();
    f();
    cpu.push_back(ProcessCpuMs() - c);
    wall.push_back(WallMs() - w);
  }
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
}

void PrintRow(const char* what, const Samples& s) {
  std::printf("  %-52s %9.3f %9.3f %9.3f %9.3f\n", what, Quantile(s.wall, 0.5),
              Quantile(s.wall, 0.9), Quantile(s.cpu, 0.5), Quantile(s.cpu, 0.9));
}

// Appends trials to sweep 1 as the coordinator does: the row exists (queued or
// running) from the sweep's creation; on a result the core publishes
// trial_finished with the metrics, then its batch commits state and values.
class LiveSweep {
 public:
  explicit LiveSweep(EventHub* hub) : hub_(hub), db_(g_db, SQLite::OPEN_READWRITE) {
    db_.setBusyTimeout(5000);
    db_.exec("PRAGMA synchronous=NORMAL");  // as the store's connection
    first_new_ = db_.execAndGet("SELECT max(id) FROM trials").getInt64() + 1;
    cols_ = "sweep_id,number,kind,hash,params,settings,state,attempt,started_ms";
    extra_ = Placeholders(db_, "trials",
                          {"sweep_id", "number", "kind", "hash", "params", "settings", "state",
                           "attempt", "started_ms"},
                          &cols_);
  }
  ~LiveSweep() {
    // Leave a reused --db= file as it was.
    try {
      SQLite::Transaction tx(db_);
      db_.exec("DELETE FROM trial_values WHERE trial_id >= " + std::to_string(first_new_));
      db_.exec("DELETE FROM trials WHERE id >= " + std::to_string(first_new_));
      tx.commit();
      db_.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SQLite::Exception& e) {
      std::cerr << "bench: cleaning up: " << e.what() << "\n";
    }
  }

  // One more succeeded trial on the bench's accuracy/size curve; *publish gets the
  // time Publish took (the hub's callbacks run inside it, on the caller's thread).
  void Succeed(Samples* publish) {
    const double t = u_(rng_);
    const double size = 20e3 * std::pow(100.0, t);
    const double acc =
        std::round(std::clamp(0.55 + 0.4 * t + noise_(rng_), 0.0, 1.0) * 2000) / 2000;
    const double lat = std::round((0.05 + size / 1e6 * 0.4 + 0.02 * u_(rng_)) * 1000) / 1000;
    const int64_t number = g_trials + next_++;
    SQLite::Statement row(db_, "INSERT INTO trials(" + cols_ +
                                   ") VALUES (1,?,'trial',?,?,'{}','running',1,0" + extra_ + ")");
    row.bind(1, number);
    row.bind(2, "live" + std::to_string(number));
    row.bind(3, "{\"live\":" + std::to_string(number) + "}");
    row.exec();
    const int64_t id = db_.getLastInsertRowid();
    const nlohmann::json metrics{
        {"val_accuracy", acc}, {"size_bytes", std::round(size)}, {"latency_ms", lat}};
    publish->Time([&] {
      hub_->Publish("trial_finished", {{"trial_id", id},
                                       {"sweep_id", 1},
                                       {"state", "succeeded"},
                                       {"kind", "trial"},
                                       {"metrics", metrics}});
    });
    SQLite::Transaction tx(db_);
    db_.exec("UPDATE trials SET state = 'succeeded', finished_ms = 5000 WHERE id = " +
             std::to_string(id));
    SQLite::Statement value(db_,
                            "INSERT INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
    for (auto it = metrics.begin(); it != metrics.end(); ++it) {
      value.bind(1, id);
      value.bind(2, it.key());
      value.bind(3, it.value().get<double>());
      value.exec();
      value.reset();
    }
    tx.commit();
  }

 private:
  EventHub* hub_;
  SQLite::Database db_;
  int64_t first_new_ = 0;
  int64_t next_ = 0;
  std::string cols_, extra_;
  std::mt19937_64 rng_{77};
  std::uniform_real_distribution<double> u_{0, 1};
  std::normal_distribution<double> noise_{0, 0.03};
};

void RunLive(const RatioReporter& reporter) {
  const std::string pareto2 = "/api/sweeps/1/pareto?objectives=val_accuracy,size_bytes";
  const std::string pareto3 = "/api/sweeps/1/pareto?objectives=val_accuracy,size_bytes,latency_ms";
  auto get = [](ApiHandler& api, const std::string& target) {
    HttpResponse res = api.HandleRequest(Get(target));
    if (res.result() != http::status::ok) {
      std::cerr << "bench: " << target << ": " << res.body() << "\n";
      std::exit(1);
    }
    return res.body().size();
  };
  std::printf(
      "\nlive case at %lld trials, %d rounds of {1 trial succeeds, GET} per request kind:\n",
      static_cast<long long>(g_trials), g_rounds);
  std::printf("  %-52s %9s %9s %9s %9s\n", "ms", "wall p50", "wall p90", "CPU p50", "CPU p90");

  // Cold loads of a sweep's columns, both ways (each on a fresh connection, as the
  // readers open them).
  for (ColumnLoad how : {ColumnLoad::kRange, ColumnLoad::kPerMetric}) {
    Samples load;
    for (int i = 0; i < 3; ++i) {
      SQLite::Database db(g_db, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
      db.exec("PRAGMA mmap_size=268435456");
      ReadSnapshot snapshot(db);
      load.Time([&] {
        auto data = LoadSweepColumns(db, 1, how);
        if (!data.ok() || data->ids.size() != static_cast<size_t>(g_trials)) std::exit(1);
      });
    }
    PrintRow(how == ColumnLoad::kRange ? "cold load of the columns: one range scan (3 runs)"
                                       : "cold load of the columns: scan per metric (3 runs)",
             load);
  }

  // What a coordinator does at start (HttpServer runs ApiHandler::WarmUp on a
  // thread of its own), then the first requests a dashboard makes.
  {
    EventHub start_hub;
    ApiOptions so;
    so.db_path = g_db;
    ApiHandler started(so, nullptr, &start_hub);
    Samples warm, after2, after3, after_detail;
    std::atomic<bool> stop{false};
    int warmed = 0;
    warm.Time([&] { warmed = started.WarmUp(stop); });
    after2.Time([&] { get(started, pareto2); });
    after3.Time([&] { get(started, pareto3); });
    after_detail.Time([&] { get(started, "/api/sweeps/1"); });
    if (warmed != 1 || started.live_columns()->loads() != 1) {
      std::cerr << "bench: warm-up did not serve the first requests from memory\n";
      std::exit(1);
    }
    PrintRow("server start: warm-up (load + 7 fronts, background)", warm);
    PrintRow("after warm-up: first GET /pareto, 2 objectives", after2);
    PrintRow("after warm-up: first GET /pareto, 3 objectives", after3);
    PrintRow("after warm-up: first GET /sweeps/1", after_detail);
  }

  EventHub hub;
  ApiOptions o;
  o.db_path = g_db;
  ApiHandler live(o, nullptr, &hub);
  o.live_columns = false;
  ApiHandler sqlite(o, nullptr, nullptr);  // cached, but every round changes the database
  Samples first2, first3;
  first2.Time([&] { get(live, pareto2); });
  first3.Time([&] { get(live, pareto3); });
  PrintRow("live: first GET, 2 obj (load + front from scratch)", first2);
  PrintRow("live: first GET, 3 obj (front from scratch)", first3);

  // One kind of request per series, so that no series runs right after another's
  // big scans (which leave cold CPU caches behind).
  LiveSweep sweep(&hub);
  Samples publish, live2, live3, detail, old2;
  for (auto [api, target, samples] :
       {std::tuple{&live, pareto2, &live2}, std::tuple{&live, pareto3, &live3},
        std::tuple{&live, std::string("/api/sweeps/1"), &detail},
        std::tuple{&sqlite, pareto2, &old2}}) {
    for (int r = 0; r < g_rounds; ++r) {
      sweep.Succeed(&publish);
      samples->Time([&] { get(*api, target); });
    }
  }
  PrintRow("publish trial_finished (hub callbacks, core thread)", publish);
  PrintRow("live: GET /pareto, 2 objectives", live2);
  PrintRow("live: GET /pareto, 3 objectives", live3);
  PrintRow("live: GET /sweeps/1 (hypervolume, 2 obj)", detail);
  PrintRow("SQLite path: GET /pareto, 2 objectives", old2);
  std::printf("  column loads: %lld (1 = every round was served from events)\n",
              static_cast<long long>(live.live_columns()->loads()));

  double peer_wall = 0, peer_cpu = 0;
  auto ratio = [&](const char* peer, const Samples& ours, const char* what) {
    if (!reporter.Get(peer, &peer_wall, &peer_cpu)) return;
    const double w = Quantile(ours.wall, 0.5), c = Quantile(ours.cpu, 0.5);
    std::printf(
        "%s: wall peer %.1f ms / ours %.3f ms = %.0fx; CPU peer %.1f ms / ours %.3f ms = %.0fx\n",
        what, peer_wall, w, peer_wall / w, peer_cpu, c, peer_cpu / c);
  };
  std::printf(
      "\nratios, live case (peer: load + O(n^2) front, from the runs above; ours: median):\n");
  ratio("BM_PeerQuadratic/2/iterations:1", live2, "2 objectives");
  ratio("BM_PeerQuadratic/3/iterations:1", live3, "3 objectives");
  std::printf("SQLite path / live, 2 objectives: wall %.0fx, CPU %.0fx\n",
              Quantile(old2.wall, 0.5) / Quantile(live2.wall, 0.5),
              Quantile(old2.cpu, 0.5) / Quantile(live2.cpu, 0.5));
}

}  // namespace
}  // namespace compsweep::coordinator

int main(int argc, char** argv) {
  using namespace compsweep::coordinator;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--trials=", 9) == 0) g_trials = std::atoll(argv[i] + 9);
    if (std::strncmp(argv[i], "--db=", 5) == 0) g_db = argv[i] + 5;  // kept; reused if present
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) g_rounds = std::atoi(argv[i] + 9);
  }
  benchmark::Initialize(&argc, argv);
  BuildDatabase();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (g_rounds > 0) RunLive(reporter);
  benchmark::Shutdown();
  std::error_code ec;
  if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
  return 0;
}
