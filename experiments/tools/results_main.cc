// Produces docs/results.md: the compression techniques of the experiments
// library measured on Fashion-MNIST, one table per question.
// Usage: experiments_results [--data DIR] [--train-subset N] [--test-subset N]
//          [--epochs E] [--threads T] [--work DIR] [--out FILE]
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "common/settings_schema.h"
#include "experiments/artifact.h"
#include "experiments/data.h"
#include "experiments/int8.h"
#include "experiments/metrics.h"
#include "experiments/pipeline.h"
#include "experiments/quantize.h"

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
  // Sections A-F: the converged recipe over several seeds.
  int seeds = 3;
  int mlp_epochs = 20;
  int cnn_epochs = 15;
  int finetune_epochs = 8;
  double finetune_lr = 5e-4;
  int recovery_epochs = 4;
  int transformer_epochs = 15;
  int batch_n = 32;
  int latency_runs = 50;
  std::vector<std::string> only;  // blocks to run; the others are kept from --out
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
    json s = {{"seed", 0},
              {"data",
               {{"dataset", "fashion-mnist"},
                {"path", o_.data},
                {"train_subset", o_.train_subset},
                {"test_subset", o_.test_subset}}},
              {"teacher",
               {{"arch", "cnn-wide"},
                {"epochs", o_.epochs},
                {"lr", 1e-3},
                {"batch_size", 128},
                {"lr_schedule", "constant"}}},
              {"student",
               {{"arch", arch},
                {"epochs", o_.epochs},
                {"lr", 1e-3},
                {"batch_size", 128},
                {"lr_schedule", "constant"}}},
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

  // Runs one trial (RunTrial) and logs it; exits on an error. ctx.artifact_dir
  // defaults to a fresh folder under --work.
  json Run(const std::string& label, const json& settings, const std::string& teacher = "",
           RunContext ctx = {}) {
    if (ctx.artifact_dir.empty()) ctx.artifact_dir = o_.work + "/" + std::to_string(count_++);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = compsweep::experiments::RunTrial(settings, teacher, ctx);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      std::cerr << label << ": " << r.status().ToString() << "\n";
      std::exit(1);
    }
    std::cerr << "[" << Fixed(secs, 1) << " s] " << label << ": val " << (*r)["val_accuracy"]
              << ", test " << (*r)["test_accuracy"] << ", size " << (*r)["size_bytes"] << "\n";
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

// ---- Converged recipe, several seeds (sections A-F) ----

struct Stat {
  double mean = 0, sd = 0;
  size_t n = 0;
};
Stat Stats(const std::vector<double>& v) {
  Stat s;
  s.n = v.size();
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / (v.size() - 1));
  }
  return s;
}
// "89.41 ± 0.12%" (sample standard deviation over the seeds).
std::string PctStat(const std::vector<double>& v) {
  Stat s = Stats(v);
  return Fixed(100 * s.mean, 2) + " ± " + Fixed(100 * s.sd, 2) + "%";
}
std::string PpStat(const std::vector<double>& v) {
  Stat s = Stats(v);
  return (s.mean >= 0 ? "+" : "") + Fixed(100 * s.mean, 2) + " ± " + Fixed(100 * s.sd, 2) + " pp";
}
std::vector<double> Col(const std::vector<json>& runs, const std::string& key) {
  std::vector<double> v;
  for (const json& m : runs) v.push_back(m[key].get<double>());
  return v;
}
std::vector<double> Diff(const std::vector<json>& a, const std::vector<json>& b,
                         const std::string& key) {
  std::vector<double> v;
  for (size_t i = 0; i < a.size(); ++i)
    v.push_back(a[i][key].get<double>() - b[i][key].get<double>());
  return v;
}

// The converged training recipe of each model (README of docs/results.md).
struct Recipe {
  int epochs;
  std::string augment;
  double weight_decay = 0;  // AdamW above 0
};

bool IsTransformer(const std::string& arch) { return arch.rfind("transformer", 0) == 0; }

class Converged {
 public:
  Converged(Runner& run, const Options& o) : run_(run), o_(o) {}

  Recipe RecipeOf(const std::string& arch) const {
    if (arch == "mlp") return {o_.mlp_epochs, "none"};
    if (IsTransformer(arch)) return {o_.transformer_epochs, "shift-flip", 0.05};
    return {o_.cnn_epochs, "shift-flip"};
  }

  json Base(const std::string& arch, int seed) const {
    json s = run_.Base(arch);
    const Recipe r = RecipeOf(arch);
    s["seed"] = seed;
    s["student"] = {{"arch", arch},      {"epochs", r.epochs},      {"lr", 1e-3},
                    {"batch_size", 128}, {"lr_schedule", "cosine"}, {"augment", r.augment}};
    if (r.weight_decay > 0) s["student"]["weight_decay"] = r.weight_decay;
    s.erase("teacher");
    return s;
  }
  json Prune(double sparsity, const std::string& schedule) const {
    const int ft = o_.finetune_epochs;
    const int rounds = 4;
    return {{"method", "magnitude"},
            {"final_sparsity", sparsity},
            {"initial_sparsity", 0.0},
            {"schedule", schedule},
            {"granularity", "unstructured"},
            {"scope", "global"},
            {"rounds", rounds},
            // The same fine-tuning epochs in total for every schedule.
            {"finetune_epochs", schedule == "iterative" ? std::max(1, ft / rounds) : ft},
            {"lr", o_.finetune_lr}};
  }

