// OnnxBuilder: an ONNX model assembled with the ONNX project's protobuf classes
// (Debian's libonnx-dev), behind an interface free of protobuf and LibTorch
// types. It is its own library, compiled without LibTorch's include paths:
// the pip PyTorch wheel ships an older protobuf under torch/include/google/
// protobuf that would shadow Debian's headers in any file that sees both
// (make test-torch2). experiments/onnx_export.cc walks the deploy graph and
// calls this. Thread-safety: one builder per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::experiments {

class OnnxBuilder {
 public:
  enum class DType { kFloat, kInt8, kUint8, kInt32, kInt64 };
  using Attr = std::pair<std::string, std::variant<int64_t, float, std::vector<int64_t>>>;

  // opset: the default domain's version; ir_version: the model's IR version.
  OnnxBuilder(int64_t opset, int64_t ir_version);
  ~OnnxBuilder();
  OnnxBuilder(const OnnxBuilder&) = delete;
  OnnxBuilder& operator=(const OnnxBuilder&) = delete;

  // A node with one output, named uniquely after op; returns the output's name.
  std::string Node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<Attr>& attrs = {});
  // A node with a given output name.
  void NamedNode(const std::string& op, const std::vector<std::string>& inputs,
                 const std::string& output, const std::string& node_name);
  // An initialiser of `dims` from little-endian raw bytes; returns its unique name.
  std::string Init(const std::string& stem, DType dtype, const std::vector<int64_t>& dims,
                   const void* data, size_t bytes);
  // Graph input/output: shape entries are numbers or strings (symbolic, e.g. "N").
  void Input(const std::string& name, DType dtype, const nlohmann::json& shape);
  void Output(const std::string& name, DType dtype, const nlohmann::json& shape);
  void Metadata(const std::string& key, const std::string& value);
  void Describe(const std::string& producer, const std::string& graph_name, const std::string& doc);
  // Runs the ONNX checker and serializes; Internal with the checker's words on refusal.
  Result<std::string> Serialize();

  // What a serialized model holds, for tests and tools that must not include
  // protobuf headers: {"inputs": [{"name", "dtype"}], "initializers": [{"name",
  // "dtype", "numel"}], "ops": [op types in order], "metadata": {key: value}},
  // dtype one of float32, int8, uint8, int32, int64, other.
  static Result<nlohmann::json> Summarize(const std::string& bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace compsweep::experiments
