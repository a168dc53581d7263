#include "worker/torch_runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "experiments/pipeline.h"
#include "worker/builtin_runner.h"

namespace compsweep::worker {

namespace fs = std::filesystem;

namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("reading " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return IoError("reading " + path);
  return ss.str();
}

// Host-wide reader/writer lock over two files with flock(2): training steps are
// readers, timing measurements writers. The turnstile keeps a waiting writer
// from starving behind a stream of readers. Each job opens its own descriptors,
// so the lock also works between threads of one process.
std::function<std::shared_ptr<void>(bool)> MakeCpuGuard(const std::string& base) {
  if (base.empty()) return nullptr;
  // Read-only descriptors are enough for flock, so workers of other users can share it.
  int gate = open((base + ".turnstile").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
  int data = open(base.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
  if (gate < 0 || data < 0) {
    if (gate >= 0) close(gate);
    if (data >= 0) close(data);
    spdlog::warn("worker: cannot open CPU lock {}: timings are not isolated", base);
    return nullptr;
  }
  auto fds = std::shared_ptr<std::pair<int, int>>(new std::pair<int, int>(gate, data),
                                                  [](std::pair<int, int>* p) {
                                                    close(p->first);
                                                    close(p->second);
                                                    delete p;
                                                  });
  return [fds](bool exclusive) -> std::shared_ptr<void> {
    const int gate = fds->first, data = fds->second;
    while (flock(gate, LOCK_EX) != 0 && errno == EINTR) {
    }
    while (flock(data, exclusive ? LOCK_EX : LOCK_SH) != 0 && errno == EINTR) {
    }
    if (!exclusive) flock(gate, LOCK_UN);
    return std::shared_ptr<void>(nullptr, [fds, exclusive](void*) {
      flock(fds->second, LOCK_UN);
      if (exclusive) flock(fds->first, LOCK_UN);
    });
  };
}

class TorchRunner : public JobRunner {
 public:
  explicit TorchRunner(WorkerOptions options) : opts_(std::move(options)) {}

  JobOutcome Run(const JobSpec& job, const JobHooks& hooks) override {
    // OpenMP's thread count is a per-thread setting: a new job thread would
    // otherwise use one thread per core and fight the other slots and workers.
    at::set_num_threads(opts_.threads);
    experiments::RunContext rc;
    rc.device = opts_.device;
    rc.cache_dir = opts_.cache_dir;
    rc.artifact_dir = job.artifact_dir;
    rc.cancelled = hooks.cancelled;
    rc.on_progress = hooks.progress;
    rc.cpu_guard = MakeCpuGuard(opts_.cpu_lock);
    rc.resume_path = job.resume_path;
    rc.resume_units = job.resume_units;
    if (!opts_.path_roots.empty()) rc.path_roots = opts_.path_roots;
    JobOutcome out;
    try {
      const auto t0 = std::chrono::steady_clock::now();
      Result<nlohmann::json> r = Internal("unknown task kind " + job.kind);
      std::string model_path;
      if (job.kind == "teacher") {
        r = experiments::TrainTeacher(job.settings, job.teacher_path, rc);
        model_path = job.teacher_path;
      } else if (job.kind == "stage") {
        r = experiments::RunStage(job.settings, job.teacher_path, job.stage_path, rc);
        model_path = job.stage_path;
      } else if (job.kind == "trial") {
        std::error_code ec;
        fs::create_directories(rc.artifact_dir, ec);
        if (ec) {
          out.status = IoError("creating " + rc.artifact_dir + ": " + ec.message());
          return out;
        }
        r = experiments::RunTrial(job.settings, job.teacher_path, rc);
        // The compact model goes with the result, so the coordinator keeps the
        // deployable model of every trial wherever it ran (it is the size the
        // trial reports: tens to hundreds of KB).
        model_path = (fs::path(rc.artifact_dir) / "model.csa").string();
      }
      if (!r.ok()) {
        out.status = r.status();
        return out;
      }
      auto model = ReadFile(model_path);
      if (!model.ok()) {
        out.status = model.status();
        return out;
      }
      out.metrics = *r;
      if (!out.metrics.contains("wall_seconds")) {
        out.metrics["wall_seconds"] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      out.model = std::move(*model);
    } catch (const c10::Error& e) {
      out.status = Internal(e.what_without_backtrace());
    } catch (const std::exception& e) {
      out.status = Internal(e.what());
    }
    return out;
  }

  nlohmann::json Info() const override {
    nlohmann::json info = {{"torch", TORCH_VERSION}};
    if (opts_.device.rfind("cuda", 0) == 0) {
      info["gpus"] = static_cast<int64_t>(torch::cuda::device_count());
    }
    return info;
  }

 private:
  WorkerOptions opts_;
};

}  // namespace

Result<std::unique_ptr<JobRunner>> MakeBuiltinRunner(const WorkerOptions& options) {
  return MakeTorchRunner(options);
}

Result<std::unique_ptr<JobRunner>> MakeTorchRunner(const WorkerOptions& o) {
  try {
    torch::Device dev(o.device);
    if (dev.is_cuda() && !torch::cuda::is_available()) {
      return FailedPrecondition("device " + o.device +
                                " requested but CUDA is not available to this LibTorch (" +
                                TORCH_VERSION + ")");
    }
  } catch (const c10::Error& e) {
    return InvalidArgument("bad device '" + o.device + "': " + e.what_without_backtrace());
  }
  experiments::ConfigureRuntime(o.threads);
  return std::unique_ptr<JobRunner>(new TorchRunner(o));
}

}  // namespace compsweep::worker
