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

class ProgramRunner : public JobRunner {
 public:
  explicit ProgramRunner(ProgramRunnerOptions options) : opts_(std::move(options)) {
    if (opts_.clock == nullptr) opts_.clock = &system_clock_;
  }

  JobOutcome Run(const JobSpec& job, const JobHooks& hooks) override;

  nlohmann::json Info() const override { return {{"program", true}}; }

 private:
  ProgramRunnerOptions opts_;
  SystemClock system_clock_;
};

// What one run of the program produced.
struct Reading {
  int results = 0;
  ProtocolLine result;
  int malformed = 0;
  std::string first_malformed;
  std::string stderr_tail;
  bool skipping_long_line = false;  // inside a line already cut at max_line_bytes
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

JobOutcome ProgramRunner::Run(const JobSpec& job, const JobHooks& hooks) {
  JobOutcome out;
  const Clock& clock = *opts_.clock;
  const int64_t t0 = clock.NowMs();
  auto argv_or = ProgramArgv(job.settings);
  if (!argv_or.ok()) {
    out.status = argv_or.status();
    return out;
  }
  const std::vector<std::string> argv = std::move(*argv_or);
  const json& program = job.settings["program"];
  const double timeout_s = program.value("timeout_s", 0.0);
  const std::string workdir = program.value("workdir", std::string());
  if (job.artifact_dir.empty()) {
    out.status = Internal("program trial without an artifact folder");
    return out;
  }

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

  // The environment: the worker's own, then program.env, then ours.
  std::vector<std::pair<std::string, std::string>> extra;
  if (program.contains("env") && program["env"].is_object()) {
    for (const auto& [name, value] : program["env"].items()) {
      extra.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  extra.emplace_back("COMPSWEEP_SETTINGS", fs::absolute(settings_path, ec).string());
  extra.emplace_back("COMPSWEEP_TRIAL_ID", std::to_string(job.trial_id));
  extra.emplace_back("COMPSWEEP_ATTEMPT", std::to_string(job.attempt));
  extra.emplace_back("COMPSWEEP_ARTIFACT_DIR", fs::absolute(out_dir, ec).string());
  extra.emplace_back("COMPSWEEP_DEVICE", opts_.device);
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& kv : extra) replaced |= kv.first == name;
    if (!replaced) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : extra) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int out_pipe[2], err_pipe[2], report_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    out.status = Internal(std::string("pipe: ") + std::strerror(errno));
    return out;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    out.status = Internal(std::string("pipe: ") + std::strerror(errno));
    return out;
  }
  if (pipe2(report_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    out.status = Internal(std::string("pipe: ") + std::strerror(errno));
    return out;
  }
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const ChildSetup setup{args[0],     args.data(), envp.data(),    workdir.c_str(), devnull,
                         out_pipe[1], err_pipe[1], report_pipe[1], parent};
  const pid_t pid = SpawnChild(setup);
  const int fork_errno = errno;
  for (int fd : {out_pipe[1], err_pipe[1], report_pipe[1], devnull}) {
    if (fd >= 0) close(fd);
  }
  if (pid < 0) {
    for (int fd : {out_pipe[0], err_pipe[0], report_pipe[0]}) close(fd);
    out.status = Internal(std::string("vfork: ") + std::strerror(fork_errno));
    return out;
  }
  setpgid(pid, pid);  // also in the child: whichever runs first

  // Did it start? The report pipe closes on exec, or carries why not.
  ChildError child_error;
  ssize_t got;
  do {
    got = read(report_pipe[0], &child_error, sizeof(child_error));
  } while (got < 0 && errno == EINTR);
  close(report_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof(child_error))) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    fs::remove(settings_path, ec);
    const std::string why = std::strerror(child_error.error);
    out.status =
        child_error.stage == 1
            ? FailedPrecondition("cannot enter the program's workdir '" + ValidUtf8(workdir) +
                                 "': " + why)
            : FailedPrecondition("cannot run program '" + ValidUtf8(argv[0]) + "': " + why);
    return out;
  }

  // Readable once the program has exited: its end is seen at once, not at the
  // next poll_ms (kernels before 5.3 have none: then poll_ms it is).
#ifdef SYS_pidfd_open
  int exit_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  int exit_fd = -1;
