#include "experiments/structured.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace compsweep::experiments {
namespace {

using nlohmann::json;

// A layer whose output channels can be removed: the producer, what the
// channels flow through unchanged in number (batch norm, depthwise conv,
// activations, pooling, flatten) and the consumer that reads them.
// In an encoder block a group is its attention heads (producer q, with k and v
// as siblings, E rows each; consumer o) or its MLP neurons (fc1 -> fc2).
struct Group {
  std::string producer, consumer;
  bool consumer_is_linear = false;
  int64_t channels = 0;
  int64_t spatial = 1;  // elements per channel when a flatten sits in between
  std::vector<std::string> bns, depthwise;
  std::string encoder;                // the encoder layer ("l3") of a heads/MLP group
  std::string count_field;            // its spec field: "heads" or "mlp"
  int64_t rows_per_channel = 1;       // producer rows per channel (E for heads)
  std::vector<std::string> siblings;  // masked and sliced like the producer
};

bool IsDepthwise(const json& l) {
  const int64_t g = l.value("groups", 1);
  return l.at("type") == "conv" && g > 1 && g == int64_t{l.at("in")} && g == int64_t{l.at("out")};
}

void StepShape(const json& l, int64_t& c, int64_t& h, int64_t& w) {
  const std::string type = l.at("type");
  if (type == "conv") {
    const int64_t k = l.at("k"), s = l.value("stride", 1), p = l.value("pad", 0);
    h = (h + 2 * p - k) / s + 1;
    w = (w + 2 * p - k) / s + 1;
    c = l.at("out");
  } else if (type == "linear") {
    c = l.at("out");
    h = w = 1;
  } else if (type == "maxpool") {
    h /= int64_t{l.at("k")};
    w /= int64_t{l.at("k")};
  } else if (type == "gap") {
    h = w = 1;
  } else if (type == "flatten") {
    c = c * h * w;
    h = w = 1;
  } else if (type == "residual") {
    int64_t c0 = c, h0 = h, w0 = w;
    for (const auto& b : l.at("body")) StepShape(b, c0, h0, w0);
    c = c0;
    h = h0;
    w = w0;
  }
}

void FindGroups(const json& layers, const std::string& prefix, int64_t c, int64_t h, int64_t w,
                std::vector<Group>& out) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    const std::string name = prefix + "l" + std::to_string(i);
    const std::string type = l.at("type");
    if (type == "residual") {
      FindGroups(l.at("body"), name + "_body.", c, h, w, out);
      FindGroups(l.at("shortcut"), name + "_short.", c, h, w, out);
    }
    if (type == "encoder") {
      Group heads;
      heads.producer = name + ".q";
      heads.siblings = {name + ".k", name + ".v"};
      heads.consumer = name + ".o";
      heads.consumer_is_linear = true;
      heads.channels = l.at("heads");
      heads.rows_per_channel = heads.spatial = l.at("head_dim");
      heads.encoder = name;
      heads.count_field = "heads";
      out.push_back(heads);
      Group mlp;
      mlp.producer = name + ".fc1";
      mlp.consumer = name + ".fc2";
      mlp.consumer_is_linear = true;
      mlp.channels = l.at("mlp");
      mlp.encoder = name;
      mlp.count_field = "mlp";
      out.push_back(mlp);
      continue;
    }
    StepShape(l, c, h, w);
    const bool producer = type == "linear" || (type == "conv" && l.value("groups", 1) == 1);
    if (!producer) continue;
    Group g;
    g.producer = name;
    g.channels = l.at("out");
    int64_t cc = c, hh = h, ww = w;
    for (size_t j = i + 1; j < layers.size(); ++j) {
      const json& n = layers[j];
      const std::string nt = n.at("type");
      const std::string nname = prefix + "l" + std::to_string(j);
      if (nt == "bn") {
        g.bns.push_back(nname);
      } else if (nt == "flatten") {
        g.spatial = hh * ww;
      } else if (nt == "conv" && IsDepthwise(n)) {
        g.depthwise.push_back(nname);
      } else if (nt == "conv" || nt == "linear") {
        if (nt == "conv" && n.value("groups", 1) != 1) break;
        g.consumer = nname;
        g.consumer_is_linear = nt == "linear";
        break;
      } else if (nt == "residual" || nt == "rows" || nt == "pos" || nt == "encoder" || nt == "ln") {
        break;  // mixes channels (or adds to them): nothing to drop exactly
      }
      StepShape(n, cc, hh, ww);
    }
    if (!g.consumer.empty()) out.push_back(std::move(g));
  }
}

std::vector<Group> Groups(const json& spec) {
  std::vector<Group> groups;
  const auto& in = spec.at("input");
  FindGroups(spec.at("layers"), "", in.at(0), in.size() > 1 ? in[1].get<int64_t>() : 1,
             in.size() > 2 ? in[2].get<int64_t>() : 1, groups);
  return groups;
}

