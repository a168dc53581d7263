#include "common/curve_keys.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace compsweep {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CurveKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("compsweep-keys-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(CurveKeysTest, WrittenPairReadsBackAndTheSecretStaysPrivate) {
  ASSERT_TRUE(CurveAvailable());
  auto keys = GenerateCurveKeyPair();
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->public_key.size(), 40u);
  ASSERT_TRUE(WriteCurveKeyPair(Path("worker"), *keys).ok());
  auto secret = ReadCurveSecretKey(Path("worker.key"));
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->secret_key, keys->secret_key);
  EXPECT_EQ(secret->public_key, keys->public_key) << "public key derived from the secret";
  auto pub = ReadCurvePublicKey(Path("worker.pub"));
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, keys->public_key);
  const auto perms = fs::status(Path("worker.key")).permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  // Never overwritten.
  Status again = WriteCurveKeyPair(Path("worker"), *GenerateCurveKeyPair());
  EXPECT_FALSE(again.ok());
  EXPECT_THAT(again.message(), HasSubstr("not overwriting"));
  EXPECT_EQ(ReadCurveSecretKey(Path("worker.key"))->secret_key, keys->secret_key);
}

TEST_F(CurveKeysTest, BadFilesAreNamedInTheError) {
  std::ofstream(Path("short.pub")) << "# comment\nabc\n";
  auto r = ReadCurvePublicKey(Path("short.pub"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("short.pub"));
  EXPECT_THAT(r.status().message(), HasSubstr("40 Z85 characters"));
  std::ofstream(Path("empty.key")) << "# nothing\n\n";
  EXPECT_THAT(ReadCurveSecretKey(Path("empty.key")).status().message(), HasSubstr("no key"));
  EXPECT_EQ(ReadCurveSecretKey(Path("missing.key")).status().code(), StatusCode::kNotFound);
  // 40 characters that are not Z85 (space is not in the alphabet).
  std::ofstream(Path("bad.pub")) << std::string(39, 'a') + "~\n";
  EXPECT_FALSE(ReadCurvePublicKey(Path("bad.pub")).ok());
}

TEST_F(CurveKeysTest, ClientsFolderHoldsEveryPublicKeyAndMustNotBeEmpty) {
  fs::create_directories(Path("clients"));
  EXPECT_THAT(ReadCurveClientKeys(Path("clients")).status().message(), HasSubstr("no worker"));
  auto a = *GenerateCurveKeyPair();
  auto b = *GenerateCurveKeyPair();
  ASSERT_TRUE(WriteCurveKeyPair(Path("clients/a"), a).ok());
  ASSERT_TRUE(WriteCurveKeyPair(Path("clients/b"), b).ok());
  auto keys = ReadCurveClientKeys(Path("clients"));
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::set<std::string>{a.public_key, b.public_key}))
      << "the .key files in the folder are not read as clients";
  auto one = ReadCurveClientKeys(Path("clients/a.pub"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

}  // namespace
}  // namespace compsweep
