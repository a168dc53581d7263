#include "experiments/model.h"

#include <mutex>

#include <torch/script.h>

#include "common/settings_schema.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

json Conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0,
          int64_t groups = 1, bool bias = true) {
  return {{"type", "conv"},   {"in", in},   {"out", out},       {"k", k},
          {"stride", stride}, {"pad", pad}, {"groups", groups}, {"bias", bias}};
}
json Linear(int64_t in, int64_t out) {
  return {{"type", "linear"}, {"in", in}, {"out", out}, {"bias", true}};
}
json Bn(int64_t c) { return {{"type", "bn"}, {"c", c}}; }
json Simple(const char* type) { return {{"type", type}}; }
json MaxPool(int64_t k) { return {{"type", "maxpool"}, {"k", k}}; }

// An image read as one token per row: embedding, positions, `blocks` encoder
// blocks, a final norm, the mean token and the classifier.
json RowTransformer(int64_t c, int64_t h, int64_t w, int64_t d, int64_t blocks, int64_t heads,
                    int64_t head_dim, int64_t mlp, int64_t classes) {
  json layers = json::array(
      {Simple("rows"), Linear(c * w, d), json{{"type", "pos"}, {"tokens", h}, {"d", d}}});
  for (int64_t b = 0; b < blocks; ++b) {
    layers.push_back(
        {{"type", "encoder"}, {"d", d}, {"heads", heads}, {"head_dim", head_dim}, {"mlp", mlp}});
  }
  for (const json& l : {json{{"type", "ln"}, {"d", d}}, Simple("token_mean"), Linear(d, classes)}) {
    layers.push_back(l);
  }
  return layers;
}

json SmallCnn(int64_t in, int64_t c1, int64_t c2, int64_t fc, int64_t h, int64_t w,
              int64_t classes) {
  return json::array({Conv(in, c1, 3, 1, 1), Simple("relu"), MaxPool(2), Conv(c1, c2, 3, 1, 1),
                      Simple("relu"), MaxPool(2), Simple("flatten"),
                      Linear(c2 * (h / 2 / 2) * (w / 2 / 2), fc), Simple("relu"),
                      Linear(fc, classes)});
}

// ResNet basic block: conv-bn-relu-conv-bn (+ projection shortcut when shape changes).
json BasicBlock(int64_t in, int64_t out, int64_t stride) {
  json body = json::array({Conv(in, out, 3, stride, 1, 1, false), Bn(out), Simple("relu"),
                           Conv(out, out, 3, 1, 1, 1, false), Bn(out)});
  json shortcut = json::array();
  if (stride != 1 || in != out) {
    shortcut = json::array({Conv(in, out, 1, stride, 0, 1, false), Bn(out)});
  }
  return {{"type", "residual"}, {"body", body}, {"shortcut", shortcut}};
}

// MobileNetV2 inverted residual: expand 1x1, depthwise 3x3, linear projection 1x1.
void InvertedResidual(json& layers, int64_t in, int64_t out, int64_t stride, int64_t t) {
  const int64_t hidden = in * t;
  json body = json::array();
  if (t != 1) {
    body.push_back(Conv(in, hidden, 1, 1, 0, 1, false));
    body.push_back(Bn(hidden));
    body.push_back(Simple("relu6"));
  }
  body.push_back(Conv(hidden, hidden, 3, stride, 1, hidden, false));
  body.push_back(Bn(hidden));
  body.push_back(Simple("relu6"));
  body.push_back(Conv(hidden, out, 1, 1, 0, 1, false));
  body.push_back(Bn(out));
  if (stride == 1 && in == out) {
    layers.push_back({{"type", "residual"}, {"body", body}, {"shortcut", json::array()}});
  } else {
    for (auto& l : body) layers.push_back(l);
  }
}

