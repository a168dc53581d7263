// libFuzzer target: the HTTP request handler. The input is raw bytes off a
// connection: Beast's request_parser (with the server's header and body limits) cuts
// up to four pipelined requests from it, and each one is answered by
// ApiHandler::HandleRequest over a small real SQLite database made once at start
// (one sweep from the Store, trials in several states with metrics, an event,
// a kept model) and a static folder.
// Checks beyond "no crash": no 500 (bad input gets a 4xx with a reason), no
// response that leaks a file outside the static folder, bounded response size.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/http.hpp>

#include "common/clock.h"
#include "common/sweep_spec.h"
#include "coordinator/artifact_paths.h"
#include "coordinator/control.h"
#include "coordinator/event_hub.h"
#include "coordinator/http_api.h"
#include "coordinator/store.h"

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
namespace cc = compsweep::coordinator;
using nlohmann::json;

constexpr const char* kSecret = "FUZZ-SECRET-OUTSIDE-THE-STATIC-FOLDER";

void Die(const std::string& what) {
  std::fprintf(stderr, "http_fuzz: %s\n", what.c_str());
  std::abort();
}

// Validates submitted sweeps for real (parse and count, no expansion) but stores
// nothing, so that every input meets the same database.
class FuzzControl : public cc::CoordinatorControl {
 public:
  cc::SubmitOutcome Submit(const std::string& yaml_text, const std::string& filename,
                           bool allow_large) override {
    compsweep::ValidateOptions options;
    options.allow_large = allow_large;
    auto parsed = compsweep::ParseSweepText(yaml_text, filename, options);
    cc::SubmitOutcome out;
    if (!parsed.errors.empty()) {
      out.status = compsweep::InvalidArgument("invalid sweep");
      out.errors = std::move(parsed.errors);
      return out;
    }
    out.sweep_id = 99;
    out.trials = compsweep::CountTrials(*parsed.spec);
    return out;
  }
  compsweep::Status Cancel(int64_t sweep_id) override {
    if (sweep_id != 1) return compsweep::NotFound("no sweep " + std::to_string(sweep_id));
    return compsweep::Status::Ok();
  }
  compsweep::Result<int64_t> RetryFailed(int64_t sweep_id) override {
    if (sweep_id != 1) return compsweep::NotFound("no sweep " + std::to_string(sweep_id));
    return int64_t{1};
  }
};

struct World {
  fs::path dir;
  compsweep::FakeClock clock{5000};
  FuzzControl control;
  cc::EventHub hub;
  std::unique_ptr<cc::ApiHandler> api;
};

World* world = nullptr;

const char kSweep[] = R"(name: fuzz-sweep
method: grid
seed: 1
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
teacher: {arch: mlp, epochs: 1}
student: {arch: mlp, epochs: 1}
pipeline: [distill, prune, quantize]
objectives: {val_accuracy: maximize, size_bytes: minimize, latency_ms: minimize}
parameters:
  prune.final_sparsity: {values: [0.5, 0.9]}
  quantize.bits: {values: [8, 4, 2]}
)";

void MakeDatabase(World* w) {
  const std::string db_path = (w->dir / "fuzz.db").string();
  auto store = cc::Store::Open(db_path, &w->clock);
  if (!store.ok()) Die("Store::Open: " + store.status().ToString());
  auto parsed = compsweep::ParseSweepText(kSweep, "fuzz.yaml");
  if (!parsed.spec) Die("seed sweep does not parse: " + parsed.errors.front().ToString());
  auto trials = compsweep::ExpandTrials(*parsed.spec);
  auto sweep = (*store)->CreateSweep(*parsed.spec, trials, compsweep::CanonicalHash(kSweep));
  if (!sweep.ok()) Die("CreateSweep: " + sweep.status().ToString());
  auto rows = (*store)->LoadActiveTrials(*sweep);
  if (!rows.ok()) Die("LoadActiveTrials: " + rows.status().ToString());
  (*store)->WorkerUpsert("w1", json{{"host", "fuzzhost"}, {"device", "cpu"}, {"slots", 2}});
  const std::string artifacts = cc::DefaultArtifactDir(db_path);
  fs::create_directories(artifacts);
  int n = 0;
  for (const auto& row : *rows) {
    ++n;
    (*store)->TrialStarted(row.id, 1, "w1");
    if (n % 4 == 3) {
      (*store)->TrialAttemptEnded(row.id, 1, "w1", cc::TrialState::kFailed, cc::TrialState::kFailed,
                                  0, "boom");
      continue;
    }
    if (n % 4 == 0) continue;  // stays running
    const double acc = 0.5 + 0.05 * n;
    (*store)->TrialSucceeded(row.id, 1,
                             json{{"val_accuracy", acc},
                                  {"size_bytes", 1000 * (8 - n)},
                                  {"latency_ms", 0.1 * n},
                                  {"loss", 1.0 / n}});
    (*store)->TrialProgress(row.id, 1, json{{"step", 1}, {"loss", 0.5}});
    const std::string model = artifacts + "/" + cc::TrialArtifactName(row.id, 1);
    std::ofstream(model) << "CSA model bytes " << row.id;
    (*store)->AddArtifact(cc::TrialArtifactKey(row.id), "model", 20, model, row.id);
  }
  (*store)->AddEvent(*sweep, 0, "sweep_created", json{{"id", *sweep}});
  auto st = (*store)->Flush();
  if (!st.ok()) Die("Flush: " + st.ToString());
}

