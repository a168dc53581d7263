#include "coordinator/core.h"

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/curve_keys.h"
#include "coordinator/artifact_paths.h"

namespace compsweep::coordinator {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

namespace {

// Writes bytes through a temporary file and a rename, so that nobody (a FETCH, an
// export) ever reads half a file; a failed write leaves nothing behind.
std::error_code WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::error_code ec;
  {
    std::ofstream out(path + ".tmp", std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) ec = std::make_error_code(std::errc::io_error);
  }
  if (!ec) fs::rename(path + ".tmp", path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(path + ".tmp", ignored);
  }
  return ec;
}

// At most this many messages are handled between two database flushes, so a burst
// of results is one transaction while the loop still flushes regularly.
constexpr int kMaxBatch = 4096;

bool IsHexHash(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string SpecHash(const SweepSpec& spec, const std::vector<TrialConfig>& trials) {
  nlohmann::json j;
  j["name"] = spec.name;
  j["max_retries"] = spec.max_retries;
  j["device"] = spec.device;
  nlohmann::json objectives = nlohmann::json::array();
  for (const auto& o : spec.objectives) objectives.push_back({o.metric, o.maximize});
  j["objectives"] = objectives;
  nlohmann::json hashes = nlohmann::json::array();
  for (const auto& t : trials) hashes.push_back(t.hash);
  j["trials"] = hashes;
  return CanonicalHash(j);
}

}  // namespace

Core::Core(CoreOptions options, EventHub* hub, const Clock* clock, std::unique_ptr<Store> store)
    : options_(std::move(options)),
      hub_(hub),
      clock_(clock),
      store_(std::move(store)),
      scheduler_(clock, SchedulerOptions{options_.heartbeat_ms, options_.liveness}),
      ctx_(1),
      router_(ctx_, zmq::socket_type::router),
      control_(ctx_, zmq::socket_type::pull),
      zap_(ctx_, zmq::socket_type::rep) {}

Core::~Core() {
  Status st = store_->Flush();
  if (!st.ok()) spdlog::error("coordinator: final flush: {}", st.ToString());
}

Result<std::unique_ptr<Core>> Core::Create(const CoreOptions& options, EventHub* hub,
                                           const Clock* clock) {
  CoreOptions opts = options;
  if (opts.artifact_dir.empty()) opts.artifact_dir = DefaultArtifactDir(opts.db_path);
  std::error_code ec;
  fs::create_directories(opts.artifact_dir, ec);
  if (ec) return IoError("creating " + opts.artifact_dir + ": " + ec.message());
  std::set<std::string> clients;
  if (!opts.curve_secret_key.empty()) {
    if (!CurveAvailable()) return FailedPrecondition("this libzmq has no CURVE support");
    ASSIGN_OR_RETURN(clients, ReadCurveClientKeys(opts.curve_clients));
  }
  ASSIGN_OR_RETURN(auto store, Store::Open(opts.db_path, clock));
  std::unique_ptr<Core> core(new Core(opts, hub, clock, std::move(store)));
  core->curve_clients_ = std::move(clients);
  core->curve_clients_read_ms_ = clock->NowMs();
  try {
    if (!opts.curve_secret_key.empty()) {
      // The ZAP handler must exist before the first handshake.
      core->zap_.set(zmq::sockopt::linger, 0);
      core->zap_.bind("inproc://zeromq.zap.01");
      core->router_.set(zmq::sockopt::curve_server, true);
      core->router_.set(zmq::sockopt::curve_secretkey, opts.curve_secret_key);
      core->router_.set(zmq::sockopt::zap_domain, "compsweep");
    }
    core->router_.set(zmq::sockopt::maxmsgsize, opts.max_message_bytes);
    core->router_.set(zmq::sockopt::router_mandatory, 1);
    core->router_.set(zmq::sockopt::router_handover, 1);
    core->router_.set(zmq::sockopt::linger, 0);
    core->router_.bind(opts.bind);
    core->endpoint_ = core->router_.get(zmq::sockopt::last_endpoint);
    static std::atomic<int> counter{0};
    core->control_endpoint_ = "inproc://compsweep-core-" + std::to_string(counter++);
    core->control_.bind(core->control_endpoint_);
  } catch (const zmq::error_t& e) {
    return Unavailable("binding " + opts.bind + ": " + e.what());
  }
  RETURN_IF_ERROR(core->Recover());
  return core;
}

std::string Core::ArtifactPath(const std::string& hash) const {
  return (fs::path(options_.artifact_dir) / (hash + ".pt")).string();
}

void Core::AddToScheduler(const TrialRow& row) {
  TrialMeta meta;
  meta.sweep_id = row.sweep_id;
  meta.teacher = row.kind == "teacher";
  meta.teacher_id = row.teacher_id;
  meta.hash = row.hash;
  meta_[row.id] = meta;
  TrialSlot slot;
  slot.id = row.id;
  slot.sweep_id = row.sweep_id;
  slot.device = row.device;
  slot.priority = meta.teacher;
  slot.attempt = row.attempt;
  slot.retries_used = row.retries;
  slot.max_retries = row.max_retries;
  if (row.teacher_id) {
    auto st = scheduler_.StateOf(*row.teacher_id);
    if (!st || *st != TrialState::kSucceeded) slot.blocked_on = row.teacher_id;
  }
  scheduler_.AddTrial(slot);
}

Status Core::Recover() {
  ASSIGN_OR_RETURN(auto rows, store_->LoadActiveTrials());
  ASSIGN_OR_RETURN(auto sweeps, store_->ActiveSweeps());
  for (const auto& s : sweeps) remaining_[s.id] = 0;
  // Teachers first, so dependents know whether to wait.
  std::stable_sort(rows.begin(), rows.end(), [](const TrialRow& a, const TrialRow& b) {
    return (a.kind == "teacher") > (b.kind == "teacher");
  });
  int interrupted = 0;
  for (auto& row : rows) {
    if (row.kind == "teacher" && row.state == TrialState::kSucceeded) {
      if (fs::exists(ArtifactPath(row.hash))) {
        TrialMeta meta{row.sweep_id, true, std::nullopt, row.hash};
        meta_[row.id] = meta;
        // Known as succeeded, so its dependents are not blocked.
        TrialSlot slot;
        slot.id = row.id;
        slot.sweep_id = row.sweep_id;
        slot.attempt = row.attempt;
        scheduler_.AddSucceeded(slot);
        continue;
      }
      spdlog::warn("coordinator: teacher artifact {} missing; training it again", row.hash);
      store_->SetTrialState(row.id, TrialState::kQueued);
      row.state = TrialState::kQueued;
    }
    if (row.state == TrialState::kRunning || row.state == TrialState::kLost) {
      // Interrupted by a coordinator stop: not the trial's fault, so no retry is used.
      store_->TrialAttemptEnded(row.id, row.attempt, "", TrialState::kLost, TrialState::kQueued,
                                row.retries, "interrupted: coordinator restarted");
      ++interrupted;
    }
    AddToScheduler(row);
    remaining_[row.sweep_id]++;
  }
  for (auto& [sweep, n] : remaining_) {
    if (n == 0) store_->SweepState(sweep, "done");
  }
  RETURN_IF_ERROR(store_->Flush());
  if (!rows.empty()) {
    spdlog::info("coordinator: resumed {} unfinished trials ({} interrupted, re-queued)",
                 rows.size(), interrupted);
  }
  return Status::Ok();
}

// ---- control ----------------------------------------------------------------

void Core::OnCore(std::function<void()> fn) {
  std::promise<void> done;
  auto fut = done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back([&fn, &done] {
      fn();
      done.set_value();
    });
  }
  zmq::socket_t wake(ctx_, zmq::socket_type::push);
  wake.set(zmq::sockopt::linger, 0);
  wake.connect(control_endpoint_);
  wake.send(zmq::str_buffer("w"), zmq::send_flags::none);
  fut.wait();
}

