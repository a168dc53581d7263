#include "coordinator/http_api.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "coordinator/http_test_util.h"

namespace compsweep::coordinator {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using nlohmann::json;
using testing::BodyJson;
using testing::FakeControl;
using testing::MakeRequest;
using testing::TempDir;
using testing::TestDb;

const json kObjectives = json::array({{{"metric", "val_accuracy"}, {"maximize", true}},
                                      {{"metric", "size_bytes"}, {"maximize", false}}});

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestDb>((dir_.path() / "sweeps.db").string());
    web_ = dir_.path() / "web";
    std::filesystem::create_directories(web_ / "node_modules" / "uplot" / "dist");
    std::ofstream(web_ / "index.html") << "<!doctype html><title>compsweep</title>";
    std::ofstream(web_ / "app.js") << "console.log(1);";
    std::ofstream(web_ / "node_modules" / "uplot" / "dist" / "uPlot.iife.min.js") << "var uPlot;";
    std::ofstream(dir_.path() / "secret.txt") << "secret";
  }

  ApiHandler MakeHandler(const std::string& token = "", bool loopback_only = false,
                         bool live_columns = true) {
    ApiOptions o;
    o.db_path = db_->path();
    o.live_columns = live_columns;
    o.static_dir = web_.string();
    o.token = token;
    o.loopback_hosts_only = loopback_only;
    o.clock = &clock_;
    return ApiHandler(o, &control_, &hub_);
  }

  HttpResponse Get(ApiHandler& api, const std::string& target) {
    return api.HandleRequest(MakeRequest(http::verb::get, target));
  }

  // Sweep 1 with a teacher, 4 trials in various states.
  int64_t SmallSweep() {
    const int64_t s = db_->AddSweep("small", kObjectives);
    db_->AddTrial(s, 0, "succeeded", json::object(), {{"val_accuracy", 0.99}}, "teacher");
    db_->AddTrial(s, 0, "succeeded", {{"quantize.bits", 8}},
                  {{"val_accuracy", 0.9}, {"size_bytes", 4000}});
    db_->AddTrial(s, 1, "succeeded", {{"quantize.bits", 4}},
                  {{"val_accuracy", 0.8}, {"size_bytes", 2000}});
    db_->AddTrial(s, 2, "succeeded", {{"quantize.bits", 2}},
                  {{"val_accuracy", 0.7}, {"size_bytes", 3000}});
    db_->AddTrial(s, 3, "failed", {{"quantize.bits", 1}});
    db_->AddTrial(s, 4, "queued", {{"quantize.bits", 16}});
    return s;
  }

  TempDir dir_;
  std::unique_ptr<TestDb> db_;
  std::filesystem::path web_;
  FakeClock clock_{5000};
  FakeControl control_;
  EventHub hub_;
};

TEST_F(HttpApiTest, Health) {
  ApiHandler api = MakeHandler();
  HttpResponse res = Get(api, "/api/health");
  EXPECT_EQ(res.result(), http::status::ok);
  json body = BodyJson(res);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["db"], true);
  EXPECT_EQ(res[http::field::content_type], "application/json");
}

// A control whose core reports a health state set by the test.
class HealthControl : public FakeControl {
 public:
  CoreHealth Health() const override { return health; }
  CoreHealth health;
};

// A control that validates like the core does (ParseSweepText), so that error
// replies carry the real diagnostics.
class ValidatingControl : public FakeControl {
 public:
  SubmitOutcome Submit(const std::string& yaml_text, const std::string& filename,
                       bool allow_large) override {
    ValidateOptions o;
    o.allow_large = allow_large;
    ParseOutcome parsed = ParseSweepText(yaml_text, filename, o);
    SubmitOutcome out;
    out.errors = parsed.errors;
    if (!out.errors.empty()) out.status = InvalidArgument("invalid");
    out.sweep_id = 1;
    return out;
  }
};

TEST_F(HttpApiTest, HealthIsDegradedWith503WhenTheCoreSaysSo) {
  ApiOptions o;
  o.db_path = db_->path();
  o.clock = &clock_;
  HealthControl control;
  ApiHandler api(o, &control, &hub_);
  HttpResponse res = Get(api, "/api/health");
  EXPECT_EQ(res.result(), http::status::ok);
  json body = BodyJson(res);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["pending_acks"], 0);
  EXPECT_FALSE(body.contains("reason"));
  // The fields the dashboard and docs/dashboard.md name stay.
  for (const char* key : {"db", "schema_version", "events", "time_ms"}) {
    EXPECT_TRUE(body.contains(key)) << key;
  }

  control.health = {true, "disk full: flushing 12 writes: database or disk is full", 4000, 12};
  res = Get(api, "/api/health");
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  body = BodyJson(res);
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_EQ(body["reason"], "disk full: flushing 12 writes: database or disk is full");
  EXPECT_EQ(body["pending_acks"], 12);
  EXPECT_EQ(body["degraded_since_ms"], 4000);
  EXPECT_EQ(body["db"], true);
  // A liveness probe keeps the process: a restart does not free the disk.
  res = Get(api, "/api/health?probe=liveness");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(BodyJson(res)["status"], "degraded");

  control.health = {};
  EXPECT_EQ(Get(api, "/api/health").result(), http::status::ok);
}

