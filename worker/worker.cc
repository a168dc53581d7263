#include "worker/worker.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/protocol.h"
#include "experiments/pipeline.h"

namespace compsweep::worker {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

// Sends all frames of m. With dontwait, returns false when the message could not
// be queued at once (a DEALER with no live connection, e.g. while the coordinator
// is down or refuses this worker's CURVE key, would otherwise block forever);
// the other frames of a multipart message never block once the first is queued.
bool SendMsg(zmq::socket_t& s, const Message& m, bool dontwait = false) {
  auto frames = protocol::Encode(m);
  for (size_t i = 0; i < frames.size(); ++i) {
    auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (dontwait && i == 0) flags = flags | zmq::send_flags::dontwait;
    if (!s.send(zmq::buffer(frames[i]), flags)) return false;
  }
  return true;
}

// Where a trial attempt's artifact is written (cli/export.cc looks there too).
std::string ArtifactDir(const WorkerOptions& o, int64_t trial_id, int attempt) {
  return (fs::path(o.cache_dir) / "artifacts" /
          (std::to_string(trial_id) + "-" + std::to_string(attempt)))
      .string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
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

struct Job {
  int64_t trial_id = 0;
  int attempt = 0;
  std::string kind;
  nlohmann::json settings;
  std::string teacher_hash;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

// Everything the loop thread owns.
class Loop {
 public:
  Loop(const WorkerOptions& o, const std::atomic<bool>* stop, const std::atomic<bool>* drain)
      : opts_(o), stop_(stop), drain_(drain), ctx_(1), jobs_in_(ctx_, zmq::socket_type::pull) {
    jobs_endpoint_ = "inproc://worker-jobs";
    jobs_in_.bind(jobs_endpoint_);
    fs::create_directories(fs::path(opts_.cache_dir) / "teachers");
    fs::create_directories(fs::path(opts_.cache_dir) / "artifacts");
  }

  int Run() {
    Connect();
    std::vector<zmq::pollitem_t> items(2);
    int64_t next_hb = NowMs() + opts_.heartbeat_ms;
    bool announced_drain = false;
    while (!stop_->load()) {
      if (draining()) {
        if (!announced_drain) {
          spdlog::info("worker {}: draining: finishing {} running trial(s), taking no more",
                       opts_.id, running_.size());
          announced_drain = true;
        }
        if (running_.empty() && parked_.empty() && outbox_.empty()) break;
      }
      items[0] = {dealer_->handle(), 0, ZMQ_POLLIN, 0};
      items[1] = {jobs_in_.handle(), 0, ZMQ_POLLIN, 0};
      // Wake at least every 200 ms to notice Stop (signal handlers only set a flag).
      const int64_t wait = std::clamp<int64_t>(next_hb - NowMs(), 0, 200);
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait));
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        throw;
      }
      DrainCoordinator();
      DrainJobs();
      const int64_t now = NowMs();
      if (now >= next_hb) {
        next_hb = now + opts_.heartbeat_ms;
        SendHeartbeat();
      }
      if (now - last_heard_ms_ > opts_.heartbeat_ms * opts_.liveness) Reconnect();
    }
    if (dealer_) {
      try {
        SendMsg(*dealer_, Message{MsgType::kBye, {}, ""}, /*dontwait=*/true);
        // The process may exit right after this without terminating the context
        // (job threads still hold sockets): give the I/O thread a moment to
        // put BYE on the wire so the coordinator re-queues our trials at once.
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
      } catch (const zmq::error_t&) {
      }
    }
    for (auto& [key, job] : running_) job.cancel->store(true);
    return 0;
  }

  bool idle() const { return running_.empty(); }

  ~Loop() {
    // Job threads are detached; closing sockets with linger 0 keeps exit quick.
    dealer_.reset();
  }

 private:
  void Connect() {
    dealer_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    dealer_->set(zmq::sockopt::routing_id, opts_.id);
    dealer_->set(zmq::sockopt::linger, 0);
    if (!opts_.curve_server_key.empty()) {
      dealer_->set(zmq::sockopt::curve_serverkey, opts_.curve_server_key);
      dealer_->set(zmq::sockopt::curve_publickey, opts_.curve_public_key);
      dealer_->set(zmq::sockopt::curve_secretkey, opts_.curve_secret_key);
    }
    dealer_->connect(opts_.connect);
    last_heard_ms_ = NowMs();
    SendHello();
  }

