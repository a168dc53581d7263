// Subcommands of the compsweep executable. Each Run* returns the process exit code.
// Exit codes: 0 ok, 1 runtime error, 2 invalid input (bad sweep file or arguments).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace compsweep::cli {

// Built with LibTorch (COMPSWEEP_WITH_TORCH): only then does this executable
// train (the worker subcommand) and write TorchScript (export).
bool BuiltWithTorch();
inline constexpr char kBuiltWithoutTorch[] = "this compsweep was built without LibTorch";

// Set by SIGINT/SIGTERM handlers.
extern std::atomic<bool> g_stop;
extern std::atomic<bool> g_drain;
void InstallSignalHandlers();
// Workers: the first SIGINT/SIGTERM drains (finish running trials, take no
// more), a second one or SIGQUIT stops at once.
void InstallWorkerSignalHandlers();

// path_roots: folders that absolute data/model paths may lie under (empty: the
// default, /usr/share/datasets); see ValidateOptions::path_roots.
int RunValidate(const std::string& file, bool allow_large,
                const std::vector<std::string>& path_roots = {});

struct CoordinatorArgs {
  std::string db = "compsweep.db";
  std::string bind = "tcp://0.0.0.0:5555";
  std::string http = "127.0.0.1:8321";
  std::string token;
  std::string static_dir;
  int64_t heartbeat_ms = 1000;
  int liveness = 4;
  std::string curve_key;                // the coordinator's .key file
  std::string curve_clients;            // folder of the workers' .pub files (or one file)
  std::vector<std::string> path_roots;  // --path-root, see RunValidate
};
int RunCoordinator(const CoordinatorArgs& args);

// `compsweep keygen NAME`: writes NAME.key and NAME.pub (CurveZMQ).
int RunKeygen(const std::string& base);

struct WorkerArgs {
  std::string connect = "tcp://127.0.0.1:5555";
  std::string device = "cpu";
  int slots = 1;
  int threads = 0;
  std::string cache_dir = ".cache/compsweep";
  std::string id;
  int64_t heartbeat_ms = 1000;
  std::string cpu_lock = "/tmp/compsweep-cpu.lock";
  bool keep_artifacts = false;
  std::vector<std::string> path_roots;  // --path-root, as the coordinator's
  std::string curve_key;                // this worker's .key file
  std::string curve_server;             // the coordinator's .pub file
};
// The options of `compsweep worker`, also those of compsweep-worker. Without
// LibTorch the subcommand takes anything and RunWorkerCommand says to use
// compsweep-worker (exit status 2).
void AddWorkerOptions(CLI::App* worker, WorkerArgs* args);
int RunWorkerCommand(const WorkerArgs& args);

struct RunArgs {
  std::string file;
  int workers = 2;
  int slots = 1;
  int threads = 1;
  std::string device = "cpu";
  std::string db;  // default: <sweep name>.db next to the current directory
  int port = 8321;
  bool no_serve = false;
  bool keep_serving = false;
  bool allow_large = false;
  std::string cache_dir = ".cache/compsweep";
  std::string static_dir;
  int64_t heartbeat_ms = 1000;
  int liveness = 4;
  std::string worker_bin;               // default: FindWorkerBinary
  std::vector<std::string> path_roots;  // --path-root, see RunValidate
};
int RunEmbedded(const RunArgs& args);

// The executable `run` starts its local workers from, as `BIN worker OPTIONS`:
// `flag` (--worker-bin) when not empty; else this executable when it was built
// with LibTorch; else compsweep-worker next to this executable, then in PATH.
// An error says what was looked at.
Result<std::string> FindWorkerBinary(const std::string& flag);
// Runs `bin worker --help` and fails unless it exits 0: a compsweep built
// without LibTorch, or any other program, is refused before a sweep starts.
Status CheckWorkerBinary(const std::string& bin);

