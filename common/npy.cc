#include "common/npy.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

namespace compsweep::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// Generous for any real header (numpy pads to 64 bytes; a shape of 32 dims fits).
constexpr size_t kMaxHeaderBytes = 1 << 16;

uint64_t LittleEndian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A cursor over the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class DictParser {
 public:
  explicit DictParser(const std::string& text) : s_(text) {}

  void SkipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool String(std::string* out) {
    SkipSpace();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) return false;
    const char quote = s_[i_++];
    const size_t end = s_.find(quote, i_);
    if (end == std::string::npos) return false;
    *out = s_.substr(i_, end - i_);
    i_ = end + 1;
    return true;
  }
  bool Word(std::string* out) {
    SkipSpace();
    size_t start = i_;
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
    *out = s_.substr(start, i_ - start);
    return !out->empty();
  }
  bool Tuple(std::vector<int64_t>* out) {
    if (!Eat('(')) return false;
    while (true) {
      if (Eat(')')) return true;
      SkipSpace();
      size_t start = i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      if (start == i_ || i_ - start > 18) return false;
      out->push_back(std::stoll(s_.substr(start, i_ - start)));
      if (!Eat(',')) return Eat(')');
    }
  }

 private:
  const std::string& s_;
  size_t i_ = 0;
};

Result<DType> ParseDescr(const std::string& descr, const std::string& name) {
  if (descr == "<f4") return DType::kFloat32;
  if (descr == "|u1" || descr == "<u1" || descr == "u1") return DType::kUInt8;
  if (descr == "<i8") return DType::kInt64;
  std::string what = "'" + descr + "'";
  if (descr.size() >= 2 && descr[0] == '>') what += " (big-endian)";
  return InvalidArgument(name + ": dtype " + what +
                         " is not supported; save float32, uint8 or little-endian int64 "
                         "(e.g. numpy.save(f, x.astype('<f4')))");
}

int64_t CheckedProduct(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

Result<std::string> ReadFileRange(const std::string& path, uint64_t offset, uint64_t size) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open " + path);
  f.seekg(static_cast<std::streamoff>(offset));
  std::string out(size, '\0');
  f.read(out.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(f.gcount()) != size) {
    return InvalidArgument(path + ": truncated (wanted " + std::to_string(size) + " bytes at " +
                           std::to_string(offset) + ")");
  }
  return out;
}

Result<uint64_t> FileSize(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return NotFound("cannot open " + path);
  return static_cast<uint64_t>(f.tellg());
}

Status CheckDataSize(const Header& h, uint64_t available, const std::string& name) {
  const uint64_t want = static_cast<uint64_t>(h.NumElements()) * ItemSize(h.dtype);
  if (available != want) {
    return InvalidArgument(name + ": " + (available < want ? "truncated: " : "") + "shape " +
                           h.ShapeString() + " of " + DTypeName(h.dtype) + " needs " +
                           std::to_string(want) + " bytes of data, the file has " +
                           std::to_string(available));
  }
  return Status::Ok();
}

// One member of a zip archive, from its central directory.
struct ZipEntry {
  std::string name;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
};

