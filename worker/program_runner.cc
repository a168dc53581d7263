#include "worker/program_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/atomic_file.h"
#include "common/log_text.h"

extern char** environ;

namespace compsweep::worker {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kMetricsPrefix[] = "metrics.";

// Text from the program (stderr, its own words) made valid UTF-8, so that it can
// travel in a JSON message: invalid bytes become U+FFFD.
std::string ValidUtf8(const std::string& text) {
  const std::string dumped = json(text).dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(dumped).get<std::string>();
}

bool IsMetricsObject(const json& metrics) {
  if (!metrics.is_object()) return false;
  for (const auto& [name, value] : metrics.items()) {
    if (!value.is_number()) return false;
  }
  return true;
}

std::string CommandText(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size() && i < 2; ++i) out += (i ? " " : "") + argv[i];
  if (argv.size() > 2) out += " ...";
  return out;
}

// Where the child says why it could not start (the pipe closes on exec).
struct ChildError {
  int stage = 0;  // 1: chdir, 2: exec
  int error = 0;  // errno
};

// The child of vfork(), until exec: it shares the worker's memory (so no
// allocation, no return; only system calls on what was prepared before) and
// starts with every signal blocked (so no handler of the worker runs here).
// vfork rather than fork: copying the page tables of a worker that has
// LibTorch loaded cost ~12 ms per trial (docs/program-trials.md).
[[noreturn]] void RunChild(const char* file, char* const* argv, char* const* envp,
                           const char* workdir, int devnull, int out_w, int err_w, int report_w,
                           pid_t parent) {
  setpgid(0, 0);
  // Dies with the worker's job thread (the thread that forked, which waits for it).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the worker died before prctl
  // The worker's handlers and ignored SIGPIPE are not the program's.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction now;
    if (sigaction(sig, nullptr, &now) != 0) continue;
    if (sig == SIGPIPE || (now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN)) {
      sigaction(sig, &dfl, nullptr);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  dup2(devnull, STDIN_FILENO);
  dup2(out_w, STDOUT_FILENO);
  dup2(err_w, STDERR_FILENO);
#ifdef SYS_close_range
  // Nothing of the worker's (sockets, locks) reaches the program.
  syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
#endif
  ChildError e;
  if (workdir[0] != '\0' && chdir(workdir) != 0) {
    e = {1, errno};
  } else {
    execvpe(file, argv, envp);
    e = {2, errno};
  }
  ssize_t n = write(report_w, &e, sizeof(e));
  (void)n;
  _exit(127);
}

struct ChildSetup {
  const char* file;
  char* const* argv;
  char* const* envp;
  const char* workdir;
  int devnull, out_w, err_w, report_w;
  pid_t parent;
};

// The child's pid, or -1 with errno set. A function of its own, so that the
// caller's variables are not live across vfork.
__attribute__((noinline)) pid_t SpawnChild(const ChildSetup& c) {
  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  const pid_t pid = vfork();
  if (pid == 0) {
    RunChild(c.file, c.argv, c.envp, c.workdir, c.devnull, c.out_w, c.err_w, c.report_w, c.parent);
  }
  const int saved = errno;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved;
  return pid;
}

// Reads what is there from fd into *buf; false at EOF or on an error.
bool ReadSome(int fd, std::string* buf) {
  char chunk[65536];
  while (true) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n > 0) {
      buf->append(chunk, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof(chunk)) return true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

// A started program: its process (leader of its own group) and our ends of its
// stdout, stderr and exit notification.
struct Child {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
  int exit_fd = -1;  // pidfd: readable once it exits; -1 where the kernel has none
};

// Starts argv[0] with envp in workdir ("" : ours), stdin /dev/null, in a new
// process group. FailedPrecondition when the program cannot be run (not found,
// not executable, no such workdir), with the reason.
Result<Child> StartChild(const std::vector<std::string>& argv, std::vector<std::string> env,
                         const std::string& workdir) {
  std::vector<std::string> argv_copy = argv;
  std::vector<char*> args, envp;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);

  int pipes[3][2];  // stdout, stderr, report
  for (int i = 0; i < 3; ++i) {
    if (pipe2(pipes[i], O_CLOEXEC) != 0) {
      const std::string why = std::strerror(errno);
      for (int j = 0; j < i; ++j) {
        close(pipes[j][0]);
        close(pipes[j][1]);
      }
      return Internal("pipe: " + why);
    }
  }
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const ChildSetup setup{args[0],     args.data(), envp.data(), workdir.c_str(), devnull,
                         pipes[0][1], pipes[1][1], pipes[2][1], getpid()};
  const pid_t pid = SpawnChild(setup);
  const int spawn_errno = errno;
  for (int fd : {pipes[0][1], pipes[1][1], pipes[2][1], devnull}) {
    if (fd >= 0) close(fd);
  }
  if (pid < 0) {
    for (int i = 0; i < 3; ++i) close(pipes[i][0]);
    return Internal(std::string("vfork: ") + std::strerror(spawn_errno));
  }
  setpgid(pid, pid);  // also in the child: whichever runs first

  // Did it start? The report pipe closes on exec, or carries why not.
  ChildError error;
  ssize_t got;
  do {
    got = read(pipes[2][0], &error, sizeof(error));
  } while (got < 0 && errno == EINTR);
  close(pipes[2][0]);
  if (got == static_cast<ssize_t>(sizeof(error))) {
    close(pipes[0][0]);
    close(pipes[1][0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const std::string why = std::strerror(error.error);
    if (error.stage == 1) {
      return FailedPrecondition("cannot enter the program's workdir '" + ValidUtf8(workdir) +
                                "': " + why);
    }
    return FailedPrecondition("cannot run program '" + ValidUtf8(argv[0]) + "': " + why);
  }
  Child child;
  child.pid = pid;
  child.out_fd = pipes[0][0];
  child.err_fd = pipes[1][0];
  fcntl(child.out_fd, F_SETFL, O_NONBLOCK);
  fcntl(child.err_fd, F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
  // Its end is then seen at once, not at the next poll_ms (kernels before 5.3).
  child.exit_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#endif
  return child;
}

// The program's output as the protocol reads it: stdout cut into lines (at most
// max_line_bytes each), protocol lines counted and handled, progress forwarded
// at most every progress_interval_ms, and the tail of stderr kept.
class ProgramOutput {
 public:
  ProgramOutput(const ProgramRunnerOptions& opts, const JobSpec& job, const JobHooks& hooks,
                const Clock& clock)
      : opts_(opts), job_(job), hooks_(hooks), clock_(clock) {}

  // At eof the rest of stdout counts as a line too.
  void Stdout(const std::string& bytes, bool eof) {
    out_buf_ += bytes;
    size_t begin = 0;
    for (size_t nl; (nl = out_buf_.find('\n', begin)) != std::string::npos; begin = nl + 1) {
      if (skipping_) {
        skipping_ = false;  // the end of a line already cut
      } else {
        Line(out_buf_.substr(begin, std::min(nl - begin, opts_.max_line_bytes)));
      }
    }
    out_buf_.erase(0, begin);
    if (out_buf_.size() >= opts_.max_line_bytes) {
      if (!skipping_) Line(out_buf_.substr(0, opts_.max_line_bytes));
      skipping_ = true;
      out_buf_.clear();
    }
    if (eof) {
      if (!skipping_ && !out_buf_.empty()) Line(out_buf_);
      out_buf_.clear();
    }
  }
  void Stderr(const std::string& bytes) {
    err_buf_ += bytes;
    if (err_buf_.size() > 2 * opts_.stderr_tail_bytes) {
      err_buf_.erase(0, err_buf_.size() - opts_.stderr_tail_bytes);
    }
  }
  // Forwards the latest progress when it is due (or now, when forced).
  void FlushProgress(bool force) {
    if (pending_.is_null() || !hooks_.progress) return;
    const int64_t now_ms = clock_.NowMs();
    if (!force && now_ms - last_progress_ms_ < opts_.progress_interval_ms) return;
    hooks_.progress(pending_);
    pending_ = json();
    last_progress_ms_ = now_ms;
  }
  // How long poll may wait before progress is due.
  int64_t WaitMs(int64_t now_ms) const {
    if (pending_.is_null()) return opts_.poll_ms;
    return std::clamp<int64_t>(last_progress_ms_ + opts_.progress_interval_ms - now_ms, 1,
                               opts_.poll_ms);
  }

  int results() const { return results_; }
  const ProtocolLine& result() const { return result_; }
  int malformed() const { return malformed_; }
  const std::string& first_malformed() const { return first_malformed_; }
  std::string StderrTail() const {
    return err_buf_.size() > opts_.stderr_tail_bytes
               ? err_buf_.substr(err_buf_.size() - opts_.stderr_tail_bytes)
               : err_buf_;
  }

 private:
  void Line(const std::string& line) {
    ProtocolLine p = ParseProtocolLine(line);
    switch (p.kind) {
      case ProtocolLine::Kind::kOutput:
        return;
      case ProtocolLine::Kind::kMalformed:
        if (malformed_++ == 0) first_malformed_ = p.error + ": " + LogSafe(line, 120);
        spdlog::warn("trial {} attempt {}: malformed protocol line ({}): {}", job_.trial_id,
                     job_.attempt, p.error, LogSafe(line, 120));
        return;
      case ProtocolLine::Kind::kProgress:
        pending_ = std::move(p.metrics);
        pending_["phase"] = "program";
        if (p.step >= 0) pending_["step"] = p.step;
        FlushProgress(/*force=*/false);
        return;
      case ProtocolLine::Kind::kResult:
        if (results_++ == 0) result_ = std::move(p);
        return;
    }
  }

  const ProgramRunnerOptions& opts_;
  const JobSpec& job_;
  const JobHooks& hooks_;
  const Clock& clock_;
  std::string out_buf_, err_buf_;
  bool skipping_ = false;  // inside a stdout line already cut at max_line_bytes
  json pending_;           // progress not forwarded yet
  int64_t last_progress_ms_ = std::numeric_limits<int64_t>::min() / 2;
  int results_ = 0;
  ProtocolLine result_;
  int malformed_ = 0;
  std::string first_malformed_;
};

// How a program's run ended.
struct Ending {
  enum class Stop { kNone, kCancelled, kTimeout };
  Stop stop = Stop::kNone;  // why it was told to stop, if it was
  bool kill_sent = false;   // SIGKILL after the grace period
  int wait_status = 0;      // of the program itself
};

// Reads the program's output until it has exited and its output is closed,
// stopping its group on cancel or at deadline_ms (-1: none). What is left of
// the group when the program exits is killed: at once after a normal exit,
// after the grace period (or once the output closes) when it was told to stop.
// Closes the child's descriptors.
Ending Supervise(Child* child, ProgramOutput* output, const JobHooks& hooks, int64_t deadline_ms,
                 const ProgramRunnerOptions& opts, const Clock& clock) {
  Ending end;
  int64_t term_sent_ms = -1;
  bool exited = false;  // the program ended (a zombie, reaped below)
  bool reaped = false;
  int64_t exited_ms = -1;
  const pid_t pid = child->pid;
  while (true) {
    pollfd fds[3];
    nfds_t n = 0;
    if (child->out_fd >= 0) fds[n++] = {child->out_fd, POLLIN, 0};
    if (child->err_fd >= 0) fds[n++] = {child->err_fd, POLLIN, 0};
    if (child->exit_fd >= 0 && !exited) fds[n++] = {child->exit_fd, POLLIN, 0};
    poll(fds, n, static_cast<int>(output->WaitMs(clock.NowMs())));
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0 || fds[i].fd == child->exit_fd) continue;
      int* fd = fds[i].fd == child->out_fd ? &child->out_fd : &child->err_fd;
      std::string bytes;
      const bool still_open = ReadSome(*fd, &bytes);
      if (fd == &child->out_fd) {
        output->Stdout(bytes, /*eof=*/!still_open);
      } else {
        output->Stderr(bytes);
      }
      if (!still_open) {
        close(*fd);
        *fd = -1;
      }
    }
    const int64_t now = clock.NowMs();
    output->FlushProgress(/*force=*/false);
    if (!exited) {
      siginfo_t info;
      std::memset(&info, 0, sizeof(info));
      // WNOWAIT: the zombie keeps its process group id from being reused until
      // the group's leftovers are killed below.
      if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid) {
        exited = true;
        exited_ms = now;
      }
    }
    if (!exited && end.stop == Ending::Stop::kNone) {
      if (hooks.cancelled && hooks.cancelled()) {
        end.stop = Ending::Stop::kCancelled;
      } else if (deadline_ms >= 0 && now >= deadline_ms) {
        end.stop = Ending::Stop::kTimeout;
      }
      if (end.stop != Ending::Stop::kNone) {
        kill(-pid, SIGTERM);
        term_sent_ms = now;
      }
    }
    const bool grace_over =
        end.stop != Ending::Stop::kNone && now - term_sent_ms >= opts.kill_grace_ms;
    if (grace_over && !end.kill_sent) {
      kill(-pid, SIGKILL);
      end.kill_sent = true;
    }
    const bool output_closed = child->out_fd < 0 && child->err_fd < 0;
    if (exited && !reaped && (end.stop == Ending::Stop::kNone || grace_over || output_closed)) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &end.wait_status, 0) < 0 && errno == EINTR) {
      }
      reaped = true;
    }
    // Output held open by something that left the group is not waited for long.
    if (reaped && (output_closed || now - exited_ms >= opts.drain_ms)) break;
  }
  for (int* fd : {&child->out_fd, &child->err_fd, &child->exit_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  output->Stdout("", /*eof=*/true);
  output->FlushProgress(/*force=*/true);
  return end;
}

class ProgramRunner : public JobRunner {
 public:
  explicit ProgramRunner(ProgramRunnerOptions options) : opts_(std::move(options)) {
    if (opts_.clock == nullptr) opts_.clock = &system_clock_;
  }

  JobOutcome Run(const JobSpec& job, const JobHooks& hooks) override;

  nlohmann::json Info() const override { return {{"program", true}}; }

 private:
  // The worker's environment with program.env and the COMPSWEEP_* variables.
  std::vector<std::string> Environment(const JobSpec& job, const std::string& settings_path,
                                       const std::string& artifact_dir) const;
  // The trial's outcome from how the program ended and what it printed.
  JobOutcome Conclude(const JobSpec& job, const std::vector<std::string>& argv, const Ending& end,
                      const ProgramOutput& output, double seconds) const;

  ProgramRunnerOptions opts_;
  SystemClock system_clock_;
};

}  // namespace

