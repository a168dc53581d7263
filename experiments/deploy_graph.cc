#include "experiments/deploy_graph.h"

#include <cstdio>
#include <map>
#include <set>

#include "experiments/int8.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

bool Int8Capable(const QuantizedTensor& q) {
  return q.scheme == "linear" && q.bits == 8 && q.symmetric;
}

// A linear layer's op; int8 ops take their codes (and, unless dynamic, the
// calibrated activation parameters).
DeployOp LinearOp(const torch::nn::Linear& l, const std::string& name,
                  const QuantizedWeights& codes, const json& act, bool int8, bool dynamic,
                  bool reduce_range) {
  DeployOp op;
  op.kind = DeployOp::Kind::kLinear;
  op.name = name;
  op.weight = l->weight.detach().cpu().contiguous();
  if (l->options.bias()) op.bias = l->bias.detach().cpu().contiguous();
  if (int8) {
    const QuantizedTensor& q = codes.at(name + ".weight");
    op.codes = q.codes.cpu().to(torch::kChar).contiguous();
    op.per_channel = q.per_channel;
    op.w_scale = q.scale.cpu().to(torch::kDouble).reshape({-1}).contiguous();
    op.dynamic = dynamic;
    op.reduce_range = reduce_range;
    if (!dynamic) {
      const json& p = act.at(name);
      op.in_scale = p.at(0).get<double>();
      op.in_zp = p.at(1).get<int64_t>();
      op.out_scale = p.at(2).get<double>();
      op.out_zp = p.at(3).get<int64_t>();
    }
  }
  return op;
}