// The JSON of the layer named like "l4_body.l0".
json& LayerAt(json& layers, const std::string& name) {
  json* list = &layers;
  size_t pos = 0;
  while (true) {
    const size_t dot = name.find('.', pos);
    const std::string token =
        name.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const size_t us = token.find('_');
    const size_t index =
        std::stoul(token.substr(1, us == std::string::npos ? std::string::npos : us - 1));
    json& layer = (*list).at(index);
    if (dot == std::string::npos) return layer;
    list = &layer.at(token.substr(us + 1) == "body" ? "body" : "shortcut");
    pos = dot + 1;
  }
}

std::map<std::string, torch::Tensor> ParamMap(Model& model) {
  std::map<std::string, torch::Tensor> m;
  for (auto& [name, t] : model.NamedParameters()) m[name] = t;
  return m;
}

// Channels of a group still alive (a nonzero row in the producer's mask).
torch::Tensor AliveChannels(const Group& g, Model& model, const Masks& masks) {
  torch::Tensor w = ParamMap(model).at(g.producer + ".weight");
  torch::Tensor m = masks.Get(g.producer + ".weight");
  if (!m.defined()) return torch::ones({g.channels}, torch::kBool);
  return m.reshape({g.channels, -1}).ne(0).any(1).cpu();
}

}  // namespace

Status PruneStructured(Model& model, const Dataset& data, const std::string& method,
                       double sparsity, bool global_scope, int batches, int64_t batch_size,
                       uint64_t seed, Masks& masks) {
  SpecNetImpl* net = model.spec_net();
  if (net == nullptr) {
    return InvalidArgument("structured pruning needs a zoo architecture, not TorchScript");
  }
  const std::vector<Group> groups = Groups(model.Spec());
  if (groups.empty()) return InvalidArgument("the architecture has no prunable channels");
  ASSIGN_OR_RETURN(auto importance,
                   ComputeImportance(model, data, method, batches, batch_size, seed));
  NamedTensors weights = PrunableWeights(model);
  std::map<std::string, torch::Tensor> score_of;
  for (size_t i = 0; i < weights.size(); ++i) score_of[weights[i].first] = importance[i];

  torch::NoGradGuard no_grad;
  // Per-group channel scores: row sums of the per-element importance (L1
  // norm for magnitude), dead channels forced lowest.
  std::vector<torch::Tensor> scores;
  int64_t total_channels = 0;
  for (const Group& g : groups) {
    torch::Tensor s = score_of.at(g.producer + ".weight").reshape({g.channels, -1}).sum(1).cpu();
    if (!g.encoder.empty()) {
      // A head or neuron is all of its weights: siblings' rows, consumer's columns.
      for (const auto& sib : g.siblings) {
        s = s + score_of.at(sib + ".weight").reshape({g.channels, -1}).sum(1).cpu();
      }
      torch::Tensor c = score_of.at(g.consumer + ".weight");
      s = s + c.reshape({c.size(0), g.channels, -1}).sum(std::vector<int64_t>{0, 2}).cpu();
    }
    s = s.to(torch::kFloat64);
    if (global_scope) s = s / s.mean().clamp_min(1e-30);  // layers on one scale
    s.masked_fill_(AliveChannels(g, model, masks).logical_not(), -1.0);
    scores.push_back(s);
    total_channels += g.channels;
  }
  std::vector<torch::Tensor> keep(groups.size());
  if (global_scope) {
    torch::Tensor all = torch::cat(scores);
    const int64_t target = std::llround(sparsity * static_cast<double>(total_channels));
    torch::Tensor order = all.argsort();
    torch::Tensor pruned = torch::zeros({total_channels}, torch::kBool);
    std::vector<int64_t> remaining;
    for (const Group& g : groups) remaining.push_back(g.channels);
    std::vector<int64_t> offsets(groups.size() + 1, 0);
    for (size_t i = 0; i < groups.size(); ++i) offsets[i + 1] = offsets[i] + groups[i].channels;
    int64_t done = 0;
    for (int64_t k = 0; k < total_channels && done < target; ++k) {
      const int64_t idx = order[k].item<int64_t>();
      const size_t gi = std::upper_bound(offsets.begin(), offsets.end(), idx) - offsets.begin() - 1;
      if (remaining[gi] <= 1) continue;  // keep one channel per layer
      --remaining[gi];
      pruned[idx] = true;
      ++done;
    }
    for (size_t i = 0; i < groups.size(); ++i) {
      keep[i] = pruned.narrow(0, offsets[i], groups[i].channels).logical_not();
    }
  } else {
    for (size_t i = 0; i < groups.size(); ++i) {
      const int64_t n = std::min<int64_t>(
          groups[i].channels - 1, std::llround(sparsity * static_cast<double>(groups[i].channels)));
      torch::Tensor k = torch::ones({groups[i].channels}, torch::kBool);
      if (n > 0) k.index_fill_(0, std::get<1>(scores[i].topk(n, 0, false)), false);
      keep[i] = k;
    }
  }
  // Masks: the producer's rows and bias, the batch norms' scale and shift and
  // the depthwise filters of the removed channels, so they output exact zeros.
  std::map<std::string, torch::Tensor> params = ParamMap(model);
  std::map<std::string, torch::Tensor> new_masks;
  auto row_mask = [&](const std::string& pname, const torch::Tensor& k) {
    auto it = params.find(pname);
    if (it == params.end()) return;
    const torch::Tensor& p = it->second;
    std::vector<int64_t> shape(p.dim(), 1);
    shape[0] = p.size(0);
    // A channel may span several rows (a head's E rows, contiguous).
    torch::Tensor rows = k.repeat_interleave(p.size(0) / k.size(0));
    torch::Tensor m = rows.to(p.options()).reshape(shape).expand(p.sizes()).contiguous();
    auto [pos, inserted] = new_masks.emplace(pname, m);
    if (!inserted) pos->second = pos->second * m;
  };
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    for (const char* suffix : {".weight", ".bias"}) {
      row_mask(g.producer + suffix, keep[i]);
      for (const auto& b : g.bns) row_mask(b + suffix, keep[i]);
      for (const auto& d : g.depthwise) row_mask(d + suffix, keep[i]);
      for (const auto& sib : g.siblings) row_mask(sib + suffix, keep[i]);
    }
  }
  for (auto& [name, m] : new_masks) masks.Set(name, params.at(name), m);
  masks.Apply();
  return Status::Ok();
}