SubmitOutcome Core::Submit(const std::string& yaml_text, const std::string& filename,
                           bool allow_large) {
  SubmitOutcome out;
  ValidateOptions vopts;
  vopts.allow_large = allow_large;
  ParseOutcome parsed = ParseSweepText(yaml_text, filename, vopts);
  if (!parsed.errors.empty() || !parsed.spec) {
    out.errors = parsed.errors;
    out.status = InvalidArgument(std::to_string(parsed.errors.size()) + " error(s) in " + filename);
    return out;
  }
  const SweepSpec& spec = *parsed.spec;
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  const std::string spec_hash = SpecHash(spec, trials);
  out.trials = static_cast<int64_t>(trials.size());
  OnCore([&] {
    auto existing = store_->FindSweepBySpecHash(spec_hash);
    if (existing && existing->state != "cancelled") {
      out.sweep_id = existing->id;
      out.resumed = true;
      return;
    }
    auto created = store_->CreateSweep(spec, trials, spec_hash);
    if (!created.ok()) {
      out.status = created.status();
      return;
    }
    out.sweep_id = *created;
    remaining_[out.sweep_id] = 0;
    auto rows = store_->LoadActiveTrials(out.sweep_id);
    if (!rows.ok()) {
      out.status = rows.status();
      return;
    }
    for (const auto& row : *rows) {
      if (row.sweep_id != out.sweep_id) continue;
      AddToScheduler(row);
      remaining_[out.sweep_id]++;
    }
    if (hub_) {
      hub_->Publish("sweep_submitted",
                    {{"sweep_id", out.sweep_id}, {"name", spec.name}, {"trials", trials.size()}});
    }
    spdlog::info("coordinator: sweep {} '{}' submitted with {} trials", out.sweep_id, spec.name,
                 trials.size());
  });
  return out;
}