Status Build(SpecNetImpl& net, const std::string& prefix, const QuantizedWeights& codes,
             const json& act, bool int8, bool dynamic, bool reduce_range,
             std::vector<DeployOp>& out) {
  for (size_t i = 0; i < net.layers.size(); ++i) {
    auto& l = net.layers[i];
    DeployOp op;
    op.name = prefix + "l" + std::to_string(i);
    switch (l.kind) {
      case SpecNetImpl::Kind::kConv:
      case SpecNetImpl::Kind::kLinear: {
        const bool conv = l.kind == SpecNetImpl::Kind::kConv;
        if (!conv && dynamic) {
          op = LinearOp(l.linear, op.name, codes, act, int8, true, reduce_range);
          if (i + 1 < net.layers.size() && net.layers[i + 1].kind == SpecNetImpl::Kind::kRelu) {
            op.fused_relu = true;
            ++i;
          }
          break;
        }
        op.kind = conv ? DeployOp::Kind::kConv : DeployOp::Kind::kLinear;
        torch::Tensor w = conv ? l.conv->weight : l.linear->weight;
        op.weight = w.detach().cpu().contiguous();
        const bool has_bias = conv ? l.conv->options.bias() : l.linear->options.bias();
        if (has_bias) op.bias = (conv ? l.conv->bias : l.linear->bias).detach().cpu().contiguous();
        if (conv) {
          op.stride = l.stride;
          op.pad = l.pad;
          op.groups = l.groups;
        }
        if (int8) {
          const QuantizedTensor& q = codes.at(op.name + ".weight");
          op.codes = q.codes.cpu().to(torch::kChar).contiguous();
          op.per_channel = q.per_channel;
          op.w_scale = q.scale.cpu().to(torch::kDouble).reshape({-1}).contiguous();
          const json& p = act.at(op.name);
          op.in_scale = p.at(0).get<double>();
          op.in_zp = p.at(1).get<int64_t>();
          op.out_scale = p.at(2).get<double>();
          op.out_zp = p.at(3).get<int64_t>();
        }
        // A ReLU right after is fused (as Int8Model does).
        if (i + 1 < net.layers.size() && net.layers[i + 1].kind == SpecNetImpl::Kind::kRelu) {
          op.fused_relu = true;
          ++i;
        }
        break;
      }
      case SpecNetImpl::Kind::kBn: {
        op.kind = DeployOp::Kind::kAffine;
        auto& bn = l.bn;
        torch::Tensor a = bn->weight.detach() / torch::sqrt(bn->running_var + bn->options.eps());
        op.bn_a = a.cpu().contiguous();
        op.bn_b = (bn->bias.detach() - bn->running_mean * a).cpu().contiguous();
        break;
      }
      case SpecNetImpl::Kind::kRelu:
        op.kind = DeployOp::Kind::kRelu;
        break;
      case SpecNetImpl::Kind::kRelu6:
        op.kind = DeployOp::Kind::kRelu6;
        break;
      case SpecNetImpl::Kind::kMaxPool:
        op.kind = DeployOp::Kind::kMaxPool;
        op.k = l.k;
        break;
      case SpecNetImpl::Kind::kGap:
        op.kind = DeployOp::Kind::kGap;
        break;
      case SpecNetImpl::Kind::kFlatten:
        op.kind = DeployOp::Kind::kFlatten;
        break;
      case SpecNetImpl::Kind::kResidual:
        op.kind = DeployOp::Kind::kResidual;
        RETURN_IF_ERROR(
            Build(*l.body, op.name + "_body.", codes, act, int8, dynamic, reduce_range, op.body));
        if (l.shortcut) {
          RETURN_IF_ERROR(Build(*l.shortcut, op.name + "_short.", codes, act, int8, dynamic,
                                reduce_range, op.shortcut));
        }
        break;
      case SpecNetImpl::Kind::kRows:
        op.kind = DeployOp::Kind::kRows;
        break;
      case SpecNetImpl::Kind::kPos:
        op.kind = DeployOp::Kind::kPos;
        op.bias = l.pos->pos.detach().cpu().contiguous();
        break;
      case SpecNetImpl::Kind::kEncoder: {
        op.kind = DeployOp::Kind::kEncoder;
        auto& e = *l.encoder;
        op.heads = e.heads;
        op.head_dim = e.head_dim;
        op.eps = e.ln1->options.eps();
        op.norm1_w = e.ln1->weight.detach().cpu().contiguous();
        op.norm1_b = e.ln1->bias.detach().cpu().contiguous();
        op.norm2_w = e.ln2->weight.detach().cpu().contiguous();
        op.norm2_b = e.ln2->bias.detach().cpu().contiguous();
        for (const auto& [sub, lin] : {std::pair{"q", e.q},
                                       {"k", e.k},
                                       {"v", e.v},
                                       {"o", e.o},
                                       {"fc1", e.fc1},
                                       {"fc2", e.fc2}}) {
          op.body.push_back(
              LinearOp(lin, op.name + "." + sub, codes, act, int8, dynamic, reduce_range));
        }
        break;
      }
      case SpecNetImpl::Kind::kLayerNorm:
        op.kind = DeployOp::Kind::kLayerNorm;
        op.eps = l.ln->options.eps();
        op.weight = l.ln->weight.detach().cpu().contiguous();
        op.bias = l.ln->bias.detach().cpu().contiguous();
        break;
      case SpecNetImpl::Kind::kTokenMean:
        op.kind = DeployOp::Kind::kTokenMean;
        break;
    }
    out.push_back(std::move(op));
  }
  return Status::Ok();
}

std::string Percent(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * f);
  return buf;
}

}  // namespace

