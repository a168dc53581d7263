// Produces docs/results.md: the compression techniques of the experiments
// library measured on Fashion-MNIST, one table per question.
// Usage: experiments_results [--data DIR] [--train-subset N] [--test-subset N]
//          [--epochs E] [--threads T] [--work DIR] [--out FILE]
#include <sys/utsname.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "common/settings_schema.h"
#include "experiments/pipeline.h"

namespace {

using compsweep::experiments::RunContext;
using nlohmann::json;

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  int64_t train_subset = 0;  // 0 = all 60,000
  int64_t test_subset = 0;   // 0 = all 10,000
  int epochs = compsweep::settings::Default("student", "epochs").get<int>();
  int threads = 2;
  std::string work = "/tmp/compsweep_results";
  std::string out = "docs/results.md";
};

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}
std::string Pct(double v) { return Fixed(100.0 * v, 2) + "%"; }
std::string Delta(double v) { return (v >= 0 ? "+" : "") + Fixed(100.0 * v, 2) + " pp"; }
std::string Kb(const json& m) { return Fixed(m["size_bytes"].get<double>() / 1024.0, 1) + " KB"; }

class Runner {
 public:
  explicit Runner(Options o) : o_(std::move(o)) {}

  json Base(const std::string& arch) const {
    json s = {
        {"seed", 0},
        {"data",
         {{"dataset", "fashion-mnist"},
          {"path", o_.data},
          {"train_subset", o_.train_subset},
          {"test_subset", o_.test_subset}}},
        {"teacher",
         {{"arch", "cnn-wide"}, {"epochs", o_.epochs}, {"lr", 1e-3}, {"batch_size", 128}}},
        {"student", {{"arch", arch}, {"epochs", o_.epochs}, {"lr", 1e-3}, {"batch_size", 128}}},
        {"pipeline", json::array()}};
    return s;
  }
  static json Prune(double sparsity, const std::string& schedule, const std::string& granularity) {
    return {{"method", "magnitude"}, {"final_sparsity", sparsity}, {"initial_sparsity", 0.0},
            {"schedule", schedule},  {"granularity", granularity}, {"scope", "layer"},
            {"rounds", 3},           {"finetune_epochs", 1},       {"lr", 5e-4}};
  }
  static json Quant(const std::string& scheme, int bits, const std::string& mode) {
    return {{"scheme", scheme},  {"bits", bits},
            {"mode", mode},      {"granularity", "per-channel"},
            {"symmetric", true}, {"calibration", "minmax"},
            {"qat_epochs", 1},   {"lr", 5e-4}};
  }
  json Distill(double t, double alpha) const {
    return {{"temperature", t}, {"alpha", alpha}, {"epochs", o_.epochs}, {"lr", 1e-3}};
  }

  json Run(const std::string& label, const json& settings, const std::string& teacher = "") {
    RunContext ctx;
    ctx.artifact_dir = o_.work + "/" + std::to_string(count_++);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = compsweep::experiments::RunTrial(settings, teacher, ctx);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      std::cerr << label << ": " << r.status().ToString() << "\n";
      std::exit(1);
    }
    std::cerr << "[" << Fixed(secs, 1) << " s] " << label << ": test accuracy "
              << (*r)["test_accuracy"] << ", size " << (*r)["size_bytes"] << "\n";
    (*r)["wall_seconds"] = secs;
    log_.push_back({{"label", label}, {"settings", settings}, {"metrics", *r}});
    return *r;
  }

  std::string Teacher() {
    if (!teacher_.empty()) return teacher_;
    teacher_ = o_.work + "/teacher.pt";
    RunContext ctx;
    auto r = compsweep::experiments::TrainTeacher(Base("cnn-small"), teacher_, ctx);
    if (!r.ok()) {
      std::cerr << "teacher: " << r.status().ToString() << "\n";
      std::exit(1);
    }
    teacher_metrics_ = *r;
    std::cerr << "teacher: " << r->dump() << "\n";
    return teacher_;
  }
  const json& teacher_metrics() const { return teacher_metrics_; }
  const json& log() const { return log_; }
  const Options& options() const { return o_; }

 private:
  Options o_;
  int count_ = 0;
  std::string teacher_;
  json teacher_metrics_;
  json log_ = json::array();
};