  // The dense student of (arch, seed): trained once (RunStage), then measured
  // (RunTrial resumed after its one unit). Every compressed row of that seed
  // resumes from the same checkpoint, so rows differ only in the technique.
  const json& Dense(const std::string& arch, int seed) {
    const std::string key = arch + "/" + std::to_string(seed);
    auto it = dense_.find(key);
    if (it != dense_.end()) return it->second;
    const std::string ckpt = o_.work + "/dense-" + arch + "-" + std::to_string(seed) + ".pt";
    // A dense student of an earlier run with the same settings (same --work)
    // is reused: --only runs then start from the same checkpoints.
    const std::string record = ckpt + ".json";
    const json recipe = Base(arch, seed);
    if (std::filesystem::exists(ckpt) && std::filesystem::exists(record)) {
      json old = json::parse(std::ifstream(record), nullptr, /*allow_exceptions=*/false);
      if (old.is_object() && old.value("settings", json()) == recipe && old.contains("metrics")) {
        std::cerr << "dense " << key << ": reused " << ckpt << "\n";
        return dense_[key] = old["metrics"];
      }
    }
    json s = Base(arch, seed);
    s["pipeline"] = {"prune"};
    s["prune"] = Prune(0.5, "one-shot");
    s["stage"] = {{"units", 1}};
    RunContext ctx;
    const auto t0 = std::chrono::steady_clock::now();
    auto st = compsweep::experiments::RunStage(s, "", ckpt, ctx);
    if (!st.ok()) {
      std::cerr << "dense " << key << ": " << st.status().ToString() << "\n";
      std::exit(1);
    }
    const double train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json m = Resume(Base(arch, seed), ckpt, 1, "dense " + key);
    m["train_seconds"] = train_seconds;
    m["checkpoint"] = ckpt;
    std::ofstream(record) << json{{"settings", recipe}, {"metrics", m}}.dump();
    return dense_[key] = m;
  }

  // A compressed row: `mods` (pipeline, prune, quantize) over the seed's
  // dense student, resumed from its checkpoint.
  json Variant(const std::string& arch, int seed, const json& mods, const std::string& label,
               const std::string& teacher = "") {
    const json& dense = Dense(arch, seed);
    json s = Base(arch, seed);
    s.update(mods);
    return Resume(s, dense["checkpoint"], 1, label + " seed " + std::to_string(seed), teacher);
  }

  json Resume(const json& settings, const std::string& ckpt, int units, const std::string& label,
              const std::string& teacher = "") {
    RunContext ctx;
    ctx.resume_path = ckpt;
    ctx.resume_units = units;
    return Measure(settings, teacher, ctx, label);
  }

  json Measure(const json& settings, const std::string& teacher, RunContext ctx,
               const std::string& label) {
    return run_.Run(label, settings, teacher, std::move(ctx));
  }

  std::vector<int> Seeds() const {
    std::vector<int> v;
    for (int i = 0; i < o_.seeds; ++i) v.push_back(i);
    return v;
  }

 private:
  Runner& run_;
  const Options& o_;
  std::map<std::string, json> dense_;
};

std::string RecipeText(const Converged& c, const std::string& arch) {
  Recipe r = c.RecipeOf(arch);
  return std::to_string(r.epochs) + " ep, cosine" +
         (r.augment == "none" ? std::string("") : ", " + r.augment) +
         (r.weight_decay > 0 ? ", AdamW wd " + Fixed(r.weight_decay, 2) : std::string(""));
}

void SectionConverged(Converged& c, std::ostringstream& md) {
  md << "## A. Baselines trained to convergence\n\n"
     << "Adam lr 1e-3, batch 128, cosine decay of the learning rate per step to 0, no weight "
        "decay; cnn-small with `augment: shift-flip` (random shift by up to 2 pixels, "
        "left-right flip). Validation = 10% of the training images held out "
        "(`data.val_fraction`), test = the 10,000 test images, evaluated once at the end. "
        "Mean ± sample standard deviation over the seeds.\n\n"
     << "| model | recipe | params | val accuracy | test accuracy | artifact size | latency "
        "(batch 1) | train time |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (const char* arch : {"mlp", "cnn-small"}) {
    std::vector<json> runs;
    for (int seed : c.Seeds()) runs.push_back(c.Dense(arch, seed));
    md << "| " << arch << (std::string(arch) == "mlp" ? " (LeNet-300-100)" : "") << " | "
       << RecipeText(c, arch) << " | " << runs[0]["params"] << " | "
       << PctStat(Col(runs, "val_accuracy")) << " | " << PctStat(Col(runs, "test_accuracy"))
       << " | " << Kb(runs[0]) << " | " << Fixed(Stats(Col(runs, "latency_ms")).mean, 3) << " ms | "
       << Fixed(Stats(Col(runs, "train_seconds")).mean, 0) << " s |\n";
  }
}