Result<std::vector<ZipEntry>> ReadCentralDirectory(const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
  const uint64_t tail_size = std::min<uint64_t>(size, 22 + 65535);
  ASSIGN_OR_RETURN(std::string tail, ReadFileRange(path, size - tail_size, tail_size));
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_size) - 22; i >= 0; --i) {
    if (LittleEndian(t + i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return InvalidArgument(path + ": not a zip archive (.npz)");
  uint64_t count = LittleEndian(t + eocd + 10, 2);
  uint64_t cd_size = LittleEndian(t + eocd + 12, 4);
  uint64_t cd_offset = LittleEndian(t + eocd + 16, 4);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    // Zip64: the locator sits just before the end record.
    if (eocd < 20 || LittleEndian(t + eocd - 20, 4) != 0x07064b50) {
      return InvalidArgument(path + ": zip64 archive without its locator");
    }
    const uint64_t z64 = LittleEndian(t + eocd - 20 + 8, 8);
    ASSIGN_OR_RETURN(std::string rec, ReadFileRange(path, z64, 56));
    const auto* r = reinterpret_cast<const unsigned char*>(rec.data());
    if (LittleEndian(r, 4) != 0x06064b50) return InvalidArgument(path + ": bad zip64 end record");
    count = LittleEndian(r + 32, 8);
    cd_size = LittleEndian(r + 40, 8);
    cd_offset = LittleEndian(r + 48, 8);
  }
  if (cd_offset > size || cd_size > size - cd_offset) {
    return InvalidArgument(path + ": zip central directory lies outside the file");
  }
  ASSIGN_OR_RETURN(std::string cd, ReadFileRange(path, cd_offset, cd_size));
  const auto* c = reinterpret_cast<const unsigned char*>(cd.data());
  std::vector<ZipEntry> entries;
  size_t pos = 0;
  for (uint64_t n = 0; n < count; ++n) {
    if (pos + 46 > cd.size() || LittleEndian(c + pos, 4) != 0x02014b50) {
      return InvalidArgument(path + ": corrupt zip central directory");
    }
    ZipEntry e;
    e.method = static_cast<uint16_t>(LittleEndian(c + pos + 10, 2));
    e.crc = static_cast<uint32_t>(LittleEndian(c + pos + 16, 4));
    e.compressed = LittleEndian(c + pos + 20, 4);
    e.uncompressed = LittleEndian(c + pos + 24, 4);
    const size_t name_len = LittleEndian(c + pos + 28, 2);
    const size_t extra_len = LittleEndian(c + pos + 30, 2);
    const size_t comment_len = LittleEndian(c + pos + 32, 2);
    e.local_offset = LittleEndian(c + pos + 42, 4);
    if (pos + 46 + name_len + extra_len + comment_len > cd.size()) {
      return InvalidArgument(path + ": corrupt zip central directory");
    }
    e.name = cd.substr(pos + 46, name_len);
    // Zip64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF.
    for (size_t x = pos + 46 + name_len; x + 4 <= pos + 46 + name_len + extra_len;) {
      const uint64_t id = LittleEndian(c + x, 2);
      const size_t len = LittleEndian(c + x + 2, 2);
      size_t f = x + 4;
      const size_t end = std::min(f + len, pos + 46 + name_len + extra_len);
      if (id == 0x0001) {
        for (uint64_t* field : {&e.uncompressed, &e.compressed, &e.local_offset}) {
          if (*field == 0xFFFFFFFF && f + 8 <= end) {
            *field = LittleEndian(c + f, 8);
            f += 8;
          }
        }
      }
      x += 4 + len;
    }
    entries.push_back(std::move(e));
    pos += 46 + name_len + extra_len + comment_len;
  }
  return entries;
}

Result<ZipEntry> FindMember(const std::string& path, const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<ZipEntry> entries, ReadCentralDirectory(path));
  std::vector<std::string> names;
  for (const ZipEntry& e : entries) {
    if (e.name == name + ".npy") return e;
    names.push_back(e.name.size() > 4 ? e.name.substr(0, e.name.size() - 4) : e.name);
  }
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  return NotFound(path + " has no array '" + name + "' (it has: " + list + ")");
}

