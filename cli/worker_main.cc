// compsweep-worker: the worker alone, for machines that train (it needs
// LibTorch; the coordinator's compsweep may be built without it). Its options
// are those of `compsweep worker`, and a leading `worker` is accepted, so
// `compsweep-worker worker --connect ...` works where `compsweep worker ...` did.
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli.h"

int main(int argc, char** argv) {
  using namespace compsweep::cli;
  CLI::App app{
      "compsweep-worker: a worker that trains trials for a compsweep coordinator (the options of "
      "`compsweep worker`)",
      "compsweep-worker"};
  app.set_version_flag("--version", "compsweep-worker 0.1.0");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  WorkerArgs wa;
  AddWorkerOptions(&app, &wa);
  int first = 1;
  if (argc > 1 && std::strcmp(argv[1], "worker") == 0) first = 2;
  try {
    app.parse(argc - first + 1, argv + first - 1);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");
  return RunWorkerCommand(wa);
}
