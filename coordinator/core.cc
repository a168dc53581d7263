#include "coordinator/core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <random>
#include <sstream>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/curve_keys.h"
#include "common/log_text.h"
#include "common/stage_plan.h"
#include "coordinator/artifact_paths.h"

namespace compsweep::coordinator {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

namespace {

// At most this many messages are handled between two database flushes, so a burst
// of results is one transaction while the loop still flushes regularly.
constexpr int kMaxBatch = 4096;

// Unknown keys are logged once each, up to this many (a peer that makes up a new
// key per attempt must not grow the set without bound).
constexpr size_t kMaxRefusedKeysLogged = 1000;

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
      zap_(ctx_, zmq::socket_type::rep),
      monitor_(ctx_, zmq::socket_type::pair) {}

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
  {
    std::random_device rd;
    char epoch[17];
    std::snprintf(epoch, sizeof(epoch), "%08x%08x", rd(), rd());
    core->epoch_ = epoch;
  }
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
    // A second connection that claims a connected worker's id is refused by
    // ZeroMQ instead of taking the connection over (and recording results in
    // that worker's name). ZMTP heartbeats close dead connections within a few
    // seconds, so a worker restarted with the same --id gets back in.
    core->router_.set(zmq::sockopt::router_handover, 0);
    core->router_.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(opts.heartbeat_ms));
    core->router_.set(zmq::sockopt::heartbeat_timeout,
                      static_cast<int>(opts.heartbeat_ms * opts.liveness));
    core->router_.set(zmq::sockopt::linger, 0);
    core->router_.bind(opts.bind);
    core->endpoint_ = core->router_.get(zmq::sockopt::last_endpoint);
    static std::atomic<int> counter{0};
    const int n = counter++;
    core->control_endpoint_ = "inproc://compsweep-core-" + std::to_string(n);
    core->control_.bind(core->control_endpoint_);
    const std::string monitor = "inproc://compsweep-core-monitor-" + std::to_string(n);
    if (zmq_socket_monitor(core->router_.handle(), monitor.c_str(),
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
      throw zmq::error_t();
    }
    core->monitor_.set(zmq::sockopt::linger, 0);
    core->monitor_.connect(monitor);
  } catch (const zmq::error_t& e) {
    return Unavailable("binding " + opts.bind + ": " + e.what());
  }
  if (!opts.curve_secret_key.empty()) {
    auto keys = core->store_->WorkerCurveKeys();
    if (!keys.ok()) return keys.status();
    core->worker_keys_.swap(*keys);
  }
  Core* raw = core.get();
  core->writer_ = std::make_unique<ArtifactWriter>(
      [raw](const std::string& error) { raw->SetHealth(/*commit=*/false, error); });
  RETURN_IF_ERROR(core->Recover());
  return core;
}

std::string Core::ArtifactPath(const std::string& hash) const {
  return (fs::path(options_.artifact_dir) / (hash + ".pt")).string();
}

void Core::EnsureDependencyKnown(int64_t id) {
  if (scheduler_.HasTrial(id)) return;
  auto row = store_->LoadTrial(id);
  if (!row.ok()) return;  // never succeeds: its dependents wait (and say so in the API)
  if (row->state != TrialState::kSucceeded) return;
  TrialMeta meta;
  meta.sweep_id = row->sweep_id;
  meta.teacher = row->kind == "teacher";
  meta.stage = row->kind == "stage";
  meta.stage_units = row->params.value("units", 0);
  meta.stage_id = row->stage_id;
  meta.hash = row->hash;
  if (meta.stage) stage_by_key_[{row->sweep_id, row->hash}] = id;
  meta_[id] = std::move(meta);
  TrialSlot slot;
  slot.id = id;
  slot.sweep_id = row->sweep_id;
  slot.attempt = row->attempt;
  scheduler_.AddSucceeded(slot);
}

void Core::AddToScheduler(const TrialRow& row) {
  TrialMeta meta;
  meta.sweep_id = row.sweep_id;
  meta.teacher = row.kind == "teacher";
  meta.baseline = row.kind == "baseline";
  meta.stage = row.kind == "stage";
  if (meta.stage) meta.stage_units = row.params.value("units", 0);
  meta.stage_id = row.stage_id;
  meta.teacher_id = row.teacher_id;
  meta.hash = row.hash;
  if (auto d = search_.find(row.sweep_id); d != search_.end() && d->second->adaptive()) {
    meta.params = row.params;
  }
  if (meta.stage) stage_by_key_[{row.sweep_id, row.hash}] = row.id;
  const bool priority = meta.teacher || meta.baseline || meta.stage;
  meta_[row.id] = std::move(meta);
  TrialSlot slot;
  slot.id = row.id;
  slot.sweep_id = row.sweep_id;
  slot.device = row.device;
  slot.priority = priority;
  slot.attempt = row.attempt;
  slot.retries_used = row.retries;
  slot.max_retries = row.max_retries;
  if (row.state == TrialState::kRunning && !row.worker.empty()) {
    scheduler_.AdoptRunning(slot, row.worker);
    return;
  }
  for (const auto& dep : {row.teacher_id, row.stage_id}) {
    if (!dep) continue;
    EnsureDependencyKnown(*dep);
    auto st = scheduler_.StateOf(*dep);
    if (!st || *st != TrialState::kSucceeded) slot.blocked_on.push_back(*dep);
  }
  scheduler_.AddTrial(slot);
}