// The first `limit` bytes (all when limit is 0) of a member, decompressed.
Result<std::string> ReadMember(const std::string& path, const ZipEntry& e, uint64_t limit) {
  ASSIGN_OR_RETURN(std::string local, ReadFileRange(path, e.local_offset, 30));
  const auto* l = reinterpret_cast<const unsigned char*>(local.data());
  if (LittleEndian(l, 4) != 0x04034b50) {
    return InvalidArgument(path + ": corrupt zip member header of " + e.name);
  }
  const uint64_t data_start =
      e.local_offset + 30 + LittleEndian(l + 26, 2) + LittleEndian(l + 28, 2);
  const bool whole = limit == 0 || limit >= e.uncompressed;
  const std::string where = path + "[" + e.name + "]";
  if (e.method == 0) {
    if (e.compressed != e.uncompressed) return InvalidArgument(where + ": corrupt sizes");
    ASSIGN_OR_RETURN(std::string out,
                     ReadFileRange(path, data_start, whole ? e.uncompressed : limit));
    if (whole && crc32(0, reinterpret_cast<const Bytef*>(out.data()), out.size()) != e.crc) {
      return InvalidArgument(where + ": CRC mismatch (corrupt archive)");
    }
    return out;
  }
  if (e.method != 8) {
    return InvalidArgument(where + ": zip compression method " + std::to_string(e.method) +
                           " is not supported (numpy.savez and savez_compressed are)");
  }
  ASSIGN_OR_RETURN(std::string in, ReadFileRange(path, data_start, e.compressed));
  std::string out(whole ? e.uncompressed : limit, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return Internal("inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(std::min<uint64_t>(in.size(), UINT32_MAX));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  size_t produced = 0;
  int rc = Z_OK;
  while (produced < out.size() && rc != Z_STREAM_END) {
    z.avail_out = static_cast<uInt>(std::min<uint64_t>(out.size() - produced, UINT32_MAX));
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    rc = inflate(&z, Z_NO_FLUSH);
    produced = z.total_out;
    if (rc != Z_OK && rc != Z_STREAM_END) break;
  }
  inflateEnd(&z);
  if (rc != Z_OK && rc != Z_STREAM_END) return InvalidArgument(where + ": corrupt deflate data");
  if (produced != out.size()) return InvalidArgument(where + ": truncated deflate data");
  if (whole && crc32(0, reinterpret_cast<const Bytef*>(out.data()), out.size()) != e.crc) {
    return InvalidArgument(where + ": CRC mismatch (corrupt archive)");
  }
  return out;
}

Result<Array> ArrayFromBytes(const std::string& bytes, const std::string& name) {
  ASSIGN_OR_RETURN(Header h, ParseHeader(bytes, name));
  RETURN_IF_ERROR(CheckDataSize(h, bytes.size() - std::min(bytes.size(), h.data_offset), name));
  Array a;
  a.header = h;
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(h.data_offset), bytes.end());
  return a;
}

}  // namespace

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kUInt8:
      return "uint8";
    case DType::kInt64:
      return "int64";
  }
  return "?";
}

size_t ItemSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kUInt8:
      return 1;
    case DType::kInt64:
      return 8;
  }
  return 1;
}

int64_t Header::NumElements() const { return CheckedProduct(shape); }

std::string Header::ShapeString() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

Result<Header> ParseHeader(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 10 || bytes.compare(0, kMagicSize, kMagic) != 0) {
    return InvalidArgument(name + ": not a .npy file (no \\x93NUMPY magic)");
  }
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const int major = b[6];
  size_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = LittleEndian(b + 8, 2);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidArgument(name + ": truncated .npy header");
    header_len = LittleEndian(b + 8, 4);
    prefix = 12;
  } else {
    return InvalidArgument(name + ": .npy format version " + std::to_string(major) +
                           " is not supported (1-3 are)");
  }
  if (header_len > kMaxHeaderBytes) return InvalidArgument(name + ": .npy header too long");
  if (bytes.size() < prefix + header_len) return InvalidArgument(name + ": truncated .npy header");
  const std::string text = bytes.substr(prefix, header_len);
  DictParser p(text);
  std::string descr;
  std::optional<bool> fortran;
  std::optional<std::vector<int64_t>> shape;
  const Status bad = InvalidArgument(name + ": corrupt .npy header '" + text.substr(0, 120) + "'");
  if (!p.Eat('{')) return bad;
  while (!p.Eat('}')) {
    std::string key;
    if (!p.String(&key) || !p.Eat(':')) return bad;
    if (key == "descr") {
      if (!p.String(&descr)) {
        return InvalidArgument(name + ": structured dtypes are not supported (plain arrays are)");
      }
    } else if (key == "fortran_order") {
      std::string word;
      if (!p.Word(&word) || (word != "True" && word != "False")) return bad;
      fortran = word == "True";
    } else if (key == "shape") {
      std::vector<int64_t> dims;
      if (!p.Tuple(&dims)) return bad;
      shape = dims;
    } else {
      return bad;
    }
    if (!p.Eat(',')) {
      if (!p.Eat('}')) return bad;
      break;
    }
  }
  if (descr.empty() || !fortran || !shape) return bad;
  ASSIGN_OR_RETURN(DType dtype, ParseDescr(descr, name));
  if (*fortran) {
    return InvalidArgument(name +
                           ": the array is in Fortran order; save a C-ordered copy "
                           "(numpy.save(f, numpy.ascontiguousarray(x)))");
  }
  Header h;
  h.dtype = dtype;
  h.shape = *shape;
  h.data_offset = prefix + header_len;
  if (h.NumElements() < 0 ||
      static_cast<uint64_t>(h.NumElements()) > std::numeric_limits<uint64_t>::max() / 8) {
    return InvalidArgument(name + ": shape " + h.ShapeString() + " is too large");
  }
  return h;
}