TEST_F(HttpApiTest, EmptySweepBodyIsAValidationError) {
  ApiHandler api = MakeHandler();
  HttpResponse res =
      api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps?filename=e.yaml", ""));
  EXPECT_EQ(res.result(), http::status::bad_request);
  json body = BodyJson(res);
  ASSERT_EQ(body["errors"].size(), 1u);
  EXPECT_EQ(body["errors"][0]["text"],
            "e.yaml: the sweep file is empty (send the sweep YAML as the request body)");
  EXPECT_TRUE(control_.submitted.empty());
}

TEST_F(HttpApiTest, ErrorRepliesDoNotEchoTheBody) {
  ApiOptions o;
  o.db_path = db_->path();
  o.clock = &clock_;
  ValidatingControl control;
  ApiHandler api(o, &control, &hub_);
  // Bodies of 1 MiB that the validator quotes: a scalar document, a key, a value,
  // bytes that JSON must escape, and a long file name.
  const std::string mib(1 << 20, 'A');
  std::string binary(1 << 20, '\x01');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/api/sweeps", mib},
      {"/api/sweeps", mib + ": 1\n"},
      {"/api/sweeps", "name: t\nmethod: " + mib + "\n"},
      {"/api/sweeps", "\"" + binary + "\": 1\n"},
      {"/api/sweeps?filename=" + std::string(4000, 'f'), "x: 1\n"},
  };
  for (const auto& [target, body] : cases) {
    HttpResponse res = api.HandleRequest(MakeRequest(http::verb::post, target, body));
    EXPECT_EQ(res.result(), http::status::bad_request);
    EXPECT_LT(res.body().size(), 4000u) << res.body().substr(0, 300);
    EXPECT_FALSE(BodyJson(res).is_discarded());
  }
}

TEST_F(HttpApiTest, ListsSweepsWithCounts) {
  const int64_t s = SmallSweep();
  ApiHandler api = MakeHandler();
  json body = BodyJson(Get(api, "/api/sweeps"));
  ASSERT_EQ(body["sweeps"].size(), 1u);
  const json& sw = body["sweeps"][0];
  EXPECT_EQ(sw["id"], s);
  EXPECT_EQ(sw["counts"]["succeeded"], 3);  // the teacher is not counted
  EXPECT_EQ(sw["counts"]["failed"], 1);
  EXPECT_EQ(sw["counts"]["queued"], 1);
  EXPECT_EQ(sw["counts"]["running"], 0);
  EXPECT_EQ(sw["total"], 5);
}

TEST_F(HttpApiTest, SweepDetailHasSpecCountsAndHypervolume) {
  const int64_t s = SmallSweep();
  ApiHandler api = MakeHandler();
  HttpResponse res = Get(api, "/api/sweeps/" + std::to_string(s));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  json body = BodyJson(res);
  EXPECT_EQ(body["name"], "small");
  EXPECT_EQ(body["spec_yaml"], "name: small\n");
  EXPECT_EQ(body["counts"]["succeeded"], 3);
  EXPECT_EQ(body["teachers"].size(), 1u);
  // The reference models with their metrics: the teacher (and the dense student
  // when the sweep has one).
  ASSERT_TRUE(body["baselines"].is_array());
  ASSERT_GE(body["baselines"].size(), 1u);
  EXPECT_EQ(body["baselines"][0]["kind"], "teacher");
  EXPECT_TRUE(body["baselines"][0]["metrics"].is_object());
  // Front: (0.9, 4000) and (0.8, 2000); (0.7, 3000) is dominated by (0.8, 2000).
  // Reference: accuracy 0, size 4000 * 1.1 = 4400.
  EXPECT_EQ(body["hypervolume"]["front_size"], 2);
  EXPECT_DOUBLE_EQ(body["hypervolume"]["reference"][1].get<double>(), 4400);
  const double want = 0.9 * (4400 - 4000) + 0.8 * (4000 - 2000);
  EXPECT_NEAR(body["hypervolume"]["value"].get<double>(), want, 1e-9);
}

TEST_F(HttpApiTest, BadAndMissingIds) {
  SmallSweep();
  ApiHandler api = MakeHandler();
  for (const char* t : {"/api/sweeps/abc", "/api/sweeps/-1", "/api/sweeps/0", "/api/trials/1x",
                        "/api/sweeps/99999999999999999999/trials"}) {
    HttpResponse res = Get(api, t);
    EXPECT_EQ(res.result(), http::status::bad_request) << t;
    EXPECT_TRUE(BodyJson(res).contains("error")) << t;
  }
  for (const char* t : {"/api/sweeps/999", "/api/trials/999", "/api/sweeps/999/trials",
                        "/api/sweeps/999/pareto", "/api/nope", "/api/sweeps/1/nope", "/api"}) {
    HttpResponse res = Get(api, t);
    EXPECT_EQ(res.result(), http::status::not_found) << t;
    EXPECT_EQ(res[http::field::content_type], "application/json") << t;
  }
}

