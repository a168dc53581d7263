#include "worker/loop.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <random>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "common/atomic_file.h"
#include "common/log_text.h"

namespace compsweep::worker {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

namespace {

// Sends all frames of m without blocking: a DEALER with no live connection
// (coordinator down, or refusing this worker's CURVE key) would otherwise block
// forever. False when the message could not be queued; the other frames of a
// multipart message never block once the first is queued.
bool SendNow(zmq::socket_t& s, const Message& m) {
  auto frames = protocol::Encode(m);
  for (size_t i = 0; i < frames.size(); ++i) {
    auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (i == 0) flags = flags | zmq::send_flags::dontwait;
    if (!s.send(zmq::buffer(frames[i]), flags)) return false;
  }
  return true;
}

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

}  // namespace

std::string WorkerLoop::ArtifactDir(const WorkerOptions& o, int64_t trial_id, int attempt) {
  return (fs::path(o.cache_dir) / "artifacts" /
          (std::to_string(trial_id) + "-" + std::to_string(attempt)))
      .string();
}

WorkerLoop::WorkerLoop(WorkerOptions options, JobRunner* runner, const Clock* clock,
                       nlohmann::json hello_info)
    : opts_(std::move(options)),
      runner_(runner),
      clock_(clock),
      hello_info_(std::move(hello_info)),
      ctx_(1),
      wake_in_(ctx_, zmq::socket_type::pull) {
  static std::atomic<int> counter{0};
  wake_endpoint_ = "inproc://worker-wake-" + std::to_string(counter++);
  std::random_device rd;
  char nonce[17];
  std::snprintf(nonce, sizeof(nonce), "%08x%08x", rd(), rd());
  incarnation_ = nonce;
  wake_in_.bind(wake_endpoint_);
  fs::create_directories(fs::path(opts_.cache_dir) / "teachers");
  fs::create_directories(fs::path(opts_.cache_dir) / "stages");
  fs::create_directories(fs::path(opts_.cache_dir) / "artifacts");
}

WorkerLoop::~WorkerLoop() {
  for (auto& [key, job] : jobs_) job.cancel->store(true);
  for (auto& [key, job] : jobs_) {
    if (job.thread.joinable()) job.thread.join();
  }
  dealer_.reset();
}

void WorkerLoop::Start() {
  const int64_t now = clock_->NowMs();
  next_heartbeat_ms_ = now + opts_.heartbeat_ms;
  Connect();
}

void WorkerLoop::Connect() {
  dealer_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  dealer_->set(zmq::sockopt::routing_id, opts_.id);
  dealer_->set(zmq::sockopt::linger, 0);
  if (!opts_.curve_server_key.empty()) {
    dealer_->set(zmq::sockopt::curve_serverkey, opts_.curve_server_key);
    dealer_->set(zmq::sockopt::curve_publickey, opts_.curve_public_key);
    dealer_->set(zmq::sockopt::curve_secretkey, opts_.curve_secret_key);
  }
  dealer_->connect(opts_.connect);
  reconnect_at_ms_ = -1;
  last_heard_ms_ = clock_->NowMs();
  SendHello();
}

void WorkerLoop::Disconnect() {
  spdlog::warn("worker {}: coordinator silent for {} ms; reconnecting in {} ms{}", opts_.id,
               clock_->NowMs() - last_heard_ms_, backoff_ms_,
               opts_.curve_server_key.empty()
                   ? ""
                   : " (CURVE: is the coordinator's public key right, and this worker's "
                     "public key in its clients folder?)");
  dealer_.reset();
  reconnect_at_ms_ = clock_->NowMs() + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, opts_.max_backoff_ms);
}

nlohmann::json WorkerLoop::RunningList() const {
  nlohmann::json running = nlohmann::json::array();
  for (const auto& [key, job] : jobs_) running.push_back({key.first, key.second});
  return running;
}

void WorkerLoop::SendHello() {
  nlohmann::json hello = hello_info_;
  hello["worker_id"] = opts_.id;
  hello["device"] = opts_.device;
  hello["slots"] = opts_.slots;
  hello["threads"] = opts_.threads;
  hello["pid"] = static_cast<int64_t>(getpid());
  hello["running"] = RunningList();
  hello["incarnation"] = incarnation_;
  hello["tasks_seen"] = {{"epoch", tasks_seen_epoch_}, {"seq", tasks_seen_seq_}};
  last_hello_ms_ = clock_->NowMs();
  Send(Message{MsgType::kHello, hello, ""});
  // Results not yet acknowledged go again: the coordinator stores each once
  // and acknowledges duplicates of what it has stored.
  for (const auto& [key, msg] : outbox_) Send(msg);
  SendReady();
}