Status Core::Recover() {
  // Searches first: trials of adaptive sweeps keep their params for the proposer.
  ASSIGN_OR_RETURN(auto states, store_->LoadSearchStates());
  for (const auto& st : states) {
    ValidateOptions vopts;
    vopts.allow_large = true;
    if (!options_.path_roots.empty()) vopts.path_roots = options_.path_roots;
    ParseOutcome parsed = ParseSweepText(st.spec_yaml, st.source_file, vopts);
    Result<std::unique_ptr<SearchDriver>> driver =
        parsed.spec ? SearchDriver::Restore(*parsed.spec, st.state)
                    : Result<std::unique_ptr<SearchDriver>>(InvalidArgument(
                          parsed.errors.empty() ? "unreadable" : parsed.errors[0].ToString()));
    if (!driver.ok()) {
      // Its queued and running trials still finish; it proposes nothing more.
      spdlog::error("coordinator: sweep {}: cannot restore its search ({}); no new trials",
                    st.sweep_id, driver.status().ToString());
      continue;
    }
    search_[st.sweep_id] = std::move(*driver);
  }
  ASSIGN_OR_RETURN(auto rows, store_->LoadActiveTrials());
  ASSIGN_OR_RETURN(auto sweeps, store_->ActiveSweeps());
  for (const auto& s : sweeps) remaining_[s.id] = 0;
  // Teachers, then stages (parents before children: ids follow the plan),
  // then the rest, so dependents know whether to wait.
  auto rank = [](const TrialRow& r) { return r.kind == "teacher" ? 0 : r.kind == "stage" ? 1 : 2; };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const TrialRow& a, const TrialRow& b) { return rank(a) < rank(b); });
  int interrupted = 0;
  for (auto& row : rows) {
    if ((row.kind == "teacher" || row.kind == "stage") && row.state == TrialState::kSucceeded) {
      if (fs::exists(ArtifactPath(row.hash))) {
        TrialMeta meta;
        meta.sweep_id = row.sweep_id;
        meta.teacher = row.kind == "teacher";
        meta.stage = row.kind == "stage";
        meta.stage_units = row.params.value("units", 0);
        meta.stage_id = row.stage_id;
        meta.hash = row.hash;
        if (meta.stage) stage_by_key_[{row.sweep_id, row.hash}] = row.id;
        meta_[row.id] = meta;
        // Known as succeeded, so its dependents are not blocked.
        TrialSlot slot;
        slot.id = row.id;
        slot.sweep_id = row.sweep_id;
        slot.attempt = row.attempt;
        scheduler_.AddSucceeded(slot);
        continue;
      }
      spdlog::warn("coordinator: {} artifact {} missing; training it again", row.kind, row.hash);
      store_->SetTrialState(row.id, TrialState::kQueued);
      row.state = TrialState::kQueued;
    }
    if (row.state == TrialState::kRunning && !row.worker.empty()) {
      // Its worker may still be running it: adopted at the worker's HELLO, or
      // lost (without using a retry) if the worker stays silent.
      ++interrupted;
    } else if (row.state == TrialState::kRunning || row.state == TrialState::kLost) {
      // Interrupted by a coordinator stop: not the trial's fault, so no retry is used.
      store_->TrialAttemptEnded(row.id, row.attempt, "", TrialState::kLost, TrialState::kQueued,
                                row.retries, "interrupted: coordinator restarted");
      row.state = TrialState::kQueued;
    }
    AddToScheduler(row);
    remaining_[row.sweep_id]++;
  }
  for (auto& [sweep, n] : remaining_) {
    if (n == 0) store_->SweepState(sweep, "done");
  }
  RETURN_IF_ERROR(store_->Flush());
  if (!rows.empty()) {
    spdlog::info(
        "coordinator: resumed {} unfinished trials ({} were running: kept for their workers "
        "for {} ms, then re-queued)",
        rows.size(), interrupted, options_.heartbeat_ms * options_.liveness);
  }
  return Status::Ok();
}

// ---- control ----------------------------------------------------------------

void Core::Wake(const char* why) {
  zmq::socket_t wake(ctx_, zmq::socket_type::push);
  wake.set(zmq::sockopt::linger, 0);
  wake.connect(control_endpoint_);
  wake.send(zmq::buffer(why, 1), zmq::send_flags::dontwait);
}

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
  Wake("w");
  fut.wait();
}

void Core::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back(std::move(fn));
  }
  try {
    Wake("p");
  } catch (const zmq::error_t&) {
    // Stopping: the loop is gone, and the result was never acknowledged.
  }
}

CoreHealth Core::Health() const {
  CoreHealth h;
  std::lock_guard<std::mutex> lock(health_mu_);
  h.degraded = !commit_error_.empty() || !write_error_.empty();
  h.reason = !commit_error_.empty() ? commit_error_ : write_error_;
  h.since_ms = h.degraded ? degraded_since_ms_ : 0;
  h.pending_acks = pending_acks_.load();
  return h;
}

