// `compsweep export`: writes a finished trial's compressed model as TorchScript
// for deployment (torch.jit.load / torch::jit::load).
#include <filesystem>
#include <iostream>

#include <SQLiteCpp/SQLiteCpp.h>

#include "cli/cli.h"
#include "experiments/pipeline.h"

namespace compsweep::cli {

int RunExport(const ExportArgs& args) {
  namespace fs = std::filesystem;
  std::string artifact = args.artifact;
  nlohmann::json settings = nlohmann::json::object();
  if (!args.db.empty()) {
    try {
      SQLite::Database db(args.db, SQLite::OPEN_READONLY);
      SQLite::Statement st(db,
                           "SELECT settings, attempt, state FROM trials WHERE id = ? AND kind = "
                           "'trial'");
      st.bind(1, args.trial);
      if (!st.executeStep()) {
        std::cerr << "no trial " << args.trial << " in " << args.db << "\n";
        return 1;
      }
      if (st.getColumn(2).getString() != "succeeded") {
        std::cerr << "trial " << args.trial << " is " << st.getColumn(2).getString()
                  << ", not succeeded\n";
        return 1;
      }
      settings = nlohmann::json::parse(st.getColumn(0).getString());
      if (artifact.empty()) {
        // Where a worker with this cache dir wrote it (see worker/worker.cc).
        artifact = (fs::path(args.cache_dir) / "artifacts" /
                    (std::to_string(args.trial) + "-" + std::to_string(st.getColumn(1).getInt())) /
                    "model.csa")
                       .string();
      }
    } catch (const std::exception& e) {
      std::cerr << "reading " << args.db << ": " << e.what() << "\n";
      return 1;
    }
  }
  if (artifact.empty()) {
    std::cerr << "give --artifact, or --db with a trial id\n";
    return 2;
  }
  if (!fs::exists(artifact)) {
    std::cerr << artifact << ": no such artifact (it stays in the cache of the worker that ran "
              << "the trial; pass --cache-dir or --artifact)\n";
    return 1;
  }
  Status st = experiments::ExportTorchScript(settings, artifact, args.out);
  if (!st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  std::cout << "wrote " << args.out << " (" << fs::file_size(args.out) << " bytes) from "
            << artifact << "\n";
  return 0;
}

}  // namespace compsweep::cli