void WorkerLoop::SendReady() {
  if (draining()) return;
  size_t parked = 0;
  for (const auto& [hash, p] : parked_) parked += p.jobs.size();
  const int free = opts_.slots - static_cast<int>(jobs_.size() + parked);
  if (free > 0) Send(Message{MsgType::kReady, {{"free_slots", free}}, ""});
}

void WorkerLoop::SendHeartbeat() {
  Send(Message{MsgType::kHeartbeat, {{"running", RunningList()}}, ""});
}

void WorkerLoop::Send(const Message& m) {
  if (!dealer_) return;
  try {
    // Unsent results stay in the outbox and go again after a reconnect; a lost
    // HELLO, READY or HEARTBEAT is sent again anyway.
    if (!SendNow(*dealer_, m)) {
      spdlog::debug("worker {}: no connection; {} not sent", opts_.id, TypeName(m.type));
    }
  } catch (const zmq::error_t& e) {
    spdlog::warn("worker {}: send {}: {}", opts_.id, TypeName(m.type), e.what());
  }
}

void WorkerLoop::Step(int64_t max_wait_ms) {
  const int64_t now = clock_->NowMs();
  if (!dealer_ && reconnect_at_ms_ >= 0 && now >= reconnect_at_ms_) Connect();
  std::vector<zmq::pollitem_t> items = {{wake_in_.handle(), 0, ZMQ_POLLIN, 0}};
  if (dealer_) items.push_back({dealer_->handle(), 0, ZMQ_POLLIN, 0});
  const int64_t wait = std::clamp<int64_t>(next_heartbeat_ms_ - now, 0, max_wait_ms);
  try {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait));
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
  }
  DrainCoordinator();
  DrainJobs();
  const int64_t after = clock_->NowMs();
  if (after >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = after + opts_.heartbeat_ms;
    SendHeartbeat();
  }
  if (dealer_ && after - last_heard_ms_ > opts_.heartbeat_ms * opts_.liveness) Disconnect();
}

int WorkerLoop::Run(const std::atomic<bool>* stop, const std::atomic<bool>* drain) {
  drain_ = drain;
  Start();
  bool announced_drain = false;
  while (!stop->load()) {
    if (draining()) {
      if (!announced_drain) {
        spdlog::info("worker {}: draining: finishing {} running trial(s), taking no more", opts_.id,
                     jobs_.size());
        announced_drain = true;
      }
      if (jobs_.empty() && parked_.empty() && outbox_.empty()) break;
    }
    // Wake at least every 200 ms to notice Stop (signal handlers only set a flag).
    Step(200);
  }
  if (dealer_) {
    try {
      SendNow(*dealer_, Message{MsgType::kBye, {}, ""});
      // Give the I/O thread a moment to put BYE on the wire so the coordinator
      // re-queues our trials at once instead of after the liveness window.
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    } catch (const zmq::error_t&) {
    }
  }
  return 0;
}

void WorkerLoop::DrainCoordinator() {
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
    last_heard_ms_ = clock_->NowMs();
    backoff_ms_ = 1000;
    Handle(*msg);
  }
}

void WorkerLoop::Handle(const Message& m) {
  switch (m.type) {
    case MsgType::kTask:
      OnTask(m.body);
      break;
    case MsgType::kCancel: {
      auto it = jobs_.find({m.body["trial_id"].get<int64_t>(), m.body["attempt"].get<int>()});
      if (it != jobs_.end()) it->second.cancel->store(true);
      break;
    }
    case MsgType::kAck:
      OnAck(m.body);
      break;
    case MsgType::kHeartbeat:
      // A restarted coordinator answers every message that was queued before
      // our HELLO reached it with a request for one: one HELLO per heartbeat
      // interval is enough (the next request comes with the next heartbeat).
      if (m.body.value("reregister", false) &&
          (last_hello_ms_ < 0 || clock_->NowMs() - last_hello_ms_ >= opts_.heartbeat_ms)) {
        SendHello();
      }
      break;
    case MsgType::kArtifact:
      OnArtifact(m);
      break;
    default:
      spdlog::warn("worker {}: unexpected {}", opts_.id, TypeName(m.type));
  }
}