Status Core::Cancel(int64_t sweep_id) {
  Status result;
  OnCore([&] {
    auto sweep = store_->GetSweep(sweep_id);
    if (!sweep.ok()) {
      result = sweep.status();
      return;
    }
    if (!sweep->has_value()) {
      result = NotFound("sweep " + std::to_string(sweep_id));
      return;
    }
    for (const auto& a : scheduler_.CancelSweep(sweep_id)) {
      Send(a.worker,
           Message{MsgType::kCancel, {{"trial_id", a.trial_id}, {"attempt", a.attempt}}, ""});
    }
    store_->CancelSweep(sweep_id);
    remaining_.erase(sweep_id);
    if (hub_) hub_->Publish("sweep_updated", {{"sweep_id", sweep_id}, {"state", "cancelled"}});
  });
  return result;
}

Result<int64_t> Core::RetryFailed(int64_t sweep_id) {
  Status status;
  int64_t n = 0;
  OnCore([&] {
    auto ids = store_->FailedTrialIds(sweep_id);
    if (!ids.ok()) {
      status = ids.status();
      return;
    }
    for (int64_t id : *ids) {
      auto row = store_->LoadTrial(id);
      if (!row.ok()) continue;
      row->retries = 0;
      row->state = TrialState::kQueued;
      store_->SetTrialState(id, TrialState::kQueued);
      AddToScheduler(*row);
      remaining_[sweep_id]++;
      ++n;
    }
    if (n > 0) {
      store_->SweepState(sweep_id, "active");
      if (hub_) hub_->Publish("sweep_updated", {{"sweep_id", sweep_id}, {"state", "active"}});
    }
  });
  if (!status.ok()) return status;
  return n;
}

Result<SweepProgress> Core::Progress(int64_t sweep_id) {
  Result<SweepProgress> out = Internal("not run");
  OnCore([&] {
    auto counts = store_->CountTrials(sweep_id);
    if (!counts.ok()) {
      out = counts.status();
      return;
    }
    auto sweep = store_->GetSweep(sweep_id);
    if (!sweep.ok() || !sweep->has_value()) {
      out = NotFound("sweep " + std::to_string(sweep_id));
      return;
    }
    SweepProgress p;
    p.counts = *counts;
    p.state = (*sweep)->state;
    for (const auto& [k, v] : p.counts) p.total += v;
    out = p;
  });
  return out;
}

