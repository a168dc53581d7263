// ONNX export of a deploy graph, written with the ONNX project's protobuf
// classes (Debian's libonnx-dev). Float graphs are plain Conv/Gemm networks;
// int8 graphs are in QDQ form: int8 weight initialisers (per output channel
// scales) and int32 biases behind DequantizeLinear, uint8 activations
// through QuantizeLinear/DequantizeLinear at the points where Int8Model
// quantizes, which ONNX Runtime fuses into its int8 kernels (QLinearConv,
// QGemm). Opset 13.
#include <string>
#include <utility>
#include <vector>

#include "common/atomic_file.h"
#include "experiments/export.h"
#include "experiments/onnx_writer/onnx_builder.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

constexpr int64_t kOpset = 13;

class OnnxEmitter {
 public:
  explicit OnnxEmitter(OnnxBuilder* b) : b_(b) {}

  void Emit(const DeployGraph& graph) {
    std::string x = "input";
    if (graph.input.dtype != "float32") x = Node("Cast", {x}, {{"to", int64_t{1}}});
    if (graph.input.dtype != "int64" && !graph.input.identity()) {
      x = Node("Mul", {x, Scalar("scale", graph.input.scale)});
      x = Node("Sub", {x, Scalar("mean", graph.input.mean)});
      x = Node("Div", {x, Scalar("std", graph.input.std)});
    }
    Value v{x, false, "", ""};
    Ops(graph.ops, v);
    Deq(v);
    b_->NamedNode("Identity", {v.name}, "logits", "output");
  }

 private:
  // A tensor flowing through the graph: float, or uint8 with its scale/zero point.
  struct Value {
    std::string name;
    bool q;
    std::string scale, zp;
  };
  using Attr = OnnxBuilder::Attr;

