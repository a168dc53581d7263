// `compsweep run`: the embedded default. One process hosts the coordinator core and
// the dashboard; N local worker processes (this same executable, or
// compsweep-worker when it was built without LibTorch) do the training.
// Running the same command again resumes: finished trials are kept, interrupted
// ones are re-queued.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/sweep_spec.h"
#include "coordinator/core.h"
#include "coordinator/http_server.h"

namespace compsweep::cli {

namespace {

struct LocalWorker {
  pid_t pid = -1;
  std::string id;
  int restarts = 0;
};

pid_t SpawnWorker(const RunArgs& args, const std::string& bin, const std::string& endpoint,
                  const std::string& id) {
  // `worker` first: compsweep-worker takes it too.
  std::vector<std::string> argv = {"compsweep",      "worker",
                                   "--log-level",    "warn",
                                   "--connect",      endpoint,
                                   "--id",           id,
                                   "--slots",        std::to_string(args.slots),
                                   "--threads",      std::to_string(args.threads),
                                   "--device",       args.device,
                                   "--cache-dir",    args.cache_dir,
                                   "--heartbeat-ms", std::to_string(args.heartbeat_ms)};
  for (const std::string& root : args.path_roots) {
    argv.push_back("--path-root");
    argv.push_back(root);
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Spinning OpenMP threads make oversubscribed cores (several local workers)
    // much slower; a user's own setting wins.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(bin.c_str(), cargv.data());
    std::perror("exec worker");
    _exit(127);
  }
  return pid;
}

std::string Duration(double secs) {
  int s = static_cast<int>(secs + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%d:%02d", s / 60, s % 60);
  return buf;
}

void DrawProgress(const coordinator::SweepProgress& p, int64_t done_at_start, double elapsed,
                  bool tty) {
  auto get = [&](const char* k) {
    auto it = p.counts.find(k);
    return it == p.counts.end() ? int64_t{0} : it->second;
  };
  const int64_t ok = get("succeeded"), failed = get("failed") + get("cancelled");
  const int64_t stopped = get("stopped");  // early stopping (mo-asha)
  const int64_t running = get("running"), done = ok + failed + stopped;
  const int64_t total = std::max<int64_t>(p.total, 1);
  const int width = 30;
  const int filled = static_cast<int>(width * done / total);
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  std::string eta = "--:--";
  const int64_t done_here = done - done_at_start;
  if (done_here > 0 && done < p.total) {
    eta = Duration(elapsed / done_here * (p.total - done));
  } else if (done >= p.total) {
    eta = "0:00";
  }
  std::fprintf(
      stderr,
      "%s[%s] %lld/%lld done (%lld ok, %lld failed%s), %lld running%s, elapsed %s, ETA %s%s",
      tty ? "\r" : "", bar.c_str(), static_cast<long long>(done), static_cast<long long>(p.total),
      static_cast<long long>(ok), static_cast<long long>(failed),
      stopped > 0 ? (", " + std::to_string(stopped) + " stopped early").c_str() : "",
      static_cast<long long>(running),
      p.others_running > 0
          ? (" (+" + std::to_string(p.others_running) + " shared: teacher, dense student, stages)")
                .c_str()
          : "",
      Duration(elapsed).c_str(), eta.c_str(), tty ? "   " : "\n");
  std::fflush(stderr);
}

}  // namespace

int RunEmbedded(const RunArgs& args) {
  std::ifstream in(args.file);
  if (!in) {
    std::cerr << args.file << ": cannot read file\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string yaml = ss.str();
  ValidateOptions vopts;
  vopts.allow_large = args.allow_large;
  vopts.check_data_files = true;  // the local workers read the same files
  if (!args.path_roots.empty()) vopts.path_roots = args.path_roots;
  ParseOutcome parsed = ParseSweepText(yaml, args.file, vopts);
  if (!parsed.errors.empty()) {
    for (const auto& d : parsed.errors) std::cerr << d.ToString() << "\n";
    return 2;
  }
  const std::string db = args.db.empty() ? parsed.spec->name + ".db" : args.db;
  std::string worker_bin;
  if (args.workers > 0) {
    auto bin = FindWorkerBinary(args.worker_bin);
    Status checked = bin.ok() && *bin != "/proc/self/exe" ? CheckWorkerBinary(*bin) : bin.status();
    if (!checked.ok()) {
      std::cerr << "run: " << checked.message() << "\n";
      return 2;
    }
    worker_bin = *bin;
  }

  SystemClock clock;
  coordinator::EventHub hub;
  coordinator::CoreOptions co;
  co.db_path = db;
  co.bind = "tcp://127.0.0.1:*";
  co.heartbeat_ms = args.heartbeat_ms;
  co.liveness = args.liveness;
  co.path_roots = args.path_roots;
  auto core_r = coordinator::Core::Create(co, &hub, &clock);
  if (!core_r.ok()) {
    std::cerr << core_r.status().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<coordinator::Core> core = std::move(*core_r);
  std::thread loop([&] { core->Run(); });

  std::unique_ptr<coordinator::HttpServer> http;
  if (!args.no_serve) {
    coordinator::HttpOptions ho;
    ho.bind = "127.0.0.1";
    ho.port = args.port;
    ho.db_path = db;
    ho.static_dir = args.static_dir.empty() ? DefaultStaticDir() : args.static_dir;
    auto h = coordinator::HttpServer::Create(ho, core.get(), &hub);
    if (!h.ok() && ho.port != 0) {
      spdlog::warn("dashboard: port {} unavailable ({}); using a free port", ho.port,
                   h.status().message());
      ho.port = 0;
      h = coordinator::HttpServer::Create(ho, core.get(), &hub);
    }
    if (!h.ok()) {
      std::cerr << "dashboard: " << h.status().ToString() << "\n";
      core->Stop();
      loop.join();
      return 1;
    }
    http = std::move(*h);
    std::cout << "dashboard: http://127.0.0.1:" << http->port() << "/" << std::endl;
  }

  coordinator::SubmitOutcome sub = core->Submit(yaml, args.file, args.allow_large);
  if (!sub.status.ok()) {
    for (const auto& d : sub.errors) std::cerr << d.ToString() << "\n";
    std::cerr << sub.status.ToString() << "\n";
    if (http) http->Stop();
    core->Stop();
    loop.join();
    return sub.errors.empty() ? 1 : 2;
  }
  std::cout << "coordinator: more workers may connect to " << core->endpoint() << std::endl;
  std::cout << "sweep " << sub.sweep_id << " '" << parsed.spec->name << "': " << sub.trials
            << " trials" << (sub.resumed ? " (resumed)" : "") << ", database " << db << std::endl;

  if (args.workers > 0 && worker_bin != "/proc/self/exe") {
    std::cout << "local workers: " << worker_bin << std::endl;
  }
  std::vector<LocalWorker> workers(args.workers);
  for (int i = 0; i < args.workers; ++i) {
    workers[i].id = "local-" + std::to_string(getpid()) + "-" + std::to_string(i);
    workers[i].pid = SpawnWorker(args, worker_bin, core->endpoint(), workers[i].id);
  }

  const bool tty = isatty(STDERR_FILENO);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t done_at_start = -1;
  std::string final_state;
  auto last_line = t0 - std::chrono::seconds(10);
  while (!g_stop) {
    // Restart local workers that died (their trials are re-queued by the coordinator).
    for (auto& w : workers) {
      int status = 0;
      if (w.pid > 0 && waitpid(w.pid, &status, WNOHANG) == w.pid) {
        spdlog::warn("run: worker {} exited ({}); restarting it", w.id,
                     WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                         : "status " + std::to_string(WEXITSTATUS(status)));
        if (++w.restarts > 5) {
          spdlog::error("run: worker {} failed {} times; not starting it again", w.id, w.restarts);
          w.pid = -1;
        } else {
          w.pid = SpawnWorker(args, worker_bin, core->endpoint(), w.id);
        }
      }
    }
    auto p = core->Progress(sub.sweep_id);
    if (!p.ok()) {
      std::cerr << p.status().ToString() << "\n";
      break;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (done_at_start < 0) {
      done_at_start = 0;
      for (const char* k : {"succeeded", "failed", "cancelled", "stopped"}) {
        auto it = p->counts.find(k);
        if (it != p->counts.end()) done_at_start += it->second;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (tty || now - last_line > std::chrono::seconds(5) || p->state != "active") {
      DrawProgress(*p, done_at_start, elapsed, tty);
      last_line = now;
    }
    if (p->state != "active") {
      final_state = p->state;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (tty) std::fprintf(stderr, "\n");
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int rc = 0;
  if (final_state.empty()) {
    std::cout << "interrupted after " << Duration(elapsed)
              << "; run the same command again to resume" << std::endl;
    rc = 130;
  } else {
    auto trials = ReadTrialsFromDb(db, sub.sweep_id);
    auto objectives = ReadObjectivesFromDb(db, sub.sweep_id);
    if (trials.ok() && objectives.ok()) {
      nlohmann::json front = nlohmann::json::array();
      for (size_t i : ParetoIndices(*trials, *objectives)) front.push_back((*trials)[i]);
      int64_t ok = 0;
      for (const auto& t : *trials) ok += t["state"] == "succeeded";
      std::cout << "\nsweep " << sub.sweep_id << " " << final_state << " in " << Duration(elapsed)
                << ": " << ok << "/" << trials->size() << " trials succeeded, " << front.size()
                << " on the Pareto front (";
      for (size_t i = 0; i < objectives->size(); ++i) {
        const auto& o = (*objectives)[i];
        std::cout << (i ? ", " : "") << (o["maximize"].get<bool>() ? "max " : "min ")
                  << o["metric"].get<std::string>();
      }
      std::cout << "):\n";
      auto sweep_doc = ReadSweepFromDb(db, sub.sweep_id);
      nlohmann::json dense;
      if (sweep_doc.ok()) {
        PrintBaselines(*sweep_doc, *objectives);
        dense = DenseStudent(*sweep_doc);
      }
      PrintTrials(front, *objectives, "table", dense);
      std::cout << "all trials: compsweep results " << sub.sweep_id << " --db " << db << "\n"
                << "dashboard, any time later (read-only): compsweep dashboard --db " << db
                << std::endl;
    }
    if (http && args.keep_serving) {
      std::cout << "dashboard still at http://127.0.0.1:" << http->port() << "/ ; Ctrl-C to stop"
                << std::endl;
      while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  for (auto& w : workers) {
    // Stop now: trials still running are interrupted and re-queued on resume.
    if (w.pid > 0) kill(w.pid, SIGQUIT);
  }
  for (auto& w : workers) {
    if (w.pid <= 0) continue;
    for (int i = 0; i < 50; ++i) {
      if (waitpid(w.pid, nullptr, WNOHANG) == w.pid) {
        w.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (w.pid > 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, nullptr, 0);
    }
  }

  if (http) http->Stop();
  core->Stop();
  loop.join();
  return rc;
}

}  // namespace compsweep::cli