void SectionPrune(Converged& c, const Options& o, std::ostringstream& md) {
  md << "## B. LeNet-300-100 pruned to 92% and 95% (magnitude, global threshold)\n\n"
     << "Each row starts from the same dense student of its seed (section A) and fine-tunes "
     << o.finetune_epochs << " epochs in total at lr " << o.finetune_lr
     << " with cosine decay (iterative: 4 rounds of pruning, " << std::max(1, o.finetune_epochs / 4)
     << " epoch(s) each; gradual: Zhu & Gupta's cubic schedule over the first 75% of the "
        "steps). 'change' is the paired difference to the dense student of the same seed. "
        "Compression is float32 bytes over the bytes of the compact artifact (nonzeros with "
        "relative indices). The '+ distillation' rows then train "
     << o.recovery_epochs
     << " more epochs with the distillation loss from the seed's converged cnn-small "
        "(section E's T=2, alpha=0.5), the pruning masks kept: pruning with a teacher, "
        "compared with the dense student trained without one.\n\n"
     << "| schedule | sparsity | val accuracy | test accuracy | change (test) | artifact size | "
        "compression |\n|---|---:|---:|---:|---:|---:|---:|\n";
  struct Row {
    const char* schedule;
    double sparsity;
    bool distill;  // then recovers with distillation from the seed's cnn-small
  };
  for (Row r :
       {Row{"one-shot", 0.92, false}, Row{"iterative", 0.92, false}, Row{"gradual", 0.92, false},
        Row{"gradual", 0.95, false}, Row{"gradual", 0.92, true}, Row{"gradual", 0.95, true}}) {
    std::vector<json> runs, dense;
    for (int seed : c.Seeds()) {
      json mods = {{"pipeline", {"prune"}}, {"prune", c.Prune(r.sparsity, r.schedule)}};
      std::string teacher;
      if (r.distill) {
        mods["pipeline"] = {"prune", "distill"};
        mods["distill"] = {{"temperature", 2},
                           {"alpha", 0.5},
                           {"epochs", o.recovery_epochs},
                           {"lr", o.finetune_lr}};
        teacher = c.Dense("cnn-small", seed)["checkpoint"];
      }
      runs.push_back(c.Variant("mlp", seed, mods,
                               std::string("mlp prune ") + r.schedule + " " + Fixed(r.sparsity, 2) +
                                   (r.distill ? " + distill" : ""),
                               teacher));
      dense.push_back(c.Dense("mlp", seed));
    }
    md << "| " << r.schedule
       << (r.distill
               ? " + " + std::to_string(o.recovery_epochs) + " ep. distillation (T=2, alpha=0.5)"
               : std::string(""))
       << " | " << Fixed(100 * r.sparsity, 0) << "% | " << PctStat(Col(runs, "val_accuracy"))
       << " | " << PctStat(Col(runs, "test_accuracy")) << " | "
       << PpStat(Diff(runs, dense, "test_accuracy")) << " | " << Kb(runs[0]) << " | "
       << Fixed(Stats(Col(runs, "compression_ratio")).mean, 1) << "x |\n";
  }
}

void SectionPruneQuant(Converged& c, std::ostringstream& md) {
  md << "## C. Pruning plus 4-bit weights: LeNet-300-100\n\n"
     << "Gradual pruning as in section B, then 4-bit linear symmetric per-channel weights "
        "with 2 epochs of quantization-aware training (straight-through estimator) at lr "
        "5e-4. The accuracy is of the 4-bit weights (dequantized to float for inference: no "
        "4-bit kernels run). Compression: float32 bytes of the dense student over the "
        "artifact's bytes (4-bit codes of the nonzeros, their positions, scales, biases).\n\n"
     << "| pipeline | val accuracy | test accuracy | change (test) | artifact size | compression "
        "|\n|---|---:|---:|---:|---:|---:|\n";
  for (double sparsity : {0.9, 0.95}) {
    std::vector<json> runs, dense;
    for (int seed : c.Seeds()) {
      json q = {{"scheme", "linear"}, {"bits", 4},
                {"mode", "qat"},      {"granularity", "per-channel"},
                {"symmetric", true},  {"calibration", "minmax"},
                {"qat_epochs", 2},    {"lr", 5e-4}};
      json mods = {{"pipeline", {"prune", "quantize"}},
                   {"prune", c.Prune(sparsity, "gradual")},
                   {"quantize", q}};
      runs.push_back(c.Variant("mlp", seed, mods, "mlp prune+4bit " + Fixed(sparsity, 2)));
      dense.push_back(c.Dense("mlp", seed));
    }
    md << "| gradual " << Fixed(100 * sparsity, 0) << "% -> 4-bit QAT | "
       << PctStat(Col(runs, "val_accuracy")) << " | " << PctStat(Col(runs, "test_accuracy"))
       << " | " << PpStat(Diff(runs, dense, "test_accuracy")) << " | " << Kb(runs[0]) << " | "
       << Fixed(Stats(Col(runs, "compression_ratio")).mean, 1) << "x |\n";
  }
}

// Paired, alternating latency of the float and int8 networks of one int8
// trial's artifact, at batch `batch`, in this process.
std::pair<double, double> PairedInt8Ms(const json& m, const torch::Tensor& calib,
                                       const torch::Tensor& input, int runs) {
  namespace ex = compsweep::experiments;
  ex::QuantizedWeights codes;
  auto model = ex::ReadArtifact(m["artifact_path"], &codes);
  if (!model.ok()) {
    std::cerr << model.status().ToString() << "\n";
    std::exit(1);
  }
  (*model)->SetTraining(false);
  auto int8 = ex::Int8Model::Create(**model, codes, calib, "minmax");
  if (!int8.ok()) {
    std::cerr << int8.status().ToString() << "\n";
    std::exit(1);
  }
  auto& f = **model;
  auto& q = **int8;
  torch::NoGradGuard no_grad;
  std::vector<double> ms =
      ex::MedianLatenciesMs({[&](const torch::Tensor& x) { return f.Forward(x); },
                             [&](const torch::Tensor& x) { return q.Forward(x); }},
                            input, runs);
  return {ms[0], ms[1]};
}

// 8-bit linear symmetric per-channel weights, min/max calibration, no fine-tuning.
json Int8PtqSettings() {
  return {{"scheme", "linear"}, {"bits", 8},
          {"mode", "ptq"},      {"granularity", "per-channel"},
          {"symmetric", true},  {"calibration", "minmax"},
          {"qat_epochs", 0},    {"lr", 5e-4}};
}