  std::string Node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<Attr>& attrs = {}) {
    return b_->Node(op, inputs, attrs);
  }

  // An initialiser from a CPU tensor of float32, int8, uint8, int32 or int64.
  std::string Init(const std::string& stem, const torch::Tensor& t_any) {
    torch::Tensor t = t_any.detach().cpu().contiguous();
    OnnxBuilder::DType dtype = OnnxBuilder::DType::kInt64;
    switch (t.scalar_type()) {
      case torch::kFloat:
        dtype = OnnxBuilder::DType::kFloat;
        break;
      case torch::kChar:
        dtype = OnnxBuilder::DType::kInt8;
        break;
      case torch::kByte:
        dtype = OnnxBuilder::DType::kUint8;
        break;
      case torch::kInt:
        dtype = OnnxBuilder::DType::kInt32;
        break;
      default:
        t = t.to(torch::kLong);
    }
    return b_->Init(stem, dtype, t.sizes().vec(), t.data_ptr(), t.nbytes());
  }
  std::string Scalar(const std::string& stem, double v) {
    return Init(stem, torch::tensor(static_cast<float>(v)));
  }
  std::string U8Scalar(const std::string& stem, int64_t v) {
    return Init(stem, torch::tensor(static_cast<uint8_t>(v), torch::kByte));
  }

  void Deq(Value& v) {
    if (!v.q) return;
    v.name = Node("DequantizeLinear", {v.name, v.scale, v.zp});
    v.q = false;
  }

  // Applies a float op to a quantized value as ONNX's QDQ form says: DQ, op, Q
  // with the same parameters (exact for ReLU and max pooling, as LibTorch's).
  void QuantizedUnary(Value& v, const std::string& op, const std::vector<Attr>& attrs) {
    const std::string f = Node(op, {Node("DequantizeLinear", {v.name, v.scale, v.zp})}, attrs);
    v.name = Node("QuantizeLinear", {f, v.scale, v.zp});
  }

  void Ops(const std::vector<DeployOp>& ops, Value& v) {
    for (const DeployOp& op : ops) {
      switch (op.kind) {
        case DeployOp::Kind::kConv:
        case DeployOp::Kind::kLinear: {
          const bool conv = op.kind == DeployOp::Kind::kConv;
          std::string x, w, b;
          if (op.is_int8()) {
            if (!v.q) {
              v.scale = Scalar("in_scale", op.in_scale);
              v.zp = U8Scalar("in_zp", op.in_zp);
              v.name = Node("QuantizeLinear", {v.name, v.scale, v.zp});
              v.q = true;
            }
            x = Node("DequantizeLinear", {v.name, v.scale, v.zp});
            // Weight codes: int8, one scale per output channel (axis 0).
            const int64_t c = op.w_scale.numel();
            torch::Tensor ws = op.w_scale.to(torch::kFloat);
            const std::vector<Attr> axis =
                op.per_channel ? std::vector<Attr>{{"axis", int64_t{0}}} : std::vector<Attr>{};
            const std::string wsn = Init(op.name + "_w_scale", op.per_channel ? ws : ws[0]);
            const std::string wzp =
                Init(op.name + "_w_zp", op.per_channel ? torch::zeros({c}, torch::kChar)
                                                       : torch::zeros({}, torch::kChar));
            w = Node("DequantizeLinear", {Init(op.name + "_w_int8", op.codes), wsn, wzp}, axis);
            if (op.bias.defined()) {
              // int32 bias at scale in_scale * w_scale, the form ONNX
              // Runtime's int8 kernels take.
              const float in_s = static_cast<float>(op.in_scale);
              torch::Tensor bs = (op.per_channel ? ws : ws[0].expand({op.bias.numel()})) * in_s;
              torch::Tensor bq = torch::round(op.bias / bs).to(torch::kInt);
              b = Node("DequantizeLinear",
                       {Init(op.name + "_b_int32", bq), Init(op.name + "_b_scale", bs),
                        Init(op.name + "_b_zp", torch::zeros({op.bias.numel()}, torch::kInt))},
                       {{"axis", int64_t{0}}});
            }
          } else {
            x = v.name;
            w = Init(op.name + "_weight", op.weight);
            if (op.bias.defined()) b = Init(op.name + "_bias", op.bias);
          }
          std::vector<std::string> in = {x, w};
          if (!b.empty()) in.push_back(b);
          std::string y;
          if (conv) {
            const int64_t k = op.weight.size(2);
            y = Node("Conv", in,
                     {{"kernel_shape", std::vector<int64_t>{k, op.weight.size(3)}},
                      {"strides", std::vector<int64_t>{op.stride, op.stride}},
                      {"pads", std::vector<int64_t>{op.pad, op.pad, op.pad, op.pad}},
                      {"dilations", std::vector<int64_t>{1, 1}},
                      {"group", op.groups}});
          } else {
            y = Node("Gemm", in, {{"transB", int64_t{1}}});
          }
          if (op.fused_relu) y = Node("Relu", {y});
          if (op.is_int8()) {
            v.scale = Scalar("out_scale", op.out_scale);
            v.zp = U8Scalar("out_zp", op.out_zp);
            v.name = Node("QuantizeLinear", {y, v.scale, v.zp});
            v.q = true;
          } else {
            v.name = y;
          }
          break;
        }
        case DeployOp::Kind::kAffine:
          Deq(v);
          v.name = Node("Mul", {v.name, Init(op.name + "_a", op.bn_a.reshape({1, -1, 1, 1}))});
          v.name = Node("Add", {v.name, Init(op.name + "_b", op.bn_b.reshape({1, -1, 1, 1}))});
          break;
        case DeployOp::Kind::kRelu:
          if (v.q) {
            QuantizedUnary(v, "Relu", {});
          } else {
            v.name = Node("Relu", {v.name});
          }
          break;
        case DeployOp::Kind::kRelu6:
          Deq(v);
          v.name = Node("Clip", {v.name, Scalar("zero", 0.0), Scalar("six", 6.0)});
          break;
        case DeployOp::Kind::kMaxPool: {
          const std::vector<Attr> attrs = {{"kernel_shape", std::vector<int64_t>{op.k, op.k}},
                                           {"strides", std::vector<int64_t>{op.k, op.k}}};
          if (v.q) {
            QuantizedUnary(v, "MaxPool", attrs);
          } else {
            v.name = Node("MaxPool", {v.name}, attrs);
          }
          break;
        }
        case DeployOp::Kind::kGap:
          Deq(v);
          v.name = Node("ReduceMean", {v.name},
                        {{"axes", std::vector<int64_t>{2, 3}}, {"keepdims", int64_t{0}}});
          break;
        case DeployOp::Kind::kFlatten:
          // Flatten moves bytes only: it keeps a uint8 value's quantization.
          v.name = Node("Flatten", {v.name}, {{"axis", int64_t{1}}});
          break;
        case DeployOp::Kind::kRows:
        case DeployOp::Kind::kPos:
        case DeployOp::Kind::kEncoder:
        case DeployOp::Kind::kLayerNorm:
        case DeployOp::Kind::kTokenMean:
          break;  // attention encoders: refused by SaveOnnx before emitting
        case DeployOp::Kind::kResidual: {
          Deq(v);
          Value body = v;
          Ops(op.body, body);
          Deq(body);
          Value sc = v;
          if (!op.shortcut.empty()) {
            Ops(op.shortcut, sc);
            Deq(sc);
          }
          v.name = Node("Add", {body.name, sc.name});
          break;
        }
      }
    }
  }

  OnnxBuilder* b_;
};

}  // namespace

Result<ExportReport> SaveOnnx(const DeployGraph& graph, const std::string& out_path) {
  if (graph.has_encoder) {
    return FailedPrecondition(
        "the ONNX export does not cover attention encoder blocks (the transformer-rows "
        "archs) yet: export torchscript");
  }
  const json meta = DeployMetadata(graph, "onnx");
  // IR 7: what opset 13 needs; runtimes from 2020 on read it.
  OnnxBuilder b(kOpset, 7);
  b.Describe("compsweep", "compsweep",
             "compsweep export: " + meta.at("input").at("preprocessing").get<std::string>());
  b.Metadata("compsweep", meta.dump(2));
  try {
    const std::string& dtype = graph.input.dtype;
    b.Input("input",
            dtype == "uint8"   ? OnnxBuilder::DType::kUint8
            : dtype == "int64" ? OnnxBuilder::DType::kInt64
                               : OnnxBuilder::DType::kFloat,
            meta.at("input").at("shape"));
    b.Output("logits", OnnxBuilder::DType::kFloat, meta.at("output").at("shape"));
    OnnxEmitter(&b).Emit(graph);
  } catch (const c10::Error& e) {
    return Internal("exporting ONNX: " + std::string(e.what_without_backtrace()));
  }
  auto bytes = b.Serialize();
  if (!bytes.ok()) return Internal("exporting ONNX: " + bytes.status().message());
  RETURN_IF_ERROR(WriteFileAtomically(out_path, *bytes));
  ExportReport r{"onnx", static_cast<int64_t>(bytes->size()), graph.int8, graph.notes, meta};
  return r;
}

}  // namespace compsweep::experiments