void Core::SetHealth(bool commit, const std::string& error) {
  std::lock_guard<std::mutex> lock(health_mu_);
  std::string& slot = commit ? commit_error_ : write_error_;
  if (slot == error) return;
  const bool was_degraded = !commit_error_.empty() || !write_error_.empty();
  const bool was_failing = !slot.empty();
  slot = error;
  const bool degraded = !commit_error_.empty() || !write_error_.empty();
  if (degraded && !was_degraded) degraded_since_ms_ = clock_->WallMs();
  const char* what = commit ? "database commits" : "model writes";
  if (!error.empty() && !was_failing) {
    spdlog::error(
        "coordinator: DEGRADED: {} fail: {}. Results are kept in memory, not acknowledged, and "
        "written again every second until this recovers",
        what, error);
  } else if (error.empty()) {
    spdlog::warn("coordinator: {} work again{}", what,
                 degraded ? "" : "; no longer degraded (pending results are being stored)");
  }
}

SubmitOutcome Core::Submit(const std::string& yaml_text, const std::string& filename,
                           bool allow_large) {
  return SubmitUnless(yaml_text, filename, allow_large, [] { return false; });
}

SubmitOutcome Core::SubmitUnless(const std::string& yaml_text, const std::string& filename,
                                 bool allow_large, const std::function<bool()>& stop) {
  SubmitOutcome out;
  ValidateOptions vopts;
  vopts.allow_large = allow_large;
  if (!options_.path_roots.empty()) vopts.path_roots = options_.path_roots;
  ParseOutcome parsed = ParseSweepText(yaml_text, filename, vopts);
  if (!parsed.errors.empty() || !parsed.spec) {
    out.errors = parsed.errors;
    out.status = InvalidArgument(std::to_string(parsed.errors.size()) + " error(s) in " + filename);
    return out;
  }
  const SweepSpec& spec = *parsed.spec;
  // Up to kHardMaxTrials (tens of seconds); stopped by the caller or by Stop().
  auto expanded = ExpandTrials(spec, [&] { return stop_.load() || stop(); });
  if (!expanded.ok()) {
    out.status = expanded.status();
    return out;
  }
  std::vector<TrialConfig> trials = std::move(*expanded);
  std::unique_ptr<SearchDriver> driver;
  if (SearchDriver::Needed(spec)) {
    auto created = SearchDriver::Create(spec);
    if (!created.ok()) {
      out.status = created.status();
      return out;
    }
    driver = std::move(*created);
    // An adaptive sweep starts with a first population; the rest is proposed
    // from results. Deterministic (seeded), so a resubmission hashes alike.
    if (driver->adaptive()) {
      for (auto& [number, trial] : driver->Propose(driver->in_flight_target())) {
        trials.push_back(std::move(trial));
      }
    }
  }
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
    if (driver) {
      // Saved at once: a sweep row never exists without its search state.
      store_->SaveSearchState(out.sweep_id, driver->ToJson());
      if (Status st = store_->Flush(); !st.ok()) {
        spdlog::error("coordinator: sweep {}: saving its search state: {}", out.sweep_id,
                      st.ToString());
      }
      search_[out.sweep_id] = std::move(driver);
    }
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
    Publish("sweep_submitted",
            {{"sweep_id", out.sweep_id}, {"name", spec.name}, {"trials", trials.size()}});
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
    if (search_.count(sweep_id)) {
      store_->SaveSearchState(sweep_id, search_[sweep_id]->ToJson());
      search_.erase(sweep_id);
      search_dirty_.erase(sweep_id);
    }
    Publish("sweep_updated", {{"sweep_id", sweep_id}, {"state", "cancelled"}});
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
      Publish("sweep_updated", {{"sweep_id", sweep_id}, {"state", "active"}});
    }
  });
  if (!status.ok()) return status;
  return n;
}

Result<SweepProgress> Core::Progress(int64_t sweep_id) {
  Result<SweepProgress> out = Internal("not run");
  OnCore([&] {
    int64_t others_running = 0;
    auto counts = store_->CountTrials(sweep_id, &others_running);
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
    p.others_running = others_running;
    for (const auto& [k, v] : p.counts) p.total += v;
    out = p;
  });
  return out;
}

std::pair<size_t, size_t> Core::TrackedTrials() {
  std::pair<size_t, size_t> out;
  OnCore([&] { out = {scheduler_.trials(), meta_.size()}; });
  return out;
}

Status Core::LimitDatabaseGrowthForTesting(int64_t extra_pages) {
  Status st;
  OnCore([&] { st = store_->CapGrowth(extra_pages); });
  return st;
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
                                        {control_.handle(), 0, ZMQ_POLLIN, 0},
                                        {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
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
    if (items[2].revents & ZMQ_POLLIN) OnMonitor();
    if (curve && (items[3].revents & ZMQ_POLLIN)) OnZap();
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
    Commit();
  }
  // Answer commands that raced with Stop so no caller waits forever.
  std::vector<std::function<void()>> cmds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cmds.swap(commands_);
  }
  for (auto& c : cmds) c();
  Commit();
}

void Core::Commit() {
  for (int64_t sweep : search_dirty_) {
    if (auto d = search_.find(sweep); d != search_.end()) {
      store_->SaveSearchState(sweep, d->second->ToJson());
    }
  }
  search_dirty_.clear();
  const Status st = store_->Flush();
  if (!st.ok()) {
    SetHealth(/*commit=*/true, st.message());
    pending_acks_ = unacked_ + static_cast<int64_t>(in_flight_.size());
    return;
  }
  SetHealth(/*commit=*/true, "");
  acknowledged_ += unacked_;  // before the ACKs go: a reader of the counter may be their peer
  for (const auto& [worker, frames] : after_commit_) SendFrames(worker, frames);
  if (unacked_ > 0) spdlog::debug("coordinator: stored and acknowledged {} results", unacked_);
  after_commit_.clear();
  unacked_ = 0;
  if (hub_) {
    for (auto& [kind, data] : events_) hub_->Publish(kind, std::move(data));
  }
  events_.clear();
  for (int64_t id : release_) {
    scheduler_.Forget(id);
    if (!scheduler_.HasTrial(id)) meta_.erase(id);
  }
  release_.clear();
  pending_acks_ = static_cast<int64_t>(in_flight_.size());
}