Result<std::unique_ptr<Model>> CompactStructured(Model& model, const Masks& masks) {
  if (model.spec_net() == nullptr) return InvalidArgument("structured pruning needs a spec model");
  json spec = model.Spec();
  const std::vector<Group> groups = Groups(spec);
  // name -> list of (dim, kept indices)
  std::map<std::string, std::vector<std::pair<int64_t, torch::Tensor>>> slices;
  auto add = [&](const std::string& layer, std::initializer_list<const char*> suffixes, int64_t dim,
                 const torch::Tensor& idx) {
    for (const char* s : suffixes) slices[layer + s].emplace_back(dim, idx);
  };
  for (const Group& g : groups) {
    torch::Tensor alive = AliveChannels(g, model, masks);
    torch::Tensor idx = alive.nonzero().flatten().to(torch::kInt64);
    const int64_t kept = idx.numel();
    if (kept == g.channels) continue;
    if (!g.encoder.empty()) {
      LayerAt(spec["layers"], g.encoder)[g.count_field] = kept;
      torch::Tensor rows = idx;
      if (g.rows_per_channel > 1) {
        rows =
            (idx.unsqueeze(1) * g.rows_per_channel + torch::arange(g.rows_per_channel).unsqueeze(0))
                .flatten();
      }
      add(g.producer, {".weight", ".bias"}, 0, rows);
      for (const auto& sib : g.siblings) add(sib, {".weight", ".bias"}, 0, rows);
      add(g.consumer, {".weight"}, 1, rows);
      continue;
    }
    LayerAt(spec["layers"], g.producer)["out"] = kept;
    add(g.producer, {".weight", ".bias"}, 0, idx);
    for (const auto& b : g.bns) {
      LayerAt(spec["layers"], b)["c"] = kept;
      add(b, {".weight", ".bias", ".running_mean", ".running_var"}, 0, idx);
    }
    for (const auto& d : g.depthwise) {
      json& l = LayerAt(spec["layers"], d);
      l["in"] = kept;
      l["out"] = kept;
      l["groups"] = kept;
      add(d, {".weight", ".bias"}, 0, idx);
    }
    torch::Tensor in_idx = idx;
    if (g.spatial > 1) {
      in_idx = (idx.unsqueeze(1) * g.spatial + torch::arange(g.spatial).unsqueeze(0)).flatten();
    }
    LayerAt(spec["layers"], g.consumer)["in"] = kept * g.spatial;
    add(g.consumer, {".weight"}, 1, in_idx);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Model> compact, BuildModel(spec, 0));
  try {
    std::map<std::string, torch::Tensor> old;
    for (auto& [n, t] : model.NamedParameters()) old[n] = t;
    for (auto& [n, t] : model.NamedBuffers()) old[n] = t;
    torch::Device device = old.begin()->second.device();
    compact->To(device);
    torch::NoGradGuard no_grad;
    auto fill = [&](const NamedTensors& tensors) {
      for (auto& [n, t] : tensors) {
        torch::Tensor v = old.at(n);
        if (auto it = slices.find(n); it != slices.end()) {
          for (auto& [dim, idx] : it->second) v = v.index_select(dim, idx.to(v.device()));
        }
        t.copy_(v);
      }
    };
    fill(compact->NamedParameters());
    fill(compact->NamedBuffers());
  } catch (const c10::Error& e) {
    return Internal(std::string("compacting pruned model: ") + e.what_without_backtrace());
  }
  return compact;
}

}  // namespace compsweep::experiments
