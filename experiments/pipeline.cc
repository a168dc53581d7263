#include "experiments/pipeline.h"

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include <torch/script.h>
#include <torch/torch.h>

#include "common/settings_schema.h"
#include "common/stage_plan.h"
#include "experiments/artifact.h"
#include "experiments/data.h"
#include "experiments/export.h"
#include "experiments/int8.h"
#include "experiments/metrics.h"
#include "experiments/model.h"
#include "experiments/prune.h"
#include "experiments/quantize.h"
#include "experiments/train.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Result<torch::Device> ParseDevice(const std::string& name) {
  try {
    torch::Device device(name.empty() ? "cpu" : name);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return FailedPrecondition("device '" + name + "' requested but CUDA is not available");
    }
    return device;
  } catch (const c10::Error& e) {
    return InvalidArgument("bad device '" + name + "': " + e.what_without_backtrace());
  }
}

Status EnsureParentDir(const std::string& path) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return IoError("cannot create " + parent.string() + ": " + ec.message());
  return Status::Ok();
}

struct Counts {
  int64_t params = 0;          // all parameters
  int64_t nonzero_params = 0;  // nonzero parameters
  int64_t prunable = 0;        // conv/linear weights
  int64_t prunable_nonzero = 0;
  int64_t float_state = 0;  // float parameters and buffers (dense float32 size / 4)
};

Counts CountModel(Model& model) {
  torch::NoGradGuard no_grad;
  Counts c;
  for (auto& [name, t] : model.NamedParameters()) {
    c.params += t.numel();
    c.nonzero_params += t.ne(0).sum().item<int64_t>();
    c.float_state += t.numel();
  }
  for (auto& [name, t] : PrunableWeights(model)) {
    c.prunable += t.numel();
    c.prunable_nonzero += t.ne(0).sum().item<int64_t>();
  }
  for (auto& [name, t] : model.NamedBuffers()) {
    if (t.is_floating_point()) c.float_state += t.numel();
  }
  return c;
}

// The raw input (as the dataset's files hold it) behind the model input x.
torch::Tensor RawInput(const torch::Tensor& x, const InputSpec& in) {
  if (in.dtype == "int64" || in.identity()) return x;
  torch::Tensor r = (x * in.std + in.mean) / in.scale;
  if (in.dtype == "uint8") r = r.round().clamp(0, 255).to(torch::kByte);
  return r;
}

DataShape ShapeOf(const Dataset& data) {
  DataShape shape;
  shape.example_shape = data.ExampleShape();
  shape.num_classes = data.num_classes;
  shape.floating = data.train_x.is_floating_point();
  return shape;
}

std::vector<std::string> PipelineStages(const json& settings) {
  std::vector<std::string> stages;
  if (settings.contains("pipeline")) {
    for (const auto& s : settings.at("pipeline")) stages.push_back(s.get<std::string>());
  }
  return stages;
}

// The body of RunTrial; exceptions are turned into a Status by the caller.
// Measures the model at the rung epochs of settings["rungs"] (see RunTrial).
class RungProbe {
 public:
  RungProbe(const json& settings, const RunContext& ctx) : ctx_(ctx) {
    const json rungs = settings.value("rungs", json::object());
    if (!rungs.is_object()) return;
    for (const auto& e : rungs.value("epochs", json::array())) {
      if (e.is_number_integer()) epochs_.push_back(e.get<int>());
    }
    for (const auto& m : rungs.value("metrics", json::array())) {
      if (m.is_string()) metrics_.push_back(m.get<std::string>());
    }
  }
  bool active() const { return !epochs_.empty() && ctx_.on_progress != nullptr; }
  // Epochs already trained elsewhere (the shared stage a trial resumes from).
  void SkipEpochs(int n) { epoch_ += n; }
  bool Wants(const std::string& metric) const {
    return std::find(metrics_.begin(), metrics_.end(), metric) != metrics_.end();
  }

