#include "worker/worker.h"

#include <sched.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "worker/loop.h"
#include "worker/program_runner.h"
#include "worker/trial_router.h"

namespace compsweep::worker {

namespace {

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

nlohmann::json DeviceInfo(const std::string& device) {
  if (device.rfind("cuda", 0) != 0) {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
        return {{"name", line.substr(line.find(':') + 2)}};
      }
    }
    return nlohmann::json::object();
  }
  size_t index = 0;
  if (device.size() > 5) index = static_cast<size_t>(std::atoi(device.c_str() + 5));
  std::string id = std::to_string(index);
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) {
    std::vector<std::string> ids;
    std::stringstream ss(visible);
    for (std::string item; std::getline(ss, item, ',');) ids.push_back(item);
    if (index < ids.size()) id = ids[index];
  }
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return nlohmann::json::object();
  }
  const std::string cmd =
      "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits -i " + id +
      " 2>/dev/null";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    pclose(p);
  }
  const size_t comma = out.rfind(',');
  if (comma == std::string::npos) return nlohmann::json::object();
  nlohmann::json info = {{"name", out.substr(0, comma)}};
  try {
    info["memory_mb"] = std::stoll(out.substr(comma + 1));
  } catch (const std::exception&) {
  }
  return info;
}

int RunWorker(const WorkerOptions& options, const BuiltinRunnerFactory& builtin,
              const std::atomic<bool>* stop, const std::atomic<bool>* drain) {
  WorkerOptions o = options;
  if (o.id.empty()) {
    std::random_device rd;
    std::ostringstream id;
    id << HostName() << "-" << getpid() << "-" << std::hex << (rd() & 0xffff);
    o.id = id.str();
  }
  if (o.slots < 1) o.slots = 1;
  if (o.threads <= 0) {
    // Count the CPUs this process may use (Slurm/cgroups/taskset), not the host's.
    cpu_set_t set;
    int cpus = static_cast<int>(std::thread::hardware_concurrency());
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
    o.threads = std::max(1, cpus / o.slots);
  }
  auto builtin_runner = builtin(o);
  if (!builtin_runner.ok()) {
    spdlog::error("worker: {}", builtin_runner.status().message());
    return 2;
  }
  ProgramRunnerOptions program_options;
  program_options.device = o.device;
  std::unique_ptr<JobRunner> runner =
      MakeTrialRouter(MakeProgramRunner(program_options), std::move(*builtin_runner));
  spdlog::info("worker {}: connecting to {} (device {}, {} slot(s), {} thread(s))", o.id, o.connect,
               o.device, o.slots, o.threads);
  nlohmann::json hello = runner->Info();
  hello["host"] = HostName();
  hello["version"] = "0.1.0";
  if (auto info = DeviceInfo(o.device); !info.empty()) hello["device_info"] = info;
  try {
    SystemClock clock;
    // Stopping cancels the running jobs and joins their threads.
    WorkerLoop loop(o, runner.get(), &clock, hello);
    return loop.Run(stop, drain);
  } catch (const std::exception& e) {
    spdlog::error("worker {}: fatal: {}", o.id, e.what());
    return 1;
  }
}

}  // namespace compsweep::worker
