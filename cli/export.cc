// `compsweep export`: writes a finished trial's compressed model as TorchScript
// for deployment (torch.jit.load / torch::jit::load).
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "coordinator/api_queries.h"
#include "coordinator/api_readers.h"
#include "coordinator/artifact_paths.h"

namespace compsweep::cli {

int RunExport(const ExportArgs& args) {
  namespace fs = std::filesystem;
  std::string artifact = args.artifact;
  nlohmann::json settings = nlohmann::json::object();
  std::optional<int64_t> recorded_size;  // the trial's size_bytes: its model's bytes
  std::vector<std::string> tried;
  if (!args.db.empty()) {
    try {
      // Read through the HTTP API's query layer, on a read-only connection.
      coordinator::ReaderPool pool(args.db, 0);
      auto lease = pool.Acquire();
      if (!lease.ok()) {
        std::cerr << lease.status().message() << "\n";
        return 1;
      }
      SQLite::Database& db = lease->db();
      auto trial = coordinator::GetTrial(db, args.trial);
      if (!trial.ok() || (*trial)["kind"] != "trial") {
        if (trial.ok() || trial.status().code() == StatusCode::kNotFound) {
          std::cerr << "no trial " << args.trial << " in " << args.db << "\n";
        } else {
          std::cerr << "reading " << args.db << ": " << trial.status().message() << "\n";
        }
        return 1;
      }
      const std::string state = (*trial)["state"].get<std::string>();
      if (state != "succeeded") {
        std::cerr << "trial " << args.trial << " is " << state << ", not succeeded\n";
        return 1;
      }
      settings = (*trial)["settings"];
      const int attempt = (*trial)["attempt"].get<int>();
      const auto& metrics = (*trial)["metrics"];
      if (metrics.contains("size_bytes") && metrics["size_bytes"].is_number()) {
        recorded_size = static_cast<int64_t>(metrics["size_bytes"].get<double>());
      }
      if (artifact.empty()) {
        // 1. The copy the coordinator keeps: where it wrote it (relative to the
        //    coordinator's folder), then next to this database file.
        std::vector<std::string> candidates;
        auto kept = coordinator::TrialArtifactPath(db, args.trial);
        if (kept.ok()) candidates.push_back(*kept);
        candidates.push_back((fs::path(coordinator::DefaultArtifactDir(args.db)) /
                              coordinator::TrialArtifactName(args.trial, attempt))
                                 .string());
        // 2. The cache of the worker that ran it (workers older than the copy).
        candidates.push_back((fs::path(args.cache_dir) / "artifacts" /
                              (std::to_string(args.trial) + "-" + std::to_string(attempt)) /
                              "model.csa")
                                 .string());
        for (const auto& c : candidates) {
          tried.push_back(c);
          if (fs::is_regular_file(c)) {
            artifact = c;
            break;
          }
        }
      }
    } catch (const std::exception& e) {
      std::cerr << "reading " << args.db << ": " << e.what() << "\n";
      return 1;
    }
  }
  if (artifact.empty() && tried.empty()) {
    std::cerr << "give --artifact, or --db with a trial id\n";
    return 2;
  }
  if (artifact.empty() || !fs::exists(artifact)) {
    std::cerr << "no model file for trial " << args.trial << "; looked at:\n";
    for (const auto& t : tried.empty() ? std::vector<std::string>{artifact} : tried) {
      std::cerr << "  " << t << "\n";
    }
    std::cerr << "(the coordinator keeps each succeeded trial's model in <db>.artifacts/; "
                 "pass --artifact FILE otherwise)\n";
    return 1;
  }
  // The file must be the one the trial measured: its size is the trial's size_bytes.
  if (recorded_size && static_cast<int64_t>(fs::file_size(artifact)) != *recorded_size) {
    std::cerr << artifact << " has " << fs::file_size(artifact) << " bytes but trial " << args.trial
              << " recorded size_bytes " << *recorded_size
              << ": it is not this trial's model (another run wrote it?)\n";
    return 1;
  }
  Status st = WriteTorchScript(settings, artifact, args.out);
  if (!st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  std::cout << "wrote " << args.out << " (" << fs::file_size(args.out) << " bytes) from "
            << artifact << "\n";
  return 0;
}

}  // namespace compsweep::cli