void Core::Ack(const std::string& worker, int64_t trial_id, int attempt, bool stored) {
  after_commit_.emplace_back(
      worker,
      protocol::Encode(Message{
          MsgType::kAck, {{"trial_id", trial_id}, {"attempt", attempt}, {"stored", stored}}, ""}));
  ++unacked_;
}

void Core::Publish(const std::string& kind, nlohmann::json data) {
  if (hub_) events_.emplace_back(kind, std::move(data));
}

void Core::HandleFrames(std::vector<zmq::message_t>& parts) {
  if (parts.empty()) return;
  if (!silent_fds_.empty() && parts.size() > 1) {
    const int fd = zmq_msg_get(parts[1].handle(), ZMQ_SRCFD);
    if (fd >= 0) silent_fds_.erase(fd);
  }
  std::string worker = parts[0].to_string();
  std::string user_key;
  if (!options_.curve_secret_key.empty() && parts.size() > 1) {
    // The ZAP handler's user id for this connection: the worker's public key.
    try {
      const char* user = parts[1].gets("User-Id");
      if (user != nullptr) user_key = user;
    } catch (const zmq::error_t&) {
    }
    if (!curve_clients_.count(user_key)) {
      // Admitted once, since removed: the worker is disconnected from the protocol.
      ++dropped_;
      if (curve_refused_.size() < kMaxRefusedKeysLogged && curve_refused_.insert(user_key).second) {
        spdlog::warn(
            "coordinator: dropped messages from worker '{}': its key {} is no longer "
            "admitted",
            LogSafe(worker), LogSafe(user_key));
      }
      return;
    }
  }
  std::vector<std::string> frames;
  frames.reserve(parts.size() - 1);
  for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
  auto msg = protocol::Decode(frames);
  if (!msg.ok()) {
    ++dropped_;
    spdlog::warn("coordinator: dropped malformed message from worker '{}': {}", LogSafe(worker),
                 msg.status().message());
    return;
  }
  Handle(worker, user_key, *msg);
}

void Core::Handle(const std::string& worker, const std::string& user_key, const Message& msg) {
  if (msg.type == MsgType::kHello) {
    OnHello(worker, user_key, msg.body);
    return;
  }
  if (!user_key.empty()) {
    auto bound = worker_keys_.find(worker);
    if (bound != worker_keys_.end() && bound->second != user_key) {
      ++dropped_;
      if (identity_refusals_logged_++ < 1000) {
        spdlog::warn(
            "coordinator: dropped {} claiming worker '{}' from key {}, which is not "
            "that worker's key",
            TypeName(msg.type), LogSafe(worker), LogSafe(user_key));
      }
      return;
    }
  }
  scheduler_.WorkerSeen(worker);
  if (!scheduler_.WorkerIntroduced(worker)) {
    // Not introduced since this coordinator started (it restarted, or the worker
    // was written off): keep what is current, and ask for a HELLO.
    if (msg.type == MsgType::kResult) OnResult(worker, msg, /*introduced=*/false);
    if (msg.type == MsgType::kFailed) OnFailed(worker, msg.body, /*introduced=*/false);
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
      auto meta = meta_.find(id);
      if (st && *st == TrialState::kRunning && meta != meta_.end()) {
        const nlohmann::json& data = msg.body["data"];
        store_->TrialProgress(id, attempt, data);
        Publish("trial_progress", {{"trial_id", id},
                                   {"sweep_id", meta->second.sweep_id},
                                   {"attempt", attempt},
                                   {"data", data}});
        if (data.is_object() && data.contains("rung") && !search_.empty()) {
          OnRung(id, attempt, data["rung"]);
        }
      }
      break;
    }
    case MsgType::kResult:
      OnResult(worker, msg, /*introduced=*/true);
      break;
    case MsgType::kFailed:
      OnFailed(worker, msg.body, /*introduced=*/true);
      break;
    case MsgType::kFetch:
      OnFetch(worker, msg.body);
      break;
    case MsgType::kBye: {
      auto lost = scheduler_.RemoveWorker(worker);
      ApplyRequeues(lost, "worker " + LogSafe(worker) + " left");
      store_->WorkerState(worker, "gone");
      Publish("worker_lost", {{"worker", worker}, {"reason", "bye"}});
      break;
    }
    case MsgType::kHeartbeat:
      break;
    default:
      ++dropped_;
      spdlog::warn("coordinator: dropped unexpected {} from worker '{}'", TypeName(msg.type),
                   LogSafe(worker));
  }
}