bool IsProgramTrial(const JobSpec& job) {
  return job.kind == "trial" && job.settings.is_object() && job.settings.contains("program");
}

Result<std::vector<std::string>> ProgramArgv(const json& settings) {
  const json* command = nullptr;
  if (settings.is_object() && settings.contains("program") && settings["program"].is_object() &&
      settings["program"].contains("command")) {
    command = &settings["program"]["command"];
  }
  if (command == nullptr || !command->is_array() || command->empty()) {
    return InvalidArgument("settings.program.command is not a non-empty list");
  }
  std::vector<std::string> argv;
  for (const json& arg : *command) {
    if (!arg.is_string()) return InvalidArgument("settings.program.command holds a non-string");
    argv.push_back(arg.get<std::string>());
  }
  if (argv[0].empty()) return InvalidArgument("settings.program.command names no program");
  const json params = settings.value("params", json::object());
  if (!params.is_object()) return InvalidArgument("settings.params is not an object");
  // json objects iterate in key order: the arguments are sorted by name.
  for (const auto& [name, value] : params.items()) {
    if (name.rfind(kMetricsPrefix, 0) == 0) continue;
    argv.push_back("--" + name + "=" +
                   (value.is_string() ? value.get<std::string>() : value.dump()));
  }
  return argv;
}

