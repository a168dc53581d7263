// Which executable `compsweep run` starts its local workers from.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include "cli/cli.h"

namespace compsweep::cli {

namespace {

namespace fs = std::filesystem;

constexpr char kWorkerName[] = "compsweep-worker";

bool IsExecutableFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0;
}

}  // namespace

Result<std::string> FindWorkerBinary(const std::string& flag) {
  if (!flag.empty()) {
    if (!IsExecutableFile(flag)) {
      return InvalidArgument("--worker-bin " + flag + ": no executable file there");
    }
    return flag;
  }
  // /proc/self/exe rather than its target: the running binary even when the
  // file was replaced by a rebuild meanwhile.
  if (BuiltWithTorch()) return std::string("/proc/self/exe");
  std::vector<std::string> tried;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path next_to_me = self.parent_path() / kWorkerName;
    if (IsExecutableFile(next_to_me)) return next_to_me.string();
    tried.push_back(next_to_me.string());
  }
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / kWorkerName;
    if (IsExecutableFile(candidate)) return candidate.string();
  }
  tried.push_back(std::string(kWorkerName) + " in PATH");
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
  return NotFound(std::string(kBuiltWithoutTorch) +
                  ", so its local workers must come from compsweep-worker, which is not here (" +
                  where +
                  "). Build it with LibTorch (cmake -DCOMPSWEEP_WITH_TORCH=ON) and pass "
                  "--worker-bin PATH, or run with --workers 0 and start workers yourself");
}

Status CheckWorkerBinary(const std::string& bin) {
  pid_t pid = fork();
  if (pid < 0) return Internal("fork: cannot start " + bin);
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execl(bin.c_str(), bin.c_str(), "worker", "--help", static_cast<char*>(nullptr));
    _exit(127);
  }
  // A worker loads LibTorch to print its help: seconds at most, even cold.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return Unavailable("worker executable " + bin + ": `worker --help` did not end in 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  const std::string how = WIFSIGNALED(status)
                              ? "was killed by signal " + std::to_string(WTERMSIG(status))
                              : "exited with status " + std::to_string(WEXITSTATUS(status));
  return FailedPrecondition("worker executable " + bin + ": `" + bin + " worker --help` " + how +
                            "; it is not a compsweep worker (a compsweep built without LibTorch "
                            "has none; use compsweep-worker)");
}

}  // namespace compsweep::cli