// Paired latencies (before, after) at batch 1 and batch N over the seeds, and
// the table cells "before / after ms | speed-up" for each batch.
struct PairedLatencies {
  std::vector<double> before1, after1, speedup1, before_n, after_n, speedup_n;
  void Add(std::pair<double, double> at1, std::pair<double, double> at_n) {
    before1.push_back(at1.first);
    after1.push_back(at1.second);
    speedup1.push_back(at1.first / at1.second);
    before_n.push_back(at_n.first);
    after_n.push_back(at_n.second);
    speedup_n.push_back(at_n.first / at_n.second);
  }
  std::string Cells() const {
    auto cell = [](const std::vector<double>& b, const std::vector<double>& a,
                   const std::vector<double>& r) {
      return Fixed(Stats(b).mean, 3) + " / " + Fixed(Stats(a).mean, 3) + " ms | " +
             Fixed(Stats(r).mean, 2) + " ± " + Fixed(Stats(r).sd, 2) + "x";
    };
    return cell(before1, after1, speedup1) + " | " + cell(before_n, after_n, speedup_n);
  }
};

void SectionInt8(Converged& c, const Options& o, std::ostringstream& md) {
  namespace ex = compsweep::experiments;
  auto data = ex::LoadDataset(c.Base("mlp", 0)["data"], torch::Device(torch::kCPU), 0);
  if (!data.ok()) {
    std::cerr << data.status().ToString() << "\n";
    std::exit(1);
  }
  const torch::Tensor calib = (*data)->train_x.narrow(0, 0, 512);
  const int batch = o.batch_n;
  std::ostringstream rows;
  std::string engine;
  for (const char* arch : {"mlp", "cnn-small"}) {
    std::vector<json> runs, dense;
    PairedLatencies lat;
    for (int seed : c.Seeds()) {
      json m = c.Variant(arch, seed, {{"pipeline", {"quantize"}}, {"quantize", Int8PtqSettings()}},
                         std::string("int8 ") + arch);
      if (!m.value("int8", false)) {
        std::cerr << arch << ": the int8 trial did not run on int8 kernels\n";
        std::exit(1);
      }
      runs.push_back(m);
      engine = m.value("qengine", std::string("?"));
      dense.push_back(c.Dense(arch, seed));
      lat.Add(PairedInt8Ms(m, calib, (*data)->test_x.narrow(0, 0, 1), o.latency_runs),
              PairedInt8Ms(m, calib, (*data)->test_x.narrow(0, 0, batch), o.latency_runs));
    }
    rows << "| " << arch << " | " << PctStat(Col(dense, "test_accuracy")) << " | "
         << PctStat(Col(runs, "test_accuracy")) << " | "
         << PpStat(Diff(runs, dense, "test_accuracy")) << " | " << Kb(dense[0]) << " -> "
         << Kb(runs[0]) << " | " << lat.Cells() << " |\n";
  }
  md << "## D. int8 post-training quantization on LibTorch's int8 kernels\n\n"
     << "Weights symmetric per-channel int8, activations per-tensor affine uint8 calibrated "
        "(min/max) on 512 training images; no fine-tuning. The accuracy is the int8 "
        "network's own, run on LibTorch's quantized kernels (engine "
     << "`" << engine << "` here)"
     << ". Latency: the float and the int8 network of the same artifact timed alternating, "
        "call by call, in one process (lowest of 3 medians of "
     << o.latency_runs << " calls), at batch 1 and at batch " << batch
     << " (a burst of frames on a small edge CPU), " << o.threads
     << " LibTorch thread(s). Speed-up = float median / int8 median, per seed, then "
        "averaged.\n\n"
     << "| model | float test acc. | int8 test acc. | change | size float -> int8 | batch 1: "
        "float / int8 | speed-up | batch "
     << batch << ": float / int8 | speed-up |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  md << rows.str();
}

void SectionDistill(Converged& c, std::ostringstream& md) {
  md << "## E. Distillation: cnn-small teaches LeNet-300-100\n\n"
     << "The teacher of each seed is that seed's converged cnn-small (section A). The student "
        "trains from scratch with the distillation loss (1 - alpha) CE + alpha T^2 KL for the "
        "same epochs and schedule as its hard-label baseline. Gap closed = (distilled - "
        "hard-label) / (teacher - hard-label), on test accuracy, per seed.\n\n"
     << "| student | teacher (test) | hard labels (test) | distilled (test) | change | gap closed "
        "|\n|---|---:|---:|---:|---:|---:|\n";
  struct Kd {
    double t, alpha;
  };
  for (Kd kd : {Kd{4, 0.7}, Kd{2, 0.5}}) {
    std::vector<json> runs, dense, teachers;
    std::vector<double> closed;
    for (int seed : c.Seeds()) {
      const json& teacher = c.Dense("cnn-small", seed);
      const json& hard = c.Dense("mlp", seed);
      json s = c.Base("mlp", seed);
      s["pipeline"] = {"distill"};
      s["distill"] = {{"temperature", kd.t},
                      {"alpha", kd.alpha},
                      {"epochs", c.RecipeOf("mlp").epochs},
                      {"lr", 1e-3}};
      json m = c.Measure(s, teacher["checkpoint"], RunContext{},
                         "distill mlp T" + Fixed(kd.t, 0) + " seed " + std::to_string(seed));
      runs.push_back(m);
      dense.push_back(hard);
      teachers.push_back(teacher);
      closed.push_back(
          (m["test_accuracy"].get<double>() - hard["test_accuracy"].get<double>()) /
          (teacher["test_accuracy"].get<double>() - hard["test_accuracy"].get<double>()));
    }
    md << "| mlp, T=" << Fixed(kd.t, 0) << ", alpha=" << Fixed(kd.alpha, 1) << " | "
       << PctStat(Col(teachers, "test_accuracy")) << " | " << PctStat(Col(dense, "test_accuracy"))
       << " | " << PctStat(Col(runs, "test_accuracy")) << " | "
       << PpStat(Diff(runs, dense, "test_accuracy")) << " | " << Fixed(100 * Stats(closed).mean, 0)
       << " ± " << Fixed(100 * Stats(closed).sd, 0) << "% |\n";
  }
}

