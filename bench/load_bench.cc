// Load test: a real `compsweep coordinator` process (its own SQLite file, ZeroMQ
// ROUTER on tcp://127.0.0.1, HTTP API) with W simulated workers, one DEALER
// socket each, served by a few threads in this process, running N no-op trials
// (each TASK answered at once with a RESULT). Meanwhile one client thread sends
// real HTTP requests (GET /api/sweeps/ID/pareto and GET /api/sweeps/ID, one after
// the other) and records their latencies.
//
// Reports one JSON line: trials/s, the coordinator's peak RSS (VmHWM of its own
// process, so the fake workers do not count), and the API's p50/p99/max latency
// while the sweep ran. Exits non-zero unless the database holds exactly one
// succeeded attempt and its two values for every trial, every trial was
// acknowledged, and no trial was acknowledged twice.
//
// Usage: load_bench [--compsweep PATH] [--trials N] [--workers W] [--threads T]
//                   [--dir PATH] [--timeout-s S] [--keep]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/protocol.h"

namespace compsweep::bench {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;
using protocol::Message;
using protocol::MsgType;

struct LoadOptions {
  std::string compsweep;  // default: ../compsweep next to this executable
  int64_t trials = 100000;
  int workers = 500;
  int threads = 25;  // worker threads; each serves workers / threads DEALER sockets
  std::string dir;
  int timeout_s = 900;
  bool keep = false;
};

double SecondsSince(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

int FreePort() {
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acc.local_endpoint().port();
}

// A grid of exactly `trials` points as the product of two value lists
// (quantize.lr x student.lr), so that 100,000 trials fit in a request body of
// a few tens of KB (the API refuses bodies over its limit).
std::string SweepYaml(int64_t trials) {
  int64_t a = std::min<int64_t>(trials, 1000);
  while (trials % a != 0) --a;
  const int64_t b = trials / a;
  auto values = [](int64_t n, double scale) {
    std::string out = "{values: [";
    char buf[32];
    for (int64_t i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof(buf), "%s%.9g", i ? ", " : "", scale * static_cast<double>(i + 1));
      out += buf;
    }
    return out + "]}";
  };
  return "name: load\n"
         "method: grid\n"
         "data: {dataset: synthetic, train_subset: 64, test_subset: 32}\n"
         "student: {arch: mlp, epochs: 1}\n"
         "pipeline: [quantize]\n"
         "objectives: {val_accuracy: maximize, size_bytes: minimize}\n"
         "parameters:\n"
         "  quantize.lr: " +
         values(a, 1e-6) + "\n  student.lr: " + values(b, 1e-5) + "\n";
}

// One HTTP/1.1 keep-alive connection (Boost.Beast, blocking).
class HttpClient {
 public:
  explicit HttpClient(int port) : port_(port), socket_(io_) {}

  // Returns the status code, or -1 on a connection error (the connection is
  // reopened on the next call).
  int Request(http::verb verb, const std::string& target, const std::string& body,
              std::string* out) {
    try {
      if (!socket_.is_open()) {
        socket_.connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)});
      }
      http::request<http::string_body> req{verb, target, 11};
      req.set(http::field::host, "127.0.0.1");
      req.set(http::field::connection, "keep-alive");
      if (verb == http::verb::post) {
        req.set(http::field::content_type, "application/yaml");
        req.body() = body;
        req.prepare_payload();
      }
      http::write(socket_, req);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(256u << 20);
      http::read(socket_, buffer, parser);
      auto res = parser.release();
      if (out) *out = std::move(res.body());
      if (!res.keep_alive()) Close();
      return static_cast<int>(res.result_int());
    } catch (const std::exception& e) {
      if (out) *out = e.what();
      Close();
      return -1;
    }
  }

 private:
  void Close() {
    beast::error_code ec;
    socket_.close(ec);
  }

  int port_;
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
};

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> tasks{0};
  std::atomic<int64_t> acks{0};
  std::atomic<int64_t> duplicate_acks{0};
  std::atomic<int64_t> reregisters{0};
  std::atomic<int64_t> first_task_ns{0};
  std::vector<std::atomic<uint8_t>>* acked = nullptr;  // by trial id
};

