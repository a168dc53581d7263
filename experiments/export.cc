#include "experiments/export.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/script.h>

#include "common/atomic_file.h"
#include "experiments/artifact.h"
#include "experiments/int8.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

// A float literal TorchScript reads as float (never as int), exact to the bit.
std::string Float(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string Ident(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    if (c == '.') c = '_';
  }
  return s;
}

// Resolves `torch.*` (as define's default resolver does) and `quantized.*`:
// LibTorch's quantized operators (quantized::conv2d_relu, ...), which Python
// spells torch.ops.quantized.*.
struct QuantizedOpsResolver : torch::jit::NativeResolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(
      const std::string& name, torch::jit::GraphFunction& m,
      const torch::jit::SourceRange& loc) override {
    if (name == "quantized") return std::make_shared<torch::jit::BuiltinModule>("quantized");
    return NativeResolver::resolveValue(name, m, loc);
  }
};

// LibTorch's packed int8 weights (the objects Python's quantized modules hold),
// built by the registered prepack operators.
c10::IValue Prepack(const DeployOp& op) {
  torch::Tensor qw =
      op.per_channel
          ? at::_make_per_channel_quantized_tensor(
                op.codes, op.w_scale, torch::zeros({op.w_scale.numel()}, torch::kLong), 0)
          : at::_make_per_tensor_quantized_tensor(op.codes, op.w_scale[0].item<double>(), 0);
  auto& d = c10::Dispatcher::singleton();
  torch::jit::Stack stack;
  stack.emplace_back(qw);
  stack.emplace_back(op.bias.defined() ? c10::IValue(op.bias) : c10::IValue());
  if (op.kind == DeployOp::Kind::kConv) {
    stack.emplace_back(c10::List<int64_t>({op.stride, op.stride}));
    stack.emplace_back(c10::List<int64_t>({op.pad, op.pad}));
    stack.emplace_back(c10::List<int64_t>({1, 1}));
    stack.emplace_back(op.groups);
    d.findSchemaOrThrow("quantized::conv2d_prepack", "").callBoxed(&stack);
  } else {
    d.findSchemaOrThrow("quantized::linear_prepack", "").callBoxed(&stack);
  }
  return stack.at(0);
}

// Emits the forward code of a deploy graph, registering its tensors (and
// packed int8 weights) on the module. The op semantics mirror Int8Model's.
class TorchScriptEmitter {
 public:
  explicit TorchScriptEmitter(torch::jit::Module& m) : m_(m) {}

  std::string Forward(const DeployGraph& g) {
    out_ << "def forward(self, input):\n";
    Line(g.input.dtype != "int64" ? "x = input.float()" : "x = input");
    if (g.input.dtype != "int64" && !g.input.identity()) {
      Line("x = x * " + Float(g.input.scale));
      Line("x = x - " + Float(g.input.mean));
      Line("x = x / " + Float(g.input.std));
    }
    bool q = false;
    Ops(g.ops, "x", q);
    if (q) Line("x = x.dequantize()");
    Line("return x");
    return out_.str();
  }

 private:
  void Line(const std::string& s) { out_ << "    " << s << "\n"; }

  std::string Buffer(const std::string& name, const torch::Tensor& t) {
    const std::string id = Ident(name);
    m_.register_buffer(id, t.detach().cpu().contiguous().clone());
    return "self." + id;
  }

  void Deq(const std::string& v, bool& q) {
    if (q) Line(v + " = " + v + ".dequantize()");
    q = false;
  }

  std::string Packed(const DeployOp& op) {
    const std::string attr = Ident(op.name) + "_packed";
    c10::IValue packed = Prepack(op);
    m_.register_attribute(attr, packed.type(), packed);
    return "self." + attr;
  }

  // `out` = the linear op applied to the float value `in`: float weights, or
  // int8 weights with the input quantized per call (dynamic).
  void FloatLinear(const DeployOp& op, const std::string& out, const std::string& in) {
    if (op.is_int8()) {
      Line(out + " = quantized.linear_dynamic(" + in + ", " + Packed(op) + ", " +
           (op.reduce_range ? "True" : "False") + ")");
    } else {
      const std::string b = op.bias.defined() ? Buffer(op.name + ".bias", op.bias) : "None";
      Line(out + " = torch.linear(" + in + ", " + Buffer(op.name + ".weight", op.weight) + ", " +
           b + ")");
    }
    if (op.fused_relu) Line(out + " = torch.relu(" + out + ")");
  }

