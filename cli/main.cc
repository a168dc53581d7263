// compsweep: one executable, one subcommand per role (CLI11).
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli.h"

int main(int argc, char** argv) {
  using namespace compsweep::cli;
  CLI::App app{"compsweep: sweep distillation, pruning and quantization; watch the Pareto front"};
  app.require_subcommand(1);
  app.fallthrough();  // --log-level may also follow the subcommand
  app.set_version_flag("--version", "compsweep 0.1.0");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();

  // validate
  std::string vfile;
  bool vlarge = false;
  auto* validate = app.add_subcommand("validate", "Check a sweep file; print every problem");
  validate->add_option("file", vfile, "sweep YAML")->required();
  validate->add_flag("--allow-large", vlarge, "allow grids above the size limit");
  std::vector<std::string> vroots;
  const char* kPathRootHelp =
      "folder that absolute data and model paths in sweeps may lie under (repeatable; default "
      "/usr/share/datasets; relative paths are always allowed, without '..')";
  validate->add_option("--path-root", vroots, kPathRootHelp);

  // coordinator
  CoordinatorArgs ca;
  auto* coord = app.add_subcommand("coordinator", "Run the coordinator (ZeroMQ + HTTP + SQLite)");
  coord->add_option("--db", ca.db, "SQLite file")->capture_default_str();
  coord->add_option("--bind", ca.bind, "ZeroMQ endpoint for workers")->capture_default_str();
  coord->add_option("--http", ca.http, "HTTP address:port for API and dashboard")
      ->capture_default_str();
  coord->add_option("--token", ca.token, "API token (or env COMPSWEEP_TOKEN)");
  coord->add_option("--static", ca.static_dir, "dashboard folder");
  coord->add_option("--heartbeat-ms", ca.heartbeat_ms)->capture_default_str();
  coord->add_option("--liveness", ca.liveness, "missed heartbeats before a worker is dead")
      ->capture_default_str();
  auto* ckey = coord->add_option("--curve-key", ca.curve_key,
                                 "CURVE secret key file (compsweep keygen): encrypt worker "
                                 "traffic and admit only the workers in --curve-clients");
  auto* cclients = coord->add_option("--curve-clients", ca.curve_clients,
                                     "folder of the admitted workers' .pub files (or one file)");
  ckey->envname("COMPSWEEP_CURVE_KEY");
  cclients->envname("COMPSWEEP_CURVE_CLIENTS");
  coord->add_option("--path-root", ca.path_roots, kPathRootHelp);
  ckey->needs(cclients);
  cclients->needs(ckey);

  // keygen
  std::string kbase;
  auto* keygen = app.add_subcommand(
      "keygen", "Write a CURVE key pair, NAME.key (secret) and NAME.pub, for --curve-* options");
  keygen->add_option("name", kbase, "path without extension, e.g. keys/coordinator")->required();

  // worker
  WorkerArgs wa;
  auto* worker = app.add_subcommand(
      "worker", BuiltWithTorch() ? "Run a worker that trains trials"
                                 : "Not in this build (no LibTorch): use compsweep-worker");
  AddWorkerOptions(worker, &wa);

  // submit / status / cancel / results
  ClientArgs client;
  if (const char* t = std::getenv("COMPSWEEP_TOKEN")) client.token = t;
  std::string sfile;
  bool slarge = false;
  auto* submit = app.add_subcommand("submit", "Submit a sweep to a running coordinator");
  submit->add_option("file", sfile, "sweep YAML")->required();
  submit->add_option("--coordinator", client.coordinator, "coordinator URL")->capture_default_str();
  submit->add_option("--token", client.token, "API token (or env COMPSWEEP_TOKEN)");
  submit->add_flag("--allow-large", slarge);

  std::string status_sweep, status_db;
  auto* status = app.add_subcommand("status", "Show sweeps and their progress");
  status->add_option("sweep", status_sweep, "sweep id (default: all)");
  status->add_option("--coordinator", client.coordinator)->capture_default_str();
  status->add_option("--db", status_db, "read this SQLite file instead of asking a coordinator");

  std::string cancel_sweep;
  auto* cancel = app.add_subcommand("cancel", "Cancel a sweep");
  cancel->add_option("sweep", cancel_sweep)->required();
  cancel->add_option("--coordinator", client.coordinator)->capture_default_str();
  cancel->add_option("--token", client.token);

  std::string retry_sweep;
  auto* retry = app.add_subcommand("retry", "Re-queue the failed and cancelled trials of a sweep");
  retry->add_option("sweep", retry_sweep)->required();
  retry->add_option("--coordinator", client.coordinator)->capture_default_str();
  retry->add_option("--token", client.token);

  auto* workers = app.add_subcommand("workers", "List the workers a coordinator knows");
  workers->add_option("--coordinator", client.coordinator)->capture_default_str();

  ResultsArgs ra;
  auto* results = app.add_subcommand("results", "Print a sweep's trials or its Pareto front");
  results->add_option("sweep", ra.sweep)->required();
  results->add_flag("--pareto", ra.pareto, "only the Pareto-optimal trials");
  results->add_option("--format", ra.format)
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  results->add_option("--db", ra.db, "read this SQLite file directly");
  results->add_option("--coordinator", ra.client.coordinator)->capture_default_str();

  ExportArgs ea;
  auto* exp = app.add_subcommand(
      "export", BuiltWithTorch()
                    ? "Write a finished trial's compressed model as TorchScript, ONNX or .csa"
                    : "Find a finished trial's model file (exports need a build with LibTorch)");
  exp->add_option("trial", ea.trial, "trial id (with --db)");
  exp->add_option("--db", ea.db, "SQLite file of the sweep");
  exp->add_option("--cache-dir", ea.cache_dir,
                  "cache dir of the worker that ran the trial (when the coordinator kept no copy)")
      ->capture_default_str();
  exp->add_option("--artifact", ea.artifact, "artifact file (model.csa) to export directly");
  exp->add_option("--format", ea.format,
                  "torchscript (int8 for 8-bit linear trials), onnx (QDQ int8 likewise) or csa")
      ->check(CLI::IsMember({"torchscript", "onnx", "csa"}))
      ->capture_default_str();
  exp->add_option("--out", ea.out, "file to write (default model.pt, model.onnx or model.csa)");

  // dashboard
  DashboardArgs da;
  auto* dash = app.add_subcommand(
      "dashboard", "Serve the dashboard over a database, read-only (no coordinator, no workers)");
  dash->alias("ui");
  dash->add_option("--db", da.db, "SQLite file a sweep wrote (opened read-only)")->required();
  dash->add_option("--port", da.port, "HTTP port (0 = any free port; a busy one falls back to any)")
      ->capture_default_str();
  dash->add_option("--bind", da.bind, "address to serve on (not loopback: needs --token)")
      ->capture_default_str();
  dash->add_option("--token", da.token, "API token (or env COMPSWEEP_TOKEN)");
  dash->add_option("--static", da.static_dir, "dashboard folder");

  // run
  RunArgs run;
  auto* runc =
      app.add_subcommand("run", "Run a sweep here: coordinator + local workers + dashboard");
  runc->add_option("file", run.file, "sweep YAML")->required();
  runc->add_option("--workers", run.workers, "local worker processes")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  runc->add_option("--slots", run.slots, "slots per worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  runc->add_option("--device", run.device, "device of the local workers: cpu | cuda | cuda:N")
      ->capture_default_str();
  runc->add_option("--threads", run.threads, "LibTorch threads per worker")->capture_default_str();
  runc->add_option("--db", run.db, "SQLite file (default: <sweep name>.db)");
  runc->add_option("--port", run.port, "dashboard port (0 = any free port)")->capture_default_str();
  runc->add_flag("--no-serve", run.no_serve, "do not start the dashboard");
  runc->add_flag("--keep-serving", run.keep_serving, "keep the dashboard up after the sweep ends");
  runc->add_flag("--allow-large", run.allow_large);
  runc->add_option("--path-root", run.path_roots, kPathRootHelp);
  runc->add_option("--cache-dir", run.cache_dir)->capture_default_str();
  runc->add_option("--static", run.static_dir, "dashboard folder");
  runc->add_option("--heartbeat-ms", run.heartbeat_ms)->capture_default_str();
  runc->add_option("--liveness", run.liveness)->capture_default_str();
  runc->add_option("--worker-bin", run.worker_bin,
                   "executable of the local workers (default: this one when built with "
                   "LibTorch, else compsweep-worker next to it or in PATH)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");

  if (*validate) return RunValidate(vfile, vlarge, vroots);
  if (*keygen) return RunKeygen(kbase);
  InstallSignalHandlers();
  if (*coord) {
    if (ca.token.empty()) {
      if (const char* t = std::getenv("COMPSWEEP_TOKEN")) ca.token = t;
    }
    return RunCoordinator(ca);
  }
  if (*worker) return RunWorkerCommand(wa);
  if (*submit) return RunSubmit(sfile, slarge, client);
  if (*status) return RunStatus(status_sweep, client, status_db);
  if (*cancel) return RunCancel(cancel_sweep, client);
  if (*retry) return RunRetry(retry_sweep, client);
  if (*workers) return RunWorkers(client);
  if (*results) {
    if (ra.client.token.empty()) ra.client.token = client.token;
    return RunResults(ra);
  }
  if (*runc) return RunEmbedded(run);
  if (*exp) return RunExport(ea);
  if (*dash) {
    if (da.token.empty()) da.token = client.token;
    return RunDashboard(da);
  }
  return 2;
}
