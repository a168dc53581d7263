#include "experiments/quantize.h"

#include <vector>

namespace compsweep::experiments {
namespace {

// Shape [C, 1, 1, ...] so per-channel parameters broadcast over dim 0.
torch::Tensor Broadcastable(const torch::Tensor& per_channel, const torch::Tensor& like,
                            bool is_per_channel) {
  if (!is_per_channel) return per_channel.reshape(c10::IntArrayRef{});
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return per_channel.reshape(shape);
}

torch::Tensor ChannelAbsMax(const torch::Tensor& w, bool per_channel) {
  if (!per_channel) return w.abs().max().reshape({1});
  return std::get<0>(w.abs().reshape({w.size(0), -1}).max(1));
}

int Levels(const std::string& scheme, int bits) {
  return scheme == "log2" ? (1 << (bits - 1)) - 1 : 1 << (bits - 2);
}

}  // namespace

Result<QuantConfig> QuantConfig::FromJson(const nlohmann::json& j) {
  ASSIGN_OR_RETURN(const nlohmann::json r, settings::Resolve("quantize", j));
  QuantConfig c;
  c.scheme = r["scheme"].get<std::string>();
  c.bits = r["bits"].get<int>();
  c.mode = r["mode"].get<std::string>();
  c.granularity = r["granularity"].get<std::string>();
  c.symmetric = r["symmetric"].get<bool>();
  c.calibration = r["calibration"].get<std::string>();
  c.qat_epochs = r["qat_epochs"].get<int>();
  c.lr = r["lr"].get<double>();
  return c;
}

torch::Tensor QuantizedTensor::ToField() const {
  if (scheme == "linear") {
    return symmetric ? codes + ((1 << (bits - 1)) - 1) : codes.clone();
  }
  // Sign in the top bit, level in the rest.
  return codes.abs() + codes.lt(0).to(torch::kInt32) * (1 << (bits - 1));
}

torch::Tensor QuantizedTensor::FromField(const torch::Tensor& field) const {
  torch::Tensor f = field.to(torch::kInt32);
  if (scheme == "linear") return symmetric ? f - ((1 << (bits - 1)) - 1) : f;
  const int sign_bit = 1 << (bits - 1);
  torch::Tensor level = f.remainder(sign_bit);
  return torch::where(f.ge(sign_bit), -level, level);
}

Result<QuantizedTensor> QuantizeWeight(const torch::Tensor& weight, const QuantConfig& config) {
  try {
    torch::NoGradGuard no_grad;
    torch::Tensor w = weight.detach().to(torch::kFloat32);
    QuantizedTensor q;
    q.scheme = config.scheme;
    q.bits = config.bits;
    q.per_channel = config.per_channel() && w.dim() >= 2;
    q.symmetric = config.scheme != "linear" || config.symmetric;
    const auto int_opts = torch::TensorOptions(torch::kInt32).device(w.device());
    const int64_t channels = q.per_channel ? w.size(0) : 1;
    if (config.scheme == "linear") {
      if (q.symmetric) {
        const int qmax = (1 << (config.bits - 1)) - 1;
        torch::Tensor amax = ChannelAbsMax(w, q.per_channel);
        q.scale = torch::where(amax.gt(0), amax / qmax, torch::ones_like(amax));
        q.zero_point = torch::zeros({channels}, int_opts);
        torch::Tensor s = Broadcastable(q.scale, w, q.per_channel);
        q.codes = torch::round(w / s).clamp(-qmax, qmax).to(torch::kInt32);
      } else {
        const int qmax = (1 << config.bits) - 1;
        torch::Tensor flat = q.per_channel ? w.reshape({w.size(0), -1}) : w.reshape({1, -1});
        // The range always holds zero so pruned weights stay exactly zero.
        torch::Tensor lo = std::get<0>(flat.min(1)).clamp_max(0);
        torch::Tensor hi = std::get<0>(flat.max(1)).clamp_min(0);
        torch::Tensor range = hi - lo;
        q.scale = torch::where(range.gt(0), range / qmax, torch::ones_like(range));
        q.zero_point = torch::round(-lo / q.scale).clamp(0, qmax).to(torch::kInt32);
        torch::Tensor s = Broadcastable(q.scale, w, q.per_channel);
        torch::Tensor z = Broadcastable(q.zero_point, w, q.per_channel);
        q.codes = (torch::round(w / s) + z).clamp(0, qmax).to(torch::kInt32);
      }
      return q;
    }
    const int levels = Levels(config.scheme, config.bits);
    torch::Tensor amax = ChannelAbsMax(w, q.per_channel);
    torch::Tensor safe_amax = torch::where(amax.gt(0), amax, torch::ones_like(amax));
    torch::Tensor absw = w.abs();
    torch::Tensor top, e;
    if (config.scheme == "log2") {
      // Rounding in the log domain (Miyashita et al.).
      top = torch::round(torch::log2(safe_amax));
      e = torch::round(torch::log2(absw.clamp_min(1e-30)));
    } else {
      // INQ: n1 = floor(log2(4 max / 3)); nearest power in the linear domain,
      // i.e. |w| in [0.75 * 2^k, 1.5 * 2^k) maps to 2^k.
      top = torch::floor(torch::log2(safe_amax * (4.0 / 3.0)));
      e = torch::floor(torch::log2(absw.clamp_min(1e-30) / 0.75));
    }
    torch::Tensor top_b = Broadcastable(top, w, q.per_channel);
    e = torch::minimum(e, top_b);
    torch::Tensor level = top_b - e + 1;  // 1 = top level
    torch::Tensor keep = level.le(levels) & absw.gt(0);
    if (config.scheme == "pow2") {
      // Below the smallest level 2^n2: round to it from half its value up.
      torch::Tensor smallest = torch::pow(2.0, top_b - (levels - 1));
      torch::Tensor promote = level.gt(levels) & absw.ge(smallest * 0.5);
      level = torch::where(promote, torch::full_like(level, levels), level);
      keep = keep | promote;
    }
    level = torch::where(keep, level, torch::zeros_like(level));
    q.codes = (level * torch::sign(w)).to(torch::kInt32);
    q.exponent = top.to(torch::kInt32);
    return q;
  } catch (const c10::Error& e) {
    return Internal(std::string("quantizing weight: ") + e.what_without_backtrace());
  }
}

torch::Tensor Dequantize(const QuantizedTensor& q) {
  torch::NoGradGuard no_grad;
  torch::Tensor codes = q.codes.to(torch::kFloat32);
  if (q.scheme == "linear") {
    torch::Tensor s = Broadcastable(q.scale, q.codes, q.per_channel);
    torch::Tensor z = Broadcastable(q.zero_point.to(torch::kFloat32), q.codes, q.per_channel);
    return (codes - z) * s;
  }
  torch::Tensor level = codes.abs();
  torch::Tensor top = Broadcastable(q.exponent.to(torch::kFloat32), q.codes, q.per_channel);
  torch::Tensor mag = torch::pow(2.0, top - level + 1);
  return torch::where(level.gt(0), mag * torch::sign(codes), torch::zeros_like(codes));
}

torch::Tensor FakeQuantize(const torch::Tensor& w, const QuantConfig& config) {
  torch::NoGradGuard no_grad;
  if (config.scheme == "linear") {
    auto q = QuantizeWeight(w, config);
    if (!q.ok()) return w.detach().clone();
    const int qmin = q->symmetric ? -((1 << (config.bits - 1)) - 1) : 0;
    const int qmax = q->symmetric ? (1 << (config.bits - 1)) - 1 : (1 << config.bits) - 1;
    if (q->per_channel) {
      return at::fake_quantize_per_channel_affine(w.detach(), q->scale, q->zero_point, 0, qmin,
                                                  qmax);
    }
    return at::fake_quantize_per_tensor_affine(w.detach(), q->scale.item<float>(),
                                               q->zero_point.item<int>(), qmin, qmax);
  }
  auto q = QuantizeWeight(w, config);
  return q.ok() ? Dequantize(*q) : w.detach().clone();
}

Result<QuantizedWeights> QuantizeModelWeights(Model& model, const QuantConfig& config) {
  QuantizedWeights out;
  torch::NoGradGuard no_grad;
  for (auto& [name, w] : PrunableWeights(model)) {
    ASSIGN_OR_RETURN(QuantizedTensor q, QuantizeWeight(w, config));
    w.copy_(Dequantize(q));
    out.emplace(name, std::move(q));
  }
  return out;
}

Result<QuantizedWeights> RunQuantizeStage(Model& model, Masks& masks, const QuantConfig& config,
                                          const Dataset& data, const TrainOptions& base,
                                          const RunContext& ctx) {
  if (config.mode == "qat" && config.qat_epochs > 0) {
    NamedTensors weights = PrunableWeights(model);
    std::vector<torch::Tensor> shadow(weights.size());
    TrainOptions o = base;
    o.phase = "qat";
    o.epochs = config.qat_epochs;
    o.lr = config.lr;
    o.seed = base.seed * 104729 + 3;
    o.teacher_logits = torch::Tensor();
    o.hooks = TrainHooks{};
    // Straight-through estimator: the forward pass sees quantized weights; the
    // gradient taken there is applied to the float weights unchanged.
    o.hooks.before_forward = [&](int64_t) {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < weights.size(); ++i) {
        shadow[i] = weights[i].second.detach().clone();
        weights[i].second.copy_(FakeQuantize(shadow[i], config));
      }
    };
    o.hooks.before_optimizer_step = [&] {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < weights.size(); ++i) weights[i].second.copy_(shadow[i]);
    };
    o.hooks.after_step = [&] { masks.Apply(); };
    RETURN_IF_ERROR(Train(model, data, o, ctx));
  }
  masks.Apply();
  return QuantizeModelWeights(model, config);
}

}  // namespace compsweep::experiments
