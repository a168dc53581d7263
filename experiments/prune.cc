#include "experiments/prune.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/CPUGeneratorImpl.h>

#include "experiments/structured.h"

namespace compsweep::experiments {

Result<PruneConfig> PruneConfig::FromJson(const nlohmann::json& j) {
  ASSIGN_OR_RETURN(const nlohmann::json r, settings::Resolve("prune", j));
  PruneConfig c;
  c.method = r["method"].get<std::string>();
  c.final_sparsity = r["final_sparsity"].get<double>();
  c.initial_sparsity = r["initial_sparsity"].get<double>();
  c.schedule = r["schedule"].get<std::string>();
  c.granularity = r["granularity"].get<std::string>();
  c.scope = r["scope"].get<std::string>();
  c.rounds = r["rounds"].get<int>();
  c.finetune_epochs = r["finetune_epochs"].get<int>();
  c.lr = r["lr"].get<double>();
  // The one rule across two keys (the table checks keys one at a time).
  if (c.initial_sparsity > c.final_sparsity) {
    return InvalidArgument("prune.initial_sparsity must not exceed prune.final_sparsity");
  }
  return c;
}

void Masks::Set(const std::string& name, const torch::Tensor& param, const torch::Tensor& mask) {
  for (auto& e : entries_) {
    if (e.name == name) {
      e.param = param;
      e.mask = mask;
      return;
    }
  }
  entries_.push_back({name, param, mask});
}

void Masks::Apply() {
  torch::NoGradGuard no_grad;
  for (auto& e : entries_) e.param.mul_(e.mask);
}

torch::Tensor Masks::Get(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return e.mask;
  }
  return {};
}

Result<std::vector<torch::Tensor>> ComputeImportance(Model& model, const Dataset& data,
                                                     const std::string& method, int batches,
                                                     int64_t batch_size, uint64_t seed) {
  NamedTensors weights = PrunableWeights(model);
  std::vector<torch::Tensor> scores;
  try {
    if (method == "magnitude") {
      for (auto& [name, w] : weights) scores.push_back(w.detach().abs());
      return scores;
    }
    for (auto& [name, w] : weights) scores.push_back(torch::zeros_like(w));
    model.SetTraining(true);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const int64_t n = data.train_x.size(0);
    torch::Tensor perm = at::randperm(n, gen, torch::kInt64).to(data.train_x.device());
    for (int b = 0; b < batches && b * batch_size < n; ++b) {
      torch::Tensor idx = perm.narrow(0, b * batch_size, std::min(batch_size, n - b * batch_size));
      for (auto& [name, p] : model.NamedParameters()) {
        if (p.grad().defined()) p.mutable_grad().zero_();
      }
      torch::Tensor loss = torch::nn::functional::cross_entropy(
          model.Forward(data.train_x.index_select(0, idx)), data.train_y.index_select(0, idx));
      loss.backward();
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < weights.size(); ++i) {
        torch::Tensor g = weights[i].second.grad();
        if (!g.defined()) continue;
        scores[i] += method == "taylor" ? (weights[i].second.detach() * g).abs() : g.abs();
      }
    }
    for (auto& [name, p] : model.NamedParameters()) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("importance: ") + e.what_without_backtrace());
  }
  if (method != "taylor" && method != "gradient") {
    return InvalidArgument("unknown importance method '" + method + "'");
  }
  return scores;
}

void PruneUnstructured(Model& model, const std::vector<torch::Tensor>& importance, double sparsity,
                       bool global_scope, Masks& masks) {
  torch::NoGradGuard no_grad;
  NamedTensors weights = PrunableWeights(model);
  // Already-pruned entries rank lowest so masks only grow as sparsity rises.
  std::vector<torch::Tensor> ranked;
  int64_t total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    torch::Tensor s = importance[i].detach().to(torch::kFloat32).clone();
    if (torch::Tensor m = masks.Get(weights[i].first); m.defined()) {
      s.masked_fill_(m.eq(0), -1.0f);
    }
    ranked.push_back(s.flatten());
    total += s.numel();
  }
  const int64_t target = std::llround(sparsity * static_cast<double>(total));
  std::vector<int64_t> counts(weights.size(), 0);
  std::vector<torch::Tensor> masks_flat;
  for (auto& r : ranked) masks_flat.push_back(torch::ones_like(r));
  if (global_scope) {
    torch::Tensor all = torch::cat(ranked);
    if (target > 0) {
      torch::Tensor idx = std::get<1>(all.topk(target, 0, /*largest=*/false, /*sorted=*/false));
      torch::Tensor flat = torch::ones_like(all);
      flat.index_fill_(0, idx, 0.0f);
      int64_t offset = 0;
      for (size_t i = 0; i < ranked.size(); ++i) {
        masks_flat[i] = flat.narrow(0, offset, ranked[i].numel()).clone();
        offset += ranked[i].numel();
      }
    }
  } else {
    // Largest-remainder allocation: floor per layer, then hand the leftover
    // units to the layers with the biggest fractional parts.
    std::vector<double> frac(weights.size());
    int64_t assigned = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
      const double exact = sparsity * static_cast<double>(ranked[i].numel());
      counts[i] = static_cast<int64_t>(std::floor(exact));
      frac[i] = exact - counts[i];
      assigned += counts[i];
    }
    std::vector<size_t> order(weights.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return frac[a] > frac[b]; });
    for (size_t j = 0; j < order.size() && assigned < target; ++j, ++assigned) ++counts[order[j]];
    for (size_t i = 0; i < weights.size(); ++i) {
      if (counts[i] == 0) continue;
      torch::Tensor idx =
          std::get<1>(ranked[i].topk(counts[i], 0, /*largest=*/false, /*sorted=*/false));
      masks_flat[i].index_fill_(0, idx, 0.0f);
    }
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    masks.Set(weights[i].first, weights[i].second,
              masks_flat[i].view(weights[i].second.sizes()).to(weights[i].second.dtype()));
  }
  masks.Apply();
}