  void LayerNorm(const std::string& out, const std::string& in, const std::string& name,
                 const torch::Tensor& w, const torch::Tensor& b, double eps) {
    Line(out + " = torch.layer_norm(" + in + ", [" + std::to_string(w.size(0)) + "], " +
         Buffer(name + ".weight", w) + ", " + Buffer(name + ".bias", b) + ", " + Float(eps) + ")");
  }

  // A pre-norm encoder block on the float tokens `v` [N, T, D]; the math of
  // EncoderBlockImpl::forward.
  void Encoder(const DeployOp& op, const std::string& v) {
    const std::string h = "h" + std::to_string(counter_++);
    LayerNorm(h, v, op.name + ".ln1", op.norm1_w, op.norm1_b, op.eps);
    const std::string heads = std::to_string(op.heads), width = std::to_string(op.head_dim);
    const std::string inner = std::to_string(op.heads * op.head_dim);
    std::string qkv[3];
    for (int i = 0; i < 3; ++i) {
      qkv[i] = h + "_" + "qkv"[i];
      FloatLinear(op.body[i], qkv[i], h);
      Line(qkv[i] + " = torch.transpose(torch.reshape(" + qkv[i] + ", [" + v + ".size(0), " + v +
           ".size(1), " + heads + ", " + width + "]), 1, 2)");
    }
    const std::string a = h + "_a";
    Line(a + " = torch.softmax(torch.matmul(" + qkv[0] + ", torch.transpose(" + qkv[1] +
         ", -2, -1)) * " + Float(1.0 / std::sqrt(static_cast<double>(op.head_dim))) + ", -1)");
    Line(a + " = torch.reshape(torch.transpose(torch.matmul(" + a + ", " + qkv[2] + "), 1, 2), [" +
         v + ".size(0), " + v + ".size(1), " + inner + "])");
    FloatLinear(op.body[3], a, a);
    Line(v + " = " + v + " + " + a);
    LayerNorm(h, v, op.name + ".ln2", op.norm2_w, op.norm2_b, op.eps);
    FloatLinear(op.body[4], h, h);
    Line(h + " = torch.gelu(" + h + ")");
    FloatLinear(op.body[5], h, h);
    Line(v + " = " + v + " + " + h);
  }