// Walks a layer list from shape (c, h, w), accumulating MACs.
void Trace(const json& layers, int64_t& c, int64_t& h, int64_t& w, int64_t& macs) {
  for (const auto& l : layers) {
    const std::string type = l.at("type");
    if (type == "conv") {
      const int64_t k = l.at("k"), s = l.value("stride", 1), p = l.value("pad", 0);
      const int64_t g = l.value("groups", 1), out = l.at("out");
      h = (h + 2 * p - k) / s + 1;
      w = (w + 2 * p - k) / s + 1;
      macs += out * h * w * (c / g) * k * k;
      c = out;
    } else if (type == "linear") {
      // Per token: after flatten or pooling h = w = 1; tokens are h (w = 1).
      macs += int64_t{l.at("in")} * int64_t{l.at("out")} * h * w;
      c = l.at("out");
    } else if (type == "rows") {
      c = c * w;
      w = 1;
    } else if (type == "encoder") {
      const int64_t d = l.at("d"), inner = int64_t{l.at("heads")} * int64_t{l.at("head_dim")};
      const int64_t mlp = l.at("mlp");
      macs += h * (4 * d * inner + 2 * d * mlp) + 2 * h * h * inner;
    } else if (type == "token_mean") {
      h = w = 1;
    } else if (type == "maxpool") {
      const int64_t k = l.at("k");
      h /= k;
      w /= k;
    } else if (type == "gap") {
      h = w = 1;
    } else if (type == "flatten") {
      c = c * h * w;
      h = w = 1;
    } else if (type == "residual") {
      int64_t c0 = c, h0 = h, w0 = w;
      Trace(l.at("body"), c, h, w, macs);
      Trace(l.at("shortcut"), c0, h0, w0, macs);
    }
  }
}

class SpecModel : public Model {
 public:
  SpecModel(json spec, SpecNet net) : spec_(std::move(spec)), net_(std::move(net)) {}
  torch::Tensor Forward(const torch::Tensor& x) override { return net_->forward(x); }
  NamedTensors NamedParameters() override {
    NamedTensors out;
    for (const auto& item : net_->named_parameters(true))
      out.emplace_back(item.key(), item.value());
    return out;
  }
  NamedTensors NamedBuffers() override {
    NamedTensors out;
    for (const auto& item : net_->named_buffers(true)) out.emplace_back(item.key(), item.value());
    return out;
  }
  void SetTraining(bool on) override { net_->train(on); }
  void To(const torch::Device& device) override { net_->to(device); }
  json Spec() const override { return spec_; }
  int64_t Macs() const override { return SpecMacs(spec_); }
  SpecNetImpl* spec_net() override { return net_.get(); }

 private:
  json spec_;
  SpecNet net_;
};

// A user model in TorchScript. Its parameters are trained and compressed in
// place; artifacts refer back to the script file for the graph.
class ScriptModel : public Model {
 public:
  ScriptModel(std::string path, torch::jit::Module module)
      : path_(std::move(path)), module_(std::move(module)) {
    // Files saved from C++ or in eval mode may carry frozen parameters; the
    // pipeline trains all of them.
    for (auto p : module_.parameters()) p.requires_grad_(true);
  }
  torch::Tensor Forward(const torch::Tensor& x) override { return module_.forward({x}).toTensor(); }
  NamedTensors NamedParameters() override {
    NamedTensors out;
    for (const auto& p : module_.named_parameters(true)) out.emplace_back(p.name, p.value);
    return out;
  }
  NamedTensors NamedBuffers() override {
    NamedTensors out;
    for (const auto& p : module_.named_buffers(true)) out.emplace_back(p.name, p.value);
    return out;
  }
  void SetTraining(bool on) override { module_.train(on); }
  void To(const torch::Device& device) override { module_.to(device); }
  json Spec() const override { return {{"torchscript", path_}}; }
  int64_t Macs() const override { return -1; }

 private:
  std::string path_;
  torch::jit::Module module_;
};

std::mutex& SeedMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

EncoderBlockImpl::EncoderBlockImpl(int64_t d, int64_t heads, int64_t head_dim, int64_t mlp)
    : d(d), heads(heads), head_dim(head_dim), mlp(mlp) {
  const int64_t inner = heads * head_dim;
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  q = register_module("q", torch::nn::Linear(d, inner));
  k = register_module("k", torch::nn::Linear(d, inner));
  v = register_module("v", torch::nn::Linear(d, inner));
  o = register_module("o", torch::nn::Linear(inner, d));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  fc1 = register_module("fc1", torch::nn::Linear(d, mlp));
  fc2 = register_module("fc2", torch::nn::Linear(mlp, d));
}

torch::Tensor MultiHeadAttention(const torch::Tensor& q_out, const torch::Tensor& k_out,
                                 const torch::Tensor& v_out, int64_t heads, int64_t head_dim) {
  const int64_t n = q_out.size(0), t = q_out.size(1);
  auto split = [&](const torch::Tensor& x) {
    return x.reshape({n, t, heads, head_dim}).transpose(1, 2);  // [N, H, T, E]
  };
  torch::Tensor scores = torch::matmul(split(q_out), split(k_out).transpose(-2, -1)) *
                         (1.0 / std::sqrt(static_cast<double>(head_dim)));
  torch::Tensor ctx = torch::matmul(torch::softmax(scores, -1), split(v_out));
  return ctx.transpose(1, 2).reshape({n, t, heads * head_dim});
}

