// validate, coordinator and keygen subcommands.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/data_files.h"
#include "common/stage_plan.h"
#include "common/sweep_spec.h"
#include "coordinator/core.h"
#include "coordinator/http_server.h"

namespace compsweep::cli {

namespace {
bool SplitHostPort(const std::string& s, std::string* host, int* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  try {
    *port = std::stoi(s.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// True for inproc/ipc endpoints and TCP ones bound to a loopback address.
bool IsLoopbackEndpoint(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) != 0) return true;
  const std::string rest = endpoint.substr(6);
  const std::string host = rest.substr(0, rest.rfind(':'));
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1" ||
         host.rfind("127.", 0) == 0;
}
}  // namespace

std::string DefaultStaticDir() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
#ifdef COMPSWEEP_SOURCE_DIR
  candidates.push_back(fs::path(COMPSWEEP_SOURCE_DIR) / "web");
#endif
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "web");
    candidates.push_back(exe.parent_path().parent_path() / "web");
    candidates.push_back(exe.parent_path().parent_path() / "share" / "compsweep" / "web");
  }
  candidates.push_back(fs::current_path() / "web");
  for (const auto& c : candidates) {
    if (fs::exists(c / "index.html")) return c.string();
  }
  return (fs::current_path() / "web").string();
}

int RunValidate(const std::string& file, bool allow_large,
                const std::vector<std::string>& path_roots) {
  ValidateOptions opts;
  opts.allow_large = allow_large;
  // Data files are read from here, as the local workers of `compsweep run` do.
  opts.check_data_files = true;
  if (!path_roots.empty()) opts.path_roots = path_roots;
  ParseOutcome out = ParseSweepFile(file, opts);
  if (!out.errors.empty()) {
    for (const auto& d : out.errors) std::cerr << d.ToString() << "\n";
    std::cerr << out.errors.size() << " error(s); " << file << " is not valid\n";
    return 2;
  }
  const int64_t n = CountTrials(*out.spec);
  std::cout << file << ": valid; sweep '" << out.spec->name << "' expands to " << n << " trial(s) ("
            << out.spec->method << ")\n";
  const SweepSpec& spec = *out.spec;
  if (spec.method == "nsga2") {
    std::cout << "search: NSGA-II proposes up to " << spec.run_cap
              << " trials, a first population at once, then one for each finished trial "
                 "(and more while workers are idle)\n";
  }
  if (spec.early_terminate && spec.early_terminate->type == "record") {
    std::cout << "recording: every trial measures its model after each epoch (the objectives, "
                 "as at a rung) and reports it as a progress event; the last epoch is the "
                 "trial's result; no trial is stopped";
    if (spec.stage_reuse) {
      std::cout << " (a trial that starts from a shared stage reports only the epochs after "
                   "it: stage_reuse: false records every epoch of every trial)";
    }
    std::cout << "\n";
  } else if (spec.early_terminate) {
    const auto& et = *spec.early_terminate;
    std::string rungs;
    for (int r : RungEpochs(et, et.max_epochs > 0 ? et.max_epochs : 1000000)) {
      if (r > 1000) break;
      rungs += (rungs.empty() ? "" : ", ") + std::to_string(r);
    }
    std::cout << "early stopping: " << et.type << ", rungs at epochs " << rungs
              << " (below each trial's own length); at each rung a trial continues only when "
                 "it ranks in the best 1/"
              << et.eta << " of those recorded there\n";
    if (spec.method != "nsga2" && n <= 100000) {
      int64_t epochs = 0;
      for (const auto& t : ExpandTrials(spec)) epochs += TrialEpochs(t.settings);
      std::cout << "training epochs without early stopping: " << epochs << "\n";
    }
  }
  // Stage reuse: the training the sweep's trials share, trained once.
  if (spec.program.is_null() && !spec.pipeline.empty() && spec.method == "nsga2") {
    std::cout << "stage reuse: " << (spec.stage_reuse ? "on" : "off (stage_reuse: false)")
              << (spec.stage_reuse ? "; the first population's shared pipeline prefixes are "
                                     "trained once, and later proposals start from them when "
                                     "their settings match"
                                   : "")
              << "\n";
  } else if (spec.program.is_null() && !spec.pipeline.empty() && n > 1 && n <= 100000) {
    const auto trials = ExpandTrials(spec);
    std::vector<const nlohmann::json*> settings;
    for (const auto& t : trials) settings.push_back(&t.settings);
    const StagePlan plan = PlanStages(settings);
    if (spec.stage_reuse) {
      std::cout << "stage reuse: " << DescribeStagePlan(plan, trials.size()) << "\n";
    } else {
      std::cout << "stage reuse: off (stage_reuse: false); " << plan.epochs_without
                << " training epochs, every trial from scratch\n";
    }
  }
  if (out.spec->data.contains("format")) {
    data_files::Summary s;
    data_files::Check(out.spec->data, opts.path_roots, &s);
    std::string shape;
    for (int64_t d : s.feature_shape) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
    std::cout << "data: " << s.train << " train examples"
              << (s.val > 0 ? ", " + std::to_string(s.val) + " val"
                            : " (val_fraction " + out.spec->data["val_fraction"].dump() +
                                  " of them held out for validation)")
              << ", " << s.test << " test; each " << shape << " " << s.x_dtype << "; "
              << s.num_classes << " classes"
              << (out.spec->data.contains("num_classes") ? "" : " (largest label + 1)") << "\n";
  }
  return 0;
}