  void Ops(const std::vector<DeployOp>& ops, const std::string& v, bool& q) {
    for (const DeployOp& op : ops) {
      switch (op.kind) {
        case DeployOp::Kind::kConv:
        case DeployOp::Kind::kLinear: {
          const bool conv = op.kind == DeployOp::Kind::kConv;
          if (op.dynamic) {
            Deq(v, q);
            FloatLinear(op, v, v);
            break;
          }
          if (op.is_int8()) {
            if (!q) {
              Line(v + " = torch.quantize_per_tensor(" + v + ", " + Float(op.in_scale) + ", " +
                   std::to_string(op.in_zp) + ", 13)");  // 13: torch.quint8
            }
            const std::string packed = Packed(op);
            Line(v + " = quantized." + (conv ? "conv2d" : "linear") +
                 (op.fused_relu ? "_relu" : "") + "(" + v + ", " + packed + ", " +
                 Float(op.out_scale) + ", " + std::to_string(op.out_zp) + ")");
            q = true;
          } else {
            const std::string w = Buffer(op.name + ".weight", op.weight);
            const std::string b = op.bias.defined() ? Buffer(op.name + ".bias", op.bias) : "None";
            if (conv) {
              const std::string s = std::to_string(op.stride), p = std::to_string(op.pad);
              Line(v + " = torch.conv2d(" + v + ", " + w + ", " + b + ", [" + s + ", " + s +
                   "], [" + p + ", " + p + "], [1, 1], " + std::to_string(op.groups) + ")");
            } else {
              Line(v + " = torch.linear(" + v + ", " + w + ", " + b + ")");
            }
            if (op.fused_relu) Line(v + " = torch.relu(" + v + ")");
          }
          break;
        }
        case DeployOp::Kind::kAffine: {
          Deq(v, q);
          const std::string a = Buffer(op.name + ".a", op.bn_a.reshape({1, -1, 1, 1}));
          const std::string b = Buffer(op.name + ".b", op.bn_b.reshape({1, -1, 1, 1}));
          Line(v + " = " + v + " * " + a + " + " + b);
          break;
        }
        case DeployOp::Kind::kRelu:
          Line(v + " = torch.relu(" + v + ")");
          break;
        case DeployOp::Kind::kRelu6:
          Deq(v, q);
          Line(v + " = torch.hardtanh(" + v + ", 0.0, 6.0)");
          break;
        case DeployOp::Kind::kMaxPool: {
          const std::string k = std::to_string(op.k);
          Line(v + " = torch.max_pool2d(" + v + ", [" + k + ", " + k + "], [" + k + ", " + k +
               "], [0, 0], [1, 1], False)");
          break;
        }
        case DeployOp::Kind::kGap:
          Deq(v, q);
          Line(v + " = torch.mean(" + v + ", [2, 3])");
          break;
        case DeployOp::Kind::kFlatten:
          Line(v + " = torch.reshape(" + v + ", [" + v + ".size(0), -1])");
          break;
        case DeployOp::Kind::kRows:
          Deq(v, q);
          Line(v + " = torch.flatten(torch.transpose(" + v + ", 1, 2), 2)");
          break;
        case DeployOp::Kind::kPos:
          Deq(v, q);
          Line(v + " = " + v + " + " + Buffer(op.name + ".pos", op.bias));
          break;
        case DeployOp::Kind::kEncoder:
          Deq(v, q);
          Encoder(op, v);
          break;
        case DeployOp::Kind::kLayerNorm:
          Deq(v, q);
          LayerNorm(v, v, op.name, op.weight, op.bias, op.eps);
          break;
        case DeployOp::Kind::kTokenMean:
          Deq(v, q);
          Line(v + " = torch.mean(" + v + ", [1])");
          break;
        case DeployOp::Kind::kResidual: {
          Deq(v, q);
          const std::string in = "r" + std::to_string(counter_++);
          Line(in + " = " + v);
          bool qb = false;
          Ops(op.body, v, qb);
          Deq(v, qb);
          if (op.shortcut.empty()) {
            Line(v + " = " + v + " + " + in);
          } else {
            const std::string sc = "s" + std::to_string(counter_++);
            Line(sc + " = " + in);
            bool qs = false;
            Ops(op.shortcut, sc, qs);
            Deq(sc, qs);
            Line(v + " = " + v + " + " + sc);
          }
          break;
        }
      }
    }
  }

  torch::jit::Module& m_;
  std::ostringstream out_;
  int counter_ = 0;
};

Status SaveModule(torch::jit::Module& m, const json& metadata, const std::string& out_path) {
  std::ostringstream bytes;
  torch::jit::ExtraFilesMap extra = {{"compsweep.json", metadata.dump(2)}};
  m.eval();
  // Saved to a stream, so the archive's inner folder name does not follow
  // out_path's name: equal content, equal bytes.
  m.save(bytes, extra);
  return WriteFileAtomically(out_path, bytes.str());
}