torch::Tensor EncoderBlockImpl::forward(torch::Tensor x) {
  torch::Tensor h = ln1->forward(x);
  x = x +
      o->forward(MultiHeadAttention(q->forward(h), k->forward(h), v->forward(h), heads, head_dim));
  return x + fc2->forward(torch::gelu(fc1->forward(ln2->forward(x))));
}

bool HasEncoderBlocks(const SpecNetImpl& net) {
  for (const auto& l : net.layers) {
    if (l.kind == SpecNetImpl::Kind::kEncoder) return true;
  }
  return false;
}

PositionImpl::PositionImpl(int64_t tokens, int64_t d) {
  pos = register_parameter("pos", torch::randn({tokens, d}) * 0.02);
}

SpecNetImpl::SpecNetImpl(const json& spec_layers) {
  int i = 0;
  for (const auto& l : spec_layers) {
    const std::string name = "l" + std::to_string(i++);
    const std::string type = l.at("type");
    Layer layer{};
    if (type == "conv") {
      layer.kind = Kind::kConv;
      layer.stride = l.value("stride", 1);
      layer.pad = l.value("pad", 0);
      layer.groups = l.value("groups", 1);
      layer.conv = register_module(
          name,
          torch::nn::Conv2d(torch::nn::Conv2dOptions(l.at("in"), l.at("out"), int64_t{l.at("k")})
                                .stride(int64_t{l.value("stride", 1)})
                                .padding(int64_t{l.value("pad", 0)})
                                .groups(l.value("groups", 1))
                                .bias(l.value("bias", true))));
    } else if (type == "linear") {
      layer.kind = Kind::kLinear;
      layer.linear = register_module(
          name, torch::nn::Linear(
                    torch::nn::LinearOptions(l.at("in"), l.at("out")).bias(l.value("bias", true))));
    } else if (type == "bn") {
      layer.kind = Kind::kBn;
      layer.bn = register_module(name, torch::nn::BatchNorm2d(int64_t{l.at("c")}));
    } else if (type == "relu") {
      layer.kind = Kind::kRelu;
    } else if (type == "relu6") {
      layer.kind = Kind::kRelu6;
    } else if (type == "maxpool") {
      layer.kind = Kind::kMaxPool;
      layer.k = l.at("k");
    } else if (type == "gap") {
      layer.kind = Kind::kGap;
    } else if (type == "flatten") {
      layer.kind = Kind::kFlatten;
    } else if (type == "rows") {
      layer.kind = Kind::kRows;
    } else if (type == "pos") {
      layer.kind = Kind::kPos;
      layer.pos = register_module(name, Position(int64_t{l.at("tokens")}, int64_t{l.at("d")}));
    } else if (type == "encoder") {
      layer.kind = Kind::kEncoder;
      layer.encoder = register_module(
          name, EncoderBlock(l.at("d"), l.at("heads"), l.at("head_dim"), l.at("mlp")));
    } else if (type == "ln") {
      layer.kind = Kind::kLayerNorm;
      layer.ln = register_module(
          name, torch::nn::LayerNorm(torch::nn::LayerNormOptions({int64_t{l.at("d")}})));
    } else if (type == "token_mean") {
      layer.kind = Kind::kTokenMean;
    } else if (type == "residual") {
      layer.kind = Kind::kResidual;
      layer.body = register_module(name + "_body", std::make_shared<SpecNetImpl>(l.at("body")));
      if (!l.at("shortcut").empty()) {
        layer.shortcut =
            register_module(name + "_short", std::make_shared<SpecNetImpl>(l.at("shortcut")));
      }
    } else {
      throw std::invalid_argument("unknown layer type '" + type + "'");
    }
    layers.push_back(std::move(layer));
  }
}

torch::Tensor SpecNetImpl::forward(torch::Tensor x) {
  for (auto& l : layers) {
    switch (l.kind) {
      case Kind::kConv:
        x = l.conv->forward(x);
        break;
      case Kind::kLinear:
        x = l.linear->forward(x);
        break;
      case Kind::kBn:
        x = l.bn->forward(x);
        break;
      case Kind::kRelu:
        x = torch::relu(x);
        break;
      case Kind::kRelu6:
        x = torch::hardtanh(x, 0.0, 6.0);
        break;
      case Kind::kMaxPool:
        x = torch::max_pool2d(x, l.k);
        break;
      case Kind::kGap:
        x = x.mean({2, 3});
        break;
      case Kind::kFlatten:
        x = x.flatten(1);
        break;
      case Kind::kResidual:
        x = l.body->forward(x) + (l.shortcut ? l.shortcut->forward(x) : x);
        break;
      case Kind::kRows:
        x = x.transpose(1, 2).flatten(2);  // [N, C, H, W] -> [N, H, C*W]
        break;
      case Kind::kPos:
        x = l.pos->forward(x);
        break;
      case Kind::kEncoder:
        x = l.encoder->forward(x);
        break;
      case Kind::kLayerNorm:
        x = l.ln->forward(x);
        break;
      case Kind::kTokenMean:
        x = x.mean(1);
        break;
    }
  }
  return x;
}