void WorkerLoop::OnAck(const nlohmann::json& body) {
  const Key key{body["trial_id"].get<int64_t>(), body["attempt"].get<int>()};
  auto it = outbox_.find(key);
  if (it == outbox_.end()) return;
  // One line per ACK; tests/chaos matches the first form ("acknowledged ... trial
  // T attempt A") to check that every acknowledged result is in the database.
  const bool stored = body.value("stored", true);
  if (it->second.type == MsgType::kResult && stored) {
    spdlog::info("worker {}: acknowledged result of trial {} attempt {} (stored)", opts_.id,
                 key.first, key.second);
  } else if (it->second.type == MsgType::kResult) {
    spdlog::info("worker {}: result of trial {} attempt {} not needed (stale), dropped", opts_.id,
                 key.first, key.second);
  } else {
    spdlog::info("worker {}: the coordinator has the failure of trial {} attempt {}", opts_.id,
                 key.first, key.second);
  }
  // The coordinator holds the result now and, with it, the model it carried.
  if (it->second.type == MsgType::kResult && !it->second.payload.empty() && !opts_.keep_artifacts) {
    std::error_code ec;
    fs::remove_all(ArtifactDir(opts_, key.first, key.second), ec);
  }
  outbox_.erase(it);
  ++acknowledged_;
}

std::string WorkerLoop::TeacherPath(const std::string& hash) const {
  return (fs::path(opts_.cache_dir) / "teachers" / (hash + ".pt")).string();
}

std::string WorkerLoop::StagePath(const std::string& hash) const {
  return (fs::path(opts_.cache_dir) / "stages" / (hash + ".pt")).string();
}

void WorkerLoop::OnTask(const nlohmann::json& body) {
  JobSpec job;
  job.trial_id = body["trial_id"].get<int64_t>();
  job.attempt = body["attempt"].get<int>();
  job.kind = body["kind"].get<std::string>();
  job.settings = body["settings"];
  const auto epoch = body.find("epoch");
  const auto seq = body.find("seq");
  if (epoch != body.end() && epoch->is_string() && seq != body.end() && seq->is_number_unsigned()) {
    if (*epoch != tasks_seen_epoch_) {
      tasks_seen_epoch_ = epoch->get<std::string>();
      tasks_seen_seq_ = 0;
    }
    tasks_seen_seq_ = std::max(tasks_seen_seq_, seq->get<uint64_t>());
  }
  const Key key{job.trial_id, job.attempt};
  if (jobs_.count(key) || outbox_.count(key)) return;  // a TASK sent twice
  // Hashes of the models the task names: teacher, its own stage, the stage it
  // resumes from.
  auto hash_of = [&](const char* field, std::string* out) {
    out->clear();
    auto f = body.find(field);
    if (f != body.end() && f->is_object()) {
      auto h = f->find("hash");
      if (h != f->end() && h->is_string()) *out = h->get<std::string>();
    }
    if (!IsHex(*out) || out->size() > 128) {
      Fail(job, std::string("bad ") + field + " hash '" + LogSafe(*out) + "'");
      return false;
    }
    return true;
  };
  std::string teacher_hash, stage_hash, resume_hash;
  if (!hash_of("teacher", &teacher_hash) || !hash_of("stage", &stage_hash) ||
      !hash_of("resume", &resume_hash)) {
    return;
  }
  if (!resume_hash.empty()) {
    const auto& units = body["resume"].find("units");
    if (units == body["resume"].end() || !units->is_number_integer() || units->get<int>() < 1) {
      Fail(job, "resume without a unit count");
      return;
    }
    job.resume_path = StagePath(resume_hash);
    job.resume_units = units->get<int>();
  }
  if (job.kind == "teacher") {
    if (teacher_hash.empty()) {
      Fail(job, "teacher task without a hash");
      return;
    }
    job.teacher_path = TeacherPath(teacher_hash);
  } else if (job.kind == "trial" || job.kind == "stage") {
    if (job.kind == "stage") {
      if (stage_hash.empty()) {
        Fail(job, "stage task without a hash");
        return;
      }
      job.stage_path = StagePath(stage_hash);
    }
    job.artifact_dir = ArtifactDir(opts_, job.trial_id, job.attempt);
    if (!teacher_hash.empty()) job.teacher_path = TeacherPath(teacher_hash);
  } else {
    Fail(job, "unknown task kind '" + LogSafe(job.kind) + "'");
    return;
  }
  StartWhenReady(std::move(job));
}