void Core::Stop() {
  stop_ = true;
  try {
    zmq::socket_t wake(ctx_, zmq::socket_type::push);
    wake.set(zmq::sockopt::linger, 0);
    wake.connect(control_endpoint_);
    wake.send(zmq::str_buffer("s"), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // The loop also notices stop_ at its next heartbeat tick.
  }
}

// ---- loop ---------------------------------------------------------------------

void Core::Run() {
  next_tick_ms_ = clock_->NowMs() + options_.heartbeat_ms;
  std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                        {control_.handle(), 0, ZMQ_POLLIN, 0}};
  const bool curve = !options_.curve_secret_key.empty();
  if (curve) items.push_back({zap_.handle(), 0, ZMQ_POLLIN, 0});
  while (!stop_) {
    int64_t wait = std::max<int64_t>(0, next_tick_ms_ - clock_->NowMs());
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("coordinator: poll: {}", e.what());
      break;
    }
    if (curve && (items[2].revents & ZMQ_POLLIN)) OnZap();
    // Drain the router without blocking, up to a batch.
    for (int i = 0; i < kMaxBatch; ++i) {
      std::vector<zmq::message_t> parts;
      try {
        auto n = zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait);
        if (!n) break;
      } catch (const zmq::error_t& e) {
        spdlog::warn("coordinator: recv: {}", e.what());
        break;
      }
      HandleFrames(parts);
    }
    // Liveness is judged right after draining, never right after the commands:
    // a command can hold this thread for seconds (submitting 200,000 trials took
    // over 4 s here), and the heartbeats that arrived meanwhile must be read
    // before a worker is declared dead for the coordinator's own silence.
    if (clock_->NowMs() >= next_tick_ms_) {
      Tick();
      next_tick_ms_ = clock_->NowMs() + options_.heartbeat_ms;
    }
    // Control wake-ups and commands.
    while (true) {
      zmq::message_t m;
      auto r = control_.recv(m, zmq::recv_flags::dontwait);
      if (!r) break;
    }
    std::vector<std::function<void()>> cmds;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cmds.swap(commands_);
    }
    for (auto& c : cmds) c();
    Dispatch();
    Status st = store_->Flush();
    if (!st.ok()) spdlog::error("coordinator: {}", st.ToString());
  }
  // Answer commands that raced with Stop so no caller waits forever.
  std::vector<std::function<void()>> cmds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cmds.swap(commands_);
  }
  for (auto& c : cmds) c();
  Status st = store_->Flush();
  if (!st.ok()) spdlog::error("coordinator: {}", st.ToString());
}

void Core::HandleFrames(std::vector<zmq::message_t>& parts) {
  if (parts.empty()) return;
  std::string worker = parts[0].to_string();
  std::vector<std::string> frames;
  frames.reserve(parts.size() - 1);
  for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
  auto msg = protocol::Decode(frames);
  if (!msg.ok()) {
    ++dropped_;
    spdlog::warn("coordinator: dropped malformed message from worker '{}': {}",
                 worker.substr(0, 64), msg.status().message());
    return;
  }
  Handle(worker, *msg);
}

void Core::Handle(const std::string& worker, const Message& msg) {
  if (msg.type == MsgType::kHello) {
    OnHello(worker, msg.body);
    return;
  }
  if (!scheduler_.WorkerSeen(worker)) {
    // A worker we do not know (e.g. we restarted): ask it to introduce itself.
    if (msg.type == MsgType::kResult || msg.type == MsgType::kFailed) {
      Send(worker, Message{MsgType::kAck,
                           {{"trial_id", msg.body["trial_id"]}, {"attempt", msg.body["attempt"]}},
                           ""});
    }
    Send(worker, Message{MsgType::kHeartbeat, {{"reregister", true}}, ""});
    return;
  }
  store_->WorkerSeen(worker);
  switch (msg.type) {
    case MsgType::kReady:
      scheduler_.WorkerReady(worker, msg.body["free_slots"].get<int>());
      break;
    case MsgType::kProgress: {
      const int64_t id = msg.body["trial_id"].get<int64_t>();
      const int attempt = msg.body["attempt"].get<int>();
      auto st = scheduler_.StateOf(id);
      if (st && *st == TrialState::kRunning) {
        store_->TrialProgress(id, attempt, msg.body["data"]);
        if (hub_) {
          hub_->Publish("trial_progress", {{"trial_id", id},
                                           {"sweep_id", meta_[id].sweep_id},
                                           {"attempt", attempt},
                                           {"data", msg.body["data"]}});
        }
      }
      break;
    }
    case MsgType::kResult:
      OnResult(worker, msg);
      break;
    case MsgType::kFailed:
      OnFailed(worker, msg.body);
      break;
    case MsgType::kFetch:
      OnFetch(worker, msg.body);
      break;
    case MsgType::kBye: {
      auto lost = scheduler_.RemoveWorker(worker);
      ApplyRequeues(lost, "worker " + worker + " left");
      store_->WorkerState(worker, "gone");
      if (hub_) hub_->Publish("worker_lost", {{"worker", worker}, {"reason", "bye"}});
      break;
    }
    case MsgType::kHeartbeat:
      break;
    default:
      ++dropped_;
      spdlog::warn("coordinator: dropped unexpected {} from worker '{}'", TypeName(msg.type),
                   worker.substr(0, 64));
  }
}

