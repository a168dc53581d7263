// Signal handling shared by compsweep and compsweep-worker.
#include <csignal>

#include "cli/cli.h"

namespace compsweep::cli {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_drain{false};

namespace {
void OnSignal(int) { g_stop = true; }
void OnWorkerSignal(int sig) {
  if (sig == SIGQUIT || g_drain.load()) {
    g_stop = true;
  } else {
    g_drain = true;
  }
}
}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void InstallWorkerSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnWorkerSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGQUIT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace compsweep::cli