  // After every training epoch of the trial.
  Status EpochEnded(Model& model, const Dataset& data, const std::string& scratch_path) {
    ++epoch_;
    if (std::find(epochs_.begin(), epochs_.end(), epoch_) == epochs_.end()) return Status::Ok();
    json m = json::object();
    const EvalResult val = Evaluate(model, data.val_x, data.val_y);
    m["val_accuracy"] = val.accuracy;
    m["val_loss"] = val.loss;
    if (Wants("size_bytes")) {
      // Bytes really written: the compact artifact of the model as it stands.
      RETURN_IF_ERROR(EnsureParentDir(scratch_path));
      ASSIGN_OR_RETURN(ArtifactInfo info, WriteArtifact(model, QuantizedWeights{}, scratch_path));
      std::error_code ec;
      std::filesystem::remove(scratch_path, ec);
      m["size_bytes"] = info.bytes;
    }
    if (Wants("latency_ms")) {
      std::shared_ptr<void> quiet = ctx_.cpu_guard ? ctx_.cpu_guard(true) : nullptr;
      model.SetTraining(false);
      torch::NoGradGuard no_grad;
      torch::Tensor one = data.val_x.narrow(0, 0, 1);
      m["latency_ms"] =
          MedianLatencyMs([&](const torch::Tensor& x) { return model.Forward(x); }, one);
    }
    ctx_.on_progress({{"phase", "rung"}, {"rung", {{"epoch", epoch_}, {"metrics", m}}}});
    return Status::Ok();
  }

 private:
  const RunContext& ctx_;
  std::vector<int> epochs_;
  std::vector<std::string> metrics_;
  int epoch_ = 0;
};

