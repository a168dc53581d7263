#include "experiments/int8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include <ATen/native/quantized/PackedParams.h>
#include <torch/version.h>

namespace compsweep::experiments {
namespace {

using ConvPacked = c10::intrusive_ptr<ConvPackedParamsBase<2>>;
using LinearPacked = c10::intrusive_ptr<LinearPackedParamsBase>;

constexpr int64_t kMaxSamples = 200000;

struct Ops {
  c10::TypedOperatorHandle<ConvPacked(at::Tensor, c10::optional<at::Tensor>, torch::List<int64_t>,
                                      torch::List<int64_t>, torch::List<int64_t>, int64_t)>
      conv_prepack;
  c10::TypedOperatorHandle<at::Tensor(at::Tensor, const ConvPacked&, double, int64_t)> conv,
      conv_relu;
  c10::TypedOperatorHandle<LinearPacked(at::Tensor, c10::optional<at::Tensor>)> linear_prepack;
  c10::TypedOperatorHandle<at::Tensor(at::Tensor, const LinearPacked&, double, int64_t)> linear,
      linear_relu;
  c10::TypedOperatorHandle<at::Tensor(at::Tensor, const LinearPacked&, bool)> linear_dynamic;
};

const Ops& GetOps() {
  static const Ops ops = [] {
    auto& d = c10::Dispatcher::singleton();
    Ops o{
        d.findSchemaOrThrow("quantized::conv2d_prepack", "")
            .typed<ConvPacked(at::Tensor, c10::optional<at::Tensor>, torch::List<int64_t>,
                              torch::List<int64_t>, torch::List<int64_t>, int64_t)>(),
        d.findSchemaOrThrow("quantized::conv2d", "new")
            .typed<at::Tensor(at::Tensor, const ConvPacked&, double, int64_t)>(),
        d.findSchemaOrThrow("quantized::conv2d_relu", "new")
            .typed<at::Tensor(at::Tensor, const ConvPacked&, double, int64_t)>(),
        d.findSchemaOrThrow("quantized::linear_prepack", "")
            .typed<LinearPacked(at::Tensor, c10::optional<at::Tensor>)>(),
        d.findSchemaOrThrow("quantized::linear", "")
            .typed<at::Tensor(at::Tensor, const LinearPacked&, double, int64_t)>(),
        d.findSchemaOrThrow("quantized::linear_relu", "")
            .typed<at::Tensor(at::Tensor, const LinearPacked&, double, int64_t)>(),
        d.findSchemaOrThrow("quantized::linear_dynamic", "")
            .typed<at::Tensor(at::Tensor, const LinearPacked&, bool)>(),
    };
    return o;
  }();
  return ops;
}

std::pair<double, int64_t> AffineParams(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  double scale = (hi - lo) / 255.0;
  if (scale <= 0) scale = 1.0;
  const int64_t zp = std::clamp<int64_t>(std::llround(-lo / scale), 0, 255);
  return {scale, zp};
}

// Running statistics of one tensor site: exact min/max plus a subsample.
struct Observer {
  double lo = 0, hi = 0;
  bool seen = false;
  std::vector<torch::Tensor> samples;
  int64_t kept = 0;

