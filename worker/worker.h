// Worker: connects to a coordinator (ZeroMQ DEALER), announces its device and
// slots, pulls trials when a slot is free, runs each on a job thread (program
// trials through worker/program_runner.h, the others through the built-in
// runner the caller gives: the LibTorch pipeline), streams progress, and keeps heartbeats flowing
// while training. Reconnects with exponential backoff when the coordinator goes quiet; results wait
// in an outbox until the coordinator acknowledges them. Thread-safety: Run on one thread (the loop
// thread owns the socket); Stop from any thread or a signal handler (it only sets an atomic flag).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "worker/runner.h"

namespace compsweep::worker {

struct WorkerOptions {
  std::string connect = "tcp://127.0.0.1:5555";
  std::string device = "cpu";  // cpu | cuda | cuda:N
  int slots = 1;
  int threads = 0;  // intra-op threads for LibTorch; 0 = cores / slots
  std::string cache_dir = ".cache/compsweep";
  std::string id;  // default: host-pid-random
  int64_t heartbeat_ms = 1000;
  int liveness = 4;
  int64_t max_backoff_ms = 32000;
  // Lock file shared by the workers of one machine so a latency is never timed
  // while another of them trains (see experiments::RunContext::cpu_guard).
  // Empty disables it.
  std::string cpu_lock = "/tmp/compsweep-cpu.lock";
  // A trial's compact model goes to the coordinator with its result; once that
  // result is acknowledged the local copy (cache_dir/artifacts/<trial>-<attempt>)
  // is deleted unless this is set.
  bool keep_artifacts = false;
  // Folders absolute data and model paths may lie under (empty: the default,
  // /usr/share/datasets); each file is checked again, once links are resolved,
  // before it is opened (see experiments::RunContext::path_roots).
  std::vector<std::string> path_roots;
  // CurveZMQ (common/curve_keys.h), all Z85 or all empty: this worker's key pair
  // and the coordinator's public key.
  std::string curve_public_key;
  std::string curve_secret_key;
  std::string curve_server_key;
};

// What the worker runs on, sent in HELLO and shown in the dashboard's worker panel:
// for cuda devices {"name", "memory_mb"} of the GPU from nvidia-smi (the index
// mapped through CUDA_VISIBLE_DEVICES, as CUDA numbers the devices it sees), for
// cpu {"name"} of the CPU model; {} when unknown.
nlohmann::json DeviceInfo(const std::string& device);

// Makes the runner of built-in trials and teachers (worker/builtin_runner.h).
using BuiltinRunnerFactory =
    std::function<Result<std::unique_ptr<JobRunner>>(const WorkerOptions&)>;

// Runs until *stop, or until *drain is set and no trial is left running (a
// draining worker asks for no more work). Returns 0 after a clean stop,
// non-zero on a fatal error (message logged).
int RunWorker(const WorkerOptions& options, const BuiltinRunnerFactory& builtin,
              const std::atomic<bool>* stop, const std::atomic<bool>* drain = nullptr);

}  // namespace compsweep::worker
