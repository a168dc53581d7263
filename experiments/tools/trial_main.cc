// Runs one trial from a settings JSON file, training the teacher first when
// the pipeline distills and no teacher is given. Prints the metrics as JSON.
// Usage: experiments_trial SETTINGS.json [--teacher PATH] [--threads N] [--device D] [--out DIR]
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include "experiments/pipeline.h"

int main(int argc, char** argv) {
  using compsweep::experiments::RunContext;
  if (argc < 2) {
    std::cerr << "usage: " << argv[0]
              << " SETTINGS.json [--teacher PATH] [--threads N] [--device D] [--out DIR]\n";
    return 2;
  }
  std::string teacher, out = "/tmp/compsweep_trial", device = "cpu";
  int threads = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--teacher") teacher = argv[i + 1];
    else if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    else if (flag == "--device") device = argv[i + 1];
    else if (flag == "--out") out = argv[i + 1];
  }
  std::ifstream f(argv[1]);
  nlohmann::json settings = nlohmann::json::parse(f);
  compsweep::experiments::ConfigureRuntime(threads);
  RunContext ctx;
  ctx.device = device;
  ctx.artifact_dir = out;
  ctx.on_progress = [](const nlohmann::json& p) { std::cerr << p.dump() << "\n"; };
  bool distill = false;
  for (const auto& s : settings.value("pipeline", nlohmann::json::array())) distill |= s == "distill";
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