TEST_F(HttpApiTest, TrialsFilterSortPage) {
  const int64_t s = SmallSweep();
  ApiHandler api = MakeHandler();
  const std::string base = "/api/sweeps/" + std::to_string(s) + "/trials";
  json all = BodyJson(Get(api, base));
  EXPECT_EQ(all["total"], 5);
  ASSERT_EQ(all["trials"].size(), 5u);
  EXPECT_EQ(all["trials"][0]["number"], 0);
  EXPECT_EQ(all["trials"][0]["params"]["quantize.bits"], 8);
  EXPECT_DOUBLE_EQ(all["trials"][0]["metrics"]["val_accuracy"].get<double>(), 0.9);

  json ok = BodyJson(Get(api, base + "?state=succeeded&sort=size_bytes&order=desc"));
  ASSERT_EQ(ok["trials"].size(), 3u);
  EXPECT_EQ(ok["trials"][0]["metrics"]["size_bytes"], 4000);
  EXPECT_EQ(ok["trials"][2]["metrics"]["size_bytes"], 2000);

  json two = BodyJson(Get(api, base + "?state=succeeded,failed&sort=number&limit=2&offset=1"));
  EXPECT_EQ(two["total"], 4);
  ASSERT_EQ(two["trials"].size(), 2u);
  EXPECT_EQ(two["trials"][0]["number"], 1);
  EXPECT_EQ(two["trials"][1]["number"], 2);

  // Metric sort puts trials without the metric last in both directions.
  json acc = BodyJson(Get(api, base + "?sort=val_accuracy&order=asc"));
  EXPECT_EQ(acc["trials"][0]["metrics"]["val_accuracy"], 0.7);
  EXPECT_TRUE(acc["trials"][4]["metrics"].empty());

  for (const char* q : {"?order=sideways", "?state=bogus", "?sort=a%20b", "?limit=-3", "?offset=x",
                        "?sort=id;DROP%20TABLE%20trials"}) {
    EXPECT_EQ(Get(api, base + q).result(), http::status::bad_request) << q;
  }
  // Still there.
  EXPECT_EQ(BodyJson(Get(api, base))["total"], 5);
}

TEST_F(HttpApiTest, TrialDetail) {
  const int64_t s = SmallSweep();
  const int64_t t =
      db_->AddTrial(s, 9, "succeeded", {{"prune.final_sparsity", 0.5}}, {{"val_accuracy", 0.5}});
  db_->Insert("trial_attempts",
              {{"trial_id", t}, {"attempt", 1}, {"worker", "w1"}, {"state", "lost"}});
  db_->Insert("trial_attempts",
              {{"trial_id", t}, {"attempt", 2}, {"worker", "w2"}, {"state", "succeeded"}});
  for (int i = 0; i < 3; ++i) {
    db_->Insert("trial_progress", {{"trial_id", t},
                                   {"attempt", 2},
                                   {"seq", i},
                                   {"ts_ms", 100 + i},
                                   {"data", json{{"epoch", i}, {"loss", 1.0 / (i + 1)}}.dump()}});
  }
  ApiHandler api = MakeHandler();
  json body = BodyJson(Get(api, "/api/trials/" + std::to_string(t)));
  EXPECT_EQ(body["id"], t);
  EXPECT_EQ(body["kind"], "trial");
  EXPECT_EQ(body["params"]["prune.final_sparsity"], 0.5);
  EXPECT_EQ(body["settings"]["params"]["prune.final_sparsity"], 0.5);
  EXPECT_EQ(body["metrics"]["val_accuracy"], 0.5);
  ASSERT_EQ(body["attempts"].size(), 2u);
  EXPECT_EQ(body["attempts"][0]["worker"], "w1");
  ASSERT_EQ(body["progress"].size(), 3u);
  EXPECT_EQ(body["progress"][2]["data"]["epoch"], 2);
  EXPECT_TRUE(body["artifact"].is_null()) << "no model kept yet";
  EXPECT_EQ(Get(api, "/api/trials/" + std::to_string(t) + "/model.csa").result(),
            http::status::not_found);
}