ProtocolLine ParseProtocolLine(const std::string& line) {
  ProtocolLine out;
  const size_t start = line.find_first_not_of(" \t\r");
  if (start == std::string::npos || line[start] != '{') return out;
  const bool looks_like_protocol = line.compare(start, 12, "{\"compsweep\"") == 0;
  const json j = json::parse(line.begin() + static_cast<std::ptrdiff_t>(start), line.end(), nullptr,
                             /*allow_exceptions=*/false);
  auto malformed = [&](std::string why) {
    out.kind = ProtocolLine::Kind::kMalformed;
    out.error = std::move(why);
    return out;
  };
  if (j.is_discarded()) {
    return looks_like_protocol ? malformed("not valid JSON") : out;
  }
  if (!j.is_object() || !j.contains("compsweep")) return out;
  const json& kind = j["compsweep"];
  if (kind != "progress" && kind != "result") {
    return malformed("unknown kind " + kind.dump() + " (progress or result)");
  }
  if (!j.contains("metrics") || !IsMetricsObject(j["metrics"])) {
    return malformed("\"metrics\" is not an object of numbers");
  }
  out.metrics = j["metrics"];
  if (kind == "progress") {
    out.kind = ProtocolLine::Kind::kProgress;
    if (j.contains("step")) {
      if (!j["step"].is_number_integer()) return malformed("\"step\" is not an integer");
      out.step = j["step"].get<int64_t>();
    }
    return out;
  }
  out.kind = ProtocolLine::Kind::kResult;
  if (j.contains("artifact") && !j["artifact"].is_null()) {
    if (!j["artifact"].is_string() || j["artifact"].get<std::string>().empty()) {
      return malformed("\"artifact\" is not a non-empty path");
    }
    out.artifact = j["artifact"].get<std::string>();
  }
  return out;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) +
           (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
  }
  return "ended with wait status " + std::to_string(status);
}

