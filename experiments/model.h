// Model zoo and the model handle the pipeline works on. An architecture is a
// JSON "spec" (a list of layers), so artifacts carry the exact, possibly
// structurally pruned, shape of the network. Thread-safety: a Model is used by
// one thread at a time; BuildModel may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/status.h"

namespace compsweep::experiments {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Spec: {"input": [C, H, W], "layers": [...]} where each layer is one of
//   {"type":"conv","in":,"out":,"k":,"stride":,"pad":,"groups":,"bias":}
//   {"type":"linear","in":,"out":,"bias":}   {"type":"bn","c":}
//   {"type":"relu"} {"type":"relu6"} {"type":"maxpool","k":} {"type":"gap"}
//   {"type":"flatten"} {"type":"residual","body":[...],"shortcut":[...]}
// and, for the attention encoder (tokens [N, T, D]):
//   {"type":"rows"}: an image [N, C, H, W] as H tokens of C*W values [N, H, C*W]
//   {"type":"pos","tokens":T,"d":D}: adds a learned position table [T, D]
//   {"type":"encoder","d":D,"heads":H,"head_dim":E,"mlp":M}: a pre-norm
//     transformer block, x + Attn(LN(x)) then x + FC2(GELU(FC1(LN(x)))), with
//     H heads of width E (q, k, v: D -> H*E; o: H*E -> D) and M MLP neurons
//   {"type":"ln","d":D}: layer norm over the last dimension
//   {"type":"token_mean"}: [N, T, D] -> [N, D]
// A linear layer acts on the last dimension (so on every token).
// A residual layer computes body(x) + shortcut(x) (identity when the shortcut
// list is empty). Parameter names follow the layer positions ("l3.weight",
// "l4_body.l0.weight", "l3.q.weight" in an encoder), so they are stable for a
// given spec.
// Scaled dot-product attention of `heads` heads of width `head_dim` from the
// projections q, k, v [N, T, heads*head_dim]; returns [N, T, heads*head_dim]
// (before the output projection). Shared by the float and int8 networks.
torch::Tensor MultiHeadAttention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, int64_t heads, int64_t head_dim);

struct EncoderBlockImpl : torch::nn::Module {
  EncoderBlockImpl(int64_t d, int64_t heads, int64_t head_dim, int64_t mlp);
  torch::Tensor forward(torch::Tensor x);
  int64_t d, heads, head_dim, mlp;
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(EncoderBlock);

struct PositionImpl : torch::nn::Module {
  PositionImpl(int64_t tokens, int64_t d);
  torch::Tensor forward(const torch::Tensor& x) { return x + pos; }
  torch::Tensor pos;
};
TORCH_MODULE(Position);

struct SpecNetImpl : torch::nn::Module {
  explicit SpecNetImpl(const nlohmann::json& layers);
  torch::Tensor forward(torch::Tensor x);

  enum class Kind {
    kConv,
    kLinear,
    kBn,
    kRelu,
    kRelu6,
    kMaxPool,
    kGap,
    kFlatten,
    kResidual,
    kRows,
    kPos,
    kEncoder,
    kLayerNorm,
    kTokenMean
  };
  struct Layer {
    Kind kind;
    int64_t k = 0;                            // max-pool size
    int64_t stride = 1, pad = 0, groups = 1;  // conv geometry
    torch::nn::Conv2d conv{nullptr};
    torch::nn::Linear linear{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    std::shared_ptr<SpecNetImpl> body, shortcut;
    EncoderBlock encoder{nullptr};
    Position pos{nullptr};
    torch::nn::LayerNorm ln{nullptr};
  };
  std::vector<Layer> layers;
};
TORCH_MODULE(SpecNet);

// True when the network has attention encoder blocks (they quantize
// dynamically and export to TorchScript only).
bool HasEncoderBlocks(const SpecNetImpl& net);

// The handle the pipeline trains, prunes, quantizes and saves. Implemented by
// spec networks (model zoo) and, for user models, TorchScript modules.
class Model {
 public:
  virtual ~Model() = default;
  virtual torch::Tensor Forward(const torch::Tensor& x) = 0;
  virtual NamedTensors NamedParameters() = 0;
  virtual NamedTensors NamedBuffers() = 0;
  virtual void SetTraining(bool on) = 0;
  virtual void To(const torch::Device& device) = 0;
  // Architecture description stored in artifacts: a spec, or {"torchscript": path}.
  virtual nlohmann::json Spec() const = 0;
  // Multiply-accumulates of one forward pass at batch 1 (-1 when unknown).
  virtual int64_t Macs() const = 0;
  // The spec network behind a zoo model; nullptr for TorchScript models.
  virtual SpecNetImpl* spec_net() { return nullptr; }
};

// Returns the spec of a zoo architecture: mlp (LeNet-300-100), lenet5,
// cnn-small, cnn-wide, resnet-small, mobilenetv2, or one of the two small
// attention encoders that read an image as a sequence of its rows (one token
// per row, ViT-style pre-norm blocks, mean-pooled tokens):
// transformer-rows (the teacher: 4 blocks, width 64, 4 heads of 16, MLP 128)
// and transformer-rows-small (its DistilBERT-style student: 2 blocks, width
// 32, 2 heads of 16, MLP 64), for examples of
// `example_shape` ([F] rows, [H, W] or [C, H, W] images) and `num_classes`
// outputs. mlp takes any shape (its input size follows the data); the conv
// archs need images large enough for their pooling, and refuse rows with a
// message that says so. The spec's "input" is [C, H, W] ([F, 1, 1] for rows).
Result<nlohmann::json> ArchSpec(const std::string& arch,
                                const std::vector<int64_t>& example_shape = {1, 28, 28},
                                int64_t num_classes = 10);

// What the data tells the model zoo: one example's shape, the label count,
// and whether x is float (integer x are token ids).
struct DataShape {
  std::vector<int64_t> example_shape = {1, 28, 28};
  int64_t num_classes = 10;
  bool floating = true;
};

// Builds a freshly initialised model from a spec (init seeded with `seed`; the
// global torch seed is set under a process-wide lock).
Result<std::unique_ptr<Model>> BuildModel(const nlohmann::json& spec, uint64_t seed);

// Builds from a settings section: {"arch": name} or {"torchscript": path}, a
// zoo arch shaped for `data`. A TorchScript path is checked first with
// settings::CheckFileToOpen (relative without '..' or under `path_roots`, a
// regular file once links are resolved); `role` ("student", "teacher") names
// it in errors.
Result<std::unique_ptr<Model>> BuildModelFromSettings(
    const nlohmann::json& section, uint64_t seed, const DataShape& data = {},
    const std::vector<std::string>& path_roots = {"/usr/share/datasets"},
    const std::string& role = "student");

// MACs of a spec at batch 1 (conv: Cout*Hout*Wout*(Cin/groups)*k*k; linear:
// in*out per token; encoder: its six linears per token plus the two attention
// products, 2*T*T*H*E; norms, activations, softmax and pooling are not counted).
int64_t SpecMacs(const nlohmann::json& spec);

// Weights the compression stages act on: conv and linear weights (dim >= 2).
NamedTensors PrunableWeights(Model& model);
int64_t CountParameters(Model& model);

// Saves/loads a model with torch serialization (the teacher format); the spec
// travels inside the archive.
Status SaveModel(Model& model, const std::string& path);
Result<std::unique_ptr<Model>> LoadModel(const std::string& path, const torch::Device& device);

}  // namespace compsweep::experiments
