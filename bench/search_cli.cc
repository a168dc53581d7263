// search_cli: compsweep's search and stopping policies (coordinator/nsga2.h,
// coordinator/mo_asha.h) and hypervolume (common/pareto.h) behind a JSON-lines
// ask/tell protocol on stdin/stdout, for the replay benchmark in bench/search/.
// One JSON object per input line, one answer line per command:
//   {"cmd":"init","parameters":{name:{"values":[..]}|{"value":x}|{"distribution":..,"min":..,"max":..,"q":..}},
//    "maximize":[bool..],"seed":N,"run_cap":N,"adaptive":bool,   (false: uniform random, no
//    repeats) "population_size":N?,"initial_random":N?,
//    "asha":{"min_epochs":1,"eta":3,"max_epochs":9,"tie_break":"hypervolume"|"epsilon-net"|"crowding"}?}
//                                                    -> {"ok":true}
//   {"cmd":"propose","n":N}                          -> {"points":[{..params..}, ..]}
//   {"cmd":"report","trial":ID,"epoch":E,"metrics":[..]} -> {"stop":bool}   (needs asha)
//   {"cmd":"promote","any":bool} -> {"trial":ID,"epoch":E} or {"trial":null}   (needs asha)
//   {"cmd":"tell","params":{..},"metrics":[..]}      -> {"ok":true}   (null metric: failed/stopped)
//   {"cmd":"save"} -> {"state":{..}};  {"cmd":"restore","state":{..}} -> {"ok":true}
//   {"cmd":"hv","points":[[..]..],"maximize":[..],"ref":[..],"lengths":[..]} -> {"hv":[..]}
// Errors answer {"error":"..."} and the program goes on.
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/pareto.h"
#include "common/sweep_spec.h"
#include "coordinator/mo_asha.h"
#include "coordinator/nsga2.h"
#include "coordinator/search_space.h"

namespace {

using compsweep::ParamSpec;
using compsweep::Status;
using compsweep::coordinator::MoAsha;
using compsweep::coordinator::MoAshaOptions;
using compsweep::coordinator::Nsga2;
using compsweep::coordinator::Nsga2Options;
using compsweep::coordinator::RungDecision;
using compsweep::coordinator::SearchSpace;
using compsweep::coordinator::TieBreak;
using json = nlohmann::json;

std::vector<double> Metrics(const json& a) {
  std::vector<double> m;
  for (const auto& v : a) m.push_back(v.is_null() ? NAN : v.get<double>());
  return m;
}

ParamSpec ToSpec(const json& j) {
  ParamSpec p;
  if (j.contains("value")) {
    p.kind = ParamSpec::Kind::kValue;
    p.values = {j["value"]};
  } else if (j.contains("values")) {
    p.kind = ParamSpec::Kind::kValues;
    p.values = j["values"].get<std::vector<json>>();
  } else {
    p.kind = ParamSpec::Kind::kDistribution;
    p.distribution = j.at("distribution").get<std::string>();
    p.min = j.at("min").get<double>();
    p.max = j.at("max").get<double>();
    p.q = j.value("q", 1.0);
  }
  return p;
}

class Session {
 public:
  json Handle(const json& cmd) {
    const std::string c = cmd.at("cmd").get<std::string>();
    if (c == "init") return Init(cmd);
    if (c == "hv") {
      const auto points = cmd.at("points").get<std::vector<std::vector<double>>>();
      return {
          {"hv", compsweep::PrefixHypervolumes(points, cmd.at("maximize").get<std::vector<bool>>(),
                                               cmd.at("ref").get<std::vector<double>>(),
                                               cmd.at("lengths").get<std::vector<size_t>>())}};
    }
    if (!proposer_) return {{"error", "init first"}};
    if (c == "propose") return {{"points", proposer_->Propose(cmd.at("n").get<int>())}};
    if (c == "tell") {
      const Status s = proposer_->Tell(cmd.at("params"), Metrics(cmd.at("metrics")));
      if (!s.ok()) return {{"error", s.ToString()}};
      return {{"ok", true}};
    }
    if (c == "report") {
      if (!asha_) return {{"stop", false}};
      const RungDecision d = asha_->OnEpoch(cmd.at("trial").get<int64_t>(),
                                            cmd.at("epoch").get<int>(), Metrics(cmd.at("metrics")));
      return {{"stop", d == RungDecision::kStop}};
    }
    if (c == "promote") {
      const auto p = asha_ ? asha_->PromoteStopped(cmd.value("any", false)) : std::nullopt;
      if (!p) return {{"trial", nullptr}};
      return {{"trial", p->first}, {"epoch", p->second}};
    }
    if (c == "save") {
      return {
          {"state", {{"search", proposer_->ToJson()}, {"asha", asha_ ? asha_->ToJson() : json()}}}};
    }
    if (c == "restore") {
      const json& st = cmd.at("state");
      auto p = Nsga2::FromJson(*space_, st.at("search"));
      if (!p.ok()) return {{"error", p.status().ToString()}};
      proposer_.emplace(std::move(p).value());
      if (!st.at("asha").is_null()) {
        auto a = MoAsha::FromJson(st.at("asha"));
        if (!a.ok()) return {{"error", a.status().ToString()}};
        asha_.emplace(std::move(a).value());
      }
      return {{"ok", true}};
    }
    return {{"error", "unknown cmd " + c}};
  }

 private:
  json Init(const json& cmd) {
    std::map<std::string, ParamSpec> params;
    for (const auto& [name, spec] : cmd.at("parameters").items()) params[name] = ToSpec(spec);
    auto space = SearchSpace::Create(params);
    if (!space.ok()) return {{"error", space.status().ToString()}};
    space_.emplace(std::move(space).value());
    Nsga2Options o;
    o.maximize = cmd.at("maximize").get<std::vector<bool>>();
    o.run_cap = cmd.at("run_cap").get<int64_t>();
    o.seed = cmd.value("seed", uint64_t{0});
    o.population_size = cmd.value("population_size", 0);
    o.initial_random = cmd.value("initial_random", 0);
    // Uniform random search without repeats is the proposer that never evolves.
    if (!cmd.value("adaptive", true)) o.initial_random = static_cast<int>(o.run_cap);
    auto p = Nsga2::Create(*space_, o);
    if (!p.ok()) return {{"error", p.status().ToString()}};
    proposer_.emplace(std::move(p).value());
    asha_.reset();
    if (cmd.contains("asha") && !cmd["asha"].is_null()) {
      const json& a = cmd["asha"];
      MoAshaOptions ao;
      ao.min_epochs = a.value("min_epochs", 1);
      ao.eta = a.value("eta", 3);
      ao.max_epochs = a.at("max_epochs").get<int>();
      ao.maximize = o.maximize;
      const std::string tb = a.value("tie_break", std::string("hypervolume"));
      ao.tie_break = tb == "epsilon-net" ? TieBreak::kEpsilonNet
                     : tb == "crowding"  ? TieBreak::kCrowding
                                         : TieBreak::kHypervolume;
      auto made = MoAsha::Create(ao);
      if (!made.ok()) return {{"error", made.status().ToString()}};
      asha_.emplace(std::move(made).value());
    }
    return {{"ok", true}};
  }

  std::optional<SearchSpace> space_;
  std::optional<Nsga2> proposer_;
  std::optional<MoAsha> asha_;
};

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  Session session;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json answer;
    try {
      answer = session.Handle(json::parse(line));
    } catch (const std::exception& e) {
      answer = {{"error", e.what()}};
    }
    std::cout << answer.dump() << '\n' << std::flush;
  }
  return 0;
}
