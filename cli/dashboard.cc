// `compsweep dashboard --db FILE` (alias `ui`): the dashboard over any compsweep
// database, read-only, with no coordinator and no workers; what
// `optuna-dashboard sqlite:///FILE` is to Optuna. The file is opened read-only;
// routes that would change it answer 403.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "coordinator/api_readers.h"
#include "coordinator/http_server.h"

namespace compsweep::cli {

Status CheckCompsweepDatabase(const std::string& db) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(db, ec)) {
    return NotFound(db +
                    ": no such file (give the database a sweep wrote, e.g. out/quickstart.db)");
  }
  coordinator::ReaderPool pool(db, 0);
  ASSIGN_OR_RETURN(auto lease, pool.Acquire());
  try {
    const int version = lease.db().execAndGet("PRAGMA user_version").getInt();
    const bool has_sweeps = lease.db().tableExists("sweeps") && lease.db().tableExists("trials");
    if (version < 1 || !has_sweeps) {
      return InvalidArgument(db + " is not a compsweep database (no sweeps/trials tables)");
    }
  } catch (const std::exception& e) {
    return InvalidArgument(db + " is not a compsweep database: " + e.what());
  }
  return Status::Ok();
}

int RunDashboard(const DashboardArgs& args) {
  Status ok = CheckCompsweepDatabase(args.db);
  if (!ok.ok()) {
    std::cerr << "dashboard: " << ok.message() << "\n";
    return ok.code() == StatusCode::kNotFound || ok.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  coordinator::HttpOptions ho;
  ho.bind = args.bind;
  ho.port = args.port;
  ho.db_path = args.db;
  ho.static_dir = args.static_dir.empty() ? DefaultStaticDir() : args.static_dir;
  ho.token = args.token;
  ho.read_only = true;
  // No coordinator and no event hub: the page refreshes on its timer, and a
  // coordinator that still writes the file shows up there within seconds.
  auto http = coordinator::HttpServer::Create(ho, nullptr, nullptr);
  if (!http.ok() && ho.port != 0 && http.status().code() == StatusCode::kUnavailable) {
    spdlog::warn("dashboard: port {} unavailable ({}); using a free port", ho.port,
                 http.status().message());
    ho.port = 0;
    http = coordinator::HttpServer::Create(ho, nullptr, nullptr);
  }
  if (!http.ok()) {
    std::cerr << "dashboard: " << http.status().ToString() << "\n";
    return 2;
  }
  const std::string host = ho.bind == "0.0.0.0" || ho.bind.empty() ? "127.0.0.1" : ho.bind;
  std::cout << "dashboard: http://" << host << ":" << (*http)->port() << "/ (read-only view of "
            << args.db << "; Ctrl-C to stop)" << std::endl;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*http)->Stop();
  return 0;
}

}  // namespace compsweep::cli