void Core::OnHello(const std::string& worker, const std::string& user_key,
                   const nlohmann::json& body) {
  const std::string& claimed = body["worker_id"].get_ref<const std::string&>();
  if (claimed != worker) {
    ++dropped_;
    spdlog::warn("coordinator: refused HELLO from connection '{}' claiming to be worker '{}'",
                 LogSafe(worker), LogSafe(claimed));
    return;
  }
  if (!user_key.empty()) {
    auto [bound, fresh] = worker_keys_.emplace(worker, user_key);
    if (!fresh && bound->second != user_key) {
      ++dropped_;
      spdlog::warn("coordinator: refused worker '{}' with key {}: that id belongs to key {}",
                   LogSafe(worker), LogSafe(user_key), LogSafe(bound->second));
      return;
    }
  }
  std::set<std::pair<int64_t, int>> running;
  if (body.contains("running") && body["running"].is_array()) {
    for (const auto& r : body["running"]) {
      if (r.is_array() && r.size() == 2 && r[0].is_number_integer() && r[1].is_number_integer() &&
          r[0].get<int64_t>() >= 0 && r[1].get<int64_t>() >= 0 &&
          r[1].get<int64_t>() <= std::numeric_limits<int>::max()) {
        running.insert({r[0].get<int64_t>(), r[1].get<int>()});
      }
    }
  }
  // The last TASK the worker had received when it sent this HELLO, if it was
  // one of this coordinator's (older workers do not say: all received).
  uint64_t tasks_seen = UINT64_MAX;
  const auto seen = body.find("tasks_seen");
  if (seen != body.end() && seen->is_object()) {
    const auto epoch = seen->find("epoch");
    const auto seq = seen->find("seq");
    tasks_seen = 0;
    if (epoch != seen->end() && *epoch == epoch_ && seq != seen->end() &&
        seq->is_number_unsigned()) {
      tasks_seen = seq->get<uint64_t>();
    }
  }
  const auto incarnation = body.find("incarnation");
  const bool known = scheduler_.WorkerIntroduced(worker);
  const bool adopting = scheduler_.KnowsWorker(worker) && !known;
  auto lost = scheduler_.WorkerHello(
      worker, body["device"].get<std::string>(), body["slots"].get<int>(), running,
      incarnation != body.end() && incarnation->is_string() ? incarnation->get<std::string>() : "",
      tasks_seen);
  ApplyRequeues(lost, adopting ? "worker " + LogSafe(worker) +
                                     " no longer ran it after the coordinator restarted"
                               : "worker " + LogSafe(worker) + " restarted");
  nlohmann::json info = body;
  if (!user_key.empty()) info["curve_key"] = user_key;
  store_->WorkerUpsert(worker, info);
  spdlog::info("coordinator: worker {} {} (device {}, {} slots)", LogSafe(worker),
               known ? "reconnected" : (adopting ? "came back" : "joined"),
               LogSafe(body["device"].get<std::string>()), body["slots"].get<int>());
  Publish("worker_joined", {{"worker", worker}, {"device", body["device"]}});
}

void Core::OnResult(const std::string& worker, const Message& msg, bool introduced) {
  const int64_t id = msg.body["trial_id"].get<int64_t>();
  const int attempt = msg.body["attempt"].get<int>();
  // Its model is being written: the ACK follows that write's commit.
  if (in_flight_.count({id, attempt})) return;
  auto meta_it = meta_.find(id);
  const bool teacher = meta_it != meta_.end() && meta_it->second.holds_model();
  if (teacher && msg.payload.empty()) {
    // A teacher's or stage's result must carry the model its dependents will fetch.
    OnFailed(worker,
             {{"trial_id", id},
              {"attempt", attempt},
              {"error",
               std::string(meta_it->second.stage ? "stage" : "teacher") + " result without model"}},
             introduced);
    return;
  }
  const ResultDisposition d = scheduler_.OnResult(worker, id, attempt);
  if (d != ResultDisposition::kAccepted) {
    if (!introduced && d == ResultDisposition::kStale) {
      // Maybe current after all once the worker's HELLO is in: sent again then.
      spdlog::debug(
          "coordinator: result for trial {} attempt {} from worker '{}' before its "
          "HELLO: not current, not acknowledged",
          id, attempt, LogSafe(worker));
      return;
    }
    spdlog::info("coordinator: ignored {} result for trial {} attempt {} from {}",
                 d == ResultDisposition::kDuplicate ? "duplicate" : "stale", id, attempt,
                 LogSafe(worker));
    Ack(worker, id, attempt, /*stored=*/d == ResultDisposition::kDuplicate);
    return;
  }
  if (msg.payload.empty()) {
    RecordSuccess(worker, id, attempt, msg.body["metrics"], 0, "");
    return;
  }
  const auto& metrics = msg.body["metrics"];
  const std::string path =
      teacher ? ArtifactPath(meta_it->second.hash)
              : (fs::path(options_.artifact_dir) / TrialArtifactName(id, attempt)).string();
  if (!teacher) {
    const auto reported = metrics.find("size_bytes");
    if (reported != metrics.end() && reported->is_number() &&
        reported->get<double>() != static_cast<double>(msg.payload.size())) {
      spdlog::warn("coordinator: trial {} reports size_bytes {} but sent {} bytes; keeping them",
                   id, reported->get<double>(), msg.payload.size());
    }
  }
  in_flight_.insert({id, attempt});
  pending_acks_ = unacked_ + static_cast<int64_t>(in_flight_.size());
  const auto bytes = static_cast<int64_t>(msg.payload.size());
  writer_->Submit({path, msg.payload, [this, worker, id, attempt, metrics, bytes, path] {
                     Post([this, worker, id, attempt, metrics, bytes, path] {
                       in_flight_.erase({id, attempt});
                       RecordSuccess(worker, id, attempt, metrics, bytes, path);
                     });
                   }});
}