  void Reconnect() {
    spdlog::warn("worker {}: coordinator silent for {} ms; reconnecting in {} ms{}", opts_.id,
                 NowMs() - last_heard_ms_, backoff_ms_,
                 opts_.curve_server_key.empty()
                     ? ""
                     : " (CURVE: is the coordinator's public key right, and this worker's "
                       "public key in its clients folder?)");
    dealer_.reset();
    const int64_t until = NowMs() + backoff_ms_;
    // Keep collecting job results (into the outbox) while waiting.
    while (!stop_->load() && NowMs() < until) {
      zmq::pollitem_t item{jobs_in_.handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1,
                  std::chrono::milliseconds(
                      std::max<int64_t>(0, std::min<int64_t>(200, until - NowMs()))));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
      DrainJobs();
    }
    backoff_ms_ = std::min(backoff_ms_ * 2, opts_.max_backoff_ms);
    if (!stop_->load()) Connect();
  }

  void SendHello() {
    nlohmann::json running = nlohmann::json::array();
    for (const auto& [key, job] : running_) running.push_back({job.trial_id, job.attempt});
    nlohmann::json hello = {
        {"worker_id", opts_.id},  {"host", HostName()},     {"pid", static_cast<int64_t>(getpid())},
        {"device", opts_.device}, {"slots", opts_.slots},   {"threads", opts_.threads},
        {"version", "0.1.0"},     {"torch", TORCH_VERSION}, {"running", running}};
    if (opts_.device.rfind("cuda", 0) == 0) {
      hello["gpus"] = static_cast<int64_t>(torch::cuda::device_count());
    }
    if (device_info_.is_null()) device_info_ = DeviceInfo(opts_.device);
    if (!device_info_.empty()) hello["device_info"] = device_info_;
    Send(Message{MsgType::kHello, hello, ""});
    // Results finished while disconnected are sent again; the coordinator ignores duplicates.
    for (const auto& [key, msg] : outbox_) Send(msg);
    SendReady();
  }

  bool draining() const { return drain_ != nullptr && drain_->load(); }

  void SendReady() {
    if (draining()) return;
    const int free = opts_.slots - static_cast<int>(running_.size() + parked_count());
    if (free > 0) Send(Message{MsgType::kReady, {{"free_slots", free}}, ""});
  }

  size_t parked_count() const {
    size_t n = 0;
    for (const auto& [hash, jobs] : parked_) n += jobs.size();
    return n;
  }

  void SendHeartbeat() {
    nlohmann::json running = nlohmann::json::array();
    for (const auto& [key, job] : running_) running.push_back({job.trial_id, job.attempt});
    Send(Message{MsgType::kHeartbeat, {{"running", running}}, ""});
  }

  void Send(const Message& m) {
    if (!dealer_) return;
    try {
      // Unsent results stay in the outbox and go again after a reconnect; a lost
      // HELLO, READY or HEARTBEAT is sent again anyway.
      if (!SendMsg(*dealer_, m, /*dontwait=*/true)) {
        spdlog::debug("worker {}: no connection; {} not sent", opts_.id, TypeName(m.type));
      }
    } catch (const zmq::error_t& e) {
      spdlog::warn("worker {}: send {}: {}", opts_.id, TypeName(m.type), e.what());
    }
  }

  void DrainCoordinator() {
    while (dealer_) {
      std::vector<zmq::message_t> parts;
      auto n = zmq::recv_multipart(*dealer_, std::back_inserter(parts), zmq::recv_flags::dontwait);
      if (!n) return;
      std::vector<std::string> frames;
      for (auto& p : parts) frames.push_back(p.to_string());
      auto msg = protocol::Decode(frames);
      if (!msg.ok()) {
        spdlog::warn("worker {}: dropped malformed message: {}", opts_.id, msg.status().message());
        continue;
      }
      last_heard_ms_ = NowMs();
      backoff_ms_ = 1000;
      Handle(*msg);
    }
  }

  void Handle(const Message& m) {
    switch (m.type) {
      case MsgType::kTask:
        OnTask(m.body);
        break;
      case MsgType::kCancel: {
        auto it = running_.find({m.body["trial_id"].get<int64_t>(), m.body["attempt"].get<int>()});
        if (it != running_.end()) it->second.cancel->store(true);
        break;
      }
      case MsgType::kAck: {
        const std::pair<int64_t, int> key{m.body["trial_id"].get<int64_t>(),
                                          m.body["attempt"].get<int>()};
        auto it = outbox_.find(key);
        if (it == outbox_.end()) break;
        // The coordinator holds the result and, with it, the model it carried.
        if (it->second.type == MsgType::kResult && !it->second.payload.empty() &&
            !opts_.keep_artifacts) {
          std::error_code ec;
          fs::remove_all(ArtifactDir(opts_, key.first, key.second), ec);
        }
        outbox_.erase(it);
        break;
      }
      case MsgType::kHeartbeat:
        if (m.body.value("reregister", false)) SendHello();
        break;
      case MsgType::kArtifact:
        OnArtifact(m);
        break;
      default:
        spdlog::warn("worker {}: unexpected {}", opts_.id, TypeName(m.type));
    }
  }

