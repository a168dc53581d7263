#include "experiments/data.h"

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "common/data_files.h"
#include "common/npy.h"
#include "common/settings_schema.h"

namespace compsweep::experiments {
namespace {

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Reads the whole file through zlib, which passes plain files through unchanged.
Result<std::vector<unsigned char>> ReadAllGz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return NotFound("cannot open " + path);
  gzbuffer(f, 1 << 20);
  std::vector<unsigned char> out;
  std::vector<unsigned char> chunk(1 << 20);
  while (true) {
    int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      return IoError("gzread " + path + ": " + msg);
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  gzclose(f);
  return out;
}

torch::Tensor ToTensor(const npy::Array& a) {
  const torch::ScalarType type = a.header.dtype == npy::DType::kFloat32 ? torch::kFloat32
                                 : a.header.dtype == npy::DType::kUInt8 ? torch::kUInt8
                                                                        : torch::kInt64;
  // from_blob does not copy; clone owns the bytes (numpy writes little-endian,
  // as this host is).
  return torch::from_blob(const_cast<unsigned char*>(a.data.data()), a.header.shape, type).clone();
}

// Reads one array of a NumPy data section, after the worker-side path check.
Result<torch::Tensor> ReadArray(const data_files::ArrayRef& ref,
                                const std::vector<std::string>& roots) {
  const bool npz = !ref.member.empty();
  ASSIGN_OR_RETURN(std::string path,
                   settings::CheckFileToOpen(npz ? "data.path" : ref.Field(), ref.file, roots));
  Result<npy::Array> array = npz ? npy::ReadNpzArray(path, ref.member) : npy::ReadNpy(path);
  if (!array.ok()) return array.status();
  return ToTensor(*array);
}

// How a NumPy x becomes the models' x: uint8 scales by 1/255 unless data.scale
// says otherwise; int64 x (token ids) stays as it is.
InputSpec NumpyInputSpec(const torch::Tensor& x, const nlohmann::json& data) {
  InputSpec in;
  const auto type = x.scalar_type();
  in.dtype = type == torch::kUInt8 ? "uint8" : type == torch::kInt64 ? "int64" : "float32";
  in.shape.assign(x.sizes().begin() + 1, x.sizes().end());
  if (in.shape.size() == 2) in.shape.insert(in.shape.begin(), 1);
  if (in.dtype == "int64") return in;
  in.scale = data.contains("scale") ? data["scale"].get<double>()
             : in.dtype == "uint8"  ? 1.0 / 255
                                    : 1.0;
  in.mean = data.value("mean", 0.0);
  in.std = data.value("std", 1.0);
  return in;
}

// x as the models take it: N x H x W gains a channel, then `in` applies.
torch::Tensor PrepareX(torch::Tensor x, const InputSpec& in) {
  if (x.dim() == 3 && x.scalar_type() != torch::kInt64) x = x.unsqueeze(1);
  return in.Apply(x).contiguous();
}

Result<Dataset> LoadNumpy(const nlohmann::json& data, const std::vector<std::string>& roots) {
  // The same checks as compsweep validate: a worker may get files that changed
  // since, or a sweep submitted without them.
  data_files::Summary summary;
  std::vector<data_files::Problem> problems = data_files::Check(data, roots, &summary);
  if (!problems.empty()) {
    std::string message = "data: " + problems[0].message;
    if (problems.size() > 1) message += " (and " + std::to_string(problems.size() - 1) + " more)";
    return InvalidArgument(message);
  }
  std::map<std::string, torch::Tensor> t;
  for (const data_files::ArrayRef& ref : data_files::Arrays(data)) {
    ASSIGN_OR_RETURN(t[ref.split + "." + ref.role], ReadArray(ref, roots));
  }
  Dataset d;
  d.input = NumpyInputSpec(t["train.x"], data);
  d.train_x = PrepareX(t["train.x"], d.input);
  d.train_y = t["train.y"].to(torch::kInt64);
  d.test_x = PrepareX(t["test.x"], d.input);
  d.test_y = t["test.y"].to(torch::kInt64);
  if (t.count("val.x")) {
    d.val_x = PrepareX(t["val.x"], d.input);
    d.val_y = t["val.y"].to(torch::kInt64);
  }
  d.num_classes = summary.num_classes;
  d.name = data.value("format", "npy");
  return d;
}

// Holds out val_fraction of the training examples (a seeded permutation).
Status SplitValidation(Dataset& d, double fraction, uint64_t seed) {
  const int64_t n = d.train_x.size(0);
  const auto held = static_cast<int64_t>(std::floor(static_cast<double>(n) * fraction));
  if (held < 1 || held >= n) {
    return InvalidArgument("data.val_fraction " + std::to_string(fraction) + " of " +
                           std::to_string(n) +
                           " training examples leaves no validation or no training example");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x5eed5eedULL);
  torch::Tensor perm = at::randperm(n, gen, torch::kInt64).to(d.train_x.device());
  torch::Tensor val_idx = perm.narrow(0, 0, held);
  torch::Tensor train_idx = std::get<0>(perm.narrow(0, held, n - held).sort());
  d.val_x = d.train_x.index_select(0, val_idx);
  d.val_y = d.train_y.index_select(0, val_idx);
  d.train_x = d.train_x.index_select(0, train_idx);
  d.train_y = d.train_y.index_select(0, train_idx);
  return Status::Ok();
}

}  // namespace

torch::Tensor InputSpec::Apply(const torch::Tensor& raw) const {
  if (dtype == "int64" || identity())
    return raw.scalar_type() == torch::kInt64 ? raw : raw.to(torch::kFloat32);
  return raw.to(torch::kFloat32).mul(scale).sub(mean).div(std);
}

nlohmann::json InputSpec::ToJson() const {
  return {{"dtype", dtype}, {"shape", shape}, {"scale", scale}, {"mean", mean}, {"std", std}};
}

Result<InputSpec> InputSpec::FromJson(const nlohmann::json& j) {
  InputSpec in;
  try {
    in.dtype = j.at("dtype").get<std::string>();
    in.shape = j.at("shape").get<std::vector<int64_t>>();
    in.scale = j.at("scale").get<double>();
    in.mean = j.at("mean").get<double>();
    in.std = j.at("std").get<double>();
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("input spec: ") + e.what());
  }
  if (in.dtype != "uint8" && in.dtype != "float32" && in.dtype != "int64") {
    return InvalidArgument("input spec: dtype '" + in.dtype + "' is not uint8, float32 or int64");
  }
  if (in.std == 0) return InvalidArgument("input spec: std is 0");
  return in;
}