Result<Array> ReadNpy(const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
  ASSIGN_OR_RETURN(std::string bytes, ReadFileRange(path, 0, size));
  return ArrayFromBytes(bytes, path);
}

Result<Header> ReadNpyHeader(const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
  ASSIGN_OR_RETURN(std::string start,
                   ReadFileRange(path, 0, std::min<uint64_t>(size, kMaxHeaderBytes + 12)));
  ASSIGN_OR_RETURN(Header h, ParseHeader(start, path));
  RETURN_IF_ERROR(CheckDataSize(h, size - std::min<uint64_t>(size, h.data_offset), path));
  return h;
}

Result<std::vector<std::string>> ListNpz(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<ZipEntry> entries, ReadCentralDirectory(path));
  std::vector<std::string> names;
  for (const ZipEntry& e : entries) {
    if (e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, ".npy") == 0) {
      names.push_back(e.name.substr(0, e.name.size() - 4));
    }
  }
  return names;
}

Result<Array> ReadNpzArray(const std::string& path, const std::string& name) {
  ASSIGN_OR_RETURN(ZipEntry e, FindMember(path, name));
  ASSIGN_OR_RETURN(std::string bytes, ReadMember(path, e, 0));
  return ArrayFromBytes(bytes, path + "[" + name + "]");
}

Result<Header> ReadNpzHeader(const std::string& path, const std::string& name) {
  ASSIGN_OR_RETURN(ZipEntry e, FindMember(path, name));
  ASSIGN_OR_RETURN(std::string start, ReadMember(path, e, kMaxHeaderBytes + 12));
  const std::string where = path + "[" + name + "]";
  ASSIGN_OR_RETURN(Header h, ParseHeader(start, where));
  RETURN_IF_ERROR(
      CheckDataSize(h, e.uncompressed - std::min<uint64_t>(e.uncompressed, h.data_offset), where));
  return h;
}

Status WriteNpy(const std::string& path, DType dtype, const std::vector<int64_t>& shape,
                const void* data) {
  Header h;
  h.dtype = dtype;
  h.shape = shape;
  const char* descr = dtype == DType::kFloat32 ? "<f4" : dtype == DType::kUInt8 ? "|u1" : "<i8";
  std::string text = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': " + h.ShapeString() + ", }";
  // numpy pads the header with spaces so the data starts at a multiple of 64.
  while ((10 + text.size() + 1) % 64 != 0) text += ' ';
  text += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(text.size() & 0xFF);
  out += static_cast<char>((text.size() >> 8) & 0xFF);
  out += text;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  f.write(static_cast<const char*>(data),
          static_cast<std::streamsize>(h.NumElements() * static_cast<int64_t>(ItemSize(dtype))));
  if (!f) return IoError("cannot write " + path);
  return Status::Ok();
}

Result<std::pair<int64_t, int64_t>> IntegerRange(const Array& array, const std::string& name) {
  const int64_t n = array.header.NumElements();
  if (array.header.dtype == DType::kFloat32) {
    return InvalidArgument(name + ": labels must be integers (uint8 or int64), got float32");
  }
  if (n <= 0) return InvalidArgument(name + ": no labels");
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  for (int64_t i = 0; i < n; ++i) {
    int64_t v;
    if (array.header.dtype == DType::kUInt8) {
      v = array.data[static_cast<size_t>(i)];
    } else {
      v = static_cast<int64_t>(LittleEndian(&array.data[static_cast<size_t>(i) * 8], 8));
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return std::make_pair(lo, hi);
}

}  // namespace compsweep::npy
