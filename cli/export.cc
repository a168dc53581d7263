// `compsweep export`: writes a finished trial's compressed model for deployment
// as TorchScript (torch.jit.load / torch::jit::load), ONNX (ONNX Runtime) or
// the compact .csa itself, and says what the file holds.
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
  const std::string out = !args.out.empty()       ? args.out
                          : args.format == "onnx" ? "model.onnx"
                          : args.format == "csa"  ? "model.csa"
                                                  : "model.pt";
  std::optional<int64_t> recorded_size;    // the trial's size_bytes: its model's bytes
  std::optional<int64_t> recorded_deploy;  // deploy_size_bytes_<format> of the trial
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
      const int attempt = (*trial)["attempt"].get<int>();
      const auto& metrics = (*trial)["metrics"];
      if (metrics.contains("size_bytes") && metrics["size_bytes"].is_number()) {
        recorded_size = static_cast<int64_t>(metrics["size_bytes"].get<double>());
      }
      const std::string deploy_key = "deploy_size_bytes_" + args.format;
      if (args.format != "csa" && metrics.contains(deploy_key) && metrics[deploy_key].is_number()) {
        recorded_deploy = static_cast<int64_t>(metrics[deploy_key].get<double>());
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
  Result<ExportOutcome> written = WriteExport(artifact, args.format, out);
  if (!written.ok()) {
    std::cerr << written.status().ToString() << "\n";
    return 1;
  }
  const ExportOutcome& o = *written;
  const std::string kind = args.format == "torchscript" ? "TorchScript"
                           : args.format == "onnx"      ? "ONNX"
                                                        : "compact artifact (.csa)";
  std::cout << "wrote " << out << ": " << kind << ", " << o.bytes << " bytes, from " << artifact
            << "\n";
  if (args.format != "csa") {
    std::cout << "  weights: "
              << (o.int8 ? (args.format == "onnx"
                                ? "int8 initialisers behind DequantizeLinear, uint8 activations "
                                  "(QuantizeLinear/DequantizeLinear)"
                                : "int8, packed for LibTorch's quantized operators")
                         : "float32")
              << "\n";
    const nlohmann::json& in = o.metadata.value("input", nlohmann::json::object());
    if (!in.empty()) {
      std::cout << "  input: " << in.value("dtype", "?") << " "
                << in.value("shape", nlohmann::json()).dump()
                << "; preprocessing: " << in.value("preprocessing", "?") << "\n";
    }
    for (const std::string& note : o.notes) std::cout << "  note: " << note << "\n";
  }
  if (recorded_size) {
    std::cout << "  the trial's size_bytes (compact .csa): " << *recorded_size << "\n";
  }
  if (recorded_deploy) {
    if (*recorded_deploy == o.bytes) {
      std::cout << "  the trial's deploy_size_bytes_" << args.format << ": " << *recorded_deploy
                << " (the same)\n";
    } else {
      std::cerr << "warning: the trial recorded deploy_size_bytes_" << args.format << " = "
                << *recorded_deploy << ", this file has " << o.bytes
                << " bytes (a different LibTorch or compsweep wrote it?)\n";
    }
  }
  return 0;
}

}  // namespace compsweep::cli