// stage_out non-empty: a shared stage (common/stage_plan.h) -- train units
// [ctx.resume_units, settings.stage.units), save the checkpoint there and
// return {val_accuracy, val_loss, train_seconds, units, epochs}.
Result<json> RunTrialImpl(const json& settings, const std::string& teacher_path,
                          const RunContext& outer_ctx, const std::string& stage_out = "") {
  // The trial's own context: the same, plus the rung probe after each epoch.
  RunContext ctx = outer_ctx;
  ASSIGN_OR_RETURN(torch::Device device, ParseDevice(ctx.device));
  const uint64_t seed = settings.value("seed", uint64_t{0});
  const std::vector<std::string> stages = PipelineStages(settings);
  bool has_distill = false;
  for (const auto& s : stages) {
    if (s != "distill" && s != "prune" && s != "quantize") {
      return InvalidArgument("unknown pipeline stage '" + s + "'");
    }
    has_distill |= s == "distill";
  }
  ASSIGN_OR_RETURN(
      auto data, LoadDataset(settings.value("data", json::object()), device, seed, ctx.path_roots));
  // Defaults and checks of every section come from the one settings table.
  ASSIGN_OR_RETURN(const json student,
                   settings::Resolve("student", settings.value("student", json())));
  ASSIGN_OR_RETURN(const json distill,
                   settings::Resolve("distill", settings.value("distill", json())));
  ASSIGN_OR_RETURN(
      std::unique_ptr<Model> model,
      BuildModelFromSettings(student, seed, ShapeOf(*data), ctx.path_roots, "student"));
  model->To(device);
  const Counts original = CountModel(*model);
  const int64_t macs = model->Macs();

  // Training units (common/stage_plan.h): this run trains [resume, end).
  const std::vector<TrainingUnit> units = TrainingUnits(settings);
  const int resume = ctx.resume_path.empty() ? 0 : ctx.resume_units;
  int end = static_cast<int>(units.size());
  if (!stage_out.empty()) {
    const json stage = settings.value("stage", json::object());
    end = stage.is_object() && stage.contains("units") && stage["units"].is_number_integer()
              ? stage["units"].get<int>()
              : 0;
    if (end < 1 || end >= static_cast<int>(units.size())) {
      return InvalidArgument("a stage must end after 1 to " + std::to_string(units.size() - 1) +
                             " training units, got " + std::to_string(end));
    }
  }
  // A trial may resume after all its units (it is then only measured); a
  // stage trains at least one.
  if (resume < 0 || resume > end || (resume == end && !stage_out.empty())) {
    return InvalidArgument("cannot resume after " + std::to_string(resume) + " training units of " +
                           std::to_string(end));
  }
  int resumed_epochs = 0;
  for (int u = 0; u < resume; ++u) resumed_epochs += units[u].epochs;
  bool distill_left = false;
  for (int u = resume; u < end; ++u) distill_left |= units[u].name == "distill";

  RungProbe probe(settings, outer_ctx);
  // Rungs inside the shared stage it resumes from were the stage's, not this
  // trial's: its epochs count on from there.
  probe.SkipEpochs(resumed_epochs);
  Status probe_status;
  if (probe.active()) {
    std::string scratch =
        ctx.artifact_dir.empty() ? ctx.cache_dir + "/artifacts" : ctx.artifact_dir;
    scratch += "/rung.csa";
    ctx.on_epoch_end = [&probe, &probe_status, &model, &data, scratch] {
      if (!probe_status.ok()) return;
      probe_status = probe.EpochEnded(*model, *data, scratch);
    };
  }

  TrainOptions base;
  base.batch_size = student["batch_size"].get<int64_t>();
  ASSIGN_OR_RETURN(base.recipe, RecipeFromJson(student));
  base.seed = seed;

  torch::Tensor teacher_logits;
  if (has_distill && distill_left) {
    if (teacher_path.empty()) return InvalidArgument("pipeline has distill but no teacher");
    ASSIGN_OR_RETURN(auto teacher, LoadModel(teacher_path, device));
    teacher_logits = PredictLogits(*teacher, data->train_x);
  }
  auto distill_options = [&](const std::string& phase, Masks& masks) {
    TrainOptions o = base;
    o.phase = phase;
    o.epochs = distill["epochs"].get<int>();
    o.lr = distill["lr"].get<double>();
    o.teacher_logits = teacher_logits;
    o.temperature = distill["temperature"].get<double>();
    o.alpha = distill["alpha"].get<double>();
    o.seed = seed * 31 + 1;
    o.hooks.after_step = [&masks] { masks.Apply(); };
    return o;
  };

  const auto t0 = Clock::now();
  Masks masks;
  std::optional<QuantConfig> quant;
  if (resume > 0) {
    // The shared stage's checkpoint: the model after its units (pruned
    // channels removed, pruned weights zero).
    ASSIGN_OR_RETURN(model, LoadModel(ctx.resume_path, device));
    for (int u = 0; u < resume; ++u) {
      if (units[u].name == "prune") {
        // Its masks are its zeros: they stay zero through later training.
        for (auto& [name, w] : PrunableWeights(*model)) masks.Set(name, w, w.ne(0).to(w.dtype()));
      } else if (units[u].name == "quantize") {
        ASSIGN_OR_RETURN(QuantConfig config,
                         QuantConfig::FromJson(settings.value("quantize", json::object())));
        quant = config;
      }
    }
  }
  for (int u = resume; u < end; ++u) {
    const std::string& name = units[u].name;
    if (name == "train") {
      TrainOptions o = base;
      o.phase = "student";
      o.epochs = student["epochs"].get<int>();
      o.lr = student["lr"].get<double>();
      RETURN_IF_ERROR(Train(*model, *data, o, ctx));
    } else if (name == "distill") {
      RETURN_IF_ERROR(Train(*model, *data, distill_options("distill", masks), ctx));
    } else if (name == "prune") {
      ASSIGN_OR_RETURN(PruneConfig config,
                       PruneConfig::FromJson(settings.value("prune", json::object())));
      RETURN_IF_ERROR(RunPruneStage(model, masks, config, *data, base, ctx));
    } else {
      ASSIGN_OR_RETURN(QuantConfig config,
                       QuantConfig::FromJson(settings.value("quantize", json::object())));
      ASSIGN_OR_RETURN(auto q, RunQuantizeStage(*model, masks, config, *data, base, ctx));
      quant = config;
    }
  }
  if (!stage_out.empty()) {
    RETURN_IF_ERROR(probe_status);
    masks.Apply();
    const double train_seconds = SecondsSince(t0);
    const EvalResult val = Evaluate(*model, data->val_x, data->val_y);
    RETURN_IF_ERROR(EnsureParentDir(stage_out));
    RETURN_IF_ERROR(SaveModel(*model, stage_out));
    int epochs = 0;
    for (int u = resume; u < end; ++u) epochs += units[u].epochs;
    return json{{"val_accuracy", val.accuracy},
                {"val_loss", val.loss},
                {"train_seconds", train_seconds},
                {"units", end},
                {"epochs", epochs}};
  }
  RETURN_IF_ERROR(probe_status);
  ctx.on_epoch_end = nullptr;
  // Stages after quantize may have moved weights off the grid: the deployed
  // weights are always the final quantization.
  masks.Apply();
  QuantizedWeights quantized;
  if (quant) {
    ASSIGN_OR_RETURN(quantized, QuantizeModelWeights(*model, *quant));
  }
  const double train_seconds = SecondsSince(t0);

  // Validation: what objectives and the Pareto front read. Test: once, reported only.
  const EvalResult val = Evaluate(*model, data->val_x, data->val_y);
  const EvalResult test = Evaluate(*model, data->test_x, data->test_y);
  if (ctx.on_progress) {
    ctx.on_progress({{"phase", "evaluate"},
                     {"val_accuracy", val.accuracy},
                     {"val_loss", val.loss},
                     {"test_accuracy", test.accuracy}});
  }

  std::string dir = ctx.artifact_dir;
  if (dir.empty()) dir = ctx.cache_dir + "/artifacts";
  const std::string artifact_path = dir + "/model.csa";
  RETURN_IF_ERROR(EnsureParentDir(artifact_path));
  // The artifact's deploy block: the raw input's preprocessing, and (below)
  // the int8 network's activation parameters, so exports need nothing else.
  json deploy = {{"input", data->input.ToJson()}};
  ASSIGN_OR_RETURN(ArtifactInfo info, WriteArtifact(*model, quantized, artifact_path, deploy));

  // Latency is measured on the artifact as deployed: read back, on CPU.
  QuantizedWeights deployed_codes;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> deployed, ReadArtifact(artifact_path, &deployed_codes));
  deployed->SetTraining(false);
  torch::Tensor one = data->test_x.narrow(0, 0, 1).to(torch::kCPU);
  auto float_forward = [&](const torch::Tensor& x) { return deployed->Forward(x); };
  double float_latency_ms = 0;
  double latency_ms = 0;
  json int8_metrics = json::object();
  std::unique_ptr<Int8Model> int8_model;
  if (quant && quant->scheme == "linear" && quant->bits == 8 && quant->symmetric &&
      deployed->spec_net() != nullptr) {
    // 8-bit linear models run on LibTorch's real int8 kernels.
    // No quantized engine (or COMPSWEEP_QENGINE naming one this LibTorch
    // lacks) fails the trial: its latency would silently be float's.
    auto engine = SelectQuantizedEngine();
    if (!engine.ok()) {
      return Status(engine.status().code(),
                    "8-bit linear quantization runs on int8 kernels: " + engine.status().message());
    }
    torch::Tensor calib = data->train_x.narrow(0, 0, std::min<int64_t>(512, data->train_x.size(0)));
    auto int8 = Int8Model::Create(*deployed, deployed_codes, calib.cpu(), quant->calibration);
    if (!int8.ok()) {
      // Never a silent float fallback: the trial says it would deploy int8.
      return Status(int8.status().code(),
                    "building the int8 model of an 8-bit linear trial: " + int8.status().message());
    }
    {
      int8_model = std::move(*int8);
      // The calibration belongs to the deployed model: into the artifact.
      deploy["int8"] = int8_model->ActivationParams();
      ASSIGN_OR_RETURN(info, WriteArtifact(*model, quantized, artifact_path, deploy));
    }
  }

  // The deployable files, written from the artifact as `compsweep export` does.
  json deploy_metrics = json::object();
  torch::jit::Module shipped_ts;
  bool have_ts = false;
  for (const std::string format : {"torchscript", "onnx"}) {
    // ONNX: zoo archs without attention encoders (SaveOnnx says why).
    if (format == "onnx" &&
        (deployed->spec_net() == nullptr || HasEncoderBlocks(*deployed->spec_net()))) {
      continue;
    }
    const std::string out = dir + (format == "onnx" ? "/model.onnx" : "/model.pt");
    auto report = ExportArtifact(artifact_path, format, out);
    if (!report.ok()) {
      return Status(report.status().code(),
                    "writing the " + format + " export: " + report.status().message());
    }
    deploy_metrics["deploy_size_bytes_" + format] = report->bytes;
    if (format == "torchscript") {
      deploy_metrics["deploy_int8"] = report->int8 ? 1 : 0;
      shipped_ts = torch::jit::load(out);
      shipped_ts.eval();
      have_ts = true;
    }
  }
  // The shipped TorchScript takes raw inputs: the raw example behind `one`.
  const torch::Tensor raw_one = RawInput(one, data->input);
  auto ts_forward = [&](const torch::Tensor&) { return shipped_ts.forward({raw_one}).toTensor(); };
  double ts_latency_ms = 0;

  // Quiet machine while timing: other training steps on this host wait (see RunContext).
  std::shared_ptr<void> quiet = ctx.cpu_guard ? ctx.cpu_guard(true) : nullptr;
  if (int8_model) {
    Int8Model& m = *int8_model;
    // Float, int8 and the shipped file alternate so all see the same machine load.
    std::vector<std::function<torch::Tensor(const torch::Tensor&)>> forwards = {
        float_forward, [&](const torch::Tensor& x) { return m.Forward(x); }};
    if (have_ts) forwards.push_back(ts_forward);
    std::vector<double> med = MedianLatenciesMs(forwards, one);
    float_latency_ms = med[0];
    latency_ms = med[1];
    if (have_ts) ts_latency_ms = med[2];
    {
      // The int8 network's own accuracy and loss: what the deployed model gives.
      auto int8_eval = [&m](const torch::Tensor& x_any, const torch::Tensor& y_any) {
        torch::Tensor x = x_any.cpu(), y = y_any.cpu();
        int64_t correct = 0;
        double loss_sum = 0;
        for (int64_t start = 0; start < x.size(0); start += 500) {
          const int64_t len = std::min<int64_t>(500, x.size(0) - start);
          torch::Tensor logits = m.Forward(x.narrow(0, start, len));
          torch::Tensor labels = y.narrow(0, start, len);
          correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
          loss_sum += torch::nn::functional::cross_entropy(
                          logits, labels,
                          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                          .item<double>();
        }
        const double n = static_cast<double>(x.size(0));
        return EvalResult{static_cast<double>(correct) / n, loss_sum / n};
      };
      const EvalResult int8_val = int8_eval(data->val_x, data->val_y);
      const EvalResult int8_test = int8_eval(data->test_x, data->test_y);
      int8_metrics = {{"int8_val_accuracy", int8_val.accuracy},
                      {"int8_val_loss", int8_val.loss},
                      {"int8_test_accuracy", int8_test.accuracy},
                      {"int8_test_loss", int8_test.loss},
                      {"qengine", m.engine()}};
      // Strings in the result are not kept as trial values; a progress event
      // is stored whole, so the engine stays with the trial's record.
      if (ctx.on_progress) {
        ctx.on_progress({{"phase", "int8"},
                         {"qengine", m.engine()},
                         {"int8_val_accuracy", int8_metrics["int8_val_accuracy"]}});
      }
    }
  }
  if (latency_ms == 0) {
    if (have_ts) {
      std::vector<double> med = MedianLatenciesMs({float_forward, ts_forward}, one);
      float_latency_ms = med[0];
      ts_latency_ms = med[1];
    } else {
      float_latency_ms = MedianLatencyMs(float_forward, one);
    }
    latency_ms = float_latency_ms;
  }
  if (have_ts) deploy_metrics["latency_ms_torchscript"] = ts_latency_ms;
  model->SetTraining(false);
  torch::Tensor batch = data->test_x.narrow(0, 0, std::min<int64_t>(256, data->test_x.size(0)));
  if (batch.size(0) < 256) {
    std::vector<int64_t> times(static_cast<size_t>(batch.dim()), 1);
    times[0] = (256 + batch.size(0) - 1) / batch.size(0);
    batch = batch.repeat(times).narrow(0, 0, 256);
  }
  const double throughput =
      Throughput([&](const torch::Tensor& x) { return model->Forward(x); }, batch);
  quiet.reset();

  const Counts final_counts = CountModel(*model);
  const int64_t dense_bytes = 4 * original.float_state;
  // An int8 trial's accuracy is the int8 network's (the model it deploys and
  // whose latency it reports); the float emulation of its weights
  // ("fake quant") is kept beside it as fakequant_*.
  const bool int8_ran = int8_metrics.contains("int8_val_accuracy");
  json metrics = {
      {"val_accuracy", int8_ran ? int8_metrics["int8_val_accuracy"].get<double>() : val.accuracy},
      {"val_loss", int8_ran ? int8_metrics["int8_val_loss"].get<double>() : val.loss},
      {"test_accuracy",
       int8_ran ? int8_metrics["int8_test_accuracy"].get<double>() : test.accuracy},
      {"test_loss", int8_ran ? int8_metrics["int8_test_loss"].get<double>() : test.loss},
      {"size_bytes", info.bytes},
      {"dense_size_bytes", dense_bytes},
      {"compression_ratio", static_cast<double>(dense_bytes) / static_cast<double>(info.bytes)},
      {"params", original.params},
      {"nonzero_params", final_counts.nonzero_params},
      // Over the conv/linear weights of the original architecture, so filters
      // removed by structured pruning count as zeros.
      {"sparsity", original.prunable == 0
                       ? 0.0
                       : 1.0 - static_cast<double>(final_counts.prunable_nonzero) /
                                   static_cast<double>(original.prunable)},
      {"macs", macs},
      // MACs the deployed dense kernels execute: lower after structured
      // pruning, equal to macs for unstructured sparsity (no sparse kernels).
      {"effective_macs", model->Macs()},
      {"latency_ms", latency_ms},
      {"throughput", throughput},
      {"train_seconds", train_seconds},
      {"artifact_path", artifact_path},
      // Extra: float kernels' latency (equal to latency_ms unless int8 ran).
      {"float_latency_ms", float_latency_ms},
      {"int8", int8_ran},
  };
  if (int8_ran) {
    metrics["fakequant_val_accuracy"] = val.accuracy;
    metrics["fakequant_test_accuracy"] = test.accuracy;
  }
  metrics.update(int8_metrics);
  metrics.update(deploy_metrics);
  return metrics;
}

}  // namespace