void Core::RecordSuccess(const std::string& worker, int64_t id, int attempt,
                         const nlohmann::json& metrics, int64_t model_bytes,
                         const std::string& path) {
  store_->TrialSucceeded(id, attempt, metrics);
  auto meta_it = meta_.find(id);
  const bool teacher = meta_it != meta_.end() && meta_it->second.teacher;
  const bool baseline = meta_it != meta_.end() && meta_it->second.baseline;
  const bool stage = meta_it != meta_.end() && meta_it->second.stage;
  if (!teacher && !baseline && !stage) SearchEnded(id, &metrics);
  if (teacher || stage) {
    store_->AddArtifact(meta_it->second.hash, teacher ? "teacher" : "stage", model_bytes, path, id);
    scheduler_.DependencyDone(id, true);
  } else if (!path.empty()) {
    store_->AddArtifact(TrialArtifactKey(id), "model", model_bytes, path, id);
  }
  Ack(worker, id, attempt, /*stored=*/true);
  Publish("trial_finished",
          {{"trial_id", id},
           {"sweep_id", meta_it != meta_.end() ? meta_it->second.sweep_id : int64_t{0}},
           {"state", "succeeded"},
           {"kind", teacher    ? "teacher"
                    : baseline ? "baseline"
                    : stage    ? "stage"
                               : "trial"},
           {"metrics", metrics}});
  TrialTerminal(id);
}

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
      RefreshCurveClients();
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

void Core::OnFailed(const std::string& worker, const nlohmann::json& body, bool introduced) {
  const int64_t id = body["trial_id"].get<int64_t>();
  const int attempt = body["attempt"].get<int>();
  const std::string error = body["error"].get<std::string>();
  auto r = scheduler_.OnFailed(worker, id, attempt);
  if (!r) {
    if (introduced) Ack(worker, id, attempt, /*stored=*/false);
    return;
  }
  spdlog::warn("coordinator: trial {} attempt {} failed on {}: {}", id, attempt, LogSafe(worker),
               error.substr(0, 2000));
  store_->TrialAttemptEnded(id, attempt, worker, TrialState::kFailed,
                            r->requeued ? TrialState::kQueued : TrialState::kFailed, r->retries,
                            error);
  Ack(worker, id, attempt, /*stored=*/true);
  if (!r->requeued) {
    auto meta = meta_.find(id);
    Publish("trial_finished",
            {{"trial_id", id},
             {"sweep_id", meta != meta_.end() ? meta->second.sweep_id : int64_t{0}},
             {"state", "failed"},
             {"error", error}});
    if (meta != meta_.end() && meta->second.holds_model()) {
      FailDependents(id, error);
    } else if (meta != meta_.end() && !meta->second.baseline) {
      SearchEnded(id, nullptr);
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
      auto meta = meta_.find(r.trial_id);
      if (meta != meta_.end() && meta->second.holds_model()) {
        FailDependents(r.trial_id, reason);
      } else if (meta != meta_.end() && !meta->second.baseline) {
        SearchEnded(r.trial_id, nullptr);
      }
      TrialTerminal(r.trial_id);
    }
  }
}

void Core::FailDependents(int64_t id, const std::string& why) {
  auto meta = meta_.find(id);
  if (meta == meta_.end()) return;
  const std::string what =
      meta->second.stage ? "stage " + std::to_string(id) + " (shared training)" : "teacher";
  for (int64_t dep : scheduler_.DependencyDone(id, false)) {
    store_->SetTrialState(dep, TrialState::kFailed, what + " failed: " + why);
    auto d = meta_.find(dep);
    const int64_t sweep = d != meta_.end() ? d->second.sweep_id : meta->second.sweep_id;
    Publish("trial_finished", {{"trial_id", dep},
                               {"sweep_id", sweep},
                               {"state", "failed"},
                               {"error", what + " failed: " + why}});
    if (d != meta_.end() && d->second.holds_model()) {
      FailDependents(dep, why);
    } else if (d != meta_.end() && !d->second.baseline) {
      SearchEnded(dep, nullptr);
    }
    TrialTerminal(dep);
  }
}

void Core::TrialTerminal(int64_t trial_id) {
  store_->Forget(trial_id);
  auto meta = meta_.find(trial_id);
  if (meta == meta_.end()) return;
  const int64_t sweep = meta->second.sweep_id;
  // Teachers and stages stay: their dependents look them up (hash, state)
  // until the sweep ends.
  if (!meta->second.holds_model()) release_.push_back(trial_id);
  auto it = remaining_.find(sweep);
  if (it == remaining_.end()) return;
  if (--it->second <= 0) {
    remaining_.erase(it);
    if (auto d = search_.find(sweep); d != search_.end()) {
      store_->SaveSearchState(sweep, d->second->ToJson());
      search_.erase(d);
      search_dirty_.erase(sweep);
    }
    store_->SweepState(sweep, "done");
    spdlog::info("coordinator: sweep {} done", sweep);
    Publish("sweep_updated", {{"sweep_id", sweep}, {"state", "done"}});
  }
}

