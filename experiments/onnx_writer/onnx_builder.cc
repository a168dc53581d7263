#include "experiments/onnx_writer/onnx_builder.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

namespace compsweep::experiments {

namespace {

int32_t ElemType(OnnxBuilder::DType t) {
  switch (t) {
    case OnnxBuilder::DType::kFloat:
      return onnx::TensorProto::FLOAT;
    case OnnxBuilder::DType::kInt8:
      return onnx::TensorProto::INT8;
    case OnnxBuilder::DType::kUint8:
      return onnx::TensorProto::UINT8;
    case OnnxBuilder::DType::kInt32:
      return onnx::TensorProto::INT32;
    case OnnxBuilder::DType::kInt64:
      return onnx::TensorProto::INT64;
  }
  return onnx::TensorProto::UNDEFINED;
}

void ValueInfo(onnx::ValueInfoProto* vi, const std::string& name, int32_t elem,
               const nlohmann::json& shape) {
  vi->set_name(name);
  onnx::TypeProto_Tensor* t = vi->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  for (const nlohmann::json& d : shape) {
    onnx::TensorShapeProto_Dimension* dim = t->mutable_shape()->add_dim();
    if (d.is_string()) {
      dim->set_dim_param(d.get<std::string>());
    } else {
      dim->set_dim_value(d.get<int64_t>());
    }
  }
}

const char* DTypeName(int32_t elem) {
  switch (elem) {
    case onnx::TensorProto::FLOAT:
      return "float32";
    case onnx::TensorProto::INT8:
      return "int8";
    case onnx::TensorProto::UINT8:
      return "uint8";
    case onnx::TensorProto::INT32:
      return "int32";
    case onnx::TensorProto::INT64:
      return "int64";
    default:
      return "other";
  }
}

}  // namespace

struct OnnxBuilder::Impl {
  onnx::ModelProto model;
  onnx::GraphProto* g = nullptr;
  int next = 0;
  std::string Fresh(const std::string& stem) { return stem + "_" + std::to_string(next++); }
};

OnnxBuilder::OnnxBuilder(int64_t opset, int64_t ir_version) : impl_(std::make_unique<Impl>()) {
  impl_->model.set_ir_version(ir_version);
  onnx::OperatorSetIdProto* o = impl_->model.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  impl_->g = impl_->model.mutable_graph();
}

OnnxBuilder::~OnnxBuilder() = default;

std::string OnnxBuilder::Node(const std::string& op, const std::vector<std::string>& inputs,
                              const std::vector<Attr>& attrs) {
  onnx::NodeProto* n = impl_->g->add_node();
  n->set_op_type(op);
  const std::string out = impl_->Fresh(op);
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

void OnnxBuilder::NamedNode(const std::string& op, const std::vector<std::string>& inputs,
                            const std::string& output, const std::string& node_name) {
  onnx::NodeProto* n = impl_->g->add_node();
  n->set_op_type(op);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  n->set_name(node_name);
}

std::string OnnxBuilder::Init(const std::string& stem, DType dtype,
                              const std::vector<int64_t>& dims, const void* data, size_t bytes) {
  onnx::TensorProto* p = impl_->g->add_initializer();
  const std::string name = impl_->Fresh(stem);
  p->set_name(name);
  for (int64_t d : dims) p->add_dims(d);
  p->set_data_type(ElemType(dtype));
  // raw_data: little-endian bytes, as ONNX specifies (this host's order).
  p->set_raw_data(std::string(static_cast<const char*>(data), bytes));
  return name;
}

void OnnxBuilder::Input(const std::string& name, DType dtype, const nlohmann::json& shape) {
  ValueInfo(impl_->g->add_input(), name, ElemType(dtype), shape);
}

void OnnxBuilder::Output(const std::string& name, DType dtype, const nlohmann::json& shape) {
  ValueInfo(impl_->g->add_output(), name, ElemType(dtype), shape);
}

void OnnxBuilder::Metadata(const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* prop = impl_->model.add_metadata_props();
  prop->set_key(key);
  prop->set_value(value);
}

void OnnxBuilder::Describe(const std::string& producer, const std::string& graph_name,
                           const std::string& doc) {
  impl_->model.set_producer_name(producer);
  impl_->model.set_doc_string(doc);
  impl_->g->set_name(graph_name);
}

Result<std::string> OnnxBuilder::Serialize() {
  try {
    onnx::checker::check_model(impl_->model);
  } catch (const std::exception& e) {
    return Internal(std::string("the ONNX checker refused the model: ") + e.what());
  }
  std::string bytes;
  if (!impl_->model.SerializeToString(&bytes)) return Internal("ONNX serialization failed");
  return bytes;
}

Result<nlohmann::json> OnnxBuilder::Summarize(const std::string& bytes) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return InvalidArgument("not an ONNX model");
  nlohmann::json out = {{"inputs", nlohmann::json::array()},
                        {"initializers", nlohmann::json::array()},
                        {"ops", nlohmann::json::array()},
                        {"metadata", nlohmann::json::object()}};
  for (const auto& in : model.graph().input()) {
    out["inputs"].push_back(
        {{"name", in.name()}, {"dtype", DTypeName(in.type().tensor_type().elem_type())}});
  }
  for (const auto& t : model.graph().initializer()) {
    int64_t n = 1;
    for (int64_t d : t.dims()) n *= d;
    out["initializers"].push_back(
        {{"name", t.name()}, {"dtype", DTypeName(t.data_type())}, {"numel", n}});
  }
  for (const auto& n : model.graph().node()) out["ops"].push_back(n.op_type());
  for (const auto& p : model.metadata_props()) out["metadata"][p.key()] = p.value();
  return out;
}

}  // namespace compsweep::experiments
