// Coordinator throughput: no-op trials completed per second through the real
// Core (ZeroMQ ROUTER on tcp://127.0.0.1, SQLite file in WAL mode), fed by N fake
// workers on their own threads that answer every TASK at once with a RESULT.
// The peer (Optuna with SQLite storage) is measured by bench/optuna_peer.py in the
// same run of scripts/bench.sh, which reports the ratio.
//
// Prints one JSON line per repetition; exits non-zero when the database does not
// hold exactly one succeeded attempt and its two values per trial, so lost or
// double-counted results cannot pass for speed.
//
// Usage: coordinator_bench [--trials N] [--workers W] [--slots S] [--repeat R]
//                          [--dir PATH] [--timeout-s T] [--keep-db]
//                          [--progress-poll-ms MS]
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/protocol.h"
#include "coordinator/core.h"
#include "coordinator/event_hub.h"

namespace compsweep::bench {
namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;
using protocol::Message;
using protocol::MsgType;

struct BenchOptions {
  int64_t trials = 20000;
  int workers = 4;
  int slots = 4;
  int repeat = 1;
  int timeout_s = 600;
  std::string dir;  // default: a fresh folder under the system temp directory
  bool keep_db = false;
  // How often Progress is asked while the sweep runs; 250 is what `compsweep run`
  // does. Default: rarely (only to notice a timeout).
  int progress_poll_ms = 2000;
};

double SecondsSince(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

// CPU seconds (user + system) used so far; who: RUSAGE_THREAD or RUSAGE_SELF.
double CpuSeconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// A grid of exactly `trials` points: one quantize stage whose learning rate
// takes `trials` distinct values (so every trial hashes differently).
std::string SweepYaml(int64_t trials, const std::string& name) {
  std::string yaml = "name: " + name +
                     "\n"
                     "method: grid\n"
                     "data: {dataset: synthetic, train_subset: 64, test_subset: 32}\n"
                     "student: {arch: mlp, epochs: 1}\n"
                     "pipeline: [quantize]\n"
                     "objectives: {val_accuracy: maximize, size_bytes: minimize}\n"
                     "parameters:\n"
                     "  quantize.lr: {values: [";
  yaml.reserve(yaml.size() + static_cast<size_t>(trials) * 12);
  char buf[32];
  for (int64_t i = 0; i < trials; ++i) {
    std::snprintf(buf, sizeof(buf), "%s%.9g", i ? ", " : "", 1e-6 * static_cast<double>(i + 1));
    yaml += buf;
  }
  yaml += "]}\n";
  return yaml;
}

// Counters shared by the fake workers and the main thread.
struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> tasks{0};  // TASKs answered
  std::atomic<int64_t> acks{0};   // ACKs received
  std::atomic<int64_t> first_task_ns{0};
  int64_t target = 0;
  std::mutex mu;
  std::condition_variable cv;  // signalled when acks reaches target
};

// A DEALER that behaves like a worker whose trials take no time: HELLO, READY,
// and for each TASK a RESULT {val_accuracy, size_bytes} followed by READY, as the
// real worker sends READY whenever a slot frees up. Runs on its own thread.
class FakeWorker {
 public:
  FakeWorker(zmq::context_t& ctx, std::string endpoint, std::string id, int slots, Shared* shared)
      : ctx_(ctx),
        endpoint_(std::move(endpoint)),
        id_(std::move(id)),
        slots_(slots),
        shared_(shared) {}

  void Run() {
    zmq::socket_t sock(ctx_, zmq::socket_type::dealer);
    sock.set(zmq::sockopt::routing_id, id_);
    sock.set(zmq::sockopt::linger, 0);
    sock.connect(endpoint_);
    Introduce(sock);
    auto last_sent = Steady::now();
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    while (!shared_->stop.load(std::memory_order_relaxed)) {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      bool sent = false;
      while (true) {
        std::vector<zmq::message_t> parts;
        if (!zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
          break;
        }
        std::vector<std::string> frames;
        frames.reserve(parts.size());
        for (auto& p : parts) frames.push_back(p.to_string());
        auto msg = protocol::Decode(frames);
        if (!msg.ok()) continue;
        sent |= OnMessage(sock, *msg);
      }
      if (sent) {
        last_sent = Steady::now();
      } else if (Steady::now() - last_sent > std::chrono::milliseconds(300)) {
        // Idle (e.g. while a large sweep is being submitted): stay alive.
        Send(sock, Message{MsgType::kHeartbeat, {}, ""});
        last_sent = Steady::now();
      }
    }
    Send(sock, Message{MsgType::kBye, {}, ""});
  }