  void Add(const torch::Tensor& t) {
    torch::Tensor f = t.detach().flatten();
    const double mn = f.min().item<double>(), mx = f.max().item<double>();
    lo = seen ? std::min(lo, mn) : mn;
    hi = seen ? std::max(hi, mx) : mx;
    seen = true;
    if (kept >= kMaxSamples) return;
    const int64_t stride = std::max<int64_t>(1, f.numel() / 20000);
    torch::Tensor s = f.slice(0, 0, f.numel(), stride).clone();
    kept += s.numel();
    samples.push_back(s);
  }
  std::pair<double, int64_t> Params(const std::string& method) const {
    if (method == "minmax" || samples.empty()) return AffineParams(lo, hi);
    auto [l, h] = CalibrateRange(torch::cat(samples), method);
    return AffineParams(l, h);
  }
};

// One linear layer of an encoder block: float weights for the reference pass,
// packed int8 weights for dynamic quantization.
struct DynamicLinear {
  torch::Tensor weight, bias;
  LinearPacked packed;
  torch::Tensor Run(const torch::Tensor& x, bool int8, bool reduce_range) const {
    return int8 ? GetOps().linear_dynamic.call(x.contiguous(), packed, reduce_range)
                : at::linear(x, weight, bias);
  }
};

struct Norm {
  torch::Tensor weight, bias;
  double eps = 1e-5;
  torch::Tensor Run(const torch::Tensor& x) const {
    return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  }
};

// An encoder block: every linear dynamically quantized (int8 weights, the
// activations quantized per call from their own range), attention, softmax,
// norms and GELU in float.
struct EncoderOps {
  DynamicLinear q, k, v, o, fc1, fc2;
  Norm ln1, ln2;
  int64_t heads = 1, head_dim = 1;
  torch::Tensor Run(torch::Tensor x, bool int8, bool rr) const {
    torch::Tensor h = ln1.Run(x);
    x = x + o.Run(MultiHeadAttention(q.Run(h, int8, rr), k.Run(h, int8, rr), v.Run(h, int8, rr),
                                     heads, head_dim),
                  int8, rr);
    return x + fc2.Run(torch::gelu(fc1.Run(ln2.Run(x), int8, rr)), int8, rr);
  }
};

}  // namespace

struct Int8Model::Seq {
  // One op per spec layer (a ReLU fused into its conv/linear is dropped).
  using Kind = SpecNetImpl::Kind;
  struct Op {
    Kind kind;
    std::string name;  // conv/linear: the layer name of its weight
    bool fused_relu = false;
    // Dynamic quantization (the attention encoders): linears take float
    // inputs, quantize them per call and return float; no calibration.
    bool dynamic = false;
    bool reduce_range = false;  // 7-bit activations (fbgemm/x86, as PyTorch does)
    DynamicLinear dyn;
    EncoderOps encoder;
    Norm norm;
    torch::Tensor pos;
    // Quantized layers: float weights for calibration, packed int8 weights.
    torch::Tensor weight, bias;
    int64_t stride = 1, pad = 0, groups = 1, k = 0;
    ConvPacked conv;
    LinearPacked linear;
    double in_scale = 1.0, out_scale = 1.0;
    int64_t in_zp = 0, out_zp = 0;
    Observer in_obs, out_obs;
    torch::Tensor bn_a, bn_b;  // eval-mode batch norm as x * a + b
    std::unique_ptr<Seq> body, shortcut;
  };
  std::vector<Op> ops;

  // Float reference pass; records activation statistics when observe is set.
  torch::Tensor RunFloat(torch::Tensor x, bool observe) {
    for (auto& op : ops) {
      switch (op.kind) {
        case Kind::kConv:
        case Kind::kLinear: {
          if (op.dynamic) {
            x = op.dyn.Run(x, false, false);
            if (op.fused_relu) x = torch::relu(x);
            break;
          }
          if (observe) op.in_obs.Add(x);
          x = op.kind == Kind::kConv ? at::conv2d(x, op.weight, op.bias, {op.stride, op.stride},
                                                  {op.pad, op.pad}, {1, 1}, op.groups)
                                     : at::linear(x, op.weight, op.bias);
          if (op.fused_relu) x = torch::relu(x);
          if (observe) op.out_obs.Add(x);
          break;
        }
        default:
          x = Common(op, x, /*quantized_path=*/false, observe);
      }
    }
    return x;
  }

  torch::Tensor RunInt8(torch::Tensor x) {
    const Ops& q = GetOps();
    for (auto& op : ops) {
      if (op.dynamic) {
        x = op.dyn.Run(x.is_quantized() ? x.dequantize() : x, true, op.reduce_range);
        if (op.fused_relu) x = torch::relu(x);
        continue;
      }
      if (op.kind == Kind::kConv || op.kind == Kind::kLinear) {
        if (!x.is_quantized()) x = at::quantize_per_tensor(x, op.in_scale, op.in_zp, at::kQUInt8);
        if (op.kind == Kind::kConv) {
          x = (op.fused_relu ? q.conv_relu : q.conv).call(x, op.conv, op.out_scale, op.out_zp);
        } else {
          x = (op.fused_relu ? q.linear_relu : q.linear)
                  .call(x, op.linear, op.out_scale, op.out_zp);
        }
      } else {
        x = Common(op, x, /*quantized_path=*/true, false);
      }
    }
    return x;
  }

