#include "experiments/export.h"

#include <cstdio>
#include <sstream>

#include <torch/script.h>

#include "experiments/artifact.h"
#include "experiments/pipeline.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

std::string Attr(const std::string& param) {
  std::string s = param;
  for (char& c : s) {
    if (c == '.') c = '_';
  }
  return "self." + s;
}

void Emit(const json& layers, const std::string& prefix, const std::string& var, int& counter,
          std::ostringstream& out) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    const std::string name = prefix + "l" + std::to_string(i);
    const std::string type = l.at("type");
    out << "    ";
    if (type == "conv") {
      const int64_t s = l.value("stride", 1), p = l.value("pad", 0);
      out << var << " = torch.conv2d(" << var << ", " << Attr(name + ".weight") << ", "
          << (l.value("bias", true) ? Attr(name + ".bias") : "None") << ", [" << s << ", " << s
          << "], [" << p << ", " << p << "], [1, 1], " << l.value("groups", 1) << ")\n";
    } else if (type == "linear") {
      out << var << " = torch.linear(" << var << ", " << Attr(name + ".weight") << ", "
          << (l.value("bias", true) ? Attr(name + ".bias") : "None") << ")\n";
    } else if (type == "bn") {
      out << var << " = torch.batch_norm(" << var << ", " << Attr(name + ".weight") << ", "
          << Attr(name + ".bias") << ", " << Attr(name + ".running_mean") << ", "
          << Attr(name + ".running_var") << ", False, 0.1, 1e-05, False)\n";
    } else if (type == "relu") {
      out << var << " = torch.relu(" << var << ")\n";
    } else if (type == "relu6") {
      out << var << " = torch.hardtanh(" << var << ", 0.0, 6.0)\n";
    } else if (type == "maxpool") {
      const int64_t k = l.at("k");
      out << var << " = torch.max_pool2d(" << var << ", [" << k << ", " << k << "])\n";
    } else if (type == "gap") {
      out << var << " = torch.mean(" << var << ", [2, 3])\n";
    } else if (type == "flatten") {
      out << var << " = torch.flatten(" << var << ", 1)\n";
    } else if (type == "residual") {
      const std::string in = "r" + std::to_string(counter++);
      out << in << " = " << var << "\n";
      Emit(l.at("body"), name + "_body.", var, counter, out);
      if (!l.at("shortcut").empty()) {
        const std::string sc = "s" + std::to_string(counter++);
        out << "    " << sc << " = " << in << "\n";
        Emit(l.at("shortcut"), name + "_short.", sc, counter, out);
        out << "    " << var << " = " << var << " + " << sc << "\n";
      } else {
        out << "    " << var << " = " << var << " + " << in << "\n";
      }
    }
  }
}

}  // namespace

std::string SpecToTorchScript(const json& spec) {
  std::ostringstream out;
  out << "def forward(self, x):\n";
  int counter = 0;
  Emit(spec.at("layers"), "", "x", counter, out);
  out << "    return x\n";
  return out.str();
}

Status SaveTorchScript(Model& model, const std::string& out_path) {
  const std::string tmp = out_path + ".tmp";
  try {
    torch::NoGradGuard no_grad;
    if (model.spec_net() != nullptr) {
      torch::jit::Module m("CompsweepNet");
      for (auto& [name, t] : model.NamedParameters()) {
        m.register_parameter(Attr(name).substr(5), t.detach().cpu().clone(), false);
      }
      for (auto& [name, t] : model.NamedBuffers()) {
        m.register_buffer(Attr(name).substr(5), t.detach().cpu().clone());
      }
      m.define(SpecToTorchScript(model.Spec()));
      m.eval();
      m.save(tmp);
    } else {
      const json spec = model.Spec();
      torch::jit::Module m = torch::jit::load(spec.at("torchscript").get<std::string>());
      std::map<std::string, torch::Tensor> values;
      for (auto& [name, t] : model.NamedParameters()) values[name] = t;
      for (auto& [name, t] : model.NamedBuffers()) values[name] = t;
      for (const auto& p : m.named_parameters(true)) p.value.copy_(values.at(p.name));
      for (const auto& b : m.named_buffers(true)) b.value.copy_(values.at(b.name));
      m.eval();
      m.save(tmp);
    }
  } catch (const c10::Error& e) {
    return Internal("exporting TorchScript: " + std::string(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Internal("exporting TorchScript: " + std::string(e.what()));
  }
  if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
    return IoError("rename " + tmp + " -> " + out_path);
  }
  return Status::Ok();
}

Status ExportTorchScript(const json& /*settings*/, const std::string& artifact_path,
                         const std::string& out_path) {
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, ReadArtifact(artifact_path));
  return SaveTorchScript(*model, out_path);
}

}  // namespace compsweep::experiments