// Paired, alternating latency of two artifacts' float networks at one input.
std::pair<double, double> PairedFloatMs(const json& a, const json& b, const torch::Tensor& input,
                                        int runs) {
  namespace ex = compsweep::experiments;
  auto ma = ex::ReadArtifact(a["artifact_path"]);
  auto mb = ex::ReadArtifact(b["artifact_path"]);
  if (!ma.ok() || !mb.ok()) {
    std::cerr << "reading artifacts for latency: "
              << (ma.ok() ? mb.status() : ma.status()).ToString() << "\n";
    std::exit(1);
  }
  (*ma)->SetTraining(false);
  (*mb)->SetTraining(false);
  torch::NoGradGuard no_grad;
  std::vector<double> ms =
      ex::MedianLatenciesMs({[&](const torch::Tensor& x) { return (*ma)->Forward(x); },
                             [&](const torch::Tensor& x) { return (*mb)->Forward(x); }},
                            input, runs);
  return {ms[0], ms[1]};
}

void SectionTransformer(Converged& c, const Options& o, std::ostringstream& md) {
  namespace ex = compsweep::experiments;
  auto data = ex::LoadDataset(c.Base("mlp", 0)["data"], torch::Device(torch::kCPU), 0);
  if (!data.ok()) {
    std::cerr << data.status().ToString() << "\n";
    std::exit(1);
  }
  const torch::Tensor calib = (*data)->train_x.narrow(0, 0, 512);
  const torch::Tensor one = (*data)->test_x.narrow(0, 0, 1);
  const torch::Tensor burst = (*data)->test_x.narrow(0, 0, o.batch_n);
  const std::string teacher_arch = "transformer-rows", student_arch = "transformer-rows-small";
  std::vector<json> teachers, students, distilled, pruned, int8;
  std::vector<double> closed;
  PairedLatencies pruned_lat, int8_lat;
  for (int seed : c.Seeds()) {
    const json& t = c.Dense(teacher_arch, seed);
    const json& st = c.Dense(student_arch, seed);
    teachers.push_back(t);
    students.push_back(st);
    // The student learns from the teacher from scratch, same recipe.
    json s = c.Base(student_arch, seed);
    s["pipeline"] = {"distill"};
    s["distill"] = {{"temperature", 2},
                    {"alpha", 0.5},
                    {"epochs", c.RecipeOf(student_arch).epochs},
                    {"lr", 1e-3}};
    json d = c.Measure(s, t["checkpoint"], RunContext{},
                       "distill transformer seed " + std::to_string(seed));
    distilled.push_back(d);
    closed.push_back((d["test_accuracy"].get<double>() - st["test_accuracy"].get<double>()) /
                     (t["test_accuracy"].get<double>() - st["test_accuracy"].get<double>()));
    // Half the heads and half the MLP neurons of every block, removed.
    json prune = {{"method", "taylor"},
                  {"final_sparsity", 0.5},
                  {"initial_sparsity", 0.0},
                  {"schedule", "one-shot"},
                  {"granularity", "structured"},
                  {"scope", "layer"},
                  {"rounds", 1},
                  {"finetune_epochs", o.finetune_epochs / 2},
                  {"lr", o.finetune_lr}};
    json p = c.Variant(teacher_arch, seed, {{"pipeline", {"prune"}}, {"prune", prune}},
                       "transformer heads+mlp 50%");
    pruned.push_back(p);
    pruned_lat.Add(PairedFloatMs(t, p, one, o.latency_runs),
                   PairedFloatMs(t, p, burst, o.latency_runs));
    // int8: every linear dynamically quantized, no fine-tuning.
    json m =
        c.Variant(teacher_arch, seed, {{"pipeline", {"quantize"}}, {"quantize", Int8PtqSettings()}},
                  "transformer int8");
    if (!m.value("int8", false)) {
      std::cerr << "the transformer's int8 trial did not run on int8 kernels\n";
      std::exit(1);
    }
    int8.push_back(m);
    int8_lat.Add(PairedInt8Ms(m, calib, one, o.latency_runs),
                 PairedInt8Ms(m, calib, burst, o.latency_runs));
  }
  auto macs = [](const json& m) { return Fixed(m["macs"].get<double>() / 1e6, 2) + " M"; };
  // Compressed rows: the parameters and MACs left (structured pruning removes them).
  auto emacs = [](const json& m) {
    return Fixed(m["effective_macs"].get<double>() / 1e6, 2) + " M";
  };
  md << "## G. A small attention encoder: Fashion-MNIST read as 28 row tokens\n\n"
     << "`transformer-rows` reads each 28x28 image as a sequence of its 28 rows: a linear "
        "embedding of each row (28 -> 64), learned positions, 4 pre-norm encoder blocks "
        "(multi-head self-attention with 4 heads of 16, an MLP of 128 with GELU, layer norms "
        "and residuals), a final layer norm, the mean token and a linear classifier. Its "
        "student `transformer-rows-small` has half the blocks and half the width (2 blocks, "
        "width 32, 2 heads of 16, MLP 64), as DistilBERT halves BERT. It is a small ViT-style "
        "encoder on rows, not a language model. Recipe: "
     << RecipeText(c, teacher_arch)
     << ", lr 1e-3, batch 128. Mean ± sample std over the seeds; 'change' is paired per "
        "seed.\n\n"
     << "| model | params | MACs | val accuracy | test accuracy | artifact size |\n"
        "|---|---:|---:|---:|---:|---:|\n"
     << "| transformer-rows (teacher) | " << teachers[0]["params"] << " | " << macs(teachers[0])
     << " | " << PctStat(Col(teachers, "val_accuracy")) << " | "
     << PctStat(Col(teachers, "test_accuracy")) << " | " << Kb(teachers[0]) << " |\n"
     << "| transformer-rows-small, hard labels | " << students[0]["params"] << " | "
     << macs(students[0]) << " | " << PctStat(Col(students, "val_accuracy")) << " | "
     << PctStat(Col(students, "test_accuracy")) << " | " << Kb(students[0]) << " |\n"
     << "| transformer-rows-small, distilled (T=2, alpha=0.5) | " << distilled[0]["params"] << " | "
     << macs(distilled[0]) << " | " << PctStat(Col(distilled, "val_accuracy")) << " | "
     << PctStat(Col(distilled, "test_accuracy")) << " | " << Kb(distilled[0]) << " |\n\n"
     << "Distillation: " << PpStat(Diff(distilled, students, "test_accuracy"))
     << " over hard labels; gap closed = (distilled - hard) / (teacher - hard) = "
     << Fixed(100 * Stats(closed).mean, 0) << " ± " << Fixed(100 * Stats(closed).sd, 0) << "%.\n\n"
     << "Compression of the teacher, each row from the seed's dense teacher:\n\n"
     << "- **Heads and MLP neurons removed:** structured pruning (`granularity: structured`, "
        "Taylor scores) masks half the heads (2 of 4) and half the MLP neurons (64 of 128) of "
        "every block, fine-tunes "
     << o.finetune_epochs / 2 << " epochs at lr " << o.finetune_lr
     << ", then rebuilds each block with only the kept heads and neurons (smaller q, k, v, "
        "o, fc1, fc2). Latency: dense vs pruned float networks, alternating in one process.\n"
     << "- **int8:** every linear (embedding, q, k, v, o, fc1, fc2, classifier) runs "
        "`quantized::linear_dynamic`: int8 weights (symmetric per-channel), activations "
        "quantized per call; attention, softmax, layer norm and GELU stay float. No "
        "calibration and no fine-tuning. The accuracy is the int8 network's own. Latency: "
        "float and int8 networks of the same artifact, alternating in one process.\n\n"
     << "| compression | params left | MACs left | test accuracy | change | artifact size | batch "
        "1: "
        "before / after | speed-up | batch "
     << o.batch_n
     << ": before / after | speed-up |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
     << "| 50% of heads and MLP neurons removed | " << pruned[0]["nonzero_params"] << " | "
     << emacs(pruned[0]) << " | " << PctStat(Col(pruned, "test_accuracy")) << " | "
     << PpStat(Diff(pruned, teachers, "test_accuracy")) << " | " << Kb(pruned[0]) << " | "
     << pruned_lat.Cells() << " |\n"
     << "| int8 dynamic PTQ | " << int8[0]["nonzero_params"] << " | " << emacs(int8[0]) << " | "
     << PctStat(Col(int8, "test_accuracy")) << " | "
     << PpStat(Diff(int8, teachers, "test_accuracy")) << " | " << Kb(int8[0]) << " | "
     << int8_lat.Cells() << " |\n";
}

