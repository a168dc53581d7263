#include "experiments/artifact.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/atomic_file.h"

namespace compsweep::experiments {
namespace {

using Bytes = std::vector<uint8_t>;

enum Kind : uint8_t { kDense = 0, kSparse = 1, kQDense = 2, kQSparse = 3, kOmitted = 4 };

void PutU8(Bytes& b, uint8_t v) { b.push_back(v); }
void PutU32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutF32(Bytes& b, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  PutU32(b, v);
}

// LSB-first bit stream.
void PackBits(Bytes& out, const std::vector<uint32_t>& values, int bits) {
  const size_t start = out.size();
  out.resize(start + (values.size() * bits + 7) / 8, 0);
  size_t bit = 0;
  for (uint32_t v : values) {
    for (int i = 0; i < bits; ++i, ++bit) {
      if ((v >> i) & 1u) out[start + bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
}

class Reader {
 public:
  explicit Reader(Bytes data) : data_(std::move(data)) {}
  bool Has(size_t n) const { return pos_ + n <= data_.size(); }
  uint8_t U8() {
    Need(1);
    return data_[pos_++];
  }
  uint32_t U32() {
    Need(4);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{data_[pos_++]} << (8 * i);
    return v;
  }
  float F32() {
    uint32_t v = U32();
    float f;
    std::memcpy(&f, &v, 4);
    return f;
  }
  std::string Str(size_t n) {
    Need(n);
    std::string s(reinterpret_cast<const char*>(&data_[pos_]), n);
    pos_ += n;
    return s;
  }
  std::vector<uint32_t> Bits(size_t count, int bits) {
    const size_t nbytes = (count * bits + 7) / 8;
    Need(nbytes);
    std::vector<uint32_t> out(count, 0);
    size_t bit = 0;
    for (size_t k = 0; k < count; ++k) {
      for (int i = 0; i < bits; ++i, ++bit) {
        if ((data_[pos_ + bit / 8] >> (bit % 8)) & 1u) out[k] |= 1u << i;
      }
    }
    pos_ += nbytes;
    return out;
  }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  void Need(size_t n) const {
    if (!Has(n)) throw std::runtime_error("artifact truncated");
  }
  Bytes data_;
  size_t pos_ = 0;
};

// Encodes the positions of nonzeros, choosing bitmask or the best gap width.
void PutPositions(Bytes& out, const std::vector<int64_t>& nz, int64_t numel) {
  int best_g = 0;
  size_t best_bytes = static_cast<size_t>((numel + 7) / 8);
  std::vector<uint32_t> best_entries;
  for (int g = 1; g <= 8; ++g) {
    const uint32_t escape = (1u << g) - 1;
    std::vector<uint32_t> entries;
    int64_t prev = -1;
    for (int64_t p : nz) {
      int64_t gap = p - prev - 1;
      while (gap >= escape) {
        entries.push_back(escape);
        gap -= escape;
      }
      entries.push_back(static_cast<uint32_t>(gap));
      prev = p;
    }
    const size_t bytes = 4 + (entries.size() * g + 7) / 8;
    if (bytes < best_bytes) {
      best_bytes = bytes;
      best_g = g;
      best_entries = std::move(entries);
    }
  }
  PutU32(out, static_cast<uint32_t>(nz.size()));
  PutU8(out, static_cast<uint8_t>(best_g));
  if (best_g == 0) {
    std::vector<uint32_t> bits(numel, 0);
    for (int64_t p : nz) bits[p] = 1;
    PackBits(out, bits, 1);
  } else {
    PutU32(out, static_cast<uint32_t>(best_entries.size()));
    PackBits(out, best_entries, best_g);
  }
}

std::vector<int64_t> GetPositions(Reader& r, int64_t numel) {
  const uint32_t nnz = r.U32();
  const int g = r.U8();
  std::vector<int64_t> nz;
  nz.reserve(nnz);
  if (g == 0) {
    std::vector<uint32_t> bits = r.Bits(numel, 1);
    for (int64_t i = 0; i < numel; ++i) {
      if (bits[i]) nz.push_back(i);
    }
  } else {
    if (g > 8) throw std::runtime_error("bad index width");
    const uint32_t escape = (1u << g) - 1;
    const uint32_t count = r.U32();
    int64_t pos = -1;
    for (uint32_t e : r.Bits(count, g)) {
      if (e == escape) {
        pos += escape;
      } else {
        pos += e + 1;
        nz.push_back(pos);
      }
    }
  }
  if (nz.size() != nnz) throw std::runtime_error("position count mismatch");
  for (int64_t p : nz) {
    if (p < 0 || p >= numel) throw std::runtime_error("position out of range");
  }
  return nz;
}

std::vector<int64_t> NonzeroPositions(const torch::Tensor& t) {
  torch::Tensor idx = t.flatten().nonzero().flatten().to(torch::kInt64).contiguous();
  return std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
}

// Bytes of positions as PutPositions would write them (cheapest form).
size_t PositionBytes(const std::vector<int64_t>& nz, int64_t numel) {
  Bytes tmp;
  PutPositions(tmp, nz, numel);
  return tmp.size();
}

uint8_t SchemeCode(const QuantizedTensor& q) {
  if (q.scheme == "linear") return q.symmetric ? 0 : 1;
  return q.scheme == "log2" ? 2 : 3;
}

void PutFloatTensor(Bytes& out, const torch::Tensor& t) {
  torch::Tensor v = t.detach().to(torch::kCPU, torch::kFloat32).contiguous().flatten();
  const float* p = v.data_ptr<float>();
  const int64_t n = v.numel();
  std::vector<int64_t> nz = NonzeroPositions(v);
  const size_t dense = 4 * n;
  const size_t sparse =
      nz.size() < static_cast<size_t>(n) ? PositionBytes(nz, n) + 4 * nz.size() : dense + 1;
  if (sparse < dense) {
    PutU8(out, kSparse);
    PutPositions(out, nz, n);
    for (int64_t i : nz) PutF32(out, p[i]);
  } else {
    PutU8(out, kDense);
    for (int64_t i = 0; i < n; ++i) PutF32(out, p[i]);
  }
}

void PutQuantTensor(Bytes& out, const QuantizedTensor& q) {
  torch::Tensor deq = Dequantize(q).cpu().flatten();
  torch::Tensor field = q.ToField().cpu().to(torch::kInt32).contiguous().flatten();
  const int32_t* f = field.data_ptr<int32_t>();
  const int64_t n = field.numel();
  std::vector<int64_t> nz = NonzeroPositions(deq);
  const size_t dense = (n * q.bits + 7) / 8;
  const size_t sparse = nz.size() < static_cast<size_t>(n)
                            ? PositionBytes(nz, n) + (nz.size() * q.bits + 7) / 8
                            : dense + 1;
  const bool use_sparse = sparse < dense;
  PutU8(out, use_sparse ? kQSparse : kQDense);
  PutU8(out, SchemeCode(q));
  PutU8(out, static_cast<uint8_t>(q.bits));
  PutU8(out, q.per_channel ? 1 : 0);
  const int64_t c = q.channels();
  if (q.scheme == "linear") {
    torch::Tensor s = q.scale.cpu().to(torch::kFloat32).contiguous();
    for (int64_t i = 0; i < c; ++i) PutF32(out, s.data_ptr<float>()[i]);
    if (!q.symmetric) {
      torch::Tensor z = q.zero_point.cpu().to(torch::kInt32).contiguous();
      for (int64_t i = 0; i < c; ++i) PutU8(out, static_cast<uint8_t>(z.data_ptr<int32_t>()[i]));
    }
  } else {
    torch::Tensor e = q.exponent.cpu().to(torch::kInt32).contiguous();
    for (int64_t i = 0; i < c; ++i) {
      PutU8(out, static_cast<uint8_t>(static_cast<int8_t>(e.data_ptr<int32_t>()[i])));
    }
  }
  std::vector<uint32_t> values;
  if (use_sparse) {
    PutPositions(out, nz, n);
    for (int64_t i : nz) values.push_back(static_cast<uint32_t>(f[i]));
  } else {
    values.assign(f, f + n);
  }
  PackBits(out, values, q.bits);
}

// Stores only the arch name when the spec is an unmodified zoo architecture.
nlohmann::json CompactSpec(const nlohmann::json& spec) {
  if (spec.contains("arch")) {
    auto zoo = ArchSpec(spec.at("arch").get<std::string>());
    if (zoo.ok() && *zoo == spec) return {{"arch", spec.at("arch")}};
  }
  return spec;
}

}  // namespace

Result<ArtifactInfo> WriteArtifact(Model& model, const QuantizedWeights& quantized,
                                   const std::string& path, const nlohmann::json& deploy) {
  Bytes out;
  ArtifactInfo info;
  try {
    out.insert(out.end(), {'C', 'S', 'A', '1'});
    nlohmann::json spec_json = CompactSpec(model.Spec());
    if (deploy.is_object() && !deploy.empty()) spec_json["deploy"] = deploy;
    const std::string spec = spec_json.dump();
    PutU32(out, static_cast<uint32_t>(spec.size()));
    out.insert(out.end(), spec.begin(), spec.end());
    NamedTensors tensors = model.NamedParameters();
    for (auto& b : model.NamedBuffers()) tensors.push_back(b);
    PutU32(out, static_cast<uint32_t>(tensors.size()));
    info.header_bytes = static_cast<int64_t>(out.size());
    for (auto& [name, t] : tensors) {
      if (auto it = quantized.find(name); it != quantized.end()) {
        PutQuantTensor(out, it->second);
      } else if (!t.is_floating_point()) {
        PutU8(out, kOmitted);
      } else {
        PutFloatTensor(out, t);
      }
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("encoding artifact: ") + e.what_without_backtrace());
  }
  RETURN_IF_ERROR(WriteFileAtomically(
      path, std::string(reinterpret_cast<const char*>(out.data()), out.size())));
  info.bytes = static_cast<int64_t>(out.size());
  return info;
}

Result<std::unique_ptr<Model>> ReadArtifact(const std::string& path, QuantizedWeights* quantized,
                                            nlohmann::json* deploy) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open artifact " + path);
  Bytes data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  try {
    Reader r(std::move(data));
    if (r.Str(4) != "CSA1") return InvalidArgument(path + ": not a compsweep artifact");
    const uint32_t spec_len = r.U32();
    nlohmann::json spec = nlohmann::json::parse(r.Str(spec_len));
    if (!spec.is_object()) return InvalidArgument(path + ": the spec is not a JSON object");
    if (deploy != nullptr) *deploy = spec.value("deploy", nlohmann::json::object());
    spec.erase("deploy");
    if (spec.size() == 1 && spec.contains("arch")) {
      ASSIGN_OR_RETURN(spec, ArchSpec(spec.at("arch").get<std::string>()));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model, BuildModel(spec, 0));
    model->To(torch::kCPU);
    NamedTensors tensors = model->NamedParameters();
    for (auto& b : model->NamedBuffers()) tensors.push_back(b);
    if (r.U32() != tensors.size()) return InvalidArgument(path + ": tensor count mismatch");
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : tensors) {
      const int64_t n = t.numel();
      const uint8_t kind = r.U8();
      if (kind == kOmitted) {
        t.zero_();
      } else if (kind == kDense || kind == kSparse) {
        std::vector<float> values(n, 0.0f);
        if (kind == kDense) {
          for (int64_t i = 0; i < n; ++i) values[i] = r.F32();
        } else {
          for (int64_t i : GetPositions(r, n)) values[i] = r.F32();
        }
        t.copy_(torch::from_blob(values.data(), t.sizes(), torch::kFloat32));
      } else if (kind == kQDense || kind == kQSparse) {
        QuantizedTensor q;
        const uint8_t scheme = r.U8();
        if (scheme > 3) return InvalidArgument(path + ": bad quantization scheme");
        q.scheme = scheme <= 1 ? "linear" : (scheme == 2 ? "log2" : "pow2");
        q.symmetric = scheme != 1;
        q.bits = r.U8();
        if (q.bits < 2 || q.bits > 8) return InvalidArgument(path + ": bad bit width");
        q.per_channel = r.U8() != 0;
        const int64_t c = q.per_channel ? t.size(0) : 1;
        if (q.scheme == "linear") {
          std::vector<float> s(c);
          for (auto& v : s) v = r.F32();
          q.scale = torch::from_blob(s.data(), {c}, torch::kFloat32).clone();
          std::vector<int32_t> z(c, 0);
          if (!q.symmetric) {
            for (auto& v : z) v = r.U8();
          }
          q.zero_point = torch::from_blob(z.data(), {c}, torch::kInt32).clone();
        } else {
          std::vector<int32_t> e(c);
          for (auto& v : e) v = static_cast<int8_t>(r.U8());
          q.exponent = torch::from_blob(e.data(), {c}, torch::kInt32).clone();
        }
        // Fields of zero-valued positions: the field of code 0, or of the
        // zero point in the affine case.
        QuantizedTensor zero_ref = q;
        std::vector<int32_t> fields(n);
        if (kind == kQDense) {
          std::vector<uint32_t> v = r.Bits(n, q.bits);
          for (int64_t i = 0; i < n; ++i) fields[i] = static_cast<int32_t>(v[i]);
        } else {
          // Codes that dequantize to zero: 0, or the channel's zero point.
          torch::Tensor zero_codes;
          if (q.scheme == "linear" && !q.symmetric) {
            std::vector<int64_t> shape(t.dim(), 1);
            shape[0] = c;
            zero_codes = q.zero_point.reshape(shape).expand(t.sizes()).contiguous();
          } else {
            zero_codes = torch::zeros(t.sizes(), torch::kInt32);
          }
          zero_ref.codes = zero_codes;
          torch::Tensor zf = zero_ref.ToField().to(torch::kInt32).contiguous().flatten();
          std::memcpy(fields.data(), zf.data_ptr<int32_t>(), n * sizeof(int32_t));
          std::vector<int64_t> nz = GetPositions(r, n);
          std::vector<uint32_t> v = r.Bits(nz.size(), q.bits);
          for (size_t k = 0; k < nz.size(); ++k) fields[nz[k]] = static_cast<int32_t>(v[k]);
        }
        torch::Tensor field = torch::from_blob(fields.data(), t.sizes(), torch::kInt32).clone();
        q.codes = q.FromField(field);
        t.copy_(Dequantize(q));
        if (quantized != nullptr) quantized->emplace(name, std::move(q));
      } else {
        return InvalidArgument(path + ": bad tensor kind");
      }
    }
    if (!r.AtEnd()) return InvalidArgument(path + ": trailing bytes");
    return model;
  } catch (const c10::Error& e) {
    return InvalidArgument(path + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InvalidArgument(path + ": " + e.what());
  }
}

}  // namespace compsweep::experiments