void WorkerLoop::StartWhenReady(JobSpec job) {
  // Models are fetched once per hash and kept in the cache folder.
  auto missing = [&](const std::string& path) { return !path.empty() && !fs::exists(path); };
  std::string path, what;
  if (job.kind != "teacher" && missing(job.teacher_path)) {
    path = job.teacher_path;
    what = "teacher";
  } else if (missing(job.resume_path)) {
    path = job.resume_path;
    what = "stage";
  }
  if (path.empty()) {
    Start(std::move(job));
    return;
  }
  const std::string hash = fs::path(path).stem().string();
  Parked& p = parked_[hash];
  const bool first = p.jobs.empty();
  p.path = path;
  p.what = what;
  p.jobs.push_back(std::move(job));
  if (first) Send(Message{MsgType::kFetch, {{"hash", hash}}, ""});
}

void WorkerLoop::OnArtifact(const Message& m) {
  const std::string hash = m.body["hash"].get<std::string>();
  auto it = parked_.find(hash);
  if (it == parked_.end()) return;
  Parked p = std::move(it->second);
  parked_.erase(it);
  if (!m.body.value("found", false) || m.payload.empty()) {
    for (auto& j : p.jobs) Fail(j, p.what + " " + hash + " not available from the coordinator");
    return;
  }
  const Status st = WriteFileAtomically(p.path, m.payload);
  if (!st.ok()) {
    for (auto& j : p.jobs) Fail(j, "keeping " + p.what + " " + hash + ": " + st.message());
    return;
  }
  for (auto& j : p.jobs) StartWhenReady(std::move(j));
}

void WorkerLoop::Fail(const JobSpec& job, const std::string& error) {
  Message m{MsgType::kFailed,
            {{"trial_id", job.trial_id}, {"attempt", job.attempt}, {"error", error}},
            ""};
  outbox_[{job.trial_id, job.attempt}] = m;
  Send(m);
  SendReady();
}

void WorkerLoop::PushEvent(JobEvent event) {
  std::lock_guard<std::mutex> lock(events_mu_);
  events_.push_back(std::move(event));
}

void WorkerLoop::Start(JobSpec job) {
  const Key key{job.trial_id, job.attempt};
  spdlog::info("worker {}: start {} {} attempt {}", opts_.id, job.kind, job.trial_id, job.attempt);
  Running& r = jobs_[key];
  r.spec = job;
  r.cancel = std::make_shared<std::atomic<bool>>(false);
  auto cancel = r.cancel;
  r.thread = std::thread([this, job = std::move(job), cancel, key] {
    zmq::socket_t wake(ctx_, zmq::socket_type::push);
    wake.set(zmq::sockopt::linger, 1000);
    wake.connect(wake_endpoint_);
    auto notify = [&wake] { wake.send(zmq::str_buffer("j"), zmq::send_flags::dontwait); };
    JobHooks hooks;
    hooks.cancelled = [cancel] { return cancel->load(); };
    hooks.progress = [&](const nlohmann::json& data) {
      PushEvent(JobEvent{key, false, data, {}});
      notify();
    };
    JobOutcome outcome;
    try {
      outcome = runner_->Run(job, hooks);
    } catch (const std::exception& e) {
      outcome.status = Internal(std::string("job runner threw: ") + e.what());
    }
    PushEvent(JobEvent{key, true, {}, std::move(outcome)});
    notify();
  });
}

void WorkerLoop::DrainJobs() {
  while (true) {
    zmq::message_t m;
    if (!wake_in_.recv(m, zmq::recv_flags::dontwait)) break;
  }
  std::deque<JobEvent> events;
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    events.swap(events_);
  }
  for (auto& e : events) {
    if (!e.done) {
      Send(Message{MsgType::kProgress,
                   {{"trial_id", e.key.first}, {"attempt", e.key.second}, {"data", e.progress}},
                   ""});
      continue;
    }
    Finish(e.key, std::move(e.outcome));
  }
}

void WorkerLoop::Finish(const Key& key, JobOutcome outcome) {
  auto it = jobs_.find(key);
  if (it != jobs_.end()) {
    if (it->second.thread.joinable()) it->second.thread.join();
    jobs_.erase(it);
  }
  Message m;
  if (outcome.status.ok()) {
    m = Message{MsgType::kResult,
                {{"trial_id", key.first}, {"attempt", key.second}, {"metrics", outcome.metrics}},
                std::move(outcome.model)};
  } else {
    m = Message{
        MsgType::kFailed,
        {{"trial_id", key.first}, {"attempt", key.second}, {"error", outcome.status.ToString()}},
        ""};
  }
  spdlog::info("worker {}: {} trial {} attempt {}", opts_.id,
               m.type == MsgType::kResult ? "finished" : "failed", key.first, key.second);
  outbox_[key] = m;
  Send(m);
  SendReady();
}

}  // namespace compsweep::worker