double WeightSparsity(Model& model) {
  int64_t zeros = 0, total = 0;
  for (auto& [name, w] : PrunableWeights(model)) {
    zeros += w.eq(0).sum().item<int64_t>();
    total += w.numel();
  }
  return total == 0 ? 0.0 : static_cast<double>(zeros) / total;
}

namespace {

constexpr int kImportanceBatches = 8;

// Prunes to `sparsity` with the configured importance and granularity.
Status PruneOnce(Model& model, Masks& masks, const PruneConfig& config, double sparsity,
                 const Dataset& data, const TrainOptions& base, uint64_t seed) {
  if (config.granularity == "structured") {
    return PruneStructured(model, data, config.method, sparsity, config.scope == "global",
                           kImportanceBatches, base.batch_size, seed, masks);
  }
  ASSIGN_OR_RETURN(auto importance, ComputeImportance(model, data, config.method,
                                                      kImportanceBatches, base.batch_size, seed));
  PruneUnstructured(model, importance, sparsity, config.scope == "global", masks);
  return Status::Ok();
}

TrainOptions FineTuneOptions(const TrainOptions& base, const PruneConfig& config, Masks& masks,
                             const std::string& phase, uint64_t seed) {
  TrainOptions o = base;
  o.phase = phase;
  o.epochs = config.finetune_epochs;
  o.lr = config.lr;
  o.seed = seed;
  o.teacher_logits = torch::Tensor();
  o.hooks = TrainHooks{};
  o.hooks.after_step = [&masks] { masks.Apply(); };
  return o;
}

}  // namespace

Status RunPruneStage(std::unique_ptr<Model>& model, Masks& masks, const PruneConfig& config,
                     const Dataset& data, const TrainOptions& base, const RunContext& ctx) {
  const uint64_t seed = base.seed * 7919 + 17;
  const double s_f = config.final_sparsity, s_i = config.initial_sparsity;
  if (config.schedule == "one-shot") {
    RETURN_IF_ERROR(PruneOnce(*model, masks, config, s_f, data, base, seed));
    RETURN_IF_ERROR(Train(*model, data, FineTuneOptions(base, config, masks, "prune", seed), ctx));
  } else if (config.schedule == "iterative") {
    for (int r = 1; r <= config.rounds; ++r) {
      const double s = s_i + (s_f - s_i) * r / config.rounds;
      RETURN_IF_ERROR(PruneOnce(*model, masks, config, s, data, base, seed + r));
      RETURN_IF_ERROR(Train(
          *model, data,
          FineTuneOptions(base, config, masks, "prune round " + std::to_string(r), seed + r), ctx));
    }
  } else {
    // Zhu & Gupta: s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3 over the
    // first 75% of the fine-tuning steps, so the last quarter recovers with
    // frozen masks.
    const int64_t total_steps =
        config.finetune_epochs * StepsPerEpoch(data.train_x.size(0), base.batch_size);
    const int64_t prune_span = (total_steps * 3) / 4;
    const int64_t n_updates = std::max<int64_t>(1, std::min<int64_t>(10, prune_span));
    const int64_t dt = std::max<int64_t>(1, prune_span / n_updates);
    const int64_t end = n_updates * dt;
    Status hook_status;
    TrainOptions o = FineTuneOptions(base, config, masks, "prune", seed);
    o.hooks.after_step = [&, step = int64_t{0}]() mutable {
      const int64_t t = ++step;
      if (t % dt == 0 && t <= end && hook_status.ok()) {
        const double frac = 1.0 - static_cast<double>(t) / static_cast<double>(end);
        const double s = s_f + (s_i - s_f) * frac * frac * frac;
        hook_status = PruneOnce(*model, masks, config, s, data, base, seed + t);
      }
      masks.Apply();
    };
    if (s_i > 0) RETURN_IF_ERROR(PruneOnce(*model, masks, config, s_i, data, base, seed));
    if (total_steps > 0) RETURN_IF_ERROR(Train(*model, data, o, ctx));
    RETURN_IF_ERROR(hook_status);
    // Too few steps to reach the end of the schedule: finish at s_f.
    if (total_steps == 0 || end > total_steps) {
      RETURN_IF_ERROR(PruneOnce(*model, masks, config, s_f, data, base, seed));
    }
  }
  masks.Apply();
  if (config.granularity == "structured") {
    ASSIGN_OR_RETURN(model, CompactStructured(*model, masks));
    masks = Masks();
  }
  return Status::Ok();
}

}  // namespace compsweep::experiments