int RunCoordinator(const CoordinatorArgs& args) {
  SystemClock clock;
  coordinator::EventHub hub;
  coordinator::CoreOptions co;
  co.db_path = args.db;
  co.bind = args.bind;
  co.heartbeat_ms = args.heartbeat_ms;
  co.liveness = args.liveness;
  co.path_roots = args.path_roots;
  if (!args.curve_key.empty()) {
    auto keys = ReadCurveSecretKey(args.curve_key);
    if (!keys.ok()) {
      spdlog::error("--curve-key: {}", keys.status().ToString());
      return 2;
    }
    co.curve_secret_key = keys->secret_key;
    co.curve_clients = args.curve_clients;
  } else if (!IsLoopbackEndpoint(args.bind)) {
    spdlog::warn(
        "coordinator: {} is reachable from other machines without CURVE: anyone who can connect "
        "can act as a worker (see --curve-key, docs/deploy.md)",
        args.bind);
  }
  auto core = coordinator::Core::Create(co, &hub, &clock);
  if (!core.ok()) {
    spdlog::error("{}", core.status().ToString());
    return 1;
  }
  coordinator::HttpOptions ho;
  if (!SplitHostPort(args.http, &ho.bind, &ho.port)) {
    spdlog::error("--http must be ADDRESS:PORT, got '{}'", args.http);
    return 2;
  }
  ho.db_path = args.db;
  ho.static_dir = args.static_dir.empty() ? DefaultStaticDir() : args.static_dir;
  ho.token = args.token;
  auto http = coordinator::HttpServer::Create(ho, core->get(), &hub);
  if (!http.ok()) {
    spdlog::error("{}", http.status().ToString());
    return 2;
  }
  std::thread loop([&] { (*core)->Run(); });
  std::cout << "coordinator: workers connect to " << (*core)->endpoint() << "\n"
            << "dashboard: http://" << ho.bind << ":" << (*http)->port() << "/" << std::endl;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("coordinator: stopping");
  (*http)->Stop();
  (*core)->Stop();
  loop.join();
  return 0;
}

int RunKeygen(const std::string& base) {
  auto keys = GenerateCurveKeyPair();
  Status st = keys.ok() ? WriteCurveKeyPair(base, *keys) : keys.status();
  if (!st.ok()) {
    std::cerr << "keygen: " << st.ToString() << "\n";
    return 1;
  }
  std::cout << "wrote " << base << ".key (secret, mode 0600) and " << base << ".pub\n"
            << "public key: " << keys->public_key << "\n";
  return 0;
}

}  // namespace compsweep::cli