Result<torch::Tensor> ReadIdx(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<unsigned char> bytes, ReadAllGz(path));
  if (bytes.size() < 4) return InvalidArgument(path + ": too short for an IDX header");
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08) {
    return InvalidArgument(path + ": not an unsigned-byte IDX file");
  }
  const int dims = bytes[3];
  if (dims < 1 || dims > 4 || bytes.size() < 4 + 4 * static_cast<size_t>(dims)) {
    return InvalidArgument(path + ": bad IDX dimension count");
  }
  std::vector<int64_t> shape;
  int64_t total = 1;
  for (int i = 0; i < dims; ++i) {
    shape.push_back(BigEndian32(&bytes[4 + 4 * i]));
    total *= shape.back();
  }
  const size_t offset = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() - offset != static_cast<size_t>(total)) {
    return InvalidArgument(path + ": payload size does not match the header");
  }
  return torch::from_blob(bytes.data() + offset, shape, torch::kUInt8).clone();
}

Dataset MakeSyntheticDataset(int64_t train_size, int64_t test_size, uint64_t seed) {
  constexpr int64_t kClasses = 10;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Prototypes: a smooth random pattern per class (blurred noise), unit scale.
  torch::Tensor proto = at::randn({kClasses, 1, 28, 28}, gen, torch::kFloat32);
  proto = torch::avg_pool2d(proto, 5, 1, 2) * 3.0;
  auto make = [&](int64_t n) {
    torch::Tensor y = at::randint(kClasses, {n}, gen, torch::kInt64);
    torch::Tensor x =
        proto.index_select(0, y) + 0.8 * at::randn({n, 1, 28, 28}, gen, torch::kFloat32);
    return std::make_pair(x.contiguous(), y);
  };
  Dataset d;
  std::tie(d.train_x, d.train_y) = make(train_size);
  std::tie(d.test_x, d.test_y) = make(test_size);
  d.num_classes = kClasses;
  d.name = "synthetic";
  return d;
}

std::vector<int64_t> Dataset::ExampleShape() const {
  return std::vector<int64_t>(train_x.sizes().begin() + 1, train_x.sizes().end());
}

