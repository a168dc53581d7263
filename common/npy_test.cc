// The torch-free NumPy reader: files written by numpy (common/testdata, made by
// make_npy_fixtures.py), and damaged copies of them.
#include "common/npy.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace compsweep::npy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  const char* root = std::getenv("COMPSWEEP_SOURCE_DIR");
  return std::string(root ? root : ".") + "/common/testdata/" + name;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("npy_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(NpyTest, ReadsFloat32WrittenByNumpySave) {
  auto a = ReadNpy(Fixture("f32_2x3x4.npy"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->header.dtype, DType::kFloat32);
  EXPECT_THAT(a->header.shape, ElementsAre(2, 3, 4));
  ASSERT_EQ(a->data.size(), 24u * 4);
  float v[24];
  std::memcpy(v, a->data.data(), sizeof(v));
  EXPECT_FLOAT_EQ(v[0], 0.0f);
  EXPECT_FLOAT_EQ(v[23], 2.3f);
  EXPECT_EQ(a->header.ShapeString(), "(2, 3, 4)");
  // Format version 2 (4-byte header length) holds the same array.
  auto v2 = ReadNpy(Fixture("f32_v2.npy"));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->data, a->data);
}

TEST_F(NpyTest, ReadsUint8AndInt64AndTheirRange) {
  auto u8 = ReadNpy(Fixture("u8_5.npy"));
  ASSERT_TRUE(u8.ok()) << u8.status().ToString();
  EXPECT_EQ(u8->header.dtype, DType::kUInt8);
  EXPECT_EQ(u8->header.ShapeString(), "(5,)");
  auto r = IntegerRange(*u8, "u8");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 0);
  EXPECT_EQ(r->second, 255);
  auto i64 = ReadNpy(Fixture("i64_4.npy"));
  ASSERT_TRUE(i64.ok()) << i64.status().ToString();
  auto r64 = IntegerRange(*i64, "i64");
  ASSERT_TRUE(r64.ok());
  EXPECT_EQ(r64->first, -1);
  EXPECT_EQ(r64->second, 7);
  auto f = ReadNpy(Fixture("f32_2x3x4.npy"));
  EXPECT_THAT(IntegerRange(*f, "labels").status().message(), HasSubstr("labels must be integers"));
}

TEST_F(NpyTest, UnsupportedDtypesAndFortranOrderAreClearErrors) {
  EXPECT_THAT(
      ReadNpy(Fixture("f64_3.npy")).status().message(),
      HasSubstr("dtype '<f8' is not supported; save float32, uint8 or little-endian int64"));
  EXPECT_THAT(ReadNpyHeader(Fixture("f32_bigendian.npy")).status().message(),
              HasSubstr("'>f4' (big-endian) is not supported"));
  EXPECT_THAT(ReadNpy(Fixture("f32_fortran.npy")).status().message(),
              HasSubstr("Fortran order; save a C-ordered copy"));
}

TEST_F(NpyTest, TruncatedAndCorruptFilesAreRefused) {
  const std::string good = Slurp(Fixture("f32_2x3x4.npy"));
  const std::string cut = Write("cut.npy", good.substr(0, good.size() - 5));
  EXPECT_THAT(ReadNpy(cut).status().message(),
              HasSubstr("truncated: shape (2, 3, 4) of float32 needs 96 bytes of data, the file "
                        "has 91"));
  EXPECT_THAT(ReadNpyHeader(cut).status().message(), HasSubstr("truncated"));
  EXPECT_FALSE(ReadNpy(Write("long.npy", good + "xx")).ok());
  EXPECT_THAT(ReadNpy(Write("short.npy", good.substr(0, 30))).status().message(),
              HasSubstr("truncated .npy header"));
  std::string no_magic = good;
  no_magic[1] = 'X';
  EXPECT_THAT(ReadNpy(Write("magic.npy", no_magic)).status().message(),
              HasSubstr("not a .npy file"));
  std::string bad_dict = good;
  bad_dict.replace(bad_dict.find("'shape'"), 7, "'shapf'");
  EXPECT_THAT(ReadNpy(Write("dict.npy", bad_dict)).status().message(),
              HasSubstr("corrupt .npy header"));
  std::string bad_tuple = good;
  bad_tuple.replace(bad_tuple.find("(2, 3, 4)"), 9, "(2, x, 4)");
  EXPECT_THAT(ReadNpy(Write("tuple.npy", bad_tuple)).status().message(),
              HasSubstr("corrupt .npy header"));
  std::string version = good;
  version[6] = 9;
  EXPECT_THAT(ReadNpy(Write("version.npy", version)).status().message(),
              HasSubstr("format version 9 is not supported"));
  EXPECT_EQ(ReadNpy((dir_ / "absent.npy").string()).status().code(), StatusCode::kNotFound);
}

TEST_F(NpyTest, ReadsNpzStoredAndCompressed) {
  for (const char* name : {"stored.npz", "compressed.npz"}) {
    SCOPED_TRACE(name);
    auto names = ListNpz(Fixture(name));
    ASSERT_TRUE(names.ok()) << names.status().ToString();
    EXPECT_THAT(*names, ElementsAre("train_x", "train_y", "test_x", "test_y"));
    auto x = ReadNpzArray(Fixture(name), "train_x");
    ASSERT_TRUE(x.ok()) << x.status().ToString();
    EXPECT_THAT(x->header.shape, ElementsAre(6, 4));
    float last;
    std::memcpy(&last, x->data.data() + 23 * 4, 4);
    EXPECT_FLOAT_EQ(last, 23.0f);
    auto h = ReadNpzHeader(Fixture(name), "test_y");
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->dtype, DType::kInt64);
    EXPECT_THAT(h->shape, ElementsAre(2));
    EXPECT_THAT(ReadNpzArray(Fixture(name), "val_x").status().message(),
                HasSubstr("has no array 'val_x' (it has: train_x, train_y, test_x, test_y)"));
  }
}

TEST_F(NpyTest, CorruptNpzIsRefused) {
  const std::string good = Slurp(Fixture("compressed.npz"));
  EXPECT_THAT(ListNpz(Write("cut.npz", good.substr(0, good.size() / 2))).status().message(),
              HasSubstr("not a zip archive"));
  // Damage the deflate data of the first member (it starts after its 30-byte
  // local header, name and extra field).
  std::string damaged = good;
  for (size_t i = 60; i < 90; ++i) damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
  auto a = ReadNpzArray(Write("damaged.npz", damaged), "train_x");
  EXPECT_FALSE(a.ok());
  std::string stored = Slurp(Fixture("stored.npz"));
  const size_t data = stored.find("\x93NUMPY");
  ASSERT_NE(data, std::string::npos);
  stored[stored.size() > data + 200 ? data + 150 : data + 20] ^= 0x01;
  EXPECT_THAT(ReadNpzArray(Write("crc.npz", stored), "train_x").status().message(),
              HasSubstr("CRC mismatch"));
  EXPECT_THAT(ListNpz(Fixture("f32_2x3x4.npy")).status().message(), HasSubstr("not a zip archive"));
}

}  // namespace
}  // namespace compsweep::npy