std::vector<std::string> ProgramRunner::Environment(const JobSpec& job,
                                                    const std::string& settings_path,
                                                    const std::string& artifact_dir) const {
  std::vector<std::pair<std::string, std::string>> extra;
  const json& program = job.settings["program"];
  if (program.contains("env") && program["env"].is_object()) {
    for (const auto& [name, value] : program["env"].items()) {
      extra.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  extra.emplace_back("COMPSWEEP_SETTINGS", settings_path);
  extra.emplace_back("COMPSWEEP_TRIAL_ID", std::to_string(job.trial_id));
  extra.emplace_back("COMPSWEEP_ATTEMPT", std::to_string(job.attempt));
  extra.emplace_back("COMPSWEEP_ARTIFACT_DIR", artifact_dir);
  extra.emplace_back("COMPSWEEP_DEVICE", opts_.device);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& kv : extra) replaced |= kv.first == name;
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

JobOutcome ProgramRunner::Run(const JobSpec& job, const JobHooks& hooks) {
  JobOutcome out;
  const Clock& clock = *opts_.clock;
  const int64_t t0 = clock.NowMs();
  auto argv = ProgramArgv(job.settings);
  if (!argv.ok()) {
    out.status = argv.status();
    return out;
  }
  if (job.artifact_dir.empty()) {
    out.status = Internal("program trial without an artifact folder");
    return out;
  }
  const json& program = job.settings["program"];
  const double timeout_s = program.value("timeout_s", 0.0);
  const std::string workdir = program.value("workdir", std::string());

  // The attempt's folder: settings.json beside an empty out/ for the program.
  const fs::path base(job.artifact_dir);
  const fs::path out_dir = base / "out";
  const fs::path settings_path = base / "settings.json";
  std::error_code ec;
  fs::remove_all(out_dir, ec);
  fs::create_directories(out_dir, ec);
  if (ec) {
    out.status = IoError("creating " + out_dir.string() + ": " + ec.message());
    return out;
  }
  const json file = {{"trial_id", job.trial_id},
                     {"attempt", job.attempt},
                     {"params", job.settings.value("params", json::object())},
                     {"settings", job.settings}};
  if (Status st = WriteFileAtomically(settings_path.string(), file.dump()); !st.ok()) {
    out.status = st;
    return out;
  }
  auto cleanup = [&] {
    fs::remove(settings_path, ec);
    // Nothing written: nothing to keep (a sweep of no-op trials leaves no
    // folders). Otherwise the worker removes it once the coordinator has the result.
    if (fs::is_empty(out_dir, ec) && !ec) {
      fs::remove(out_dir, ec);
      fs::remove(base, ec);  // only when empty
    }
  };

  auto child = StartChild(*argv,
                          Environment(job, fs::absolute(settings_path, ec).string(),
                                      fs::absolute(out_dir, ec).string()),
                          workdir);
  if (!child.ok()) {
    cleanup();
    out.status = child.status();
    return out;
  }
  ProgramOutput output(opts_, job, hooks, clock);
  const int64_t deadline =
      timeout_s > 0 ? t0 + static_cast<int64_t>(std::ceil(timeout_s * 1000)) : -1;
  const Ending end = Supervise(&*child, &output, hooks, deadline, opts_, clock);
  cleanup();
  return Conclude(job, *argv, end, output, static_cast<double>(clock.NowMs() - t0) / 1000.0);
}

JobOutcome ProgramRunner::Conclude(const JobSpec& job, const std::vector<std::string>& argv,
                                   const Ending& end, const ProgramOutput& output,
                                   double seconds) const {
  JobOutcome out;
  const json& program = job.settings["program"];
  const std::string tail = output.StderrTail();
  auto fail = [&](StatusCode code, std::string why) {
    why = "program '" + ValidUtf8(CommandText(argv)) + "' " + why;
    if (output.malformed() > 0) {
      why += "; " + std::to_string(output.malformed()) +
             " malformed protocol line(s), the first: " + output.first_malformed();
    }
    if (!tail.empty()) {
      why += "\nstderr (last " + std::to_string(tail.size()) + " bytes):\n" + ValidUtf8(tail);
    }
    out.status = Status(code, why);
    return out;
  };
  const std::string grace = std::to_string(opts_.kill_grace_ms) + " ms";
  if (end.stop == Ending::Stop::kCancelled) {
    return fail(
        StatusCode::kCancelled,
        "was cancelled: its process group was stopped (SIGTERM, SIGKILL after " + grace + ")");
  }
  if (end.stop == Ending::Stop::kTimeout) {
    std::ostringstream s;
    s << "timed out after " << program.value("timeout_s", 0.0)
      << " s (program.timeout_s): its process group was "
      << (end.kill_sent ? "killed (SIGTERM, then SIGKILL after " + grace + ")"
                        : std::string("stopped (SIGTERM)"));
    return fail(StatusCode::kUnavailable, s.str());
  }
  if (!WIFEXITED(end.wait_status) || WEXITSTATUS(end.wait_status) != 0) {
    return fail(StatusCode::kInternal, DescribeWaitStatus(end.wait_status));
  }
  const json params = job.settings.value("params", json::object());
  json metrics = output.results() > 0 ? output.result().metrics : json::object();
  // metrics.<name> parameters stand in for what the program does not report,
  // and for a result line when it prints none.
  bool stand_in = false;
  for (const auto& [name, value] : params.items()) {
    if (name.rfind(kMetricsPrefix, 0) != 0 || !value.is_number()) continue;
    stand_in = true;
    const std::string metric = name.substr(std::strlen(kMetricsPrefix));
    if (!metrics.contains(metric)) metrics[metric] = value;
  }
  if (output.results() == 0 && !stand_in) {
    return fail(StatusCode::kInternal,
                "exited with status 0 without a result line (print "
                "{\"compsweep\": \"result\", \"metrics\": {...}}, e.g. with "
                "compsweep.result(), or give metrics.* parameters)");
  }
  if (output.results() > 1) {
    return fail(StatusCode::kInternal, "printed " + std::to_string(output.results()) +
                                           " result lines; a trial gives exactly one");
  }
  if (!output.result().artifact.empty()) {
    fs::path artifact(output.result().artifact);
    if (artifact.is_relative()) artifact = fs::path(program.value("workdir", "")) / artifact;
    const std::string shown = "named artifact '" + ValidUtf8(artifact.string()) + "'";
    std::error_code ec;
    const auto size = fs::file_size(artifact, ec);
    if (ec) return fail(StatusCode::kIo, shown + ", which cannot be read: " + ec.message());
    if (static_cast<int64_t>(size) > opts_.max_artifact_bytes) {
      return fail(StatusCode::kFailedPrecondition,
                  shown + " of " + std::to_string(size) + " bytes, more than the " +
                      std::to_string(opts_.max_artifact_bytes) + " a result may carry");
    }
    std::ifstream in(artifact, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in) return fail(StatusCode::kIo, shown + ", which cannot be read");
    out.model = bytes.str();
    metrics["size_bytes"] = static_cast<int64_t>(out.model.size());
  }
  if (!metrics.contains("wall_seconds")) metrics["wall_seconds"] = seconds;
  if (output.malformed() > 0) {
    spdlog::warn("trial {} attempt {}: {} malformed protocol line(s) ignored", job.trial_id,
                 job.attempt, output.malformed());
  }
  out.metrics = std::move(metrics);
  return out;
}

std::unique_ptr<JobRunner> MakeProgramRunner(ProgramRunnerOptions options) {
  return std::make_unique<ProgramRunner>(std::move(options));
}

}  // namespace compsweep::worker
