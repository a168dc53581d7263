// Reads NumPy arrays without LibTorch: .npy files (numpy.save, format versions
// 1-3) and members of .npz archives (numpy.savez: stored; savez_compressed:
// deflate), for the CLI's checks before launch and for the experiments' loader.
// Supported: little-endian float32 ('<f4'), uint8 ('|u1') and int64 ('<i8') in
// C order; anything else is an error naming what was found. Thread-safety:
// pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace compsweep::npy {

// Never renumbered: also the index of the element size in ItemSize().
enum class DType { kFloat32, kUInt8, kInt64 };

const char* DTypeName(DType dtype);  // "float32", "uint8", "int64"
size_t ItemSize(DType dtype);

struct Header {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // () is a scalar
  size_t data_offset = 0;      // bytes from the start of the .npy to the data
  int64_t NumElements() const;
  std::string ShapeString() const;  // "(60000, 28, 28)"
};

struct Array {
  Header header;
  std::vector<unsigned char> data;  // NumElements() * ItemSize() bytes, little-endian
};

// Parses the header at the start of `bytes` (the whole file, or its start);
// `name` is used in messages.
Result<Header> ParseHeader(const std::string& bytes, const std::string& name);

// A whole .npy file; the data must be exactly as long as the header says.
Result<Array> ReadNpy(const std::string& path);
// Only the header, with the file size checked against it.
Result<Header> ReadNpyHeader(const std::string& path);

// The array names of a .npz (member names without ".npy"), in archive order.
Result<std::vector<std::string>> ListNpz(const std::string& path);
// One array of a .npz.
Result<Array> ReadNpzArray(const std::string& path, const std::string& name);
// Only the header of one array of a .npz (inflates only its start), with the
// member's size checked against it.
Result<Header> ReadNpzHeader(const std::string& path, const std::string& name);

// Writes a .npy (format 1.0, C order) as numpy.save does: for fixtures, tests
// and tools. `data` holds NumElements * ItemSize bytes, little-endian.
Status WriteNpy(const std::string& path, DType dtype, const std::vector<int64_t>& shape,
                const void* data);

// Smallest and largest value of an integer array (uint8, int64); an error for
// float32 (labels must be integers) or an empty array.
Result<std::pair<int64_t, int64_t>> IntegerRange(const Array& array, const std::string& name);

}  // namespace compsweep::npy