// Hypervolume of points (accuracy, size fraction) against the reference
// (ref_acc, 1): the area of [ref_acc, acc] x [size, 1] they dominate together.
double Hypervolume2d(std::vector<std::pair<double, double>> pts, double ref_acc) {
  std::sort(pts.begin(), pts.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });  // by size
  // Sorted by size, ascending: over [size_i, size_i+1) the best accuracy is
  // that of the points up to i.
  double hv = 0, best_acc = ref_acc;
  for (size_t i = 0; i < pts.size(); ++i) {
    const double lo = std::min(pts[i].second, 1.0);
    const double hi = i + 1 < pts.size() ? std::min(pts[i + 1].second, 1.0) : 1.0;
    best_acc = std::max(best_acc, pts[i].first);
    if (hi > lo) hv += (best_acc - ref_acc) * (hi - lo);
  }
  return hv;
}

void SectionFront(Converged& c, std::ostringstream& md) {
  const int seed = 0;
  const json& dense = c.Dense("mlp", seed);
  const double dense_bytes = dense["dense_size_bytes"].get<double>();
  const double ref = 0.80;
  auto quant = [](int bits) {
    return json{{"scheme", "linear"},
                {"bits", bits},
                {"mode", bits == 8 ? "ptq" : "qat"},
                {"granularity", "per-channel"},
                {"symmetric", true},
                {"calibration", "minmax"},
                {"qat_epochs", bits == 8 ? 0 : 2},
                {"lr", 5e-4}};
  };
  struct Point {
    std::string label;
    json m;
  };
  std::map<std::string, std::vector<Point>> by;
  const std::vector<double> sparsities = {0.8, 0.9, 0.95, 0.98};
  const std::vector<int> bit_widths = {8, 4, 3, 2};
  for (int bits : bit_widths) {
    json mods = {{"pipeline", {"quantize"}}, {"quantize", quant(bits)}};
    by["quantize only"].push_back({std::to_string(bits) + "-bit",
                                   c.Variant("mlp", seed, mods, "front q" + std::to_string(bits))});
  }
  for (double sp : sparsities) {
    // The pruned model once (a stage), then measured alone and under each bit width.
    json s = c.Base("mlp", seed);
    s["pipeline"] = {"prune", "quantize"};
    s["prune"] = c.Prune(sp, "gradual");
    s["quantize"] = quant(8);
    json st = s;
    st["stage"] = {{"units", 2}};
    const std::string ckpt = dense["checkpoint"].get<std::string>() + ".prune" + Fixed(sp, 2);
    RunContext ctx;
    ctx.resume_path = dense["checkpoint"];
    ctx.resume_units = 1;
    auto r = compsweep::experiments::RunStage(st, "", ckpt, ctx);
    if (!r.ok()) {
      std::cerr << "prune stage: " << r.status().ToString() << "\n";
      std::exit(1);
    }
    json p = s;
    p["pipeline"] = {"prune"};
    by["prune only"].push_back(
        {Fixed(100 * sp, 0) + "%", c.Resume(p, ckpt, 2, "front p" + Fixed(sp, 2))});
    for (int bits : {8, 4, 2}) {
      json q = s;
      q["quantize"] = quant(bits);
      by["prune + quantize"].push_back(
          {Fixed(100 * sp, 0) + "% + " + std::to_string(bits) + "-bit",
           c.Resume(q, ckpt, 2, "front p" + Fixed(sp, 2) + " q" + std::to_string(bits))});
    }
  }
  md << "## F. Does combining pay? Fronts of each technique alone and combined (LeNet-300-100)\n\n"
     << "Seed " << seed
     << " only. Every trial starts from the same dense student (section A); "
        "pruning is gradual with the section B fine-tuning; 8-bit is PTQ, fewer bits get 2 "
        "epochs of QAT. Objectives: validation accuracy (maximise) and artifact bytes as a "
        "fraction of the float32 model (minimise). Hypervolume: the area the technique's "
        "trials dominate in ["
     << Fixed(100 * ref, 0) << "%, 100%] x [0, 1] (accuracy above " << Fixed(100 * ref, 0)
     << "%, size below float), in accuracy points x size fraction; "
        "larger is better.\n\n"
     << "| technique | trials | hypervolume | its trials: val accuracy @ size (x smaller) |\n"
     << "|---|---:|---:|---|\n";
  for (const char* name : {"prune only", "quantize only", "prune + quantize"}) {
    std::vector<std::pair<double, double>> pts;
    std::string list;
    for (const Point& pt : by[name]) {
      const double frac = pt.m["size_bytes"].get<double>() / dense_bytes;
      pts.push_back({pt.m["val_accuracy"].get<double>(), frac});
      list += (list.empty() ? "" : "; ") + pt.label + ": " + Pct(pt.m["val_accuracy"]) + " @ " +
              Fixed(1.0 / frac, 1) + "x";
    }
    md << "| " << name << " | " << by[name].size() << " | "
       << Fixed(100 * Hypervolume2d(pts, ref), 3) << " | " << list << " |\n";
  }
  md << "\nDense student: " << Pct(dense["val_accuracy"]) << " validation, "
     << Pct(dense["test_accuracy"]) << " test.\n";
}