void Send(zmq::socket_t& sock, const Message& m) {
  std::vector<std::string> frames = protocol::Encode(m);
  for (size_t i = 0; i < frames.size(); ++i) {
    sock.send(zmq::buffer(frames[i]),
              i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

struct FakeWorker {
  std::unique_ptr<zmq::socket_t> sock;
  std::string id;
  Steady::time_point last_sent;
};

void Introduce(FakeWorker& w) {
  Send(*w.sock, Message{MsgType::kHello,
                        {{"worker_id", w.id},
                         {"host", "load"},
                         {"device", "cpu"},
                         {"slots", 1},
                         {"pid", static_cast<int64_t>(getpid())},
                         {"version", "load"},
                         {"running", nlohmann::json::array()}},
                        ""});
  Send(*w.sock, Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  w.last_sent = Steady::now();
}

// Serves a group of fake workers (one DEALER each) from one thread: HELLO,
// READY, and for each TASK a RESULT and a READY; heartbeats when idle.
void ServeWorkers(zmq::context_t& ctx, const std::string& endpoint, int first, int count,
                  Shared* shared) {
  std::vector<FakeWorker> ws(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto& w = ws[static_cast<size_t>(i)];
    w.id = "load-w" + std::to_string(first + i);
    w.sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    w.sock->set(zmq::sockopt::routing_id, w.id);
    w.sock->set(zmq::sockopt::linger, 0);
    w.sock->connect(endpoint);
    Introduce(w);
  }
  std::vector<zmq::pollitem_t> items(ws.size());
  for (size_t i = 0; i < ws.size(); ++i) items[i] = {ws[i].sock->handle(), 0, ZMQ_POLLIN, 0};
  while (!shared->stop.load(std::memory_order_relaxed)) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));
    const auto now = Steady::now();
    for (size_t i = 0; i < ws.size(); ++i) {
      auto& w = ws[i];
      while (items[i].revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> parts;
        if (!zmq::recv_multipart(*w.sock, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
          break;
        }
        std::vector<std::string> frames;
        frames.reserve(parts.size());
        for (auto& p : parts) frames.push_back(p.to_string());
        auto msg = protocol::Decode(frames);
        if (!msg.ok()) continue;
        switch (msg->type) {
          case MsgType::kTask: {
            const int64_t id = msg->body["trial_id"].get<int64_t>();
            if (shared->tasks.fetch_add(1) == 0) {
              shared->first_task_ns = Steady::now().time_since_epoch().count();
            }
            Send(*w.sock, Message{MsgType::kResult,
                                  {{"trial_id", id},
                                   {"attempt", msg->body["attempt"]},
                                   {"metrics",
                                    {{"val_accuracy", 0.5 + static_cast<double>(id % 997) / 2000.0},
                                     {"size_bytes", 1000 + (id * 7919) % 100000}}}},
                                  ""});
            Send(*w.sock, Message{MsgType::kReady, {{"free_slots", 1}}, ""});
            w.last_sent = now;
            break;
          }
          case MsgType::kAck: {
            const int64_t id = msg->body.value("trial_id", int64_t{-1});
            shared->acks.fetch_add(1);
            auto& acked = *shared->acked;
            if (id >= 0 && static_cast<size_t>(id) < acked.size()) {
              if (acked[static_cast<size_t>(id)].fetch_add(1) > 0) shared->duplicate_acks++;
            }
            break;
          }
          case MsgType::kHeartbeat:
            if (msg->body.value("reregister", false)) {
              shared->reregisters++;
              Introduce(w);
            }
            break;
          default:
            break;
        }
      }
      if (now - w.last_sent > std::chrono::milliseconds(300)) {
        Send(*w.sock, Message{MsgType::kHeartbeat, {}, ""});
        w.last_sent = now;
      }
    }
  }
  for (auto& w : ws) Send(*w.sock, Message{MsgType::kBye, {}, ""});
}

int64_t Count(SQLite::Database& db, const std::string& sql) {
  return db.execAndGet(sql).getInt64();
}

// A field of /proc/PID/status in kB ("VmHWM", "VmRSS"); -1 when unreadable.
int64_t ProcStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return -1;
}

// The first three fields of /proc/loadavg (the machine may be shared).
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Latencies {
  std::mutex mu;
  std::vector<double> pareto_ms, sweep_ms;
  int64_t errors = 0;
};

nlohmann::json Percentiles(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  return {{"n", v.size()}, {"p50_ms", at(0.5)}, {"p99_ms", at(0.99)}, {"max_ms", v.back()}};
}

void RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  std::cerr << "load_bench: open files limit " << rl.rlim_cur << "\n";
}