TEST_F(HttpApiTest, TrialModelDownload) {
  const int64_t s = SmallSweep();
  const int64_t t = db_->AddTrial(s, 9, "succeeded", json::object(), {{"size_bytes", 5}});
  const std::string bytes("CSA\0\x01", 5);  // binary, with a NUL
  const fs::path file = dir_.path() / ("trial-" + std::to_string(t) + "-1.csa");
  std::ofstream(file, std::ios::binary) << bytes;
  db_->Insert("artifacts", {{"hash", "trial-" + std::to_string(t)},
                            {"kind", "model"},
                            {"size_bytes", 5},
                            {"path", file.string()},
                            {"trial_id", t},
                            {"created_ms", 1}});
  ApiHandler api = MakeHandler();
  json body = BodyJson(Get(api, "/api/trials/" + std::to_string(t)));
  EXPECT_EQ(body["artifact"]["size_bytes"], 5);
  EXPECT_EQ(body["artifact"]["download"], "/api/trials/" + std::to_string(t) + "/model.csa");
  HttpResponse res = Get(api, body["artifact"]["download"].get<std::string>());
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), bytes);
  EXPECT_NE(std::string(res[http::field::content_disposition]).find("trial-"), std::string::npos);
  // A file that went missing is a 404 that says so, not a crash or an empty 200.
  fs::remove(file);
  res = Get(api, "/api/trials/" + std::to_string(t) + "/model.csa");
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_NE(res.body().find("missing"), std::string::npos);
  EXPECT_EQ(Get(api, "/api/trials/" + std::to_string(t) + "/other").result(),
            http::status::not_found);
}

TEST_F(HttpApiTest, WorkersWithHeartbeatAgeAndRunningTrials) {
  const int64_t s = SmallSweep();
  const int64_t t = db_->AddTrial(s, 10, "running", json::object());
  db_->db().exec("UPDATE trials SET worker = 'w1' WHERE id = " + std::to_string(t));
  db_->Insert("workers", {{"id", "w1"},
                          {"host", "h"},
                          {"device", "cpu"},
                          {"slots", 2},
                          {"state", "alive"},
                          {"last_seen_ms", clock_.WallMs() - 1500}});
  db_->Insert("workers", {{"id", "w2"}, {"host", "h2"}, {"state", "lost"}});
  ApiHandler api = MakeHandler();
  json body = BodyJson(Get(api, "/api/workers"));
  ASSERT_EQ(body["workers"].size(), 2u);
  EXPECT_EQ(body["workers"][0]["id"], "w1");
  EXPECT_EQ(body["workers"][0]["heartbeat_age_ms"], 1500);
  EXPECT_EQ(body["workers"][0]["running"], json::array({t}));
  EXPECT_EQ(body["workers"][1]["running"], json::array());
  EXPECT_TRUE(body["workers"][1]["heartbeat_age_ms"].is_null());
}

TEST_F(HttpApiTest, TrialsCsvDownload) {
  const int64_t s = SmallSweep();
  db_->AddTrial(s, 5, "failed", {{"note", "a,\"b\""}});
  db_->db().exec("UPDATE trials SET error = '=cmd|x' WHERE number = 5 AND sweep_id = " +
                 std::to_string(s));
  ApiHandler api = MakeHandler();
  HttpResponse res = Get(api, "/api/sweeps/" + std::to_string(s) + "/trials.csv");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/csv; charset=utf-8");
  EXPECT_EQ(res[http::field::content_disposition],
            "attachment; filename=\"sweep-" + std::to_string(s) + "-trials.csv\"");
  const std::string csv = res.body();
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "id,number,state,attempt,worker,queued_ms,started_ms,finished_ms,duration_ms,note,"
            "quantize.bits,size_bytes,val_accuracy,error");  // metrics in name order
  EXPECT_NE(csv.find("\"a,\"\"b\"\"\""), std::string::npos) << csv;
  EXPECT_NE(csv.find(",'=cmd|x\r\n"), std::string::npos) << csv;  // no formula injection
  EXPECT_NE(csv.find(",4000,0.9,"), std::string::npos) << csv;
  size_t rows = 0;
  for (size_t p = 0; (p = csv.find("\r\n", p)) != std::string::npos; p += 2) ++rows;
  EXPECT_EQ(rows, 1u + 6u);

  HttpResponse js = Get(api, "/api/sweeps/" + std::to_string(s) + "/trials.json?state=succeeded");
  EXPECT_EQ(BodyJson(js)["trials"].size(), 3u);
  EXPECT_NE(std::string(js[http::field::content_disposition]).find("trials.json"),
            std::string::npos);
}

TEST_F(HttpApiTest, ParetoCsvAndJson) {
  const int64_t s = SmallSweep();
  ApiHandler api = MakeHandler();
  HttpResponse res = Get(api, "/api/sweeps/" + std::to_string(s) + "/pareto.csv");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(),
            "id,val_accuracy,size_bytes,quantize.bits\r\n2,0.9,4000,8\r\n3,0.8,2000,4\r\n");
  json js = BodyJson(Get(api, "/api/sweeps/" + std::to_string(s) + "/pareto.json"));
  EXPECT_EQ(js["front_ids"], json::array({2, 3}));
}