void Core::OnHello(const std::string& worker, const nlohmann::json& body) {
  std::set<std::pair<int64_t, int>> running;
  if (body.contains("running") && body["running"].is_array()) {
    for (const auto& r : body["running"]) {
      if (r.is_array() && r.size() == 2 && r[0].is_number_integer() && r[1].is_number_integer()) {
        running.insert({r[0].get<int64_t>(), r[1].get<int>()});
      }
    }
  }
  const bool known = scheduler_.KnowsWorker(worker);
  auto lost = scheduler_.WorkerHello(worker, body["device"].get<std::string>(),
                                     body["slots"].get<int>(), running);
  ApplyRequeues(lost, "worker " + worker + " restarted");
  store_->WorkerUpsert(worker, body);
  spdlog::info("coordinator: worker {} {} (device {}, {} slots)", worker,
               known ? "reconnected" : "joined", body["device"].get<std::string>(),
               body["slots"].get<int>());
  if (hub_) hub_->Publish("worker_joined", {{"worker", worker}, {"device", body["device"]}});
}

void Core::OnResult(const std::string& worker, const Message& msg) {
  const int64_t id = msg.body["trial_id"].get<int64_t>();
  const int attempt = msg.body["attempt"].get<int>();
  const Message ack{MsgType::kAck, {{"trial_id", id}, {"attempt", attempt}}, ""};
  auto meta_it = meta_.find(id);
  const auto state = scheduler_.StateOf(id);
  if (meta_it != meta_.end() && meta_it->second.teacher &&
      (state == TrialState::kRunning || state == TrialState::kQueued)) {
    // A teacher's result must carry the model; store it before accepting.
    if (msg.payload.empty()) {
      OnFailed(worker,
               {{"trial_id", id}, {"attempt", attempt}, {"error", "teacher result without model"}});
      Send(worker, ack);
      return;
    }
    const std::error_code ec = WriteFileAtomically(ArtifactPath(meta_it->second.hash), msg.payload);
    if (ec) {
      OnFailed(
          worker,
          {{"trial_id", id}, {"attempt", attempt}, {"error", "storing teacher: " + ec.message()}});
      Send(worker, ack);
      return;
    }
  }
  const ResultDisposition d = scheduler_.OnResult(worker, id, attempt);
  Send(worker, ack);
  if (d != ResultDisposition::kAccepted) {
    spdlog::info("coordinator: ignored {} result for trial {} attempt {} from {}",
                 d == ResultDisposition::kDuplicate ? "duplicate" : "stale", id, attempt, worker);
    return;
  }
  store_->TrialSucceeded(id, attempt, msg.body["metrics"]);
  const TrialMeta& meta = meta_[id];
  if (meta.teacher) {
    store_->AddArtifact(meta.hash, "teacher", static_cast<int64_t>(msg.payload.size()),
                        ArtifactPath(meta.hash), id);
    scheduler_.TeacherDone(id, true);
  } else if (!msg.payload.empty()) {
    StoreTrialArtifact(id, attempt, msg);
  }
  if (hub_) {
    hub_->Publish("trial_finished", {{"trial_id", id},
                                     {"sweep_id", meta.sweep_id},
                                     {"state", "succeeded"},
                                     {"kind", meta.teacher ? "teacher" : "trial"},
                                     {"metrics", msg.body["metrics"]}});
  }
  TrialTerminal(id);
}