Result<json> ArchSpec(const std::string& arch, const std::vector<int64_t>& example_shape,
                      int64_t num_classes) {
  const bool rows = example_shape.size() == 1;
  if (example_shape.empty() || example_shape.size() > 3) {
    return InvalidArgument("arch " + arch + " cannot take examples of " +
                           std::to_string(example_shape.size()) + " dimensions");
  }
  // [F] -> (F, 1, 1): rows go through the same flatten as images.
  const int64_t c = example_shape.size() == 3 ? example_shape[0] : rows ? example_shape[0] : 1;
  const int64_t h = rows ? 1 : example_shape[example_shape.size() - 2];
  const int64_t w = rows ? 1 : example_shape.back();
  const int64_t k = num_classes;
  const bool conv = arch != "mlp" && arch != "lenet-300-100";  // takes images
  if (conv && rows) {
    return InvalidArgument("arch " + arch +
                           " takes images (N x H x W or N x C x H x W); the data has "
                           "rows of " +
                           std::to_string(example_shape[0]) +
                           " values (N x F): use arch mlp (its input follows the data) or a "
                           "torchscript model");
  }
  json layers;
  if (!conv) {
    layers = json::array({Simple("flatten"), Linear(c * h * w, 300), Simple("relu"),
                          Linear(300, 100), Simple("relu"), Linear(100, k)});
  } else if (arch == "lenet5") {
    layers = json::array({Conv(c, 6, 5, 1, 2), Simple("relu"), MaxPool(2), Conv(6, 16, 5),
                          Simple("relu"), MaxPool(2), Simple("flatten"),
                          Linear(16 * ((h / 2 - 4) / 2) * ((w / 2 - 4) / 2), 120), Simple("relu"),
                          Linear(120, 84), Simple("relu"), Linear(84, k)});
  } else if (arch == "cnn-small") {
    layers = SmallCnn(c, 16, 32, 128, h, w, k);
  } else if (arch == "cnn-wide") {
    layers = SmallCnn(c, 32, 64, 256, h, w, k);
  } else if (arch == "resnet-small") {
    layers =
        json::array({Conv(c, 16, 3, 1, 1, 1, false), Bn(16), Simple("relu"), BasicBlock(16, 16, 1),
                     Simple("relu"), BasicBlock(16, 32, 2), Simple("relu"), BasicBlock(32, 64, 2),
                     Simple("relu"), Simple("gap"), Linear(64, k)});
  } else if (arch == "transformer-rows") {
    layers = RowTransformer(c, h, w, 64, 4, 4, 16, 128, k);
  } else if (arch == "transformer-rows-small") {
    layers = RowTransformer(c, h, w, 32, 2, 2, 16, 64, k);
  } else if (arch == "mobilenetv2") {
    layers = json::array({Conv(c, 16, 3, 1, 1, 1, false), Bn(16), Simple("relu6")});
    InvertedResidual(layers, 16, 16, 1, 1);
    InvertedResidual(layers, 16, 24, 2, 6);
    InvertedResidual(layers, 24, 24, 1, 6);
    InvertedResidual(layers, 24, 32, 2, 6);
    InvertedResidual(layers, 32, 32, 1, 6);
    InvertedResidual(layers, 32, 64, 1, 6);
    for (const json& l : {Conv(64, 128, 1, 1, 0, 1, false), Bn(128), Simple("relu6"), Simple("gap"),
                          Linear(128, k)}) {
      layers.push_back(l);
    }
  } else {
    return InvalidArgument("unknown arch '" + arch + "'");
  }
  // Every layer must see at least one pixel (pooling halves, 5x5 convs shrink).
  int64_t tc = c, th = h, tw = w, macs = 0;
  Trace(layers, tc, th, tw, macs);
  bool too_small = th < 1 || tw < 1;
  for (const json& l : layers) {
    if (l.at("type") == "linear" && l.at("in").get<int64_t>() < 1) too_small = true;
  }
  if (too_small) {
    return InvalidArgument("arch " + arch + " needs larger images than " + std::to_string(h) +
                           " x " + std::to_string(w) + " (its pooling leaves nothing)");
  }
  return json{{"input", {c, h, w}}, {"layers", layers}, {"arch", arch}};
}