void SectionQuick(Runner& run, const Options& o, std::ostringstream& md) {
  md << "## Quick comparisons: 2 epochs, one seed, constant learning rate\n\n"
     << "The first measurements of each technique, kept for the models and schemes sections "
        "A-F do not cover (lenet5, cnn-wide, resnet-small, mobilenetv2; log2 and pow2 codes; "
        "structured pruning). Every row trains for "
     << o.epochs
     << " epochs at a constant "
        "learning rate with seed 0 and no augmentation: short runs for comparing techniques, "
        "not converged models, and one seed, so differences under about 0.5 points are "
        "noise. 'accuracy' is test accuracy.\n\n";
  // 1. Baselines.
  md << "### 1. Baselines (float32, " << o.epochs << " epochs, Adam 1e-3, batch 128)\n\n"
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
  md << "\n### 2. LeNet-300-100 pruned to 90% sparsity (magnitude, layer-wise)\n\n"
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
  md << "\n### 3. int8 per-channel post-training quantization, real int8 kernels\n\n"
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
  md << "\n### 4. 4-bit weights: linear vs log2 vs pow2 (cnn-small, per-channel)\n\n"
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
  md << "\n### 5. Knowledge distillation (teacher cnn-wide, " << o.epochs
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
  md << "\n### 6. Structured (filter/neuron) pruning of cnn-small, L1 filter norm, one-shot\n\n"
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
  md << "\n### 7. Combined pipeline on cnn-small: distill -> prune -> quantize\n\n"
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
}

std::string CpuName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string BeginMark(const std::string& name) { return "<!-- results:" + name + ":begin -->\n"; }
std::string EndMark(const std::string& name) { return "<!-- results:" + name + ":end -->\n"; }
const char kToolEnd[] =
    "<!-- results-tool:end: experiments_results keeps everything below this line as it is -->";

