// `compsweep worker` and compsweep-worker: the options of a worker and the
// command that runs one. Linked into compsweep-worker always, and into compsweep
// with LibTorch (COMPSWEEP_WITH_TORCH); the built-in runner comes from the worker
// library the executable links (worker/builtin_runner.h).
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "common/curve_keys.h"
#include "worker/builtin_runner.h"
#include "worker/worker.h"

namespace compsweep::cli {

void AddWorkerOptions(CLI::App* worker, WorkerArgs* wa) {
  worker->add_option("--connect", wa->connect, "coordinator ZeroMQ endpoint")
      ->capture_default_str();
  worker->add_option("--device", wa->device, "cpu | cuda | cuda:N")->capture_default_str();
  worker->add_option("--slots", wa->slots, "trials run at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  worker->add_option("--threads", wa->threads, "LibTorch threads (0 = cores/slots)")
      ->capture_default_str();
  worker->add_option("--cache-dir", wa->cache_dir)->capture_default_str();
  worker->add_option("--id", wa->id, "worker id (default host-pid-random)");
  worker->add_option("--heartbeat-ms", wa->heartbeat_ms)->capture_default_str();
  worker
      ->add_option("--cpu-lock", wa->cpu_lock,
                   "lock file shared by this machine's workers: no latency is timed while "
                   "another trains (empty: off)")
      ->capture_default_str();
  worker->add_option("--path-root", wa->path_roots,
                     "folder that absolute data/model paths may lie under (repeatable; default "
                     "/usr/share/datasets); files are checked again, links resolved, before "
                     "they are opened");
  worker->add_flag("--keep-artifacts", wa->keep_artifacts,
                   "keep each trial's model in the cache after the coordinator has its copy");
  auto* wkey = worker->add_option("--curve-key", wa->curve_key,
                                  "this worker's CURVE secret key file (compsweep keygen)");
  auto* wserver = worker->add_option("--curve-server", wa->curve_server,
                                     "the coordinator's CURVE public key file (.pub)");
  wkey->envname("COMPSWEEP_CURVE_KEY");
  wserver->envname("COMPSWEEP_CURVE_SERVER");
  wkey->needs(wserver);
  wserver->needs(wkey);
}

int RunWorkerCommand(const WorkerArgs& args) {
  worker::WorkerOptions o;
  o.connect = args.connect;
  o.device = args.device;
  o.slots = args.slots;
  o.threads = args.threads;
  o.cache_dir = args.cache_dir;
  o.id = args.id;
  o.heartbeat_ms = args.heartbeat_ms;
  o.cpu_lock = args.cpu_lock;
  o.keep_artifacts = args.keep_artifacts;
  o.path_roots = args.path_roots;
  if (!args.curve_key.empty()) {
    auto keys = ReadCurveSecretKey(args.curve_key);
    auto server = keys.ok() ? ReadCurvePublicKey(args.curve_server) : keys.status();
    if (!server.ok()) {
      spdlog::error("worker: {}", server.status().ToString());
      return 2;
    }
    o.curve_public_key = keys->public_key;
    o.curve_secret_key = keys->secret_key;
    o.curve_server_key = *server;
  }
  InstallWorkerSignalHandlers();
  int rc = worker::RunWorker(o, worker::MakeBuiltinRunner, &g_stop, &g_drain);
  std::fflush(nullptr);
  // Detached job threads may still be training: leave without joining them.
  std::_Exit(rc);
}

}  // namespace compsweep::cli
