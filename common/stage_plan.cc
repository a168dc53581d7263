#include "common/stage_plan.h"

#include <map>
#include <unordered_map>

#include "common/sweep_spec.h"

namespace compsweep {

using json = nlohmann::json;

namespace {

int IntIn(const json& settings, const char* section, const char* key) {
  const json& s = settings.value(section, json::object());
  return s.is_object() && s.contains(key) && s[key].is_number_integer() ? s[key].get<int>() : 0;
}

std::string StrIn(const json& settings, const char* section, const char* key) {
  const json& s = settings.value(section, json::object());
  return s.is_object() && s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : "";
}

}  // namespace

std::vector<TrainingUnit> TrainingUnits(const json& settings) {
  std::vector<std::string> stages;
  const json pipeline = settings.value("pipeline", json::array());
  if (pipeline.is_array()) {
    for (const auto& st : pipeline) {
      if (st.is_string()) stages.push_back(st.get<std::string>());
    }
  }
  std::vector<TrainingUnit> units;
  size_t first = 0;
  if (!stages.empty() && stages[0] == "distill") {
    units.push_back({"distill", IntIn(settings, "distill", "epochs")});
    first = 1;
  } else {
    units.push_back({"train", IntIn(settings, "student", "epochs")});
  }
  for (size_t i = first; i < stages.size(); ++i) {
    TrainingUnit u{stages[i], 0};
    if (stages[i] == "distill") {
      u.epochs = IntIn(settings, "distill", "epochs");
    } else if (stages[i] == "prune") {
      const bool iterative = StrIn(settings, "prune", "schedule") == "iterative";
      u.epochs = IntIn(settings, "prune", "finetune_epochs") *
                 (iterative ? IntIn(settings, "prune", "rounds") : 1);
    } else if (stages[i] == "quantize") {
      if (StrIn(settings, "quantize", "mode") == "qat") {
        u.epochs = IntIn(settings, "quantize", "qat_epochs");
      }
    }
    units.push_back(std::move(u));
  }
  return units;
}

std::string StageKey(const json& settings, int units) {
  const auto all = TrainingUnits(settings);
  json key = settings;
  key.erase("rungs");
  key.erase("pipeline");
  key.erase("stage");
  bool distill = false, prune = false, quantize = false;
  json names = json::array();
  for (int i = 0; i < units && i < static_cast<int>(all.size()); ++i) {
    distill |= all[i].name == "distill";
    prune |= all[i].name == "prune";
    quantize |= all[i].name == "quantize";
    names.push_back(all[i].name);
  }
  // Sections only later units read; everything else (known or not) stays.
  if (!distill) {
    key.erase("distill");
    key.erase("teacher");
  }
  if (!prune) key.erase("prune");
  if (!quantize) key.erase("quantize");
  key["stage_units"] = std::move(names);
  return CanonicalHash(key);
}

json StageSettings(const json& trial_settings, int units) {
  json s = trial_settings;
  s.erase("rungs");
  s["stage"] = {{"units", units}};
  return s;
}

StagePlan PlanStages(const std::vector<const json*>& trials) {
  StagePlan plan;
  const size_t n = trials.size();
  std::vector<std::vector<TrainingUnit>> units(n);
  std::vector<std::vector<std::string>> keys(n);  // keys[i][u-1]: after u units
  std::unordered_map<std::string, int> sharing;
  for (size_t i = 0; i < n; ++i) {
    units[i] = TrainingUnits(*trials[i]);
    for (const auto& u : units[i]) plan.epochs_without += u.epochs;
    // Proper prefixes only: the whole pipeline is the trial itself.
    for (size_t u = 1; u < units[i].size(); ++u) {
      keys[i].push_back(StageKey(*trials[i], static_cast<int>(u)));
      ++sharing[keys[i].back()];
    }
  }
  std::unordered_map<std::string, int> index;  // key -> stage index
  plan.trial_stage.assign(n, -1);
  for (size_t i = 0; i < n; ++i) {
    int parent = -1;
    size_t parent_units = 0;
    for (size_t u = 1; u < units[i].size(); ++u) {
      const std::string& key = keys[i][u - 1];
      if (sharing[key] < 2) break;  // no later prefix is shared either
      int own = 0;
      for (size_t k = parent_units; k < u; ++k) own += units[i][k].epochs;
      if (own < 1) continue;  // nothing to train once: the trials run it themselves
      auto it = index.find(key);
      if (it == index.end()) {
        StagePlan::Stage st;
        st.key = key;
        st.units = static_cast<int>(u);
        st.parent = parent;
        st.epochs = own;
        st.first_trial = static_cast<int>(i);
        for (size_t k = 0; k < u; ++k) st.names.push_back(units[i][k].name);
        it = index.emplace(key, static_cast<int>(plan.stages.size())).first;
        plan.stages.push_back(std::move(st));
      }
      parent = it->second;
      parent_units = u;
    }
    plan.trial_stage[i] = parent;
    for (int s = parent; s >= 0; s = plan.stages[s].parent) ++plan.stages[s].trials;
    for (size_t k = parent_units; k < units[i].size(); ++k) plan.epochs_with += units[i][k].epochs;
  }
  for (const auto& st : plan.stages) plan.epochs_with += st.epochs;
  return plan;
}

std::string DescribeStagePlan(const StagePlan& plan, size_t trials) {
  std::string out = std::to_string(trials) + " trial(s): " + std::to_string(plan.epochs_without) +
                    " training epochs";
  if (plan.stages.empty()) return out + " (no stage is shared; nothing to reuse)";
  out += " -> " + std::to_string(plan.epochs_with) + " with stage reuse (";
  // Group by the stage's last unit and how many trials share it.
  std::map<std::pair<std::string, int>, int> groups;
  std::vector<std::pair<std::string, int>> order;
  for (const auto& st : plan.stages) {
    std::pair<std::string, int> g{st.names.back(), st.trials};
    if (groups[g]++ == 0) order.push_back(g);
  }
  bool first = true;
  for (const auto& g : order) {
    const int count = groups[g];
    out += (first ? "" : ", ") + std::to_string(count) + " " + g.first + " stage" +
           (count == 1 ? "" : "s") + " shared by " + std::to_string(g.second) + " trials";
    first = false;
  }
  return out + ")";
}

}  // namespace compsweep