// The text of block `name` in a previous report, or "" when it has none.
std::string OldBlock(const std::string& doc, const std::string& name) {
  const size_t b = doc.find(BeginMark(name));
  if (b == std::string::npos) return "";
  const size_t from = b + BeginMark(name).size();
  const size_t e = doc.find(EndMark(name), from);
  return e == std::string::npos ? "" : doc.substr(from, e - from);
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return date;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Regenerates docs/results.md: the compression library against the papers"};
  app.add_option("--data", o.data, "MNIST-format folder (IDX .gz files)")->capture_default_str();
  app.add_option("--train-subset", o.train_subset, "training images (0: all)")
      ->capture_default_str();
  app.add_option("--test-subset", o.test_subset, "test images (0: all)")->capture_default_str();
  app.add_option("--epochs", o.epochs, "epochs of each quick-comparison row")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seeds", o.seeds, "seeds of sections A-F (0, 1, ...)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--mlp-epochs", o.mlp_epochs, "epochs of the converged LeNet-300-100")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--cnn-epochs", o.cnn_epochs, "epochs of the converged cnn-small")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--finetune-epochs", o.finetune_epochs, "pruning fine-tuning epochs (B, C, F)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--finetune-lr", o.finetune_lr, "pruning fine-tuning learning rate (B, C, F)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--recovery-epochs", o.recovery_epochs,
                 "distillation epochs after pruning (section B's '+ distillation' rows)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--transformer-epochs", o.transformer_epochs,
                 "epochs of the transformer teacher and student (section G)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch_n, "the larger batch of section D's latencies")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  app.add_option("--latency-runs", o.latency_runs, "timed calls per block (3 blocks)")
      ->capture_default_str()
      ->check(CLI::Range(5, 100000));
  app.add_option("--threads", o.threads, "LibTorch threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--only", o.only,
                 "run only these blocks (converged prune prune-quant int8 distill front "
                 "transformer quick); the others are kept from --out")
      ->delimiter(',')
      ->check(CLI::IsMember({"converged", "prune", "prune-quant", "int8", "distill", "front",
                             "transformer", "quick"}));
  app.add_option("--work", o.work, "folder for models and artifacts")->capture_default_str();
  app.add_option("--out", o.out, "the Markdown report to write")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::create_directories(o.work);
  compsweep::experiments::ConfigureRuntime(o.threads);
  const auto start = std::chrono::steady_clock::now();
  const std::string previous = ReadText(o.out);
  Runner run(o);
  Converged conv(run, o);

  struct Block {
    std::string name;
    std::function<void(std::ostringstream&)> make;
  };
  const std::vector<Block> blocks = {
      {"converged", [&](std::ostringstream& md) { SectionConverged(conv, md); }},
      {"prune", [&](std::ostringstream& md) { SectionPrune(conv, o, md); }},
      {"prune-quant", [&](std::ostringstream& md) { SectionPruneQuant(conv, md); }},
      {"int8", [&](std::ostringstream& md) { SectionInt8(conv, o, md); }},
      {"distill", [&](std::ostringstream& md) { SectionDistill(conv, md); }},
      {"front", [&](std::ostringstream& md) { SectionFront(conv, md); }},
      {"transformer", [&](std::ostringstream& md) { SectionTransformer(conv, o, md); }},
      {"quick", [&](std::ostringstream& md) { SectionQuick(run, o, md); }},
  };
  std::ostringstream body;
  for (const Block& b : blocks) {
    const bool selected =
        o.only.empty() || std::find(o.only.begin(), o.only.end(), b.name) != o.only.end();
    std::string text = OldBlock(previous, b.name);
    if (selected || text.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      std::ostringstream md;
      b.make(md);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      md << "\n_Block `" << b.name << "` generated " << UtcNow() << " in " << Fixed(secs / 60.0, 1)
         << " min (with the dense students it was the first to need)"
         << "; LibTorch " << TORCH_VERSION << ", " << o.threads << " thread(s)._\n\n";
      text = md.str();
    }
    body << BeginMark(b.name) << text << EndMark(b.name) << "\n";
  }

  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct utsname uts;
  uname(&uts);
  std::ostringstream doc;
  doc << "# compsweep results on Fashion-MNIST\n\n"
      << "Generated by `scripts/make_results.sh` (binary `experiments_results`); this run "
      << UtcNow() << ", " << Fixed(wall / 60.0, 1) << " min"
      << (o.only.empty() ? std::string("") : ", blocks run: see each block's last line") << ".\n\n"
      << "- Data: Fashion-MNIST from Debian's `dataset-fashion-mnist`, "
      << (o.train_subset > 0 ? std::to_string(o.train_subset) : std::string("60000"))
      << " training images, of which 10% are held out for validation, and "
      << (o.test_subset > 0 ? std::to_string(o.test_subset) : std::string("10000"))
      << " test images; normalised. Selection (fronts, best rows) reads validation "
         "accuracy; test accuracy is reported.\n"
      << "- Sections A-F: the converged recipe (section A), seeds 0.." << (o.seeds - 1)
      << ", mean ± sample standard deviation. One standard error of a test accuracy on "
         "10,000 images is about 0.3 points, so compare rows through their paired 'change' "
         "columns.\n"
      << "- Quick comparisons: " << o.epochs << " epochs, seed 0 (see that block).\n"
      << "- Hardware: " << CpuName() << ", " << std::thread::hardware_concurrency()
      << " hardware threads, " << o.threads << " LibTorch thread(s); " << uts.sysname << " "
      << uts.release << "; LibTorch " << TORCH_VERSION << " (CPU); OMP_WAIT_POLICY="
      << (std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(default)") << ".\n"
      << "- Sizes are the bytes of the compact artifact actually written (codes, scales, "
         "sparse positions, biases, batch-norm state, architecture header); 'pp' = "
         "percentage points. Latency: CPU, lowest of 3 medians after 5 warm-up runs; the "
         "machine is shared, so latencies are indicative (compare within a table).\n"
      << "- Blocks can be regenerated alone: `scripts/make_results.sh --only int8,front` "
         "runs those and keeps the others, and everything below the results-tool marker "
         "(section 8, written by bench/export/run_bench.py), as they are.\n\n"
      << body.str();
  const size_t tail = previous.find(kToolEnd);
  doc << (tail == std::string::npos ? std::string(kToolEnd) + "\n" : previous.substr(tail));
  std::filesystem::create_directories(std::filesystem::path(o.out).parent_path().empty()
                                          ? "."
                                          : std::filesystem::path(o.out).parent_path());
  const std::string tmp = o.out + ".tmp";
  std::ofstream(tmp) << doc.str();
  std::filesystem::rename(tmp, o.out);
  std::ofstream(o.work + "/results.json") << run.log().dump(2);
  std::cerr << "wrote " << o.out << " in " << Fixed(wall, 0) << " s\n";
  return 0;
}
