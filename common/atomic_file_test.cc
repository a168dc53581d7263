#include "common/atomic_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

namespace compsweep {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFileTest, WritesReplacesAndLeavesNoTemporaryFiles) {
  const fs::path dir = fs::temp_directory_path() / ("compsweep-atomic-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "f.bin").string();
  ASSERT_TRUE(WriteFileAtomically(path, std::string("a\0b", 3)).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(AtomicFileTest, FailureNamesThePathAndLeavesNothing) {
  const fs::path dir =
      fs::temp_directory_path() / ("compsweep-atomic-x-" + std::to_string(getpid()));
  fs::remove_all(dir);
  const Status st = WriteFileAtomically((dir / "missing" / "f").string(), "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kIo);
  EXPECT_NE(st.message().find("missing/f"), std::string::npos) << st.message();
  EXPECT_FALSE(IsDiskFull(st));
  EXPECT_TRUE(IsDiskFull(IoError("writing x: disk full")));
}

}  // namespace
}  // namespace compsweep