  std::string TeacherPath(const std::string& hash) const {
    return (fs::path(opts_.cache_dir) / "teachers" / (hash + ".pt")).string();
  }

  void OnTask(const nlohmann::json& body) {
    Job job;
    job.trial_id = body["trial_id"].get<int64_t>();
    job.attempt = body["attempt"].get<int>();
    job.kind = body["kind"].get<std::string>();
    job.settings = body["settings"];
    if (body.contains("teacher") && body["teacher"].is_object()) {
      job.teacher_hash = body["teacher"].value("hash", "");
    }
    for (char c : job.teacher_hash) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) {
        Fail(job, "bad teacher hash");
        return;
      }
    }
    if (job.kind == "trial" && !job.teacher_hash.empty() &&
        !fs::exists(TeacherPath(job.teacher_hash))) {
      const bool first = parked_[job.teacher_hash].empty();
      parked_[job.teacher_hash].push_back(job);
      if (first) Send(Message{MsgType::kFetch, {{"hash", job.teacher_hash}}, ""});
      return;
    }
    Start(job);
  }

  void OnArtifact(const Message& m) {
    const std::string hash = m.body["hash"].get<std::string>();
    auto it = parked_.find(hash);
    if (it == parked_.end()) return;
    std::vector<Job> jobs = std::move(it->second);
    parked_.erase(it);
    if (!m.body.value("found", false) || m.payload.empty()) {
      for (auto& j : jobs) Fail(j, "teacher " + hash + " not available from the coordinator");
      return;
    }
    const std::string path = TeacherPath(hash);
    {
      std::ofstream out(path + ".tmp", std::ios::binary);
      out.write(m.payload.data(), static_cast<std::streamsize>(m.payload.size()));
    }
    fs::rename(path + ".tmp", path);
    for (auto& j : jobs) Start(j);
  }

  void Fail(const Job& job, const std::string& error) {
    Message m{MsgType::kFailed,
              {{"trial_id", job.trial_id}, {"attempt", job.attempt}, {"error", error}},
              ""};
    outbox_[{job.trial_id, job.attempt}] = m;
    Send(m);
    SendReady();
  }

  void Start(Job job) {
    running_[{job.trial_id, job.attempt}] = job;
    spdlog::info("worker {}: start {} {} attempt {}", opts_.id, job.kind, job.trial_id,
                 job.attempt);
    std::thread(&RunJob, job, opts_, jobs_endpoint_, &ctx_).detach();
  }

  // Runs on a job thread. Talks to the loop only through its own PUSH socket.
  static void RunJob(Job job, WorkerOptions opts, std::string endpoint, zmq::context_t* ctx) {
    // OpenMP's thread count is a per-thread setting: a new job thread would
    // otherwise use one thread per core and fight the other slots and workers.
    at::set_num_threads(opts.threads);
    zmq::socket_t out(*ctx, zmq::socket_type::push);
    out.set(zmq::sockopt::linger, 1000);
    out.connect(endpoint);
    experiments::RunContext rc;
    rc.device = opts.device;
    rc.cache_dir = opts.cache_dir;
    rc.artifact_dir = ArtifactDir(opts, job.trial_id, job.attempt);
    fs::create_directories(rc.artifact_dir);
    auto cancel = job.cancel;
    rc.cancelled = [cancel] { return cancel->load(); };
    rc.cpu_guard = MakeCpuGuard(opts.cpu_lock);
    rc.on_progress = [&](const nlohmann::json& data) {
      SendMsg(out, Message{MsgType::kProgress,
                           {{"trial_id", job.trial_id}, {"attempt", job.attempt}, {"data", data}},
                           ""});
    };
    Message done;
    try {
      Result<nlohmann::json> r = Internal("unknown task kind " + job.kind);
      std::string payload;
      const auto t0 = std::chrono::steady_clock::now();
      if (job.kind == "teacher") {
        const std::string path =
            (fs::path(opts.cache_dir) / "teachers" / (job.teacher_hash + ".pt")).string();
        r = experiments::TrainTeacher(job.settings, path, rc);
        if (r.ok()) payload = ReadFile(path);
      } else if (job.kind == "trial") {
        const std::string teacher =
            job.teacher_hash.empty()
                ? ""
                : (fs::path(opts.cache_dir) / "teachers" / (job.teacher_hash + ".pt")).string();
        r = experiments::RunTrial(job.settings, teacher, rc);
        // The compact artifact goes with the result, so that the coordinator keeps
        // the deployable model of every trial wherever the worker ran (it is the
        // size the trial reports: tens to hundreds of KB).
        if (r.ok()) payload = ReadFile((fs::path(rc.artifact_dir) / "model.csa").string());
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r.ok()) {
        nlohmann::json metrics = *r;
        if (!metrics.contains("wall_seconds")) metrics["wall_seconds"] = secs;
        done = Message{MsgType::kResult,
                       {{"trial_id", job.trial_id}, {"attempt", job.attempt}, {"metrics", metrics}},
                       payload};
      } else {
        done = Message{MsgType::kFailed,
                       {{"trial_id", job.trial_id},
                        {"attempt", job.attempt},
                        {"error", r.status().ToString()}},
                       ""};
      }
    } catch (const std::exception& e) {
      done = Message{MsgType::kFailed,
                     {{"trial_id", job.trial_id}, {"attempt", job.attempt}, {"error", e.what()}},
                     ""};
    }
    done.body["__done"] = true;
    SendMsg(out, done);
  }

  void DrainJobs() {
    while (true) {
      std::vector<zmq::message_t> parts;
      auto n = zmq::recv_multipart(jobs_in_, std::back_inserter(parts), zmq::recv_flags::dontwait);
      if (!n) return;
      std::vector<std::string> frames;
      for (auto& p : parts) frames.push_back(p.to_string());
      auto msg = protocol::Decode(frames);
      if (!msg.ok()) continue;
      Message m = std::move(*msg);
      if (m.body.value("__done", false)) {
        m.body.erase("__done");
        const std::pair<int64_t, int> key{m.body["trial_id"].get<int64_t>(),
                                          m.body["attempt"].get<int>()};
        running_.erase(key);
        spdlog::info("worker {}: {} trial {} attempt {}", opts_.id,
                     m.type == MsgType::kResult ? "finished" : "failed", key.first, key.second);
        outbox_[key] = m;
        Send(m);
        SendReady();
      } else {
        Send(m);
      }
    }
  }

  WorkerOptions opts_;
  const std::atomic<bool>* stop_;
  const std::atomic<bool>* drain_;
  zmq::context_t ctx_;
  zmq::socket_t jobs_in_;
  std::string jobs_endpoint_;
  std::unique_ptr<zmq::socket_t> dealer_;
  int64_t last_heard_ms_ = 0;
  int64_t backoff_ms_ = 1000;
  std::map<std::pair<int64_t, int>, Job> running_;
  std::map<std::string, std::vector<Job>> parked_;     // teacher hash -> waiting jobs
  std::map<std::pair<int64_t, int>, Message> outbox_;  // unacknowledged results
  nlohmann::json device_info_;                         // DeviceInfo, read at the first HELLO
};

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

int RunWorker(const WorkerOptions& options, const std::atomic<bool>* stop,
              const std::atomic<bool>* drain) {
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
  try {
    torch::Device dev(o.device);
    if (dev.is_cuda() && !torch::cuda::is_available()) {
      spdlog::error("worker: device {} requested but CUDA is not available", o.device);
      return 2;
    }
  } catch (const c10::Error& e) {
    spdlog::error("worker: bad device '{}': {}", o.device, e.what_without_backtrace());
    return 2;
  }
  experiments::ConfigureRuntime(o.threads);
  spdlog::info("worker {}: connecting to {} (device {}, {} slot(s), {} thread(s))", o.id, o.connect,
               o.device, o.slots, o.threads);
  try {
    // Job threads are detached and may still hold sockets of the loop's context
    // when we stop; the loop is then left to the process exit instead of
    // blocking in zmq_ctx_term.
    auto* loop = new Loop(o, stop, drain);
    int rc = loop->Run();
    if (loop->idle()) delete loop;
    return rc;
  } catch (const std::exception& e) {
    spdlog::error("worker {}: fatal: {}", o.id, e.what());
    return 1;
  }
}

}  // namespace compsweep::worker