  torch::Tensor Common(Op& op, torch::Tensor x, bool quantized_path, bool observe) {
    auto deq = [](const torch::Tensor& t) { return t.is_quantized() ? t.dequantize() : t; };
    switch (op.kind) {
      case Kind::kBn:
        return deq(x) * op.bn_a + op.bn_b;
      case Kind::kRelu:
        return torch::relu(x);  // quantized ReLU keeps the uint8 tensor
      case Kind::kRelu6:
        return torch::hardtanh(deq(x), 0.0, 6.0);
      case Kind::kMaxPool:
        // Explicit stride/padding/dilation: the quantized kernel needs them.
        return torch::max_pool2d(x, {op.k, op.k}, {op.k, op.k}, {0, 0}, {1, 1}, false);
      case Kind::kGap:
        return deq(x).mean({2, 3});
      case Kind::kFlatten:
        return x.reshape({x.size(0), -1});
      case Kind::kResidual: {
        torch::Tensor in = deq(x);
        torch::Tensor a =
            quantized_path ? deq(op.body->RunInt8(in)) : op.body->RunFloat(in, observe);
        torch::Tensor b = !op.shortcut     ? in
                          : quantized_path ? deq(op.shortcut->RunInt8(in))
                                           : op.shortcut->RunFloat(in, observe);
        return a + b;
      }
      case Kind::kRows:
        return deq(x).transpose(1, 2).flatten(2);
      case Kind::kPos:
        return deq(x) + op.pos;
      case Kind::kEncoder:
        return op.encoder.Run(deq(x), quantized_path, op.reduce_range);
      case Kind::kLayerNorm:
        return op.norm.Run(deq(x));
      case Kind::kTokenMean:
        return deq(x).mean(1);
      default:
        return x;
    }
  }
};

namespace {

using Seq = Int8Model::Seq;

// The int8 weight of layer `name` (per-channel or per-tensor qint8), from its
// 8-bit linear symmetric codes.
Result<torch::Tensor> Int8Weight(const QuantizedWeights& weights, const std::string& name) {
  auto it = weights.find(name + ".weight");
  if (it == weights.end()) return FailedPrecondition(name + " has no quantized weight");
  const QuantizedTensor& q = it->second;
  if (q.scheme != "linear" || q.bits != 8 || !q.symmetric) {
    return FailedPrecondition(name + ": int8 kernels need 8-bit linear symmetric weights");
  }
  torch::Tensor codes = q.codes.cpu().to(torch::kChar).contiguous();
  return q.per_channel
             ? at::_make_per_channel_quantized_tensor(codes, q.scale.cpu().to(torch::kDouble),
                                                      q.zero_point.cpu().to(torch::kLong), 0)
             : at::_make_per_tensor_quantized_tensor(codes, q.scale.item<double>(), 0);
}

Result<DynamicLinear> MakeDynamic(const torch::nn::Linear& l, const std::string& name,
                                  const QuantizedWeights& weights) {
  ASSIGN_OR_RETURN(torch::Tensor qw, Int8Weight(weights, name));
  DynamicLinear d;
  d.weight = qw.dequantize();
  if (l->options.bias()) d.bias = l->bias.detach().cpu();
  d.packed = GetOps().linear_prepack.call(
      qw, d.bias.defined() ? c10::optional<at::Tensor>(d.bias) : c10::nullopt);
  return d;
}

Norm MakeNorm(const torch::nn::LayerNorm& ln) {
  return Norm{ln->weight.detach().cpu(), ln->bias.detach().cpu(), ln->options.eps()};
}

// Builds the op list of a spec network; quantized layers take their codes from
// `weights` (keys are the float model's parameter names). With `dynamic` (a
// network with attention encoders) every linear is dynamically quantized.
Status BuildSeq(SpecNetImpl& net, const std::string& prefix, const QuantizedWeights& weights,
                bool dynamic, bool reduce_range, Seq& seq) {
  for (size_t i = 0; i < net.layers.size(); ++i) {
    auto& l = net.layers[i];
    const std::string name = prefix + "l" + std::to_string(i);
    Seq::Op op;
    switch (l.kind) {
      case SpecNetImpl::Kind::kConv:
      case SpecNetImpl::Kind::kLinear: {
        const bool conv = l.kind == SpecNetImpl::Kind::kConv;
        op.kind = conv ? Seq::Kind::kConv : Seq::Kind::kLinear;
        op.name = name;
        if (dynamic && !conv) {
          op.dynamic = true;
          op.reduce_range = reduce_range;
          ASSIGN_OR_RETURN(op.dyn, MakeDynamic(l.linear, name, weights));
          if (i + 1 < net.layers.size() && net.layers[i + 1].kind == SpecNetImpl::Kind::kRelu) {
            op.fused_relu = true;
            ++i;
          }
          break;
        }
        ASSIGN_OR_RETURN(torch::Tensor qw, Int8Weight(weights, name));
        op.weight = qw.dequantize();
        if (conv) {
          op.stride = l.stride;
          op.pad = l.pad;
          op.groups = l.groups;
          if (l.conv->options.bias()) op.bias = l.conv->bias.detach().cpu();
          op.conv = GetOps().conv_prepack.call(
              qw, op.bias.defined() ? c10::optional<at::Tensor>(op.bias) : c10::nullopt,
              torch::List<int64_t>({op.stride, op.stride}), torch::List<int64_t>({op.pad, op.pad}),
              torch::List<int64_t>({1, 1}), op.groups);
        } else {
          if (l.linear->options.bias()) op.bias = l.linear->bias.detach().cpu();
          op.linear = GetOps().linear_prepack.call(
              qw, op.bias.defined() ? c10::optional<at::Tensor>(op.bias) : c10::nullopt);
        }
        // A ReLU right after is fused into the quantized kernel.
        if (i + 1 < net.layers.size() && net.layers[i + 1].kind == SpecNetImpl::Kind::kRelu) {
          op.fused_relu = true;
          ++i;
        }
        break;
      }
      case SpecNetImpl::Kind::kBn: {
        op.kind = Seq::Kind::kBn;
        auto& bn = l.bn;
        torch::Tensor a = bn->weight.detach() / torch::sqrt(bn->running_var + bn->options.eps());
        torch::Tensor b = bn->bias.detach() - bn->running_mean * a;
        op.bn_a = a.cpu().reshape({1, -1, 1, 1});
        op.bn_b = b.cpu().reshape({1, -1, 1, 1});
        break;
      }
      case SpecNetImpl::Kind::kRelu:
        op.kind = Seq::Kind::kRelu;
        break;
      case SpecNetImpl::Kind::kRelu6:
        op.kind = Seq::Kind::kRelu6;
        break;
      case SpecNetImpl::Kind::kMaxPool:
        op.kind = Seq::Kind::kMaxPool;
        op.k = l.k;
        break;
      case SpecNetImpl::Kind::kGap:
        op.kind = Seq::Kind::kGap;
        break;
      case SpecNetImpl::Kind::kFlatten:
        op.kind = Seq::Kind::kFlatten;
        break;
      case SpecNetImpl::Kind::kResidual:
        op.kind = Seq::Kind::kResidual;
        op.body = std::make_unique<Seq>();
        RETURN_IF_ERROR(
            BuildSeq(*l.body, name + "_body.", weights, dynamic, reduce_range, *op.body));
        if (l.shortcut) {
          op.shortcut = std::make_unique<Seq>();
          RETURN_IF_ERROR(BuildSeq(*l.shortcut, name + "_short.", weights, dynamic, reduce_range,
                                   *op.shortcut));
        }
        break;
      case SpecNetImpl::Kind::kRows:
        op.kind = Seq::Kind::kRows;
        break;
      case SpecNetImpl::Kind::kPos:
        op.kind = Seq::Kind::kPos;
        op.pos = l.pos->pos.detach().cpu();
        break;
      case SpecNetImpl::Kind::kEncoder: {
        op.kind = Seq::Kind::kEncoder;
        op.name = name;
        op.reduce_range = reduce_range;
        auto& e = *l.encoder;
        EncoderOps& ops = op.encoder;
        ops.heads = e.heads;
        ops.head_dim = e.head_dim;
        ops.ln1 = MakeNorm(e.ln1);
        ops.ln2 = MakeNorm(e.ln2);
        ASSIGN_OR_RETURN(ops.q, MakeDynamic(e.q, name + ".q", weights));
        ASSIGN_OR_RETURN(ops.k, MakeDynamic(e.k, name + ".k", weights));
        ASSIGN_OR_RETURN(ops.v, MakeDynamic(e.v, name + ".v", weights));
        ASSIGN_OR_RETURN(ops.o, MakeDynamic(e.o, name + ".o", weights));
        ASSIGN_OR_RETURN(ops.fc1, MakeDynamic(e.fc1, name + ".fc1", weights));
        ASSIGN_OR_RETURN(ops.fc2, MakeDynamic(e.fc2, name + ".fc2", weights));
        break;
      }
      case SpecNetImpl::Kind::kLayerNorm:
        op.kind = Seq::Kind::kLayerNorm;
        op.norm = MakeNorm(l.ln);
        break;
      case SpecNetImpl::Kind::kTokenMean:
        op.kind = Seq::Kind::kTokenMean;
        break;
    }
    seq.ops.push_back(std::move(op));
  }
  return Status::Ok();
}

void CollectParams(const Seq& seq, nlohmann::json& out) {
  for (const auto& op : seq.ops) {
    if (op.dynamic) continue;  // quantized per call: nothing calibrated
    if (op.kind == Seq::Kind::kConv || op.kind == Seq::Kind::kLinear) {
      out[op.name] = {op.in_scale, op.in_zp, op.out_scale, op.out_zp};
    }
    if (op.body) CollectParams(*op.body, out);
    if (op.shortcut) CollectParams(*op.shortcut, out);
  }
}

void FinishCalibration(Seq& seq, const std::string& method) {
  for (auto& op : seq.ops) {
    if (!op.dynamic && (op.kind == Seq::Kind::kConv || op.kind == Seq::Kind::kLinear)) {
      std::tie(op.in_scale, op.in_zp) = op.in_obs.Params(method);
      std::tie(op.out_scale, op.out_zp) = op.out_obs.Params(method);
      op.in_obs = Observer();
      op.out_obs = Observer();
    }
    if (op.body) FinishCalibration(*op.body, method);
    if (op.shortcut) FinishCalibration(*op.shortcut, method);
  }
}

// PyTorch's Python names (torch.backends.quantized.engine); "" for none.
std::string EngineName(at::QEngine e) {
  switch (e) {
    case at::QEngine::X86:
      return "x86";
    case at::QEngine::FBGEMM:
      return "fbgemm";
    case at::QEngine::ONEDNN:
      return "onednn";
    case at::QEngine::QNNPACK:
      return "qnnpack";
    default:
      return "";
  }
}

}  // namespace

std::vector<std::string> QuantizedEnginePreference() {
#if TORCH_VERSION_MAJOR >= 2
  return {"x86", "fbgemm", "onednn", "qnnpack"};
#else
  return {"onednn", "qnnpack", "x86", "fbgemm"};
#endif
}

std::vector<std::string> SupportedQuantizedEngines() {
  std::vector<std::string> names;
  for (at::QEngine e : at::globalContext().supportedQEngines()) {
    const std::string name = EngineName(e);
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

Result<std::string> ChooseQuantizedEngine(const std::vector<std::string>& supported,
                                          const std::vector<std::string>& preference,
                                          const std::string& requested) {
  auto has = [&](const std::string& name) {
    return std::find(supported.begin(), supported.end(), name) != supported.end();
  };
  std::string listed;
  for (const std::string& name : supported) listed += (listed.empty() ? "" : ", ") + name;
  if (listed.empty()) listed = "none";
  if (!requested.empty()) {
    if (has(requested)) return requested;
    return FailedPrecondition("quantized engine '" + requested + "' (" + kQEngineEnv +
                              ") is not in this LibTorch " + TORCH_VERSION + "; it has: " + listed);
  }
  for (const std::string& name : preference) {
    if (has(name)) return name;
  }
  return FailedPrecondition(std::string("this LibTorch ") + TORCH_VERSION +
                            " has no quantized engine for int8 kernels (it has: " + listed + ")");
}

Result<std::string> SelectQuantizedEngine() {
  static std::once_flag once;
  static Result<std::string> chosen = std::string();
  std::call_once(once, [] {
    const char* env = std::getenv(kQEngineEnv);
    chosen = ChooseQuantizedEngine(SupportedQuantizedEngines(), QuantizedEnginePreference(),
                                   env == nullptr ? "" : env);
    if (chosen.ok()) {
      for (at::QEngine e : at::globalContext().supportedQEngines()) {
        if (EngineName(e) == *chosen) at::globalContext().setQEngine(e);
      }
    }
  });
  return chosen;
}

std::pair<double, double> CalibrateRange(const torch::Tensor& samples, const std::string& method,
                                         int bits) {
  torch::Tensor s = samples.detach().flatten().to(torch::kFloat32);
  const double lo = s.min().item<double>(), hi = s.max().item<double>();
  if (method == "percentile") {
    const int64_t n = s.numel();
    auto quantile = [&](double q) {
      const int64_t k = std::clamp<int64_t>(std::llround(q * (n - 1)) + 1, 1, n);
      return std::get<0>(s.kthvalue(k)).item<double>();
    };
    return {std::min(0.0, quantile(0.0001)), std::max(0.0, quantile(0.9999))};
  }
  if (method == "mse") {
    const double levels = std::pow(2.0, bits) - 1;
    double best_err = -1, best_f = 1.0;
    for (int i = 0; i <= 40; ++i) {
      const double f = 1.0 - i * 0.02;  // clip to 100% ... 20% of the range
      const double l = std::min(0.0, lo * f), h = std::max(0.0, hi * f);
      const double scale = (h - l) / levels;
      if (scale <= 0) break;
      const double zp = std::round(-l / scale);
      torch::Tensor q = (torch::round(s / scale) + zp).clamp(0, levels);
      const double err = ((q - zp) * scale - s).pow(2).mean().item<double>();
      if (best_err < 0 || err < best_err) {
        best_err = err;
        best_f = f;
      }
    }
    return {std::min(0.0, lo * best_f), std::max(0.0, hi * best_f)};
  }
  return {std::min(0.0, lo), std::max(0.0, hi)};
}

Int8Model::~Int8Model() = default;

Result<std::unique_ptr<Int8Model>> Int8Model::Create(Model& model, const QuantizedWeights& weights,
                                                     const torch::Tensor& calibration_x,
                                                     const std::string& calibration) {
  SpecNetImpl* net = model.spec_net();
  if (net == nullptr) return FailedPrecondition("int8 kernels need a zoo architecture");
  ASSIGN_OR_RETURN(std::string engine, SelectQuantizedEngine());
  std::unique_ptr<Int8Model> m(new Int8Model());
  m->engine_ = engine;
  m->seq_ = std::make_unique<Seq>();
  try {
    torch::NoGradGuard no_grad;
    model.SetTraining(false);
    m->dynamic_ = HasEncoderBlocks(*net);
    // fbgemm/x86 quantize dynamic activations to 7 bits (their int16
    // accumulation would overflow otherwise), as PyTorch's dynamic modules do.
    const bool reduce_range = engine == "fbgemm" || engine == "x86";
    RETURN_IF_ERROR(BuildSeq(*net, "", weights, m->dynamic_, reduce_range, *m->seq_));
    torch::Tensor x = calibration_x.cpu();
    for (int64_t start = 0; start < x.size(0); start += 256) {
      m->seq_->RunFloat(x.narrow(0, start, std::min<int64_t>(256, x.size(0) - start)), true);
    }
    FinishCalibration(*m->seq_, calibration);
  } catch (const c10::Error& e) {
    return Internal(std::string("building int8 model: ") + e.what_without_backtrace());
  }
  return m;
}

nlohmann::json Int8Model::ActivationParams() const {
  nlohmann::json out = nlohmann::json::object();
  CollectParams(*seq_, out);
  return out;
}

torch::Tensor Int8Model::Forward(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  torch::Tensor y = seq_->RunInt8(x);
  return y.is_quantized() ? y.dequantize() : y;
}

}  // namespace compsweep::experiments