bool Run(const LoadOptions& opts) {
  const fs::path dir =
      opts.dir.empty() ? fs::temp_directory_path() / ("compsweep-load-" + std::to_string(getpid()))
                       : fs::path(opts.dir) / ("load-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string db_path = (dir / "load.db").string();
  const int zport = FreePort();
  const int hport = FreePort();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(zport);
  const std::string log_path = (dir / "coordinator.log").string();
  const std::string load_before = LoadAverage();

  // The coordinator in its own process (it inherits the raised file limit).
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* log = std::freopen(log_path.c_str(), "w", stderr);
    (void)log;
    dup2(STDERR_FILENO, STDOUT_FILENO);
    const std::string http_addr = "127.0.0.1:" + std::to_string(hport);
    execl(opts.compsweep.c_str(), opts.compsweep.c_str(), "--log-level", "warn", "coordinator",
          "--db", db_path.c_str(), "--bind", endpoint.c_str(), "--http", http_addr.c_str(),
          static_cast<char*>(nullptr));
    std::perror("exec compsweep");
    _exit(127);
  }
  bool ok = true;
  auto fail = [&ok](const std::string& why) {
    std::cerr << "load_bench: " << why << "\n";
    ok = false;
  };
  HttpClient api(hport);
  {
    const auto until = Steady::now() + std::chrono::seconds(30);
    std::string body;
    while (api.Request(http::verb::get, "/api/health", "", &body) != 200) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        fail("the coordinator exited at start; see " + log_path);
        return false;
      }
      if (Steady::now() > until) {
        fail("the coordinator's HTTP server did not come up");
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  Shared shared;
  // Trial ids are the rows' primary keys: 1..trials in a fresh database.
  std::vector<std::atomic<uint8_t>> acked(static_cast<size_t>(opts.trials) + 2);
  shared.acked = &acked;
  zmq::context_t ctx(2);
  ctx.set(zmq::ctxopt::max_sockets, opts.workers + 64);
  std::vector<std::thread> threads;
  const auto t_connect = Steady::now();
  for (int t = 0, first = 0; t < opts.threads; ++t) {
    const int count = opts.workers / opts.threads + (t < opts.workers % opts.threads ? 1 : 0);
    threads.emplace_back([&ctx, &endpoint, first, count, &shared] {
      ServeWorkers(ctx, endpoint, first, count, &shared);
    });
    first += count;
  }
  {
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    db.setBusyTimeout(5000);
    const auto until = Steady::now() + std::chrono::seconds(60);
    while (Count(db, "SELECT COUNT(*) FROM workers WHERE state = 'alive'") < opts.workers) {
      if (Steady::now() > until) {
        fail("not every worker registered within 60 s");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const double connect_s = SecondsSince(t_connect);
  const int64_t rss_idle_kb = ProcStatusKb(pid, "VmRSS");

  // Latency probe: real HTTP requests on one keep-alive connection while loaded.
  Latencies lat;
  std::atomic<int64_t> sweep_id{0};
  std::atomic<bool> probe_stop{false};
  std::thread probe([&] {
    HttpClient client(hport);
    std::string body;
    while (!probe_stop.load()) {
      const int64_t id = sweep_id.load();
      if (id == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      for (int which = 0; which < 2 && !probe_stop.load(); ++which) {
        const std::string target = "/api/sweeps/" + std::to_string(id) + (which ? "" : "/pareto");
        const auto r0 = Steady::now();
        const int code = client.Request(http::verb::get, target, "", &body);
        const double ms = SecondsSince(r0) * 1e3;
        std::lock_guard<std::mutex> lock(lat.mu);
        if (code != 200) {
          lat.errors++;
        } else {
          (which ? lat.sweep_ms : lat.pareto_ms).push_back(ms);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  // Submit through the API, as `compsweep submit --allow-large` does.
  const std::string yaml = SweepYaml(opts.trials);
  const auto t0 = Steady::now();
  std::string body;
  const int code = ok ? api.Request(http::verb::post,
                                    "/api/sweeps?allow_large=1&filename=load.yaml", yaml, &body)
                      : 0;
  const double submit_s = SecondsSince(t0);
  if (ok) {
    try {
      auto j = nlohmann::json::parse(body);
      if ((code != 200 && code != 201) || !j.contains("id")) throw std::runtime_error("no id");
      sweep_id = j["id"].get<int64_t>();
    } catch (const std::exception&) {
      fail("submit answered " + std::to_string(code) + ": " + body.substr(0, 500));
    }
  }
  // Wait for the ACKs, then for the sweep to be done in the coordinator's view.
  const auto deadline = t0 + std::chrono::seconds(opts.timeout_s);
  int64_t peak_rss_sample_kb = 0;
  std::string state;
  while (ok) {
    peak_rss_sample_kb = std::max(peak_rss_sample_kb, ProcStatusKb(pid, "VmRSS"));
    if (shared.acks.load() >= opts.trials) {
      std::string sweep;
      if (api.Request(http::verb::get, "/api/sweeps/" + std::to_string(sweep_id.load()), "",
                      &sweep) == 200) {
        try {
          state = nlohmann::json::parse(sweep).value("state", "");
        } catch (const std::exception&) {
        }
      }
      if (state == "done") break;
    }
    if (Steady::now() > deadline) {
      fail("timed out: " + std::to_string(shared.acks.load()) + " acks, sweep state '" + state +
           "'");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double total_s = SecondsSince(t0);
  const double dispatch_s =
      shared.first_task_ns.load() == 0
          ? total_s
          : std::chrono::duration<double>(Steady::now().time_since_epoch() -
                                          Steady::duration(shared.first_task_ns.load()))
                .count();
  probe_stop = true;
  probe.join();
  const int64_t hwm_kb = ProcStatusKb(pid, "VmHWM");
  shared.stop = true;
  for (auto& t : threads) t.join();
  kill(pid, SIGTERM);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    fail("the coordinator did not exit cleanly on SIGTERM; see " + log_path);
  }

  nlohmann::json out;
  out["bench"] = "load";
  out["trials"] = opts.trials;
  out["workers"] = opts.workers;
  out["worker_threads"] = opts.threads;
  out["loadavg_before"] = load_before;
  out["loadavg_after"] = LoadAverage();
  out["cpus"] = std::thread::hardware_concurrency();
  out["connect_seconds"] = connect_s;
  out["submit_seconds"] = submit_s;
  out["seconds"] = total_s;
  out["completions_per_s"] = static_cast<double>(opts.trials) / total_s;
  out["dispatch_completions_per_s"] = static_cast<double>(opts.trials) / dispatch_s;
  out["coordinator_peak_rss_mb"] = static_cast<double>(hwm_kb) / 1024.0;
  out["coordinator_rss_workers_registered_mb"] = static_cast<double>(rss_idle_kb) / 1024.0;
  out["coordinator_rss_max_sampled_mb"] = static_cast<double>(peak_rss_sample_kb) / 1024.0;
  out["tasks_answered"] = shared.tasks.load();
  out["acks"] = shared.acks.load();
  out["duplicate_acks"] = shared.duplicate_acks.load();
  out["reregisters"] = shared.reregisters.load();
  {
    std::lock_guard<std::mutex> lock(lat.mu);
    out["api_pareto_latency"] = Percentiles(lat.pareto_ms);
    out["api_sweep_latency"] = Percentiles(lat.sweep_ms);
    std::vector<double> all = lat.pareto_ms;
    all.insert(all.end(), lat.sweep_ms.begin(), lat.sweep_ms.end());
    out["api_latency"] = Percentiles(all);
    out["api_errors"] = lat.errors;
  }
  if (ok) {
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    const std::string sweep = std::to_string(sweep_id.load());
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
    const int64_t multi =
        Count(db,
              "SELECT COUNT(*) FROM (SELECT trial_id FROM trial_attempts WHERE state = "
              "'succeeded' GROUP BY trial_id HAVING COUNT(*) > 1)");
    const int64_t values =
        Count(db,
              "SELECT COUNT(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id WHERE "
              "v.metric IN ('val_accuracy', 'size_bytes') AND t.sweep_id = " +
                  sweep);
    // Every trial row of the sweep acknowledged (ids outside the expected 1..N
    // of a fresh database count as not acknowledged).
    int64_t never_acked = 0;
    SQLite::Statement ids(db, "SELECT id FROM trials WHERE sweep_id = " + sweep);
    while (ids.executeStep()) {
      const int64_t id = ids.getColumn(0).getInt64();
      if (id < 0 || static_cast<size_t>(id) >= acked.size() ||
          acked[static_cast<size_t>(id)].load() == 0) {
        never_acked++;
      }
    }
    out["db"] = {
        {"succeeded", succeeded},          {"rows", rows},     {"succeeded_attempts", attempts},
        {"trials_succeeded_twice", multi}, {"values", values}, {"never_acked", never_acked}};
    ok = succeeded == opts.trials && rows == opts.trials && attempts == opts.trials && multi == 0 &&
         values == 2 * opts.trials && never_acked == 0 && shared.duplicate_acks.load() == 0;
    if (!ok) std::cerr << "load_bench: database or ACKs do not match: " << out["db"] << "\n";
  }
  out["verified"] = ok;
  std::cout << out.dump() << std::endl;
  if (opts.keep || !ok) {
    std::cerr << "load_bench: kept " << dir.string() << "\n";
  } else {
    fs::remove_all(dir);
  }
  return ok;
}

}  // namespace
}  // namespace compsweep::bench

int main(int argc, char** argv) {
  compsweep::bench::LoadOptions opts;
  CLI::App app{"500 simulated workers against a real compsweep coordinator process"};
  app.add_option("--compsweep", opts.compsweep, "compsweep executable (default: ../compsweep)");
  app.add_option("--trials", opts.trials, "no-op trials")->check(CLI::PositiveNumber);
  app.add_option("--workers", opts.workers, "DEALER sockets")->check(CLI::PositiveNumber);
  app.add_option("--threads", opts.threads, "threads serving them")->check(CLI::PositiveNumber);
  app.add_option("--dir", opts.dir, "work folder (default: a fresh temporary one)");
  app.add_option("--timeout-s", opts.timeout_s)->check(CLI::PositiveNumber);
  app.add_flag("--keep", opts.keep, "keep the work folder");
  CLI11_PARSE(app, argc, argv);
  if (opts.threads > opts.workers) {
    std::cerr << "load_bench: --threads must not exceed --workers\n";
    return 2;
  }
  if (opts.compsweep.empty()) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    opts.compsweep = (self.parent_path().parent_path() / "compsweep").string();
  }
  if (access(opts.compsweep.c_str(), X_OK) != 0) {
    std::cerr << "load_bench: " << opts.compsweep << " is not an executable (--compsweep)\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  compsweep::bench::RaiseFileLimit();
  return compsweep::bench::Run(opts) ? 0 : 1;
}