#endif
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  int out_fd = out_pipe[0];
  int err_fd = err_pipe[0];
  std::string out_buf, err_buf;
  Reading r;
  json pending_progress;
  int64_t last_progress_ms = -opts_.progress_interval_ms;
  auto flush_progress = [&](bool force) {
    if (pending_progress.is_null() || !hooks.progress) return;
    const int64_t now = clock.NowMs();
    if (!force && now - last_progress_ms < opts_.progress_interval_ms) return;
    hooks.progress(pending_progress);
    pending_progress = json();
    last_progress_ms = now;
  };
  auto handle_line = [&](const std::string& line) {
    ProtocolLine p = ParseProtocolLine(line);
    switch (p.kind) {
      case ProtocolLine::Kind::kOutput:
        return;
      case ProtocolLine::Kind::kMalformed:
        if (r.malformed++ == 0) r.first_malformed = p.error + ": " + LogSafe(line, 120);
        spdlog::warn("trial {} attempt {}: malformed protocol line ({}): {}", job.trial_id,
                     job.attempt, p.error, LogSafe(line, 120));
        return;
      case ProtocolLine::Kind::kProgress: {
        json data = p.metrics;
        data["phase"] = "program";
        if (p.step >= 0) data["step"] = p.step;
        pending_progress = std::move(data);
        flush_progress(false);
        return;
      }
      case ProtocolLine::Kind::kResult:
        if (r.results++ == 0) r.result = std::move(p);
        return;
    }
  };
  // Takes the complete lines out of out_buf; at EOF the rest is a line too.
  auto take_lines = [&](bool eof) {
    size_t begin = 0;
    while (true) {
      const size_t nl = out_buf.find('\n', begin);
      if (nl == std::string::npos) break;
      if (r.skipping_long_line) {
        r.skipping_long_line = false;
      } else {
        handle_line(out_buf.substr(begin, std::min(nl - begin, opts_.max_line_bytes)));
      }
      begin = nl + 1;
    }
    out_buf.erase(0, begin);
    if (out_buf.size() >= opts_.max_line_bytes) {
      // A line longer than the limit: its first max_line_bytes count, the rest is skipped.
      if (!r.skipping_long_line) handle_line(out_buf.substr(0, opts_.max_line_bytes));
      r.skipping_long_line = true;
      out_buf.clear();
    }
    if (eof && !out_buf.empty()) {
      if (!r.skipping_long_line) handle_line(out_buf);
      out_buf.clear();
    }
  };
  auto keep_tail = [&] {
    if (err_buf.size() > 2 * opts_.stderr_tail_bytes) {
      err_buf.erase(0, err_buf.size() - opts_.stderr_tail_bytes);
    }
  };

  const int64_t deadline =
      timeout_s > 0 ? t0 + static_cast<int64_t>(std::ceil(timeout_s * 1000)) : -1;
  enum class Stop { kNone, kCancelled, kTimeout };
  Stop stop = Stop::kNone;
  int64_t term_sent_ms = -1;
  bool kill_sent = false;
  bool exited = false;  // the program (group leader) ended; reaped below
  int64_t exited_ms = -1;
  int wait_status = 0;
  bool reaped = false;
  while (true) {
    pollfd fds[3];
    nfds_t n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (exit_fd >= 0 && !exited) fds[n++] = {exit_fd, POLLIN, 0};
    int64_t wait_ms = opts_.poll_ms;
    if (!pending_progress.is_null()) {
      wait_ms = std::min(
          wait_ms,
          std::max<int64_t>(1, last_progress_ms + opts_.progress_interval_ms - clock.NowMs()));
    }
    poll(fds, n, static_cast<int>(wait_ms));
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0 || fds[i].fd == exit_fd) continue;
      const bool is_out = fds[i].fd == out_fd;
      const bool still_open = ReadSome(fds[i].fd, is_out ? &out_buf : &err_buf);
      if (is_out) {
        take_lines(!still_open);
      } else {
        keep_tail();
      }
      if (!still_open) {
        close(fds[i].fd);
        (is_out ? out_fd : err_fd) = -1;
      }
    }
    flush_progress(false);
    const int64_t now = clock.NowMs();

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
    if (!exited && stop == Stop::kNone) {
      if (hooks.cancelled && hooks.cancelled()) {
        stop = Stop::kCancelled;
      } else if (deadline >= 0 && now >= deadline) {
        stop = Stop::kTimeout;
      }
      if (stop != Stop::kNone) {
        kill(-pid, SIGTERM);
        term_sent_ms = now;
      }
    }
    if (stop != Stop::kNone && !kill_sent && now - term_sent_ms >= opts_.kill_grace_ms) {
      kill(-pid, SIGKILL);
      kill_sent = true;
    }
    if (exited && !reaped) {
      // What is left of the group after its leader: killed at once after a
      // normal exit, after the grace period (or once the output closes) when
      // it was told to stop.
      const bool pipes_closed = out_fd < 0 && err_fd < 0;
      if (stop == Stop::kNone || kill_sent || pipes_closed ||
          now - term_sent_ms >= opts_.kill_grace_ms) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
        }
        reaped = true;
      }
    }
    if (reaped && ((out_fd < 0 && err_fd < 0) || now - exited_ms >= opts_.drain_ms)) break;
  }
  for (int fd : {out_fd, err_fd, exit_fd}) {
    if (fd >= 0) close(fd);
  }
  take_lines(/*eof=*/true);
  flush_progress(true);
  fs::remove(settings_path, ec);
  // Nothing written: nothing to keep (a sweep of no-op trials leaves no folders).
  // Otherwise the worker removes the folder once the coordinator has the result.
  if (fs::is_empty(out_dir, ec) && !ec) {
    fs::remove(out_dir, ec);
    fs::remove(base, ec);  // only when empty
  }
  const double seconds = static_cast<double>(clock.NowMs() - t0) / 1000.0;

  std::string tail = err_buf.size() > opts_.stderr_tail_bytes
                         ? err_buf.substr(err_buf.size() - opts_.stderr_tail_bytes)
                         : err_buf;
  auto fail = [&](StatusCode code, std::string why) {
    why = "program '" + ValidUtf8(CommandText(argv)) + "' " + why;
    if (r.malformed > 0) {
      why += "; " + std::to_string(r.malformed) +
             " malformed protocol line(s), the first: " + r.first_malformed;
    }
    if (!tail.empty()) {
      why += "\nstderr (last " + std::to_string(tail.size()) + " bytes):\n" + ValidUtf8(tail);
    }
    out.status = Status(code, why);
    return out;
  };
  if (stop == Stop::kCancelled) {
    return fail(StatusCode::kCancelled,
                "was cancelled: its process group was stopped (SIGTERM, SIGKILL after " +
                    std::to_string(opts_.kill_grace_ms) + " ms)");
  }
  if (stop == Stop::kTimeout) {
    std::ostringstream s;
    s << "timed out after " << timeout_s << " s (program.timeout_s): its process group was "
      << (kill_sent ? "killed (SIGTERM, then SIGKILL after " + std::to_string(opts_.kill_grace_ms) +
                          " ms)"
                    : std::string("stopped (SIGTERM)"));
    return fail(StatusCode::kUnavailable, s.str());
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return fail(StatusCode::kInternal, DescribeWaitStatus(wait_status));
  }
  const json params = job.settings.value("params", json::object());
  bool stand_in = false;  // metrics.* parameters, which stand in for a result line
  for (const auto& [name, value] : params.items()) {
    stand_in |= name.rfind(kMetricsPrefix, 0) == 0;
  }
  if (r.results == 0 && !stand_in) {
    return fail(StatusCode::kInternal,
                "exited with status 0 without a result line (print "
                "{\"compsweep\": \"result\", \"metrics\": {...}}, e.g. with "
                "compsweep.result(), or give metrics.* parameters)");
  }
  if (r.results > 1) {
    return fail(StatusCode::kInternal, "printed " + std::to_string(r.results) +
                                           " result lines; a trial gives exactly one");
  }

  json metrics = r.result.metrics;
  // metrics.<name> parameters stand in for what the program does not report.
  for (const auto& [name, value] : params.items()) {
    if (name.rfind(kMetricsPrefix, 0) != 0 || !value.is_number()) continue;
    const std::string metric = name.substr(std::strlen(kMetricsPrefix));
    if (!metrics.contains(metric)) metrics[metric] = value;
  }
  if (!r.result.artifact.empty()) {
    fs::path artifact(r.result.artifact);
    if (artifact.is_relative()) artifact = fs::path(workdir) / artifact;
    const auto size = fs::file_size(artifact, ec);
    if (ec) {
      return fail(StatusCode::kIo, "named artifact '" + ValidUtf8(artifact.string()) +
                                       "', which cannot be read: " + ec.message());
    }
    if (static_cast<int64_t>(size) > opts_.max_artifact_bytes) {
      return fail(StatusCode::kFailedPrecondition,
                  "named artifact '" + ValidUtf8(artifact.string()) + "' of " +
                      std::to_string(size) + " bytes, more than the " +
                      std::to_string(opts_.max_artifact_bytes) + " a result may carry");
    }
    std::ifstream in(artifact, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in) {
      return fail(StatusCode::kIo,
                  "named artifact '" + ValidUtf8(artifact.string()) + "', which cannot be read");
    }
    out.model = bytes.str();
    metrics["size_bytes"] = static_cast<int64_t>(out.model.size());
  }
  if (!metrics.contains("wall_seconds")) metrics["wall_seconds"] = seconds;
  if (r.malformed > 0) {
    spdlog::warn("trial {} attempt {}: {} malformed protocol line(s) ignored", job.trial_id,
                 job.attempt, r.malformed);
  }
  out.metrics = std::move(metrics);
  return out;
}

std::unique_ptr<JobRunner> MakeProgramRunner(ProgramRunnerOptions options) {
  return std::make_unique<ProgramRunner>(std::move(options));
}

}  // namespace compsweep::worker
