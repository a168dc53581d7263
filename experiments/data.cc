#include "experiments/data.h"

#include <zlib.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

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

torch::Tensor Normalise(const torch::Tensor& images_u8, double mean, double std) {
  return images_u8.to(torch::kFloat32).div_(255.0).sub_(mean).div_(std).unsqueeze(1).contiguous();
}

}  // namespace

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

Result<std::shared_ptr<const Dataset>> LoadDataset(const nlohmann::json& data_settings,
                                                   const torch::Device& device) {
  const std::string dataset = data_settings.value("dataset", "fashion-mnist");
  const std::string path = data_settings.value("path", "/usr/share/datasets/fashion-mnist");
  int64_t train_subset = data_settings.value("train_subset", int64_t{0});
  int64_t test_subset = data_settings.value("test_subset", int64_t{0});
  const std::string key = dataset + "|" + path + "|" + std::to_string(train_subset) + "|" +
                          std::to_string(test_subset) + "|" + device.str();

  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Dataset>> cache;  // GUARDED_BY(mu)
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  Dataset d;
  try {
    if (dataset == "synthetic") {
      d = MakeSyntheticDataset(train_subset > 0 ? train_subset : 512,
                               test_subset > 0 ? test_subset : 256,
                               data_settings.value("synthetic_seed", uint64_t{1234}));
    } else if (dataset == "fashion-mnist" || dataset == "mnist-idx" || dataset == "mnist") {
      const bool fashion = dataset == "fashion-mnist";
      const double mean = fashion ? 0.2860 : 0.1307;
      const double std = fashion ? 0.3530 : 0.3081;
      auto file = [&](const std::string& stem) -> std::string {
        const std::string gz = path + "/" + stem + ".gz";
        if (FILE* f = std::fopen(gz.c_str(), "rb")) {
          std::fclose(f);
          return gz;
        }
        return path + "/" + stem;
      };
      ASSIGN_OR_RETURN(torch::Tensor trx, ReadIdx(file("train-images-idx3-ubyte")));
      ASSIGN_OR_RETURN(torch::Tensor try_, ReadIdx(file("train-labels-idx1-ubyte")));
      ASSIGN_OR_RETURN(torch::Tensor tex, ReadIdx(file("t10k-images-idx3-ubyte")));
      ASSIGN_OR_RETURN(torch::Tensor tey, ReadIdx(file("t10k-labels-idx1-ubyte")));
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
      d.train_x = Normalise(trx, mean, std);
      d.train_y = try_.to(torch::kInt64);
      d.test_x = Normalise(tex, mean, std);
      d.test_y = tey.to(torch::kInt64);
      d.name = dataset;
    } else {
      return InvalidArgument("unknown dataset '" + dataset + "'");
    }
    d.train_x = d.train_x.to(device);
    d.train_y = d.train_y.to(device);
    d.test_x = d.test_x.to(device);
    d.test_y = d.test_y.to(device);
  } catch (const c10::Error& e) {
    return Internal(std::string("loading dataset: ") + e.what_without_backtrace());
  }
  auto shared = std::make_shared<const Dataset>(std::move(d));
  cache[key] = shared;
  return shared;
}

}  // namespace compsweep::experiments