// Brute-force O(n^2) front in the test's own terms.
std::set<int64_t> BruteFront(const std::vector<int64_t>& ids,
                             const std::vector<std::vector<double>>& v,
                             const std::vector<bool>& maximize) {
  std::set<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < v.size() && !dominated; ++j) {
      bool no_worse = true, better = false;
      for (size_t k = 0; k < maximize.size(); ++k) {
        const double a = maximize[k] ? -v[j][k] : v[j][k];
        const double b = maximize[k] ? -v[i][k] : v[i][k];
        no_worse = no_worse && a <= b;
        better = better || a < b;
      }
      dominated = no_worse && better;
    }
    if (!dominated) out.insert(ids[i]);
  }
  return out;
}

TEST_F(HttpApiTest, ParetoMatchesBruteForce) {
  const int64_t s = db_->AddSweep("big", kObjectives);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> acc(50, 99), size(10, 60), lat(1, 20);
  std::vector<int64_t> ids;
  std::vector<std::vector<double>> vals;
  for (int i = 0; i < 300; ++i) {
    const double a = acc(rng) / 100.0, b = size(rng) * 1000.0, c = lat(rng) / 2.0;
    const std::string state = i % 10 == 0 ? "failed" : "succeeded";
    const int64_t id = db_->AddTrial(s, i, state, {{"i", i}},
                                     {{"val_accuracy", a}, {"size_bytes", b}, {"latency_ms", c}});
    if (state == "succeeded") {
      ids.push_back(id);
      vals.push_back({a, b, c});
    }
  }
  ApiHandler api = MakeHandler();
  const std::string base = "/api/sweeps/" + std::to_string(s) + "/pareto";

  auto front_of = [&](const std::string& target) {
    HttpResponse res = Get(api, target);
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    json body = BodyJson(res);
    std::set<int64_t> got;
    for (const auto& f : body["front"]) got.insert(f["id"].get<int64_t>());
    EXPECT_EQ(body["front_ids"].size(), got.size());
    EXPECT_EQ(body["considered"], ids.size());
    return got;
  };
  std::vector<std::vector<double>> two;
  for (const auto& v : vals) two.push_back({v[0], v[1]});
  EXPECT_EQ(front_of(base), BruteFront(ids, two, {true, false}));
  EXPECT_EQ(front_of(base + "?objectives=val_accuracy,size_bytes,latency_ms"),
            BruteFront(ids, vals, {true, false, false}));
  // Explicit directions override the declared ones.
  EXPECT_EQ(front_of(base + "?objectives=val_accuracy:min,size_bytes:max"),
            BruteFront(ids, two, {false, true}));

  json body = BodyJson(Get(api, base));
  ASSERT_FALSE(body["front"].empty());
  EXPECT_TRUE(body["front"][0]["params"].contains("i"));
  EXPECT_TRUE(body["front"][0]["metrics"].contains("latency_ms"));
  // Sorted best accuracy first.
  for (size_t i = 1; i < body["front"].size(); ++i) {
    EXPECT_GE(body["front"][i - 1]["values"]["val_accuracy"].get<double>(),
              body["front"][i]["values"]["val_accuracy"].get<double>());
  }
  for (const char* q : {"?objectives=val_accuracy,val_accuracy", "?objectives=a;b",
                        "?objectives=x:sideways", "?objectives=a,b,c,d,e"}) {
    EXPECT_EQ(Get(api, base + q).result(), http::status::bad_request) << q;
  }
}

TEST_F(HttpApiTest, CachedParetoFollowsNewCommits) {
  // Reading SQLite for every document (no live columns): the cache follows commits.
  const int64_t s = SmallSweep();
  ApiHandler api = MakeHandler("", false, /*live_columns=*/false);
  const std::string target = "/api/sweeps/" + std::to_string(s) + "/pareto";
  EXPECT_EQ(BodyJson(Get(api, target))["front_ids"], json::array({2, 3}));
  EXPECT_EQ(BodyJson(Get(api, target))["front_ids"], json::array({2, 3}));  // from the cache
  const int64_t better = db_->AddTrial(s, 7, "succeeded", json::object(),
                                       {{"val_accuracy", 0.95}, {"size_bytes", 1000}});
  EXPECT_EQ(BodyJson(Get(api, target))["front_ids"], json::array({better}));
  EXPECT_EQ(BodyJson(Get(api, "/api/sweeps/" + std::to_string(s)))["hypervolume"]["front_size"], 1);
}