std::string CpuName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Regenerates docs/results.md: the compression library against the papers"};
  app.add_option("--data", o.data, "MNIST-format folder (IDX .gz files)")->capture_default_str();
  app.add_option("--train-subset", o.train_subset, "training images (0: all)")
      ->capture_default_str();
  app.add_option("--test-subset", o.test_subset, "test images (0: all)")->capture_default_str();
  app.add_option("--epochs", o.epochs, "epochs of each baseline")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "LibTorch threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--work", o.work, "folder for models and artifacts")->capture_default_str();
  app.add_option("--out", o.out, "the Markdown report to write")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::create_directories(o.work);
  compsweep::experiments::ConfigureRuntime(o.threads);
  const auto start = std::chrono::steady_clock::now();
  Runner run(o);
  std::ostringstream md;

  // 1. Baselines.
  md << "## 1. Baselines (float32, " << o.epochs << " epochs, Adam 1e-3, batch 128)\n\n"
     << "No learning-rate schedule, augmentation or tuning: short runs for comparing "
        "techniques, not for the best accuracy of each model.\n\n"
     << "| model | params | MACs | test accuracy | artifact size | latency (batch 1) | train time "
        "|\n"
     << "|---|---:|---:|---:|---:|---:|---:|\n";
  json base;
  for (const char* arch :
       {"mlp", "lenet5", "cnn-small", "cnn-wide", "resnet-small", "mobilenetv2"}) {
    json m = run.Run(std::string("baseline ") + arch, run.Base(arch));
    base[arch] = m;
    md << "| " << arch << (std::string(arch) == "mlp" ? " (LeNet-300-100)" : "") << " | "
       << m["params"] << " | " << m["macs"] << " | " << Pct(m["test_accuracy"]) << " | " << Kb(m)
       << " | " << Fixed(m["latency_ms"], 3) << " ms | " << Fixed(m["train_seconds"], 1)
       << " s |\n";
  }

  // 2. Magnitude pruning of LeNet-300-100 to 90%.
  md << "\n## 2. LeNet-300-100 pruned to 90% sparsity (magnitude, layer-wise)\n\n"
     << "Baseline trained as in section 1, then pruned; fine-tuning 1 epoch per round at "
        "lr 5e-4 (one-shot and gradual: 1 extra epoch; iterative: 3 rounds of prune + 1 "
        "epoch, so it also trains longest). The artifact stores the nonzeros with relative "
        "indices.\n\n"
     << "| schedule | accuracy | change vs dense | nonzero weights | artifact size | compression "
        "|\n"
     << "|---|---:|---:|---:|---:|---:|\n";
  for (const char* schedule : {"one-shot", "iterative", "gradual"}) {
    json s = run.Base("mlp");
    s["pipeline"] = {"prune"};
    s["prune"] = Runner::Prune(0.9, schedule, "unstructured");
    json m = run.Run(std::string("mlp prune 90% ") + schedule, s);
    md << "| " << schedule << (std::string(schedule) == "iterative" ? " (3 rounds)" : "") << " | "
       << Pct(m["test_accuracy"]) << " | "
       << Delta(m["test_accuracy"].get<double>() - base["mlp"]["test_accuracy"].get<double>())
       << " | " << m["nonzero_params"] << " of " << m["params"] << " | " << Kb(m) << " | "
       << Fixed(m["compression_ratio"], 1) << "x |\n";
  }

  // 3. int8 per-channel PTQ with real int8 kernels.
  md << "\n## 3. int8 per-channel post-training quantization, real int8 kernels\n\n"
     << "Weights: symmetric per-channel int8; activations: per-tensor affine uint8 "
        "calibrated on 512 training images. Latency: batch 1, lowest of 3 medians of 30 runs, same "
        "process, float kernels vs LibTorch quantized kernels.\n\n"
     << "| model | calibration | float acc. | int8 acc. | change | float latency | int8 latency | "
        "speed-up | size |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const char* arch : {"cnn-small", "lenet5", "mlp"}) {
    for (const char* calibration : {"minmax", "percentile"}) {
      if (std::string(arch) != "cnn-small" && std::string(calibration) != "minmax") continue;
      json s = run.Base(arch);
      s["pipeline"] = {"quantize"};
      s["quantize"] = Runner::Quant("linear", 8, "ptq");
      s["quantize"]["calibration"] = calibration;
      json m = run.Run(std::string("int8 ptq ") + arch + " " + calibration, s);
      const double acc_float = base[arch]["test_accuracy"];
      const double acc_int8 = m.value("int8_test_accuracy", m["test_accuracy"].get<double>());
      md << "| " << arch << " | " << calibration << " | " << Pct(acc_float) << " | "
         << Pct(acc_int8) << " | " << Delta(acc_int8 - acc_float) << " | "
         << Fixed(m["float_latency_ms"], 3) << " ms | " << Fixed(m["latency_ms"], 3) << " ms | "
         << Fixed(m["float_latency_ms"].get<double>() / m["latency_ms"].get<double>(), 1) << "x | "
         << Kb(m) << " |\n";
    }
  }

  // 4. 4-bit weights: linear vs log2 vs pow2.
  md << "\n## 4. 4-bit weights: linear vs log2 vs pow2 (cnn-small, per-channel)\n\n"
     << "PTQ quantizes the baseline's weights; QAT first trains one more epoch with "
        "fake-quantized weights (straight-through estimator), so part of its gain over "
        "the baseline is the extra epoch. log2 has 7 magnitudes per sign at 4 bits "
        "(Miyashita et al.), pow2 4 (INQ), linear 7 steps per sign.\n\n"
     << "| scheme | PTQ accuracy | PTQ change | QAT (1 epoch) accuracy | QAT change | size |\n"
     << "|---|---:|---:|---:|---:|---:|\n";
  for (const char* scheme : {"linear", "log2", "pow2"}) {
    json s = run.Base("cnn-small");
    s["pipeline"] = {"quantize"};
    s["quantize"] = Runner::Quant(scheme, 4, "ptq");
    json p = run.Run(std::string("4-bit ptq ") + scheme, s);
    s["quantize"]["mode"] = "qat";
    json q = run.Run(std::string("4-bit qat ") + scheme, s);
    const double acc0 = base["cnn-small"]["test_accuracy"];
    md << "| " << scheme << " | " << Pct(p["test_accuracy"]) << " | "
       << Delta(p["test_accuracy"].get<double>() - acc0) << " | " << Pct(q["test_accuracy"])
       << " | " << Delta(q["test_accuracy"].get<double>() - acc0) << " | " << Kb(p) << " |\n";
  }

  // 5. Distillation.
  const std::string teacher = run.Teacher();
  md << "\n## 5. Knowledge distillation (teacher cnn-wide, " << o.epochs
     << " epochs: " << Pct(run.teacher_metrics()["test_accuracy"]) << ")\n\n"
     << "Loss (1 - alpha) CE + alpha T^2 KL; same epochs and seed with and without the "
        "teacher.\n\n"
     << "| student | hard labels | distilled T=4, alpha=0.7 | change | distilled T=2, alpha=0.5 | "
        "change |\n|---|---:|---:|---:|---:|---:|\n";
  for (const char* arch : {"cnn-small", "mlp"}) {
    json s = run.Base(arch);
    s["pipeline"] = {"distill"};
    s["distill"] = run.Distill(4, 0.7);
    json a = run.Run(std::string("distill T4 ") + arch, s, teacher);
    s["distill"] = run.Distill(2, 0.5);
    json b = run.Run(std::string("distill T2 ") + arch, s, teacher);
    const double acc0 = base[arch]["test_accuracy"];
    md << "| " << arch << " | " << Pct(acc0) << " | " << Pct(a["test_accuracy"]) << " | "
       << Delta(a["test_accuracy"].get<double>() - acc0) << " | " << Pct(b["test_accuracy"])
       << " | " << Delta(b["test_accuracy"].get<double>() - acc0) << " |\n";
  }

  // 6. Structured pruning.
  md << "\n## 6. Structured (filter/neuron) pruning of cnn-small, L1 filter norm, one-shot\n\n"
     << "| channels removed | accuracy | change | params left | MACs | latency | size |\n"
     << "|---:|---:|---:|---:|---:|---:|---:|\n";
  {
    const json& b = base["cnn-small"];
    md << "| 0% | " << Pct(b["test_accuracy"]) << " | - | " << b["params"] << " | " << b["macs"]
       << " | " << Fixed(b["latency_ms"], 3) << " ms | " << Kb(b) << " |\n";
    for (double sp : {0.25, 0.5, 0.75}) {
      json s = run.Base("cnn-small");
      s["pipeline"] = {"prune"};
      s["prune"] = Runner::Prune(sp, "one-shot", "structured");
      json m = run.Run("structured " + Fixed(sp, 2), s);
      md << "| " << Fixed(100 * sp, 0) << "% | " << Pct(m["test_accuracy"]) << " | "
         << Delta(m["test_accuracy"].get<double>() - b["test_accuracy"].get<double>()) << " | "
         << m["nonzero_params"] << " | " << m["effective_macs"] << " | "
         << Fixed(m["latency_ms"], 3) << " ms | " << Kb(m) << " |\n";
    }
  }

  // 7. Combined pipelines.
  md << "\n## 7. Combined pipeline on cnn-small: distill -> prune -> quantize\n\n"
     << "Distillation as in section 5, gradual pruning over one fine-tuning epoch, then "
        "post-training quantization without further fine-tuning.\n\n"
     << "| pipeline | accuracy | change vs float baseline | size | compression | latency |\n"
     << "|---|---:|---:|---:|---:|---:|\n";
  {
    const double acc0 = base["cnn-small"]["test_accuracy"];
    struct Combo {
      std::string label;
      double sparsity;
      std::string scheme;
      int bits;
    };
    for (const Combo& c : {Combo{"distill T4 -> gradual 80% -> int8 linear", 0.8, "linear", 8},
                           Combo{"distill T4 -> gradual 90% -> 4-bit log2", 0.9, "log2", 4}}) {
      json s = run.Base("cnn-small");
      s["pipeline"] = {"distill", "prune", "quantize"};
      s["distill"] = run.Distill(4, 0.7);
      s["prune"] = Runner::Prune(c.sparsity, "gradual", "unstructured");
      s["quantize"] = Runner::Quant(c.scheme, c.bits, "ptq");
      json m = run.Run("combined " + c.label, s, teacher);
      md << "| " << c.label << " | " << Pct(m["test_accuracy"]) << " | "
         << Delta(m["test_accuracy"].get<double>() - acc0) << " | " << Kb(m) << " | "
         << Fixed(m["compression_ratio"], 1) << "x | " << Fixed(m["latency_ms"], 3) << " ms"
         << (m.value("int8", false) ? " (int8)" : "") << " |\n";
    }
  }

  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct utsname uts;
  uname(&uts);
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  std::ostringstream doc;
  doc << "# compsweep results on Fashion-MNIST\n\n"
      << "Generated by `scripts/make_results.sh` (binary `experiments_results`) on " << date
      << ".\n\n"
      << "- Data: Fashion-MNIST, "
      << (o.train_subset > 0 ? std::to_string(o.train_subset) : std::string("60000"))
      << " training / "
      << (o.test_subset > 0 ? std::to_string(o.test_subset) : std::string("10000"))
      << " test images, normalised, no augmentation; seed 0 everywhere.\n"
      << "- Hardware: " << CpuName() << ", " << std::thread::hardware_concurrency()
      << " hardware threads, " << o.threads << " LibTorch threads; " << uts.sysname << " "
      << uts.release << "; LibTorch " << TORCH_VERSION << " (CPU); OMP_WAIT_POLICY="
      << (std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(default)") << ".\n"
      << "- Wall time of the whole run: " << Fixed(wall / 60.0, 1) << " min.\n"
      << "- Sizes are the bytes of the compact artifact actually written (codes, scales, "
         "sparse positions, biases, batch-norm state, architecture header); 'pp' = "
         "percentage points. Latency: batch 1 on CPU, lowest of 3 medians of 30 runs after 5 "
         "warm-up "
         "runs; the machine is shared, so latencies are indicative (compare within a "
         "table).\n"
      << "- Each row trains its student from scratch with the same seed and data order, so "
         "rows differ only in the technique.\n\n"
      << md.str();
  std::filesystem::create_directories(std::filesystem::path(o.out).parent_path().empty()
                                          ? "."
                                          : std::filesystem::path(o.out).parent_path());
  std::ofstream(o.out) << doc.str();
  std::ofstream(o.work + "/results.json") << run.log().dump(2);
  std::cerr << "wrote " << o.out << " in " << Fixed(wall, 0) << " s\n";
  return 0;
}
