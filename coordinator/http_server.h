// HTTP server of the coordinator (Boost.Beast on Asio): JSON API, Server-Sent
// Events and the dashboard's static files.
// Thread-safety: Create/Stop from one thread; the server runs its own I/O threads
// and reads SQLite through its own read-only connections.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "coordinator/control.h"
#include "coordinator/event_hub.h"

namespace compsweep::coordinator {

struct HttpOptions {
  std::string bind = "127.0.0.1";
  int port = 8321;         // 0 picks a free port (read back with port())
  std::string db_path;     // SQLite file written by the core
  std::string static_dir;  // dashboard files (web/dist or web/)
  std::string token;       // required when bind is not loopback
  int threads = 1;
  // Serve the database read-only: no route changes anything (ApiOptions::read_only).
  bool read_only = false;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  static Result<std::unique_ptr<HttpServer>> Create(const HttpOptions& options,
                                                    CoordinatorControl* control, EventHub* hub);
  virtual int port() const = 0;
  virtual void Stop() = 0;
};

}  // namespace compsweep::coordinator