// A TorchScript user model: the module itself, re-saved with the compressed
// weights, behind a wrapper that applies the input preprocessing.
Result<ExportReport> SaveUserTorchScript(Model& model, const json& deploy,
                                         const std::string& out_path) {
  const json spec = model.Spec();
  torch::jit::Module inner = torch::jit::load(spec.at("torchscript").get<std::string>());
  std::map<std::string, torch::Tensor> values;
  for (auto& [name, t] : model.NamedParameters()) values[name] = t;
  for (auto& [name, t] : model.NamedBuffers()) values[name] = t;
  torch::NoGradGuard no_grad;
  for (const auto& p : inner.named_parameters(true)) p.value.copy_(values.at(p.name));
  for (const auto& b : inner.named_buffers(true)) b.value.copy_(values.at(b.name));
  DeployGraph g;
  if (deploy.contains("input")) {
    ASSIGN_OR_RETURN(g.input, InputSpec::FromJson(deploy.at("input")));
  } else {
    g.notes.push_back(
        "the artifact records no input preprocessing: the model takes inputs as "
        "the trial's data gave them");
  }
  g.notes.push_back(
      "a TorchScript user model: its weights are stored as float32 (any "
      "quantization dequantized)");
  torch::jit::Module m("CompsweepExport");
  m.register_module("net", inner);
  std::ostringstream src;
  src << "def forward(self, input):\n";
  if (g.input.dtype != "int64" && !g.input.identity()) {
    src << "    x = input.float() * " << Float(g.input.scale) << "\n"
        << "    x = x - " << Float(g.input.mean) << "\n"
        << "    x = x / " << Float(g.input.std) << "\n";
  } else {
    src << "    x = input\n";
  }
  src << "    return self.net.forward(x)\n";
  m.define(src.str());
  json meta = DeployMetadata(g, "torchscript");
  meta["output"]["shape"] = {"N", "?"};
  RETURN_IF_ERROR(SaveModule(m, meta, out_path));
  ExportReport r{"torchscript", static_cast<int64_t>(std::filesystem::file_size(out_path)), false,
                 g.notes, meta};
  return r;
}

}  // namespace

Result<ExportReport> SaveTorchScript(const DeployGraph& g, const std::string& out_path) {
  try {
    if (g.int8) {
      auto engine = SelectQuantizedEngine();
      if (!engine.ok()) {
        return Status(engine.status().code(),
                      "an int8 TorchScript export needs LibTorch's quantized operators: " +
                          engine.status().message());
      }
    }
    torch::jit::Module m("CompsweepExport");
    TorchScriptEmitter emit(m);
    m.define(emit.Forward(g), std::make_shared<QuantizedOpsResolver>());
    const json meta = DeployMetadata(g, "torchscript");
    RETURN_IF_ERROR(SaveModule(m, meta, out_path));
    ExportReport r{"torchscript", static_cast<int64_t>(std::filesystem::file_size(out_path)),
                   g.int8, g.notes, meta};
    return r;
  } catch (const c10::Error& e) {
    return Internal("exporting TorchScript: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal("exporting TorchScript: " + std::string(e.what()));
  }
}

Result<ExportReport> ExportArtifact(const std::string& artifact_path, const std::string& format,
                                    const std::string& out_path) {
  if (format == "csa") {
    std::ifstream f(artifact_path, std::ios::binary);
    if (!f) return NotFound("cannot open artifact " + artifact_path);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    // Checked: the copy is a readable artifact.
    ASSIGN_OR_RETURN(std::unique_ptr<Model> check, ReadArtifact(artifact_path));
    RETURN_IF_ERROR(WriteFileAtomically(out_path, bytes));
    ExportReport r;
    r.format = "csa";
    r.bytes = static_cast<int64_t>(bytes.size());
    return r;
  }
  if (format != "torchscript" && format != "onnx") {
    return InvalidArgument("unknown export format '" + format + "' (torchscript, onnx, csa)");
  }
  QuantizedWeights codes;
  json deploy;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, ReadArtifact(artifact_path, &codes, &deploy));
  if (model->spec_net() == nullptr) {
    if (format == "onnx") {
      return FailedPrecondition(
          "a TorchScript user model exports as TorchScript only (compsweep "
          "writes ONNX for its zoo architectures)");
    }
    try {
      return SaveUserTorchScript(*model, deploy, out_path);
    } catch (const c10::Error& e) {
      return Internal("exporting TorchScript: " + std::string(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      return Internal("exporting TorchScript: " + std::string(e.what()));
    }
  }
  ASSIGN_OR_RETURN(DeployGraph graph, BuildDeployGraph(*model, codes, deploy));
  return format == "onnx" ? SaveOnnx(graph, out_path) : SaveTorchScript(graph, out_path);
}

}  // namespace compsweep::experiments