// HTTP client commands.
struct ClientArgs {
  std::string coordinator = "http://127.0.0.1:8321";
  std::string token;
};
int RunSubmit(const std::string& file, bool allow_large, const ClientArgs& c);
int RunStatus(const std::string& sweep, const ClientArgs& c, const std::string& db);
int RunCancel(const std::string& sweep, const ClientArgs& c);
int RunRetry(const std::string& sweep, const ClientArgs& c);
int RunWorkers(const ClientArgs& c);

struct ResultsArgs {
  std::string sweep;
  bool pareto = false;
  std::string format = "table";  // table | csv | json
  std::string db;                // read the SQLite file directly
  ClientArgs client;
};
int RunResults(const ResultsArgs& args);

// `compsweep dashboard --db FILE` (alias `ui`): serves the dashboard over the
// database read-only until SIGINT/SIGTERM.
struct DashboardArgs {
  std::string db;
  std::string bind = "127.0.0.1";
  int port = 8321;  // taken when busy: any free port (0 asks for one at once)
  std::string token;
  std::string static_dir;
};
int RunDashboard(const DashboardArgs& args);
// OK when `db` is an existing compsweep database that opens read-only;
// NotFound / InvalidArgument otherwise, with a message ready to print.
Status CheckCompsweepDatabase(const std::string& db);

struct ExportArgs {
  int64_t trial = 0;
  std::string db;
  std::string cache_dir = ".cache/compsweep";
  std::string artifact;                // overrides the path derived from db + cache_dir
  std::string format = "torchscript";  // torchscript | onnx | csa
  std::string out;                     // default: model.pt, model.onnx or model.csa
};
int RunExport(const ExportArgs& args);
// What an export wrote (experiments::ExportReport without LibTorch types).
struct ExportOutcome {
  int64_t bytes = 0;
  bool int8 = false;
  std::vector<std::string> notes;
  nlohmann::json metadata;
};
// Writes a trial's model file as `format` (experiments::ExportArtifact);
// FailedPrecondition without LibTorch.
Result<ExportOutcome> WriteExport(const std::string& artifact, const std::string& format,
                                  const std::string& out);

// Shared helpers --------------------------------------------------------------
// Trials of a sweep read from a SQLite file: [{id, number, state, attempt, params, metrics}].
Result<nlohmann::json> ReadTrialsFromDb(const std::string& db, int64_t sweep_id);
// Objectives of a sweep: [{"metric":..,"maximize":..}].
Result<nlohmann::json> ReadObjectivesFromDb(const std::string& db, int64_t sweep_id);
// Indices (into trials) of the Pareto-optimal succeeded trials under the objectives.
std::vector<size_t> ParetoIndices(const nlohmann::json& trials, const nlohmann::json& objectives);
// The sweep document of the API (coordinator/api_queries.h GetSweep) from a file.
Result<nlohmann::json> ReadSweepFromDb(const std::string& db, int64_t sweep_id);
// The dense student's metrics of a sweep document (its kind baseline row), or null.
nlohmann::json DenseStudent(const nlohmann::json& sweep);
// Lines for the teacher and the dense student, with the objectives' values.
void PrintBaselines(const nlohmann::json& sweep, const nlohmann::json& objectives);
// Prints trials as table/csv/json to stdout; with `dense` (DenseStudent), the
// table and csv gain val_accuracy_drop_pts and smaller_than_dense_x.
void PrintTrials(const nlohmann::json& trials, const nlohmann::json& objectives,
                 const std::string& format, const nlohmann::json& dense = nullptr);
// Resolves the default static dir (web/ next to the source tree or the binary).
std::string DefaultStaticDir();

// Minimal HTTP client (Boost.Beast) for the coordinator API.
struct HttpReply {
  int status = 0;
  std::string body;
};
Result<HttpReply> HttpCall(const std::string& base_url, const std::string& method,
                           const std::string& target, const std::string& body,
                           const std::string& content_type, const std::string& token);
// HttpCall without a body whose answer must be 2xx JSON; any other outcome is
// an error whose message is ready to print.
Result<nlohmann::json> HttpJson(const ClientArgs& c, const std::string& method,
                                const std::string& target);

}  // namespace compsweep::cli