Result<std::shared_ptr<const Dataset>> LoadDataset(const nlohmann::json& data_settings,
                                                   const torch::Device& device, uint64_t split_seed,
                                                   const std::vector<std::string>& path_roots) {
  ASSIGN_OR_RETURN(const nlohmann::json data, settings::Resolve("data", data_settings));
  const std::string format = data.value("format", "");
  const std::string dataset = format.empty() ? data.value("dataset", "fashion-mnist") : "";
  const std::string path = data.value("path", "/usr/share/datasets/fashion-mnist");
  const int64_t train_subset = data["train_subset"].get<int64_t>();
  const int64_t test_subset = data["test_subset"].get<int64_t>();
  std::string roots_key;
  for (const std::string& r : path_roots) roots_key += r + ":";
  const std::string key =
      data.dump() + "|" + std::to_string(split_seed) + "|" + roots_key + "|" + device.str();

  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Dataset>> cache;  // GUARDED_BY(mu)
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  Dataset d;
  try {
    if (!format.empty()) {
      ASSIGN_OR_RETURN(d, LoadNumpy(data, path_roots));
      if (train_subset > 0 && train_subset < d.train_x.size(0)) {
        d.train_x = d.train_x.narrow(0, 0, train_subset);
        d.train_y = d.train_y.narrow(0, 0, train_subset);
      }
      if (test_subset > 0 && test_subset < d.test_x.size(0)) {
        d.test_x = d.test_x.narrow(0, 0, test_subset);
        d.test_y = d.test_y.narrow(0, 0, test_subset);
      }
    } else if (dataset == "synthetic") {
      d = MakeSyntheticDataset(train_subset > 0 ? train_subset : 512,
                               test_subset > 0 ? test_subset : 256, 1234);
      d.input.shape = {1, 28, 28};  // generated as the models take it
    } else if (dataset == "fashion-mnist" || dataset == "mnist-idx" || dataset == "mnist") {
      const bool fashion = dataset == "fashion-mnist";
      const double mean = fashion ? 0.2860 : 0.1307;
      const double std = fashion ? 0.3530 : 0.3081;
      auto file = [&](const std::string& stem) -> Result<std::string> {
        const std::string gz = path + "/" + stem + ".gz";
        std::error_code ec;
        return settings::CheckFileToOpen(
            "data.path", std::filesystem::exists(gz, ec) ? gz : path + "/" + stem, path_roots);
      };
      ASSIGN_OR_RETURN(std::string trx_path, file("train-images-idx3-ubyte"));
      ASSIGN_OR_RETURN(std::string try_path, file("train-labels-idx1-ubyte"));
      ASSIGN_OR_RETURN(std::string tex_path, file("t10k-images-idx3-ubyte"));
      ASSIGN_OR_RETURN(std::string tey_path, file("t10k-labels-idx1-ubyte"));
      ASSIGN_OR_RETURN(torch::Tensor trx, ReadIdx(trx_path));
      ASSIGN_OR_RETURN(torch::Tensor try_, ReadIdx(try_path));
      ASSIGN_OR_RETURN(torch::Tensor tex, ReadIdx(tex_path));
      ASSIGN_OR_RETURN(torch::Tensor tey, ReadIdx(tey_path));
      if (trx.dim() != 3 || trx.size(0) != try_.size(0) || tex.dim() != 3 ||
          tex.size(0) != tey.size(0) || trx.size(1) != 28 || trx.size(2) != 28) {
        return InvalidArgument("IDX files under " + path + " have unexpected shapes");
      }
      if (train_subset > 0 && train_subset < trx.size(0)) {
        trx = trx.narrow(0, 0, train_subset);
        try_ = try_.narrow(0, 0, train_subset);
      }
      if (test_subset > 0 && test_subset < tex.size(0)) {
        tex = tex.narrow(0, 0, test_subset);
        tey = tey.narrow(0, 0, test_subset);
      }
      // Raw examples: the files' uint8 pixels with a channel axis.
      d.input.dtype = "uint8";
      d.input.shape = {1, 28, 28};
      d.input.scale = 1.0 / 255;
      d.input.mean = mean;
      d.input.std = std;
      d.train_x = d.input.Apply(trx.unsqueeze(1)).contiguous();
      d.train_y = try_.to(torch::kInt64);
      d.test_x = d.input.Apply(tex.unsqueeze(1)).contiguous();
      d.test_y = tey.to(torch::kInt64);
      d.name = dataset;
    } else {
      return InvalidArgument("unknown dataset '" + dataset + "'");
    }
    if (!d.val_x.defined()) {
      RETURN_IF_ERROR(SplitValidation(d, data.value("val_fraction", 0.1), split_seed));
    }
    for (torch::Tensor* t : {&d.train_x, &d.train_y, &d.val_x, &d.val_y, &d.test_x, &d.test_y}) {
      *t = t->to(device);
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("loading dataset: ") + e.what_without_backtrace());
  }
  auto shared = std::make_shared<const Dataset>(std::move(d));
  cache[key] = shared;
  return shared;
}

}  // namespace compsweep::experiments