Result<DeployGraph> BuildDeployGraph(Model& model, const QuantizedWeights& codes,
                                     const json& deploy) {
  SpecNetImpl* net = model.spec_net();
  if (net == nullptr) {
    return FailedPrecondition(
        "only zoo architectures export to a deploy graph (a TorchScript "
        "user model is exported as TorchScript only)");
  }
  if (!deploy.is_object() || !deploy.contains("input")) {
    return FailedPrecondition(
        "the artifact records no input preprocessing (deploy.input): it was written by a "
        "compsweep before exports carried preprocessing; run the trial again");
  }
  DeployGraph g;
  ASSIGN_OR_RETURN(g.input, InputSpec::FromJson(deploy.at("input")));
  try {
    torch::NoGradGuard no_grad;
    model.SetTraining(false);
    // Which weights hold codes, and can the whole network run int8?
    NamedTensors weights = PrunableWeights(model);
    std::map<std::string, int> other;  // "4-bit log2" -> tensors
    bool all_int8 = !weights.empty();
    int64_t zeros = 0, total = 0;
    for (auto& [name, w] : weights) {
      zeros += w.eq(0).sum().item<int64_t>();
      total += w.numel();
      auto it = codes.find(name);
      if (it == codes.end()) {
        all_int8 = false;
        continue;
      }
      const QuantizedTensor& q = it->second;
      if (!Int8Capable(q)) {
        all_int8 = false;
        ++other[std::to_string(q.bits) + "-bit " + q.scheme +
                (q.scheme == "linear" && !q.symmetric ? " affine" : "")];
      }
    }
    const json act = deploy.value("int8", json::object());
    g.has_encoder = HasEncoderBlocks(*net);
    // Encoders quantize dynamically: no activation parameters to look for.
    if (all_int8 && !g.has_encoder) {
      for (auto& [name, w] : weights) {
        const std::string layer = name.substr(0, name.rfind('.'));
        if (!act.contains(layer)) {
          all_int8 = false;
          g.notes.push_back(
              "8-bit linear weights, but the artifact has no int8 activation "
              "parameters for " +
              layer +
              ": exported as float32 weights "
              "(dequantized codes)");
          break;
        }
      }
    }
    g.int8 = all_int8;
    g.dynamic = all_int8 && g.has_encoder;
    bool reduce_range = false;
    if (g.dynamic) {
      // The engine Int8Model measured with decides the 7-bit activations.
      ASSIGN_OR_RETURN(std::string engine, SelectQuantizedEngine());
      reduce_range = engine == "fbgemm" || engine == "x86";
      g.notes.push_back(
          "int8 by dynamic quantization: every linear quantizes its input per call "
          "(quantized::linear_dynamic" +
          std::string(reduce_range ? ", 7-bit activations" : "") +
          "); attention, softmax, layer norm and GELU run in float32");
    }
    for (const auto& [what, n] : other) {
      g.notes.push_back(std::to_string(n) + " weight tensors are " + what +
                        " codes in the .csa; this format has no such type, so they are stored "
                        "dequantized as float32 (same values, 4 bytes each)");
    }
    if (!g.int8 && !codes.empty() && other.empty() && g.notes.empty()) {
      g.notes.push_back(
          "quantized weights that do not cover every layer: stored dequantized as "
          "float32");
    }
    if (total > 0 && zeros > total / 100) {
      g.notes.push_back(Percent(static_cast<double>(zeros) / static_cast<double>(total)) +
                        " of the conv/linear weights are zero (unstructured sparsity): stored as "
                        "dense tensors with explicit zeros (dense kernels do not skip them)");
    }
    RETURN_IF_ERROR(Build(*net, "", codes, act, g.int8, g.dynamic, reduce_range, g.ops));
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), g.input.shape.begin(), g.input.shape.end());
    g.num_classes = model.Forward(torch::zeros(shape)).size(1);
  } catch (const c10::Error& e) {
    return Internal(std::string("building the deploy graph: ") + e.what_without_backtrace());
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("artifact deploy.int8: ") + e.what());
  }
  return g;
}

json DeployMetadata(const DeployGraph& g, const std::string& format) {
  json shape = json::array({"N"});
  for (int64_t d : g.input.shape) shape.push_back(d);
  std::string pre = "none: the model takes x as given";
  if (!g.input.identity()) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "x = (float32(input) * %.17g - %.17g) / %.17g, inside the model",
                  g.input.scale, g.input.mean, g.input.std);
    pre = buf;
  }
  return {{"producer", "compsweep"},
          {"format", format},
          {"input",
           {{"name", "input"},
            {"dtype", g.input.dtype},
            {"shape", shape},
            {"preprocessing", pre},
            {"scale", g.input.scale},
            {"mean", g.input.mean},
            {"std", g.input.std}}},
          {"output", {{"name", "logits"}, {"dtype", "float32"}, {"shape", {"N", g.num_classes}}}},
          {"int8", g.int8},
          {"int8_activations", !g.int8     ? "none"
                               : g.dynamic ? "dynamic"
                                           : "static"},
          {"weight_dtype", g.int8 ? "int8" : "float32"},
          {"notes", g.notes}};
}

}  // namespace compsweep::experiments
