// Runs one trial from a settings JSON file, training the teacher first when
// the pipeline distills and no teacher is given. Prints the metrics as JSON.
// Usage: experiments_trial SETTINGS.json [--teacher PATH] [--threads N] [--device D] [--out DIR]
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "experiments/pipeline.h"

int main(int argc, char** argv) {
  using compsweep::experiments::RunContext;
  CLI::App app{"Runs one trial from a settings JSON file and prints its metrics as JSON"};
  std::string settings_path, teacher, out = "/tmp/compsweep_trial", device = "cpu";
  int threads = 2;
  app.add_option("settings", settings_path, "settings JSON (a trial's TASK settings)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--teacher", teacher,
                 "trained teacher (.pt); trained first when distilling and absent");
  app.add_option("--threads", threads, "LibTorch threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--device", device, "cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--out", out, "folder for the artifact and the teacher")->capture_default_str();
  std::vector<std::string> roots;
  app.add_option("--path-root", roots,
                 "folder absolute data/model paths may lie under (default /usr/share/datasets)");
  CLI11_PARSE(app, argc, argv);
  std::ifstream f(settings_path);
  nlohmann::json settings = nlohmann::json::parse(f, nullptr, false);
  if (settings.is_discarded()) {
    std::cerr << settings_path << ": not valid JSON\n";
    return 2;
  }
  compsweep::experiments::ConfigureRuntime(threads);
  RunContext ctx;
  ctx.device = device;
  ctx.artifact_dir = out;
  if (!roots.empty()) ctx.path_roots = roots;
  ctx.on_progress = [](const nlohmann::json& p) { std::cerr << p.dump() << "\n"; };
  bool distill = false;
  for (const auto& s : settings.value("pipeline", nlohmann::json::array()))
    distill |= s == "distill";
  if (distill && teacher.empty()) {
    teacher = out + "/teacher.pt";
    auto t = compsweep::experiments::TrainTeacher(settings, teacher, ctx);
    if (!t.ok()) {
      std::cerr << t.status().ToString() << "\n";
      return 1;
    }
    std::cerr << "teacher " << t->dump() << "\n";
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = compsweep::experiments::RunTrial(settings, teacher, ctx);
  if (!r.ok()) {
    std::cerr << r.status().ToString() << "\n";
    return 1;
  }
  (*r)["wall_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << r->dump(2) << "\n";
  return 0;
}