void Core::SearchEnded(int64_t trial_id, const nlohmann::json* metrics) {
  if (search_.empty()) return;
  auto meta = meta_.find(trial_id);
  if (meta == meta_.end()) return;
  const int64_t sweep = meta->second.sweep_id;
  auto d = search_.find(sweep);
  if (d == search_.end() || !d->second->adaptive()) return;
  d->second->Tell(meta->second.params, metrics);
  search_dirty_.insert(sweep);
  Refill(sweep, 1);
}

int64_t Core::Refill(int64_t sweep_id, int64_t n) {
  auto d = search_.find(sweep_id);
  if (n <= 0 || d == search_.end() || !d->second->adaptive() || !remaining_.count(sweep_id)) {
    return 0;
  }
  SearchDriver& driver = *d->second;
  const SweepSpec& spec = driver.spec();
  std::optional<int64_t> teacher_id;
  bool distills = false;
  for (const auto& stage : spec.pipeline) distills |= stage == "distill";
  if (distills && spec.program.is_null()) {
    auto t = store_->SweepTeacherId(sweep_id);
    if (!t.ok() || !t->has_value()) return 0;
    teacher_id = **t;
    // A failed teacher fails its dependents: propose nothing more.
    auto st = scheduler_.StateOf(*teacher_id);
    if (!st || *st == TrialState::kFailed || *st == TrialState::kCancelled) return 0;
  }
  int64_t added = 0;
  for (auto& [number, trial] : driver.Propose(static_cast<int>(std::min<int64_t>(n, 1 << 16)))) {
    // The deepest stage of the sweep this trial shares (its first population's
    // stages), unless that stage failed.
    std::optional<int64_t> stage_id;
    if (spec.stage_reuse && spec.program.is_null()) {
      const int units = static_cast<int>(TrainingUnits(trial.settings).size());
      for (int u = units - 1; u >= 1 && !stage_id; --u) {
        auto s = stage_by_key_.find({sweep_id, StageKey(trial.settings, u)});
        if (s == stage_by_key_.end()) continue;
        auto st = scheduler_.StateOf(s->second);
        if (st && (*st == TrialState::kFailed || *st == TrialState::kCancelled)) continue;
        stage_id = s->second;
      }
    }
    auto id = store_->AddTrial(sweep_id, number, trial, teacher_id, stage_id);
    if (!id.ok()) {
      spdlog::error("coordinator: sweep {}: {}", sweep_id, id.status().ToString());
      break;
    }
    TrialRow row;
    row.id = *id;
    row.sweep_id = sweep_id;
    row.kind = "trial";
    row.hash = trial.hash;
    row.max_retries = spec.max_retries;
    row.device = spec.device;
    row.teacher_id = teacher_id;
    row.stage_id = stage_id;
    row.params = trial.params;
    AddToScheduler(row);
    remaining_[sweep_id]++;
    ++added;
    Publish("trial_added", {{"trial_id", *id}, {"sweep_id", sweep_id}, {"number", number}});
  }
  if (added > 0) {
    search_dirty_.insert(sweep_id);
    spdlog::info("coordinator: sweep {}: nsga2 proposed {} trial(s) ({} of run_cap {})", sweep_id,
                 added, driver.proposed(), spec.run_cap);
  }
  return added;
}

void Core::OnRung(int64_t trial_id, int attempt, const nlohmann::json& rung) {
  auto meta = meta_.find(trial_id);
  if (meta == meta_.end() || meta->second.holds_model() || meta->second.baseline) return;
  const int64_t sweep = meta->second.sweep_id;
  auto d = search_.find(sweep);
  if (d == search_.end() || !d->second->early_stopping()) return;
  if (!rung.is_object() || !rung.contains("epoch") || !rung["epoch"].is_number_integer() ||
      !rung.contains("metrics") || !rung["metrics"].is_object()) {
    ++dropped_;
    spdlog::warn("coordinator: trial {}: malformed rung report dropped", trial_id);
    return;
  }
  const int epoch = rung["epoch"].get<int>();
  const nlohmann::json& metrics = rung["metrics"];
  const RungDecision decision = d->second->OnRung(trial_id, epoch, metrics);
  search_dirty_.insert(sweep);
  if (decision != RungDecision::kStop) return;
  auto a = scheduler_.StopRunning(trial_id, attempt);
  if (!a) return;
  nlohmann::json stopped = metrics;
  stopped["stopped_at_epoch"] = epoch;
  store_->TrialStopped(trial_id, attempt, stopped);
  // The CANCEL goes after the commit: a worker never drops work the database
  // still counts as running.
  after_commit_.emplace_back(
      a->worker, protocol::Encode(Message{
                     MsgType::kCancel, {{"trial_id", trial_id}, {"attempt", attempt}}, ""}));
  spdlog::info("coordinator: trial {} stopped at epoch {} by mo-asha", trial_id, epoch);
  Publish("trial_finished", {{"trial_id", trial_id},
                             {"sweep_id", sweep},
                             {"state", "stopped"},
                             {"kind", "trial"},
                             {"metrics", stopped}});
  SearchEnded(trial_id, nullptr);
  TrialTerminal(trial_id);
}

