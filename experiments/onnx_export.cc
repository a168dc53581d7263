// ONNX export of a deploy graph, written with the ONNX project's protobuf
// classes (Debian's libonnx-dev). Float graphs are plain Conv/Gemm networks;
// int8 graphs are in QDQ form: int8 weight initialisers (per output channel
// scales) and int32 biases behind DequantizeLinear, uint8 activations
// through QuantizeLinear/DequantizeLinear at the points where Int8Model
// quantizes, which ONNX Runtime fuses into its int8 kernels (QLinearConv,
// QGemm). Opset 13.
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "common/atomic_file.h"
#include "experiments/export.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

constexpr int64_t kOpset = 13;

class OnnxEmitter {
 public:
  explicit OnnxEmitter(onnx::GraphProto* g) : g_(g) {}

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
    onnx::NodeProto* out = g_->add_node();
    out->set_op_type("Identity");
    out->add_input(v.name);
    out->add_output("logits");
    out->set_name("output");
  }

 private:
  // A tensor flowing through the graph: float, or uint8 with its scale/zero point.
  struct Value {
    std::string name;
    bool q;
    std::string scale, zp;
  };
  using Attr = std::pair<std::string, std::variant<int64_t, float, std::vector<int64_t>>>;

  std::string Fresh(const std::string& stem) { return stem + "_" + std::to_string(next_++); }

  std::string Node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<Attr>& attrs = {}) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    const std::string out = Fresh(op);
    n->set_name(out);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(out);
    for (const auto& [name, value] : attrs) {
      onnx::AttributeProto* a = n->add_attribute();
      a->set_name(name);
      if (std::holds_alternative<int64_t>(value)) {
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(std::get<int64_t>(value));
      } else if (std::holds_alternative<float>(value)) {
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(std::get<float>(value));
      } else {
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t i : std::get<std::vector<int64_t>>(value)) a->add_ints(i);
      }
    }
    return out;
  }

  // An initialiser from a CPU tensor of float32, int8, uint8, int32 or int64.
  std::string Init(const std::string& stem, const torch::Tensor& t_any) {
    torch::Tensor t = t_any.detach().cpu().contiguous();
    onnx::TensorProto* p = g_->add_initializer();
    const std::string name = Fresh(stem);
    p->set_name(name);
    for (int64_t d : t.sizes()) p->add_dims(d);
    switch (t.scalar_type()) {
      case torch::kFloat:
        p->set_data_type(onnx::TensorProto::FLOAT);
        break;
      case torch::kChar:
        p->set_data_type(onnx::TensorProto::INT8);
        break;
      case torch::kByte:
        p->set_data_type(onnx::TensorProto::UINT8);
        break;
      case torch::kInt:
        p->set_data_type(onnx::TensorProto::INT32);
        break;
      default:
        t = t.to(torch::kLong);
        p->set_data_type(onnx::TensorProto::INT64);
    }
    // raw_data: little-endian bytes, as ONNX specifies (this host's order).
    p->set_raw_data(std::string(static_cast<const char*>(t.data_ptr()), t.nbytes()));
    return name;
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

  onnx::GraphProto* g_;
  int next_ = 0;
};

void ValueInfo(onnx::ValueInfoProto* vi, const std::string& name, int32_t elem, const json& shape) {
  vi->set_name(name);
  onnx::TypeProto_Tensor* t = vi->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  for (const json& d : shape) {
    onnx::TensorShapeProto_Dimension* dim = t->mutable_shape()->add_dim();
    if (d.is_string()) {
      dim->set_dim_param(d.get<std::string>());
    } else {
      dim->set_dim_value(d.get<int64_t>());
    }
  }
}

}  // namespace

Result<ExportReport> SaveOnnx(const DeployGraph& graph, const std::string& out_path) {
  const json meta = DeployMetadata(graph, "onnx");
  onnx::ModelProto model;
  model.set_ir_version(7);  // what opset 13 needs; runtimes from 2020 on read it
  model.set_producer_name("compsweep");
  model.set_doc_string("compsweep export: " +
                       meta.at("input").at("preprocessing").get<std::string>());
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::StringStringEntryProto* prop = model.add_metadata_props();
  prop->set_key("compsweep");
  prop->set_value(meta.dump(2));
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("compsweep");
  try {
    const std::string& dtype = graph.input.dtype;
    ValueInfo(g->add_input(), "input",
              dtype == "uint8"   ? onnx::TensorProto::UINT8
              : dtype == "int64" ? onnx::TensorProto::INT64
                                 : onnx::TensorProto::FLOAT,
              meta.at("input").at("shape"));
    ValueInfo(g->add_output(), "logits", onnx::TensorProto::FLOAT, meta.at("output").at("shape"));
    OnnxEmitter(g).Emit(graph);
  } catch (const c10::Error& e) {
    return Internal("exporting ONNX: " + std::string(e.what_without_backtrace()));
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return Internal(std::string("exporting ONNX: the ONNX checker refused the model: ") + e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return Internal("exporting ONNX: serialization failed");
  RETURN_IF_ERROR(WriteFileAtomically(out_path, bytes));
  ExportReport r{"onnx", static_cast<int64_t>(bytes.size()), graph.int8, graph.notes, meta};
  return r;
}

}  // namespace compsweep::experiments
