// Batch-1 CPU latency of one 8-bit model on LibTorch's int8 kernels and on
// float kernels, measured alternately (metrics.h). The model is an artifact
// file, so binaries built against different LibTorch versions time the very
// same weights: --write makes it (a zoo architecture, seeded weights, 8-bit
// linear symmetric per-channel codes), --artifact reads it.
// Prints one JSON line: torch version, quantized engine, latencies.
// Usage: experiments_int8_bench (--write FILE [--arch A] | --artifact FILE)
//            [--threads N] [--runs N] [--calibration minmax|percentile|mse]
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/version.h>

#include "common/settings_schema.h"
#include "experiments/artifact.h"
#include "experiments/data.h"
#include "experiments/int8.h"
#include "experiments/metrics.h"
#include "experiments/model.h"
#include "experiments/pipeline.h"
#include "experiments/quantize.h"

namespace ex = compsweep::experiments;

int main(int argc, char** argv) {
  CLI::App app{"Batch-1 CPU latency of an 8-bit model on int8 and float kernels"};
  namespace settings = compsweep::settings;
  std::string write, artifact, arch = "cnn-small",
                               calibration = settings::Default("quantize", "calibration");
  int threads = 1, runs = 30;
  auto* w = app.add_option("--write", write, "make the model and write its artifact here");
  auto* a = app.add_option("--artifact", artifact, "time this artifact (model.csa)")
                ->check(CLI::ExistingFile);
  w->excludes(a);
  app.add_option("--arch", arch, "zoo architecture for --write")
      ->capture_default_str()
      ->check(CLI::IsMember(settings::Architectures()));
  app.add_option("--threads", threads, "LibTorch threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--runs", runs, "timed calls per block (3 blocks)")
      ->capture_default_str()
      ->check(CLI::Range(5, 100000));
  // Choices and default from the settings table, as quantize.calibration in a sweep.
  app.add_option("--calibration", calibration, "activation ranges")
      ->capture_default_str()
      ->check(CLI::IsMember(settings::Choices("quantize", "calibration")));
  CLI11_PARSE(app, argc, argv);
  if (write.empty() == artifact.empty()) {
    std::cerr << "give exactly one of --write FILE or --artifact FILE\n";
    return 2;
  }
  ex::ConfigureRuntime(threads);
  try {
    if (!write.empty()) {
      auto spec = ex::ArchSpec(arch);
      if (!spec.ok()) {
        std::cerr << spec.status().ToString() << "\n";
        return 2;
      }
      auto model = ex::BuildModel(*spec, 1);
      if (!model.ok()) {
        std::cerr << model.status().ToString() << "\n";
        return 1;
      }
      auto codes = ex::QuantizeModelWeights(**model, ex::QuantConfig{});
      if (!codes.ok()) {
        std::cerr << codes.status().ToString() << "\n";
        return 1;
      }
      auto info = ex::WriteArtifact(**model, *codes, write);
      if (!info.ok()) {
        std::cerr << info.status().ToString() << "\n";
        return 1;
      }
      artifact = write;
    }
    ex::QuantizedWeights codes;
    auto model = ex::ReadArtifact(artifact, &codes);
    if (!model.ok()) {
      std::cerr << model.status().ToString() << "\n";
      return 1;
    }
    (*model)->SetTraining(false);
    // Fixed synthetic inputs: the same calibration data in every binary.
    ex::Dataset data = ex::MakeSyntheticDataset(512, 16, 7);
    auto int8 = ex::Int8Model::Create(**model, codes, data.train_x, calibration);
    if (!int8.ok()) {
      std::cerr << int8.status().ToString() << "\n";
      return 1;
    }
    torch::Tensor one = data.test_x.narrow(0, 0, 1);
    auto& m = **int8;
    auto& f = **model;
    std::vector<double> ms =
        ex::MedianLatenciesMs({[&](const torch::Tensor& x) { return f.Forward(x); },
                               [&](const torch::Tensor& x) { return m.Forward(x); }},
                              one, runs);
    nlohmann::json out = {{"torch", TORCH_VERSION},    {"qengine", m.engine()},
                          {"artifact", artifact},      {"threads", threads},
                          {"float_latency_ms", ms[0]}, {"int8_latency_ms", ms[1]}};
    std::cout << out.dump() << "\n";
  } catch (const c10::Error& e) {
    std::cerr << e.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}