void Core::StoreTrialArtifact(int64_t id, int attempt, const Message& msg) {
  // The result is already accepted: a model that cannot be kept is logged, and
  // the trial stays succeeded (its metrics were measured on the worker).
  const auto& metrics = msg.body["metrics"];
  const auto reported = metrics.is_object() ? metrics.find("size_bytes") : metrics.end();
  if (reported != metrics.end() && reported->is_number() &&
      reported->get<double>() != static_cast<double>(msg.payload.size())) {
    spdlog::warn("coordinator: trial {} reports size_bytes {} but sent {} bytes; keeping them", id,
                 reported->get<double>(), msg.payload.size());
  }
  const std::string path =
      (fs::path(options_.artifact_dir) / TrialArtifactName(id, attempt)).string();
  if (const std::error_code ec = WriteFileAtomically(path, msg.payload)) {
    spdlog::error("coordinator: keeping the model of trial {}: {}: {}", id, path, ec.message());
    return;
  }
  store_->AddArtifact(TrialArtifactKey(id), "model", static_cast<int64_t>(msg.payload.size()), path,
                      id);
}

// Unknown keys are logged once each, up to this many (a peer that makes up a new
// key per attempt must not grow the set without bound).
constexpr size_t kMaxRefusedKeysLogged = 1000;

void Core::OnZap() {
  // RFC 27: version, request id, domain, address, identity, mechanism,
  // credentials; the reply is version, request id, status code, status text,
  // user id, metadata. A REP socket must answer every request it takes.
  std::vector<zmq::message_t> req;
  try {
    if (!zmq::recv_multipart(zap_, std::back_inserter(req), zmq::recv_flags::dontwait)) return;
  } catch (const zmq::error_t& e) {
    spdlog::warn("coordinator: ZAP recv: {}", e.what());
    return;
  }
  auto frame = [&](size_t i) { return i < req.size() ? req[i].to_string() : std::string(); };
  std::string code = "400", text = "unknown worker key", user;
  const std::string address = frame(3);
  if (req.size() < 7 || frame(0) != "1.0" || frame(5) != "CURVE") {
    code = "500";
    text = "malformed ZAP request";
  } else {
    const std::string key = CurveKeyToZ85(frame(6));
    if (!key.empty() && !curve_clients_.count(key) &&
        clock_->NowMs() - curve_clients_read_ms_ >= 1000) {
      auto fresh = ReadCurveClientKeys(options_.curve_clients);
      curve_clients_read_ms_ = clock_->NowMs();
      if (fresh.ok()) {
        curve_clients_ = std::move(*fresh);
      } else {
        spdlog::warn("coordinator: reading worker keys: {}", fresh.status().ToString());
      }
    }
    if (!key.empty() && curve_clients_.count(key)) {
      code = "200";
      text = "OK";
      user = key;
    } else if (curve_refused_.size() < kMaxRefusedKeysLogged && curve_refused_.insert(key).second) {
      spdlog::warn(
          "coordinator: refused a worker from {} with an unknown CURVE key {} (add its "
          ".pub file to {})",
          address, key.empty() ? "(unreadable)" : key, options_.curve_clients);
    }
  }
  const std::string request_id = frame(1);
  std::vector<zmq::const_buffer> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                          zmq::buffer(code),      zmq::buffer(text),
                                          zmq::buffer(user),      zmq::str_buffer("")};
  try {
    zmq::send_multipart(zap_, reply);
  } catch (const zmq::error_t& e) {
    spdlog::warn("coordinator: ZAP send: {}", e.what());
  }
}

void Core::OnFailed(const std::string& worker, const nlohmann::json& body) {
  const int64_t id = body["trial_id"].get<int64_t>();
  const int attempt = body["attempt"].get<int>();
  const std::string error = body["error"].get<std::string>();
  Send(worker, Message{MsgType::kAck, {{"trial_id", id}, {"attempt", attempt}}, ""});
  auto r = scheduler_.OnFailed(worker, id, attempt);
  if (!r) return;
  spdlog::warn("coordinator: trial {} attempt {} failed on {}: {}", id, attempt, worker, error);
  store_->TrialAttemptEnded(id, attempt, worker, TrialState::kFailed,
                            r->requeued ? TrialState::kQueued : TrialState::kFailed, r->retries,
                            error);
  if (!r->requeued) {
    if (hub_) {
      hub_->Publish("trial_finished", {{"trial_id", id},
                                       {"sweep_id", meta_[id].sweep_id},
                                       {"state", "failed"},
                                       {"error", error}});
    }
    if (meta_[id].teacher) {
      for (int64_t dep : scheduler_.TeacherDone(id, false)) {
        store_->SetTrialState(dep, TrialState::kFailed, "teacher failed: " + error);
        TrialTerminal(dep);
      }
    }
    TrialTerminal(id);
  }
}