void Core::Dispatch() {
  if (!search_.empty()) {
    // Keep every free worker slot busy: adaptive sweeps propose for idle slots.
    int64_t idle = scheduler_.IdleSlots();
    for (auto it = search_.begin(); idle > 0 && it != search_.end(); ++it) {
      idle -= Refill(it->first, idle);
    }
  }
  for (const auto& a : scheduler_.Schedule()) {
    const TrialMeta& meta = meta_[a.trial_id];
    auto settings = store_->TrialSettingsText(a.trial_id);
    if (!settings.ok()) {
      spdlog::error("coordinator: {}", settings.status().ToString());
      continue;
    }
    Message task{MsgType::kTask,
                 {{"trial_id", a.trial_id},
                  {"attempt", a.attempt},
                  {"kind", meta.teacher ? "teacher"
                           : meta.stage ? "stage"
                                        : "trial"},
                  {"epoch", epoch_},
                  {"seq", a.seq}},
                 ""};
    if (meta.teacher_id) task.body["teacher"] = {{"hash", meta_[*meta.teacher_id].hash}};
    if (meta.teacher) task.body["teacher"] = {{"hash", meta.hash}};
    // A stage's output goes where a teacher's does (ArtifactPath of its hash).
    if (meta.stage) task.body["stage"] = {{"hash", meta.hash}};
    if (meta.stage_id) {
      const TrialMeta& from = meta_[*meta.stage_id];
      task.body["resume"] = {{"hash", from.hash}, {"units", from.stage_units}};
    }
    store_->TrialStarted(a.trial_id, a.attempt, a.worker);
    // Sent once the start is committed: a worker never runs an attempt unknown
    // to the database (its result would look stale after a restart).
    after_commit_.emplace_back(
        a.worker, protocol::Encode(task, protocol::RawField{"settings", std::move(*settings)}));
    Publish("trial_started", {{"trial_id", a.trial_id},
                              {"sweep_id", meta.sweep_id},
                              {"attempt", a.attempt},
                              {"worker", a.worker}});
  }
}

void Core::RefreshCurveClients() {
  auto fresh = ReadCurveClientKeys(options_.curve_clients);
  curve_clients_read_ms_ = clock_->NowMs();
  if (!fresh.ok()) {
    spdlog::warn("coordinator: reading worker keys: {}", fresh.status().ToString());
    return;
  }
  if (*fresh == curve_clients_) return;
  curve_clients_ = std::move(*fresh);
  curve_refused_.clear();
  for (const auto& [worker, key] : worker_keys_) {
    if (curve_clients_.count(key) || !scheduler_.KnowsWorker(worker)) continue;
    spdlog::warn("coordinator: worker '{}': its key {} was removed from {}; disconnected",
                 LogSafe(worker), LogSafe(key), options_.curve_clients);
    ApplyRequeues(scheduler_.RemoveWorker(worker),
                  "worker " + LogSafe(worker) + " lost its admission");
    store_->WorkerState(worker, "refused");
    Publish("worker_lost", {{"worker", worker}, {"reason", "key removed"}});
  }
}

void Core::OnMonitor() {
  while (true) {
    std::vector<zmq::message_t> parts;
    try {
      if (!zmq::recv_multipart(monitor_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t&) {
      return;
    }
    if (parts.empty() || parts[0].size() < 6) continue;
    uint16_t event = 0;
    int32_t value = 0;
    std::memcpy(&event, parts[0].data(), 2);
    std::memcpy(&value, static_cast<const char*>(parts[0].data()) + 2, 4);
    if (event == ZMQ_EVENT_ACCEPTED) {
      silent_fds_[value] = {clock_->NowMs(), false};
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
      silent_fds_.erase(value);
    }
  }
}

void Core::CheckSilentConnections() {
  const int64_t window = options_.heartbeat_ms * options_.liveness;
  for (auto& [fd, c] : silent_fds_) {
    if (c.logged || clock_->NowMs() - c.accepted_ms < window) continue;
    c.logged = true;
    ++refused_connections_;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    char host[INET6_ADDRSTRLEN] = "?";
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      const void* src =
          addr.ss_family == AF_INET6
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&addr)->sin_addr);
      inet_ntop(addr.ss_family, src, host, sizeof(host));
    }
    spdlog::warn(
        "coordinator: refused a connection from {}: in {} ms it got no message through, which "
        "is what ZeroMQ does to a second connection claiming a connected worker's id (or to a "
        "peer that is not a compsweep worker)",
        host, window);
  }
}

void Core::Tick() {
  CheckSilentConnections();
  if (!options_.curve_secret_key.empty()) RefreshCurveClients();
  for (const auto& [worker, lost] : scheduler_.ExpireWorkers()) {
    spdlog::warn("coordinator: worker {} missed {} heartbeats: declared dead", LogSafe(worker),
                 options_.liveness);
    ApplyRequeues(lost, "worker " + LogSafe(worker) + " stopped answering");
    store_->WorkerState(worker, "lost");
    Publish("worker_lost", {{"worker", worker}, {"reason", "heartbeat"}});
  }
  for (const auto& w : scheduler_.WorkerIds()) Send(w, Message{MsgType::kHeartbeat, {}, ""});
}

void Core::Send(const std::string& worker, const Message& msg) {
  SendFrames(worker, protocol::Encode(msg));
}

void Core::SendFrames(const std::string& worker, const std::vector<std::string>& frames) {
  try {
    router_.send(zmq::buffer(worker), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames.size(); ++i) {
      router_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the peer is gone; liveness handles its trials.
    // frames[1] is the type's name.
    spdlog::debug("coordinator: send {} to {}: {}", frames[1], LogSafe(worker), e.what());
  }
}

}  // namespace compsweep::coordinator