TEST_F(HttpApiTest, LiveParetoFollowsPublishedResults) {
  // With the hub, new results reach the front through their events (as the core
  // publishes them), committed or not yet (api_columns_test.cc goes further).
  const int64_t s = SmallSweep();
  ApiHandler api = MakeHandler();
  const std::string target = "/api/sweeps/" + std::to_string(s) + "/pareto";
  EXPECT_EQ(BodyJson(Get(api, target))["front_ids"], json::array({2, 3}));
  EXPECT_EQ(BodyJson(Get(api, target))["front_ids"], json::array({2, 3}));  // from the cache
  const int64_t better = db_->AddTrial(s, 7, "running", json::object());
  hub_.Publish("trial_finished", {{"trial_id", better},
                                  {"sweep_id", s},
                                  {"state", "succeeded"},
                                  {"kind", "trial"},
                                  {"metrics", {{"val_accuracy", 0.95}, {"size_bytes", 1000}}}});
  EXPECT_EQ(BodyJson(Get(api, target))["front_ids"], json::array({better}));
  EXPECT_EQ(BodyJson(Get(api, "/api/sweeps/" + std::to_string(s)))["hypervolume"]["front_size"], 1);
  EXPECT_EQ(api.live_columns()->loads(), 1);
}

TEST_F(HttpApiTest, SmallSweepInBigDatabaseUsesLookups) {
  // Sweep 1 is big, sweep 2 small: the small one is read by primary-key lookups.
  const int64_t big = db_->AddSweep("big", kObjectives);
  for (int i = 0; i < 200; ++i) {
    db_->AddTrial(big, i, "succeeded", json::object(),
                  {{"val_accuracy", 0.5}, {"size_bytes", 100.0 + i}});
  }
  const int64_t small = db_->AddSweep("small", kObjectives);
  db_->AddTrial(small, 0, "succeeded", json::object(), {{"val_accuracy", 0.9}}, "teacher");
  const int64_t a = db_->AddTrial(small, 0, "succeeded", json::object(),
                                  {{"val_accuracy", 0.9}, {"size_bytes", 50}});
  const int64_t b = db_->AddTrial(small, 1, "succeeded", json::object(),
                                  {{"val_accuracy", 0.95}, {"size_bytes", 70}});
  db_->AddTrial(small, 2, "succeeded", json::object(), {{"val_accuracy", 0.8}, {"size_bytes", 90}});
  db_->AddTrial(small, 3, "succeeded", json::object(),
                {{"val_accuracy", 0.99}});  // no size: left out
  ApiHandler api = MakeHandler();
  json body = BodyJson(Get(api, "/api/sweeps/" + std::to_string(small) + "/pareto"));
  EXPECT_EQ(body["front_ids"], json::array({b, a}));  // best accuracy first
  EXPECT_EQ(body["considered"], 3);
  body = BodyJson(Get(api, "/api/sweeps/" + std::to_string(big) + "/pareto"));
  EXPECT_EQ(body["front_ids"].size(), 1u);
  EXPECT_EQ(body["considered"], 200);
}

TEST_F(HttpApiTest, HypervolumeSeriesIsMonotone) {
  const int64_t s = db_->AddSweep("hv", kObjectives);
  std::mt19937 rng(8);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < 50; ++i) {
    db_->AddTrial(s, i, "succeeded", json::object(),
                  {{"val_accuracy", u(rng)}, {"size_bytes", 1e4 * u(rng)}});
  }
  ApiHandler api = MakeHandler();
  json body = BodyJson(Get(api, "/api/sweeps/" + std::to_string(s) + "/hypervolume"));
  ASSERT_EQ(body["series"].size(), 50u);
  for (size_t i = 1; i < 50; ++i) {
    EXPECT_GE(body["series"][i]["value"].get<double>(),
              body["series"][i - 1]["value"].get<double>());
    EXPECT_GE(body["series"][i]["t"].get<int64_t>(), body["series"][i - 1]["t"].get<int64_t>());
  }
  json pareto = BodyJson(Get(api, "/api/sweeps/" + std::to_string(s) + "/pareto"));
  EXPECT_NEAR(body["series"][49]["value"].get<double>(),
              pareto["hypervolume"]["value"].get<double>(), 1e-9);
}

TEST_F(HttpApiTest, SubmitCancelRetry) {
  ApiHandler api = MakeHandler();
  HttpResponse res = api.HandleRequest(
      MakeRequest(http::verb::post, "/api/sweeps?allow_large=1&filename=s.yaml", "name: x\n"));
  EXPECT_EQ(res.result(), http::status::created);
  EXPECT_EQ(BodyJson(res), (json{{"id", 7}, {"trials", 4}, {"resumed", false}}));
  EXPECT_TRUE(control_.last_allow_large);
  EXPECT_EQ(control_.last_filename, "s.yaml");

  res = api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps", "bad: 1\n"));
  EXPECT_EQ(res.result(), http::status::bad_request);
  json err = BodyJson(res);
  ASSERT_EQ(err["errors"].size(), 1u);
  EXPECT_EQ(err["errors"][0]["line"], 3);
  EXPECT_EQ(err["errors"][0]["column"], 5);
  EXPECT_EQ(err["errors"][0]["text"], "request.yaml:3:5: unknown key 'bad'");

  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps", "")).result(),
            http::status::bad_request);
  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps/3/cancel")).result(),
            http::status::ok);
  EXPECT_EQ(control_.cancelled, std::vector<int64_t>{3});
  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps/404/cancel")).result(),
            http::status::not_found);
  res = api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps/3/retry-failed"));
  EXPECT_EQ(BodyJson(res)["requeued"], 3);
  EXPECT_EQ(Get(api, "/api/sweeps/3/cancel").result(), http::status::method_not_allowed);
  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::delete_, "/api/sweeps")).result(),
            http::status::method_not_allowed);
}