void Core::OnFetch(const std::string& worker, const nlohmann::json& body) {
  const std::string hash = body["hash"].get<std::string>();
  Message reply{MsgType::kArtifact, {{"hash", hash}, {"found", false}}, ""};
  if (IsHexHash(hash)) {
    std::ifstream in(ArtifactPath(hash), std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      reply.payload = ss.str();
      reply.body["found"] = !reply.payload.empty();
    }
  }
  Send(worker, reply);
}

void Core::ApplyRequeues(const std::vector<Requeue>& requeues, const std::string& reason) {
  for (const auto& r : requeues) {
    spdlog::warn("coordinator: trial {} attempt {} lost ({}); {}", r.trial_id, r.attempt, reason,
                 r.requeued ? "re-queued" : "no retries left, failed");
    store_->TrialAttemptEnded(r.trial_id, r.attempt, r.worker, TrialState::kLost,
                              r.requeued ? TrialState::kQueued : TrialState::kFailed, r.retries,
                              reason);
    if (!r.requeued) {
      if (meta_[r.trial_id].teacher) {
        for (int64_t dep : scheduler_.TeacherDone(r.trial_id, false)) {
          store_->SetTrialState(dep, TrialState::kFailed, "teacher failed: " + reason);
          TrialTerminal(dep);
        }
      }
      TrialTerminal(r.trial_id);
    }
  }
}

void Core::TrialTerminal(int64_t trial_id) {
  store_->Forget(trial_id);
  const int64_t sweep = meta_[trial_id].sweep_id;
  auto it = remaining_.find(sweep);
  if (it == remaining_.end()) return;
  if (--it->second <= 0) {
    remaining_.erase(it);
    store_->SweepState(sweep, "done");
    spdlog::info("coordinator: sweep {} done", sweep);
    if (hub_) hub_->Publish("sweep_updated", {{"sweep_id", sweep}, {"state", "done"}});
  }
}

void Core::Dispatch() {
  for (const auto& a : scheduler_.Schedule()) {
    const TrialMeta& meta = meta_[a.trial_id];
    auto settings = store_->TrialSettings(a.trial_id);
    if (!settings.ok()) {
      spdlog::error("coordinator: {}", settings.status().ToString());
      continue;
    }
    Message task{MsgType::kTask,
                 {{"trial_id", a.trial_id},
                  {"attempt", a.attempt},
                  {"kind", meta.teacher ? "teacher" : "trial"},
                  {"settings", *settings}},
                 ""};
    if (meta.teacher_id) task.body["teacher"] = {{"hash", meta_[*meta.teacher_id].hash}};
    if (meta.teacher) task.body["teacher"] = {{"hash", meta.hash}};
    store_->TrialStarted(a.trial_id, a.attempt, a.worker);
    Send(a.worker, task);
    if (hub_) {
      hub_->Publish("trial_started", {{"trial_id", a.trial_id},
                                      {"sweep_id", meta.sweep_id},
                                      {"attempt", a.attempt},
                                      {"worker", a.worker}});
    }
  }
}

void Core::Tick() {
  for (const auto& [worker, lost] : scheduler_.ExpireWorkers()) {
    spdlog::warn("coordinator: worker {} missed {} heartbeats: declared dead", worker,
                 options_.liveness);
    ApplyRequeues(lost, "worker " + worker + " stopped answering");
    store_->WorkerState(worker, "lost");
    if (hub_) hub_->Publish("worker_lost", {{"worker", worker}, {"reason", "heartbeat"}});
  }
  for (const auto& w : scheduler_.WorkerIds()) Send(w, Message{MsgType::kHeartbeat, {}, ""});
}

void Core::Send(const std::string& worker, const Message& msg) {
  try {
    std::vector<std::string> frames = protocol::Encode(msg);
    router_.send(zmq::buffer(worker), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames.size(); ++i) {
      router_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the peer is gone; liveness handles its trials.
    spdlog::debug("coordinator: send {} to {}: {}", TypeName(msg.type), worker, e.what());
  }
}

}  // namespace compsweep::coordinator
