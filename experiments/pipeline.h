// Pipeline runner: turns one trial's settings into a compressed, measured model.
// This is the only entry point the worker uses. Thread-safety: each call is
// independent; callers run at most one call per thread. at::set_num_threads is
// process-wide, so the worker sets it once at start-up.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::experiments {

struct RunContext {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"; resolved with torch::Device at run time
  std::string cache_dir = ".cache/compsweep";  // datasets/teachers cached here
  std::string artifact_dir;                    // where the compact artifact of the trial is written
  // Called from the job thread; must be cheap. Keys: phase, epoch, step, loss, accuracy, ...
  std::function<void(const nlohmann::json&)> on_progress;
  // Called by the training loop after each epoch (after its progress event);
  // RunTrial uses it to measure the model at MO-ASHA rungs. The model may be
  // switched to eval mode inside; the loop switches it back.
  std::function<void()> on_epoch_end;
  // Polled between steps; when it returns true the run stops with StatusCode::kCancelled.
  std::function<bool()> cancelled;
  // Optional host-wide CPU coordination (the worker provides it): each training
  // step holds a shared guard, timing measurements (latency, throughput) hold an
  // exclusive one, so a latency is never measured while another slot or worker
  // process on the same machine is in the middle of a training step. The guard
  // is released when the returned token is destroyed.
  std::function<std::shared_ptr<void>(bool exclusive)> cpu_guard;
  // Folders absolute data and model paths may lie under (the worker's
  // --path-root; the coordinator checks sweeps against the same rule). Files
  // are checked again here, once symbolic links are resolved, before opening.
  std::vector<std::string> path_roots = {"/usr/share/datasets"};
  // Stage reuse (common/stage_plan.h): the checkpoint of the shared stage this
  // run starts from (SaveModel's format, written by RunStage) and how many
  // training units it holds; empty and 0: from scratch.
  std::string resume_path;
  int resume_units = 0;
};

// Trains the teacher given by settings["teacher"] on settings["data"] and saves it
// to out_path (written atomically). Returns {val_accuracy, val_loss,
// test_accuracy, test_loss, params, train_seconds}.
Result<nlohmann::json> TrainTeacher(const nlohmann::json& settings, const std::string& out_path,
                                    const RunContext& ctx);

// Runs one trial: builds/trains the student (distilled from the teacher at
// teacher_path when the pipeline has "distill"; teacher_path is empty otherwise),
// applies the pipeline's stages in order, writes the compact artifact into
// ctx.artifact_dir and measures it. Returns the metrics named in ARCHITECTURE.md:
// val_accuracy, val_loss (the validation split: what objectives and the Pareto
// front read), test_accuracy, test_loss (the test split, evaluated once here at
// the end and reported only), size_bytes, dense_size_bytes, compression_ratio, params,
// nonzero_params, sparsity, macs, effective_macs, latency_ms, throughput,
// train_seconds, plus "artifact_path".
//
// Rungs (early stopping, settings["rungs"] = {epochs: [...], metrics: [...]}):
// the epochs are counted over the whole trial (first stage, then each later
// stage's training epochs; common/sweep_spec.h TrialEpochs). At the end of a
// listed epoch the model as it stands then is measured -- val_accuracy and
// val_loss on the validation split, size_bytes of its compact artifact as it
// would be written then (float until the quantize stage has run, masks
// applied), latency_ms at batch 1 on CPU -- and sent as a progress event
// {phase: rung, rung: {epoch, metrics}}. Training goes on meanwhile; the
// coordinator cancels the trial if MO-ASHA stops it.
//
// With ctx.resume_path set, the units the shared stage trained are loaded
// instead of trained (see RunStage).
//
// Stage semantics: when the pipeline starts with "distill", the student is
// trained from scratch with the distillation loss for distill.epochs (and not
// on hard labels); otherwise it first trains on hard labels for
// student.epochs. The remaining stages run in order: "prune" (schedule and
// fine-tuning with masks re-applied after every step), "quantize" (QAT then
// PTQ of the conv/linear weights), and a later "distill" fine-tunes the
// current model with the distillation loss, keeping pruning masks. The
// deployed weights are re-quantized at the end, so stages after "quantize"
// cannot leave off-grid weights. Structured pruning physically removes
// channels, so later stages see a smaller network.
//
// Metric definitions (beyond the names): params = parameters of the original
// student; nonzero_params = nonzero parameters after compression (removed
// channels count as zero); sparsity = fraction of zero conv/linear weights
// relative to the original student; macs = MACs of the original student at
// batch 1; effective_macs = MACs of the deployed dense network (lower after
// structured pruning; unstructured zeros are not skipped by dense kernels, so
// it equals macs there); dense_size_bytes = 4 * float parameters and buffers
// of the original student; latency_ms = batch-1 CPU median of the deployed
// artifact, on LibTorch's int8 kernels for 8-bit linear symmetric models
// (then val_accuracy, val_loss, test_accuracy and test_loss are the int8
// network's own, also reported as int8_val_accuracy, int8_val_loss,
// int8_test_accuracy, int8_test_loss; fakequant_val_accuracy and
// fakequant_test_accuracy are the float emulation of the same weights;
// float_latency_ms is float kernels' latency, timed alternating; a trial
// whose int8 network cannot be built fails, never falls back to float; and
// qengine, the quantized engine
// used, also sent as a progress event {phase: int8, qengine}; "int8" says
// which). Such a trial fails when this LibTorch has no quantized engine.
// Deployable files: the artifact records the raw input's preprocessing and,
// for int8 trials, the calibrated activation parameters (its "deploy"
// block), and the trial writes model.pt (TorchScript) and model.onnx (zoo
// archs) from it beside model.csa, reporting deploy_size_bytes_torchscript,
// deploy_size_bytes_onnx (bytes of those files), deploy_int8 (1 when they
// hold int8 weights) and latency_ms_torchscript (the .pt file loaded with
// torch::jit::load, batch 1, raw input, timed alternating with the others).
Result<nlohmann::json> RunTrial(const nlohmann::json& settings, const std::string& teacher_path,
                                const RunContext& ctx);

// Runs a shared stage: the training units [ctx.resume_units,
// settings["stage"]["units"]) of a trial's pipeline (common/stage_plan.h), as
// RunTrial would run them, then saves the model (masks applied) to out_path
// with SaveModel. A trial resuming from that checkpoint (ctx.resume_*) loads
// it, takes the zeros of its pruned weights as its masks, and trains on; its
// rung epochs count the stage's epochs. Returns {val_accuracy, val_loss,
// train_seconds, units, epochs (trained here)}.
Result<nlohmann::json> RunStage(const nlohmann::json& settings, const std::string& teacher_path,
                                const std::string& out_path, const RunContext& ctx);

// One-time process set-up for fast CPU training (thread count, malloc tuning).
void ConfigureRuntime(int num_threads);

}  // namespace compsweep::experiments
