// Pareto endpoint at scale: a SQLite file with 100,000 succeeded trials (3 metrics
// each) answered through ApiHandler::HandleRequest (the same function the HTTP sessions
// call), against a peer measured in the same run on the same data: the O(n^2)
// pairwise-dominance front that optuna-dashboard computes (each trial scans the
// others until one dominates it).
//
//   build-web/bench/pareto_bench [--trials=100000] [--db=FILE] [--benchmark_filter=...]
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <unistd.h>

#include "common/pareto.h"
#include "coordinator/api_pareto.h"
#include "coordinator/http_api.h"
#include "coordinator/schema.h"

namespace compsweep::coordinator {
namespace {

namespace http = boost::beast::http;

int64_t g_trials = 100000;
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
    g_dir = std::filesystem::temp_directory_path() / ("compsweep-bench-" + std::to_string(::getpid()));
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
  const std::string sextra = Placeholders(db, "sweeps", {"name", "spec_yaml", "objectives", "state", "created_ms"}, &scols);
  db.exec("INSERT INTO sweeps(" + scols + ") VALUES ('bench','name: bench',"
          "'[{\"metric\":\"accuracy\",\"maximize\":true},{\"metric\":\"size_bytes\",\"maximize\":false},"
          "{\"metric\":\"latency_ms\",\"maximize\":false}]','done',0" + sextra + ")");
  std::string tcols = "sweep_id,number,kind,hash,params,settings,state,attempt,started_ms,finished_ms";
  const std::string textra = Placeholders(db, "trials", {"sweep_id", "number", "kind", "hash", "params", "settings",
                                                         "state", "attempt", "started_ms", "finished_ms"}, &tcols);
  SQLite::Statement trial(db, "INSERT INTO trials(" + tcols + ") VALUES (1,?,?,?,?,?,'succeeded',1,?,?" + textra + ")");
  SQLite::Statement value(db, "INSERT INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 0.03);
  for (int64_t i = -1; i < g_trials; ++i) {
    const bool teacher = i < 0;
    const double t = 0.3 * std::sin(static_cast<double>(i)) + u(rng);  // log-size position
    const double size = 20e3 * std::pow(100.0, std::clamp(t, 0.0, 1.0));
    const double acc = std::round(std::clamp(0.55 + 0.4 * std::clamp(t, 0.0, 1.0) + noise(rng), 0.0, 1.0) * 2000) / 2000;
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
    trial.bind(5, "{\"data\":{\"dataset\":\"fashion-mnist\",\"train_subset\":6000,\"test_subset\":2000},"
                  "\"student\":{\"arch\":\"cnn-small\",\"epochs\":2,\"lr\":0.001,\"batch_size\":128},"
                  "\"distill\":{\"alpha\":0.9,\"temperature\":4,\"epochs\":2},"
                  "\"prune\":{\"final_sparsity\":0.8,\"schedule\":\"gradual\",\"finetune_epochs\":1},"
                  "\"quantize\":{\"bits\":4,\"scheme\":\"linear\"},\"params\":" + params + "}");
    trial.bind(6, static_cast<int64_t>(1000 + i));
    trial.bind(7, static_cast<int64_t>(2000 + i));
    trial.exec();
    trial.reset();
    const int64_t id = db.getLastInsertRowid();
    const std::pair<const char*, double> metrics[] = {{"accuracy", teacher ? 0.97 : acc},
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
  RunEndpoint(state, "/api/sweeps/1/pareto?objectives=accuracy,size_bytes");
}
void BM_ParetoEndpoint3D(benchmark::State& state) {
  RunEndpoint(state, "/api/sweeps/1/pareto?objectives=accuracy,size_bytes,latency_ms");
}
void BM_ParetoEndpoint2DCached(benchmark::State& state) {
  RunEndpoint(state, "/api/sweeps/1/pareto?objectives=accuracy,size_bytes", true);
}

// optuna-dashboard's front: every trial checks the others until one dominates it.
// `pts` is row-major, d = maximize.size() values per trial.
std::vector<size_t> QuadraticFront(const std::vector<double>& pts, const std::vector<bool>& maximize) {
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
  std::vector<Objective> o = {{"accuracy", true}, {"size_bytes", false}, {"latency_ms", false}};
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
    auto front = state.range(1) ? QuadraticFront(pts->values, maximize) : ParetoFrontFlat(pts->values, maximize);
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

BENCHMARK(BM_ParetoEndpoint2D)->Unit(benchmark::kMillisecond)->MinTime(2)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ParetoEndpoint3D)->Unit(benchmark::kMillisecond)->MinTime(2)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ParetoEndpoint2DCached)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadPoints)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FrontOnly)->Args({2, 0})->Args({3, 0})->Args({2, 1})->Args({3, 1})->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_PeerQuadratic)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond)->Iterations(1);

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
    ratio("BM_PeerQuadratic/2/iterations:1", "BM_ParetoEndpoint2D/min_time:2.000/process_time/real_time", "2 objectives, load + front vs endpoint");
    ratio("BM_PeerQuadratic/3/iterations:1", "BM_ParetoEndpoint3D/min_time:2.000/process_time/real_time", "3 objectives, load + front vs endpoint");
    ratio("BM_FrontOnly/2/1/iterations:1", "BM_FrontOnly/2/0/iterations:1", "2 objectives, front only");
    ratio("BM_FrontOnly/3/1/iterations:1", "BM_FrontOnly/3/0/iterations:1", "3 objectives, front only");
  }

 private:
  std::map<std::string, double> times_;
  std::map<std::string, double> cpu_;  // the endpoints count every thread (process time)
};

}  // namespace
}  // namespace compsweep::coordinator

int main(int argc, char** argv) {
  using namespace compsweep::coordinator;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--trials=", 9) == 0) g_trials = std::atoll(argv[i] + 9);
    if (std::strncmp(argv[i], "--db=", 5) == 0) g_db = argv[i] + 5;  // kept; reused if present
  }
  benchmark::Initialize(&argc, argv);
  BuildDatabase();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::error_code ec;
  if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
  return 0;
}