void ConfigureRuntime(int num_threads) {
  // Keep freed training buffers in the heap instead of returning them to the
  // OS after every step (page faults made C++ training 2-4x slower here).
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
  if (num_threads > 0) {
    at::set_num_threads(num_threads);
    // LibTorch's own threads are not the only ones: a LibTorch built on
    // OpenBLAS (Debian's) runs its matrix products on OpenBLAS's thread pool,
    // one thread per core by default. Two pools on the same cores wait for
    // each other's time slices: with 1 LibTorch thread on a loaded 2-core
    // machine a batch-32 300x100 linear took 24 ms instead of 0.09 ms. The
    // symbol is looked up at run time, so builds on MKL (pip LibTorch) skip it.
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
      set(num_threads);
    }
  }
}

Result<json> TrainTeacher(const json& settings, const std::string& out_path,
                          const RunContext& ctx) {
  try {
    ASSIGN_OR_RETURN(torch::Device device, ParseDevice(ctx.device));
    const uint64_t seed = settings.value("seed", uint64_t{0});
    ASSIGN_OR_RETURN(auto data, LoadDataset(settings.value("data", json::object()), device, seed,
                                            ctx.path_roots));
    ASSIGN_OR_RETURN(const json teacher,
                     settings::Resolve("teacher", settings.value("teacher", json())));
    ASSIGN_OR_RETURN(
        std::unique_ptr<Model> model,
        BuildModelFromSettings(teacher, seed + 1000003, ShapeOf(*data), ctx.path_roots, "teacher"));
    model->To(device);
    TrainOptions o;
    o.phase = "teacher";
    o.epochs = teacher["epochs"].get<int>();
    o.lr = teacher["lr"].get<double>();
    o.batch_size = teacher["batch_size"].get<int64_t>();
    ASSIGN_OR_RETURN(o.recipe, RecipeFromJson(teacher));
    o.seed = seed + 1000003;
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(Train(*model, *data, o, ctx));
    const double train_seconds = SecondsSince(t0);
    const EvalResult val = Evaluate(*model, data->val_x, data->val_y);
    const EvalResult test = Evaluate(*model, data->test_x, data->test_y);
    RETURN_IF_ERROR(EnsureParentDir(out_path));
    RETURN_IF_ERROR(SaveModel(*model, out_path));
    return json{{"val_accuracy", val.accuracy},      {"val_loss", val.loss},
                {"test_accuracy", test.accuracy},    {"test_loss", test.loss},
                {"params", CountParameters(*model)}, {"train_seconds", train_seconds}};
  } catch (const c10::Error& e) {
    return Internal(std::string("training teacher: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("training teacher: ") + e.what());
  }
}

Result<json> RunTrial(const json& settings, const std::string& teacher_path,
                      const RunContext& ctx) {
  try {
    return RunTrialImpl(settings, teacher_path, ctx);
  } catch (const c10::Error& e) {
    return Internal(std::string("running trial: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("running trial: ") + e.what());
  }
}

Result<json> RunStage(const json& settings, const std::string& teacher_path,
                      const std::string& out_path, const RunContext& ctx) {
  if (out_path.empty()) return InvalidArgument("a stage needs the path of its checkpoint");
  try {
    return RunTrialImpl(settings, teacher_path, ctx, out_path);
  } catch (const c10::Error& e) {
    return Internal(std::string("running stage: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("running stage: ") + e.what());
  }
}

}  // namespace compsweep::experiments