void Answer(const cc::HttpRequest& req, bool input_has_marker) {
  cc::HttpResponse res = world->api->HandleRequest(req);
  const unsigned code = res.result_int();
  if (code >= 500 && code != 503) {
    Die("status " + std::to_string(code) + " for " + std::string(req.method_string()) + " " +
        std::string(req.target()) + ": " + res.body());
  }
  // The marker in a response is a leak unless the input carried it itself: an
  // error may quote the request's method or target, and the fuzzer learns the
  // marker from this very comparison (it did: "no sweep 'FUZZ-SECRET-...'" and a
  // method "FUZZ-SECRET-...GET" quoted back were false alarms).
  if (!input_has_marker && res.body().find(kSecret) != std::string::npos) {
    Die("a file outside the static folder was served for " + std::string(req.target()));
  }
  if (res.body().size() > (4u << 20)) {
    Die("response of " + std::to_string(res.body().size()) + " bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world = new World;
  world->dir = fs::temp_directory_path() / ("compsweep-http-fuzz-" + std::to_string(getpid()));
  fs::remove_all(world->dir);
  fs::create_directories(world->dir / "web" / "css");
  std::ofstream(world->dir / "web" / "index.html") << "<!doctype html><title>fuzz</title>";
  std::ofstream(world->dir / "web" / "app.js") << "console.log(1);";
  std::ofstream(world->dir / "web" / "css" / "app.css") << "body{}";
  std::ofstream(world->dir / "secret.txt") << kSecret;
  MakeDatabase(world);
  std::ofstream(world->dir / "fuzz.db.secret") << kSecret;
  world->hub.Publish("trial_finished", json{{"trial_id", 2}, {"sweep_id", 1}});
  cc::ApiOptions options;
  options.db_path = (world->dir / "fuzz.db").string();
  options.static_dir = (world->dir / "web").string();
  options.loopback_hosts_only = true;
  options.clock = &world->clock;
  world->api = std::make_unique<cc::ApiHandler>(options, &world->control, &world->hub);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(world->dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::asio::const_buffer input(data, size);
  const bool input_has_marker =
      std::string_view(reinterpret_cast<const char*>(data), size).find(kSecret) !=
      std::string_view::npos;
  for (int requests = 0; requests < 4 && input.size() > 0; ++requests) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cc::kHeaderLimit));  // as the server
    parser.body_limit(cc::kBodyLimit);
    parser.eager(true);
    boost::beast::error_code ec;
    // As Beast's own read loop (http/impl/read.hpp) does: after need_more the
    // parser gets the unconsumed bytes again only with more behind them. The
    // input is all there is, so need_more ends the feeding (a client that sends
    // no more). Feeding the same bytes again broke Beast's contract and tripped
    // its assertion `n >= 5` in parse_chunk_header (found by this fuzzer).
    while (!ec && !parser.is_done() && input.size() > 0) {
      const size_t used = parser.put(input, ec);
      input += used;
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (used == 0) break;
    }
    if (!ec && !parser.is_done() && parser.is_header_done()) parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;  // the server answers 400/413 and closes
    Answer(parser.release(), input_has_marker);
  }
  return 0;
}