 private:
  static void Send(zmq::socket_t& sock, const Message& m) {
    std::vector<std::string> frames = protocol::Encode(m);
    for (size_t i = 0; i < frames.size(); ++i) {
      sock.send(zmq::buffer(frames[i]),
                i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  void Introduce(zmq::socket_t& sock) {
    Send(sock, Message{MsgType::kHello,
                       {{"worker_id", id_},
                        {"host", "bench"},
                        {"device", "cpu"},
                        {"slots", slots_},
                        {"pid", static_cast<int64_t>(getpid())},
                        {"version", "bench"},
                        {"running", nlohmann::json::array()}},
                       ""});
    Send(sock, Message{MsgType::kReady, {{"free_slots", slots_}}, ""});
  }

  // Returns whether anything was sent.
  bool OnMessage(zmq::socket_t& sock, const Message& msg) {
    switch (msg.type) {
      case MsgType::kTask: {
        const int64_t id = msg.body["trial_id"].get<int64_t>();
        if (shared_->tasks.fetch_add(1) == 0) {
          shared_->first_task_ns = Steady::now().time_since_epoch().count();
        }
        const double accuracy = 0.5 + static_cast<double>(id % 997) / 2000.0;
        const int64_t size_bytes = 1000 + (id * 7919) % 100000;
        Send(sock, Message{MsgType::kResult,
                           {{"trial_id", id},
                            {"attempt", msg.body["attempt"]},
                            {"metrics", {{"val_accuracy", accuracy}, {"size_bytes", size_bytes}}}},
                           ""});
        Send(sock, Message{MsgType::kReady, {{"free_slots", slots_}}, ""});
        return true;
      }
      case MsgType::kAck:
        if (shared_->acks.fetch_add(1) + 1 == shared_->target) {
          std::lock_guard<std::mutex> lock(shared_->mu);
          shared_->cv.notify_all();
        }
        return false;
      case MsgType::kHeartbeat:
        if (msg.body.value("reregister", false)) {
          Introduce(sock);
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  zmq::context_t& ctx_;
  std::string endpoint_;
  std::string id_;
  int slots_;
  Shared* shared_;
};

int64_t Count(SQLite::Database& db, const std::string& sql) {
  return db.execAndGet(sql).getInt64();
}

// Runs one sweep end to end and prints its JSON line. Returns false on failure.
bool RunOnce(const BenchOptions& opts, int rep) {
  const fs::path dir =
      opts.dir.empty() ? fs::temp_directory_path() / ("compsweep-bench-" + std::to_string(getpid()))
                       : fs::path(opts.dir) / ("coordinator-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string db_path = (dir / "bench.db").string();

  SystemClock clock;
  coordinator::EventHub hub;
  coordinator::CoreOptions core_opts;
  core_opts.db_path = db_path;
  core_opts.bind = "tcp://127.0.0.1:*";
  auto created = coordinator::Core::Create(core_opts, &hub, &clock);
  if (!created.ok()) {
    std::cerr << "coordinator_bench: " << created.status().ToString() << "\n";
    return false;
  }
  std::unique_ptr<coordinator::Core> core = std::move(*created);
  // The core thread's CPU time does not depend on how busy the machine is, so
  // it is reported beside the wall-clock rate.
  double core_cpu_s = 0;
  std::thread loop([&core, &core_cpu_s] {
    pthread_setname_np(pthread_self(), "core");  // for `perf report --comm core`
    core->Run();
    core_cpu_s = CpuSeconds(RUSAGE_THREAD);
  });

  Shared shared;
  shared.target = opts.trials;
  zmq::context_t ctx(1);
  std::vector<std::unique_ptr<FakeWorker>> workers;
  std::vector<std::thread> threads;
  for (int i = 0; i < opts.workers; ++i) {
    workers.push_back(std::make_unique<FakeWorker>(
        ctx, core->endpoint(), "bench-w" + std::to_string(i), opts.slots, &shared));
    threads.emplace_back([w = workers.back().get()] { w->Run(); });
  }
  // Start the clock only once every worker is registered, as in a running cluster.
  bool ok = true;
  {
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    db.setBusyTimeout(5000);
    const auto until = Steady::now() + std::chrono::seconds(10);
    while (ok && Count(db, "SELECT COUNT(*) FROM workers WHERE state = 'alive'") < opts.workers) {
      if (Steady::now() > until) {
        std::cerr << "coordinator_bench: workers did not register\n";
        ok = false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  const std::string yaml = SweepYaml(opts.trials, "bench-" + std::to_string(rep));
  const auto t0 = Steady::now();
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  coordinator::SubmitOutcome sub;
  if (ok) sub = core->Submit(yaml, "bench.yaml", /*allow_large=*/true);
  const double submit_s = SecondsSince(t0);
  if (ok && (!sub.status.ok() || sub.trials != opts.trials)) {
    ok = false;
    std::cerr << "coordinator_bench: submit: " << sub.status.ToString() << "\n";
    for (const auto& e : sub.errors) std::cerr << "  " << e.ToString() << "\n";
  }
  // Wait cheaply for the ACKs, then confirm with the core's own view (the sweep
  // turns "done" only when every trial row is terminal). Progress counts every
  // row of the sweep, so before the ACKs are in it is asked only every
  // --progress-poll-ms, by default rarely, not to slow down the loop it measures.
  const auto deadline = t0 + std::chrono::seconds(opts.timeout_s);
  std::string state;
  while (ok) {
    bool all_acked;
    {
      std::unique_lock<std::mutex> lock(shared.mu);
      all_acked = shared.cv.wait_for(lock, std::chrono::milliseconds(opts.progress_poll_ms),
                                     [&] { return shared.acks.load() >= shared.target; });
    }
    auto p = core->Progress(sub.sweep_id);
    if (p.ok()) state = p->state;
    if (state == "done") break;
    if (Steady::now() > deadline) {
      std::cerr << "coordinator_bench: timed out; sweep state '" << state << "', "
                << shared.acks.load() << " acks\n";
      ok = false;
      break;
    }
    if (all_acked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double total_s = SecondsSince(t0);
  const double process_cpu_s = CpuSeconds(RUSAGE_SELF) - cpu0;
  const double dispatch_s = shared.first_task_ns.load() == 0
                                ? total_s
                                : std::chrono::duration<double>(Steady::now().time_since_epoch() -
                                                                std::chrono::steady_clock::duration(
                                                                    shared.first_task_ns.load()))
                                      .count();

  // What one Progress call costs the core thread at this sweep size (`compsweep
  // run` asks for it every 250 ms while a sweep runs).
  std::vector<double> progress_ms;
  for (int i = 0; ok && i < 5; ++i) {
    const auto p0 = Steady::now();
    (void)core->Progress(sub.sweep_id);
    progress_ms.push_back(SecondsSince(p0) * 1e3);
  }
  std::sort(progress_ms.begin(), progress_ms.end());

  shared.stop = true;
  for (auto& t : threads) t.join();
  core->Stop();
  loop.join();
  core.reset();

  nlohmann::json out;
  out["bench"] = "coordinator";
  out["rep"] = rep;
  out["trials"] = opts.trials;
  out["workers"] = opts.workers;
  out["slots"] = opts.slots;
  out["progress_poll_ms"] = opts.progress_poll_ms;
  out["seconds"] = total_s;
  out["submit_seconds"] = submit_s;
  out["completions_per_s"] = static_cast<double>(opts.trials) / total_s;
  // From the first TASK on: the loop alone, without parsing and inserting the sweep.
  out["dispatch_completions_per_s"] = static_cast<double>(opts.trials) / dispatch_s;
  // Whole process (core, fake workers, ZeroMQ I/O threads, parsing the sweep),
  // comparable with optuna_peer.py's cpu_ms_per_trial.
  out["cpu_ms_per_trial"] = process_cpu_s * 1e3 / static_cast<double>(opts.trials);
  // Core thread CPU per trial, including its share of Submit (inserting the rows).
  out["core_cpu_seconds"] = core_cpu_s;
  out["core_cpu_us_per_trial"] = core_cpu_s * 1e6 / static_cast<double>(opts.trials);
  out["progress_call_ms"] = progress_ms.empty() ? 0.0 : progress_ms[progress_ms.size() / 2];
  out["tasks_answered"] = shared.tasks.load();
  out["acks"] = shared.acks.load();
  if (ok) {
    // The database, not the counters, is the ground truth.
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    const std::string sweep = std::to_string(sub.sweep_id);
    const int64_t succeeded =
        Count(db,
              "SELECT COUNT(*) FROM trials WHERE kind = 'trial' AND state = 'succeeded' AND "
              "sweep_id = " +
                  sweep);
    const int64_t rows = Count(db, "SELECT COUNT(*) FROM trials WHERE sweep_id = " + sweep);
    const int64_t attempts =
        Count(db,
              "SELECT COUNT(*) FROM trial_attempts a JOIN trials t ON t.id = a.trial_id WHERE "
              "a.state = 'succeeded' AND t.sweep_id = " +
                  sweep);
    const int64_t values =
        Count(db,
              "SELECT COUNT(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id WHERE "
              "v.metric IN ('val_accuracy', 'size_bytes') AND t.sweep_id = " +
                  sweep);
    const int64_t retried =
        Count(db, "SELECT COUNT(*) FROM trials WHERE attempt <> 1 AND sweep_id = " + sweep);
    out["db"] = {{"succeeded", succeeded},
                 {"rows", rows},
                 {"succeeded_attempts", attempts},
                 {"values", values},
                 {"retried", retried}};
    ok = succeeded == opts.trials && rows == opts.trials && attempts == opts.trials &&
         values == 2 * opts.trials;
    if (!ok) std::cerr << "coordinator_bench: database does not match: " << out["db"] << "\n";
  }
  out["verified"] = ok;
  std::cout << out.dump() << std::endl;
  if (opts.keep_db) {
    std::cerr << "coordinator_bench: kept " << db_path << "\n";
  } else {
    fs::remove_all(dir);
  }
  return ok;
}

bool ParseArgs(int argc, char** argv, BenchOptions* opts) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    if (arg == "--keep-db") {
      opts->keep_db = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "coordinator_bench: " << arg << " needs a value\n";
      return false;
    }
    const std::string value = argv[++i];
    if (arg == "--trials") {
      opts->trials = std::atoll(value.c_str());
    } else if (arg == "--workers") {
      opts->workers = std::atoi(value.c_str());
    } else if (arg == "--slots") {
      opts->slots = std::atoi(value.c_str());
    } else if (arg == "--repeat") {
      opts->repeat = std::atoi(value.c_str());
    } else if (arg == "--timeout-s") {
      opts->timeout_s = std::atoi(value.c_str());
    } else if (arg == "--progress-poll-ms") {
      opts->progress_poll_ms = std::atoi(value.c_str());
    } else if (arg == "--dir") {
      opts->dir = value;
    } else {
      std::cerr << "coordinator_bench: unknown option " << arg << "\n";
      return false;
    }
  }
  return opts->trials > 0 && opts->workers > 0 && opts->slots > 0 && opts->repeat > 0 &&
         opts->progress_poll_ms > 0;
}

}  // namespace
}  // namespace compsweep::bench

int main(int argc, char** argv) {
  compsweep::bench::BenchOptions opts;
  if (!compsweep::bench::ParseArgs(argc, argv, &opts)) {
    std::cerr << "usage: coordinator_bench [--trials N] [--workers W] [--slots S] [--repeat R] "
                 "[--dir PATH] [--timeout-s T] [--keep-db] [--progress-poll-ms MS]\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  bool ok = true;
  for (int rep = 0; rep < opts.repeat; ++rep) ok &= compsweep::bench::RunOnce(opts, rep);
  return ok ? 0 : 1;
}