int64_t SpecMacs(const json& spec) {
  const auto& in = spec.at("input");
  int64_t c = in[0], h = in[1], w = in[2], macs = 0;
  Trace(spec.at("layers"), c, h, w, macs);
  return macs;
}

Result<std::unique_ptr<Model>> BuildModel(const json& spec, uint64_t seed) {
  try {
    if (spec.contains("torchscript")) {
      const std::string path = spec.at("torchscript");
      std::lock_guard<std::mutex> lock(SeedMutex());
      torch::manual_seed(seed);
      return std::unique_ptr<Model>(new ScriptModel(path, torch::jit::load(path)));
    }
    std::lock_guard<std::mutex> lock(SeedMutex());
    torch::manual_seed(seed);
    SpecNet net(spec.at("layers"));
    return std::unique_ptr<Model>(new SpecModel(spec, net));
  } catch (const c10::Error& e) {
    return InvalidArgument(std::string("building model: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("building model: ") + e.what());
  }
}

Result<std::unique_ptr<Model>> BuildModelFromSettings(const json& section, uint64_t seed,
                                                      const DataShape& data,
                                                      const std::vector<std::string>& path_roots,
                                                      const std::string& role) {
  if (section.contains("torchscript")) {
    const std::string field = role + ".torchscript";
    ASSIGN_OR_RETURN(
        std::string path,
        settings::CheckFileToOpen(field, section.at("torchscript").get<std::string>(), path_roots));
    return BuildModel(json{{"torchscript", path}}, seed);
  }
  if (!data.floating) {
    return InvalidArgument("arch " + section.value("arch", std::string("cnn-small")) +
                           " takes float inputs; integer inputs (token ids, N x T int64) need a "
                           "torchscript model (e.g. with an embedding layer)");
  }
  ASSIGN_OR_RETURN(json spec, ArchSpec(section.value("arch", "cnn-small"), data.example_shape,
                                       data.num_classes));
  return BuildModel(spec, seed);
}

NamedTensors PrunableWeights(Model& model) {
  NamedTensors out;
  for (auto& [name, t] : model.NamedParameters()) {
    const bool is_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    if (is_weight && t.dim() >= 2) out.emplace_back(name, t);
  }
  return out;
}

int64_t CountParameters(Model& model) {
  int64_t n = 0;
  for (auto& [name, t] : model.NamedParameters()) n += t.numel();
  return n;
}

Status SaveModel(Model& model, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    // Archive keys may not contain dots, so tensors are keyed by position.
    int i = 0;
    for (auto& [name, t] : model.NamedParameters()) {
      archive.write("p" + std::to_string(i++), t.detach().cpu());
    }
    i = 0;
    for (auto& [name, t] : model.NamedBuffers()) {
      archive.write("b" + std::to_string(i++), t.detach().cpu(), /*is_buffer=*/true);
    }
    archive.write("compsweep_spec", c10::IValue(model.Spec().dump()));
    const std::string tmp = path + ".tmp";
    archive.save_to(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      return IoError("rename " + tmp + " -> " + path);
  } catch (const c10::Error& e) {
    return IoError("saving model to " + path + ": " + e.what_without_backtrace());
  }
  return Status::Ok();
}

Result<std::unique_ptr<Model>> LoadModel(const std::string& path, const torch::Device& device) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    c10::IValue spec_value;
    if (!archive.try_read("compsweep_spec", spec_value)) {
      // A plain TorchScript module.
      ASSIGN_OR_RETURN(auto model, BuildModel(json{{"torchscript", path}}, 0));
      model->To(device);
      return model;
    }
    ASSIGN_OR_RETURN(auto model, BuildModel(json::parse(spec_value.toStringRef()), 0));
    torch::NoGradGuard no_grad;
    int i = 0;
    for (auto& [name, t] : model->NamedParameters()) {
      torch::Tensor v;
      archive.read("p" + std::to_string(i++), v);
      t.copy_(v);
    }
    i = 0;
    for (auto& [name, t] : model->NamedBuffers()) {
      torch::Tensor v;
      archive.read("b" + std::to_string(i++), v, /*is_buffer=*/true);
      t.copy_(v);
    }
    model->To(device);
    return model;
  } catch (const c10::Error& e) {
    return IoError("loading model from " + path + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return IoError("loading model from " + path + ": " + e.what());
  }
}

}  // namespace compsweep::experiments