// The route table: a path that fits a route but not its method is a 405 whose
// Allow lists the methods the path has; a read-only dashboard refuses every
// route that writes, with a message that says why, and still reads.
TEST_F(HttpApiTest, RouteTableAndReadOnlyDashboard) {
  SmallSweep();
  ApiHandler api = MakeHandler();
  HttpResponse res = api.HandleRequest(MakeRequest(http::verb::delete_, "/api/sweeps"));
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, POST");
  res = api.HandleRequest(MakeRequest(http::verb::put, "/api/sweeps/1/pareto.csv"));
  EXPECT_EQ(res[http::field::allow], "GET");
  res = Get(api, "/api/sweeps/1/retry-failed");
  EXPECT_EQ(res[http::field::allow], "POST");
  EXPECT_EQ(BodyJson(Get(api, "/api/health"))["read_only"], false);

  ApiOptions o;
  o.db_path = db_->path();
  o.static_dir = web_.string();
  o.read_only = true;
  ApiHandler ro(o, nullptr, nullptr);
  for (const char* t : {"/api/sweeps", "/api/sweeps/1/cancel", "/api/sweeps/1/retry-failed"}) {
    res = ro.HandleRequest(MakeRequest(http::verb::post, t, "name: x\n"));
    EXPECT_EQ(res.result(), http::status::forbidden) << t;
    EXPECT_NE(BodyJson(res)["error"].get<std::string>().find("read-only"), std::string::npos) << t;
  }
  EXPECT_EQ(control_.cancelled, std::vector<int64_t>{});
  res = ro.HandleRequest(MakeRequest(http::verb::get, "/api/health"));
  EXPECT_EQ(BodyJson(res)["read_only"], true);
  res = ro.HandleRequest(MakeRequest(http::verb::get, "/api/sweeps/1/trials"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(BodyJson(res)["total"], 5);
  res = ro.HandleRequest(MakeRequest(http::verb::get, "/api/sweeps/1/pareto"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_FALSE(BodyJson(res)["front_ids"].empty());
}

TEST_F(HttpApiTest, ExceptionsBecome500) {
  control_.throw_on_submit = true;
  ApiHandler api = MakeHandler();
  HttpResponse res = api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps", "name: x\n"));
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_TRUE(BodyJson(res).contains("error"));
}

TEST_F(HttpApiTest, TokenGuardsMutationsOnly) {
  SmallSweep();
  ApiHandler api = MakeHandler("s3cret");
  EXPECT_EQ(Get(api, "/api/sweeps").result(), http::status::ok);
  HttpRequest req = MakeRequest(http::verb::post, "/api/sweeps", "name: x\n");
  HttpResponse res = api.HandleRequest(req);
  EXPECT_EQ(res.result(), http::status::unauthorized);
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer realm=\"compsweep\"");
  req.set(http::field::authorization, "Bearer wrong");
  EXPECT_EQ(api.HandleRequest(req).result(), http::status::unauthorized);
  req.set(http::field::authorization, "Bearer s3cret");
  EXPECT_EQ(api.HandleRequest(req).result(), http::status::created);
  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps/1/cancel?token=s3cret"))
                .result(),
            http::status::ok);
  EXPECT_EQ(
      api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps/1/cancel?token=s3cre")).result(),
      http::status::unauthorized);
  EXPECT_EQ(control_.submitted.size(), 1u);
}

TEST_F(HttpApiTest, CrossOriginPostAndForeignHostRefused) {
  ApiHandler api = MakeHandler("", /*loopback_only=*/true);
  HttpRequest req = MakeRequest(http::verb::post, "/api/sweeps", "name: x\n");
  req.set(http::field::origin, "https://evil.example");
  EXPECT_EQ(api.HandleRequest(req).result(), http::status::forbidden);
  req.set(http::field::origin, "http://127.0.0.1:8321");
  EXPECT_EQ(api.HandleRequest(req).result(), http::status::created);
  HttpRequest get = MakeRequest(http::verb::get, "/api/health");
  get.set(http::field::host, "attacker.example:8321");
  EXPECT_EQ(api.HandleRequest(get).result(), http::status::forbidden);
  for (const char* host : {"localhost:1", "[::1]:8321", "127.0.0.5", "app.localhost:9"}) {
    get.set(http::field::host, host);
    EXPECT_EQ(api.HandleRequest(get).result(), http::status::ok) << host;
  }
}

TEST_F(HttpApiTest, StaticFiles) {
  ApiHandler api = MakeHandler();
  HttpResponse res = Get(api, "/");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(res.body().find("compsweep"), std::string::npos);
  res = Get(api, "/app.js?v=1");
  EXPECT_EQ(res[http::field::content_type], "text/javascript; charset=utf-8");
  res = Get(api, "/vendor/uplot/dist/uPlot.iife.min.js");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "var uPlot;");
  HttpResponse head = api.HandleRequest(MakeRequest(http::verb::head, "/app.js"));
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(Get(api, "/missing.js").result(), http::status::not_found);
  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::post, "/index.html", "x")).result(),
            http::status::method_not_allowed);
}

TEST_F(HttpApiTest, PathTraversalIsImpossible) {
  std::filesystem::create_symlink(dir_.path() / "secret.txt", web_ / "link.txt");
  ApiHandler api = MakeHandler();
  const std::string secret = (dir_.path() / "secret.txt").string();
  for (const std::string& t : std::vector<std::string>{"/../secret.txt",
                                                       "/..%2fsecret.txt",
                                                       "/%2e%2e/secret.txt",
                                                       "/%2E%2E%2Fsecret.txt",
                                                       "/%2e%2e%5csecret.txt",
                                                       "/..\\secret.txt",
                                                       "/%5c..%5csecret.txt",
                                                       "//etc/passwd",
                                                       "/%2fetc%2fpasswd",
                                                       "/" + secret,
                                                       "/%2F" + secret.substr(1),
                                                       "/vendor/../../secret.txt",
                                                       "/vendor/..%2f..%2fsecret.txt",
                                                       "/vendor/%2e%2e/%2e%2e/secret.txt",
                                                       "/link.txt",
                                                       "/node_modules/uplot/dist/uPlot.iife.min.js",
                                                       "/.%2e/secret.txt",
                                                       "/%00index.html",
                                                       "/index.html%00.js",
                                                       "/C:/Windows/win.ini",
                                                       "/a/../../secret.txt",
                                                       "/%252e%252e/secret.txt",
                                                       "/.hidden",
                                                       "/%"}) {
    HttpResponse res = Get(api, t);
    EXPECT_EQ(res.result(), http::status::not_found) << t;
    EXPECT_EQ(res.body().find("secret"), std::string::npos) << t;
  }
}

TEST_F(HttpApiTest, EventsBacklogThroughHandle) {
  ApiHandler api = MakeHandler();
  hub_.Publish("trial_finished", {{"trial_id", 1}});
  hub_.Publish("trial_finished", {{"trial_id", 2}});
  HttpResponse res = Get(api, "/api/events");
  EXPECT_EQ(res[http::field::content_type], "text/event-stream");
  EXPECT_NE(res.body().find("id: 1\nevent: trial_finished\ndata: {\"trial_id\":1}\n\n"),
            std::string::npos);
  HttpRequest req = MakeRequest(http::verb::get, "/api/events");
  req.set("Last-Event-ID", "1");
  res = api.HandleRequest(req);
  EXPECT_EQ(res.body().find("id: 1\n"), std::string::npos);
  EXPECT_NE(res.body().find("id: 2\n"), std::string::npos);
}

TEST_F(HttpApiTest, MissingDatabaseIs503) {
  ApiOptions o;
  o.db_path = (dir_.path() / "absent.db").string();
  ApiHandler api(o, nullptr, nullptr);
  EXPECT_EQ(Get(api, "/api/sweeps").result(), http::status::service_unavailable);
  EXPECT_EQ(BodyJson(Get(api, "/api/health"))["db"], false);
  EXPECT_EQ(api.HandleRequest(MakeRequest(http::verb::post, "/api/sweeps", "x")).result(),
            http::status::service_unavailable);
}

TEST(HttpUtilTest, Helpers) {
  EXPECT_EQ(*UrlDecode("a%20b+c"), "a b+c");
  EXPECT_EQ(*UrlDecode("a+b", true), "a b");
  EXPECT_FALSE(UrlDecode("%4").has_value());
  EXPECT_FALSE(UrlDecode("%zz").has_value());
  auto q = ParseQuery("a=1&b=x%20y&c&a=2");
  EXPECT_EQ(q["a"], "2");
  EXPECT_EQ(q["b"], "x y");
  EXPECT_EQ(q["c"], "");
  EXPECT_EQ(ParseId("42"), 42);
  EXPECT_FALSE(ParseId("+4").has_value());
  EXPECT_FALSE(ParseId("0").has_value());
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a\nb"), "\"a\nb\"");
  EXPECT_EQ(CsvField("+1"), "'+1");
  EXPECT_TRUE(SecretEquals("abc", "abc"));
  EXPECT_FALSE(SecretEquals("abc", "abd"));
  EXPECT_FALSE(SecretEquals("abc", "ab"));
}

}  // namespace
}  // namespace compsweep::coordinator
