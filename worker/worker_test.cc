#include "worker/worker.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace compsweep::worker {
namespace {

namespace fs = std::filesystem;

// A fake nvidia-smi (a unit test of the parsing and the index mapping; the real
// one needs a GPU) that names the GPU after the -i argument it was given.
class DeviceInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("compsweep-devinfo-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "nvidia-smi") << "#!/bin/sh\nfor a; do last=$a; done\n"
                                          "echo \"Fake GPU $last, 81920\"\n";
    fs::permissions(dir_ / "nvidia-smi", fs::perms::owner_all);
    const char* path = std::getenv("PATH");
    old_path_ = path ? path : "";
    setenv("PATH", (dir_.string() + ":" + old_path_).c_str(), 1);
  }
  void TearDown() override {
    setenv("PATH", old_path_.c_str(), 1);
    unsetenv("CUDA_VISIBLE_DEVICES");
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::string old_path_;
};

TEST_F(DeviceInfoTest, GpuNameAndMemoryThroughCudaVisibleDevices) {
  unsetenv("CUDA_VISIBLE_DEVICES");
  nlohmann::json info = DeviceInfo("cuda");
  EXPECT_EQ(info["name"], "Fake GPU 0");
  EXPECT_EQ(info["memory_mb"], 81920);
  EXPECT_EQ(DeviceInfo("cuda:2")["name"], "Fake GPU 2");
  // CUDA's device 1 is the second visible one, whatever its physical index or UUID.
  setenv("CUDA_VISIBLE_DEVICES", "3,GPU-5f1e", 1);
  EXPECT_EQ(DeviceInfo("cuda")["name"], "Fake GPU 3");
  EXPECT_EQ(DeviceInfo("cuda:1")["name"], "Fake GPU GPU-5f1e");
  // Nothing that is not an index or a UUID reaches the shell.
  setenv("CUDA_VISIBLE_DEVICES", "0;touch pwned", 1);
  EXPECT_TRUE(DeviceInfo("cuda").empty());
  EXPECT_FALSE(fs::exists("pwned"));
}

TEST_F(DeviceInfoTest, NoNvidiaSmiMeansNoGpuInfo) {
  fs::remove(dir_ / "nvidia-smi");
  setenv("PATH", dir_.string().c_str(), 1);  // and no real one either
  EXPECT_TRUE(DeviceInfo("cuda:0").empty());
}

TEST_F(DeviceInfoTest, CpuModelFromProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(in, line) && model.empty()) {
    if (line.rfind("model name", 0) == 0) model = line.substr(line.find(':') + 2);
  }
  if (model.empty()) GTEST_SKIP() << "no model name in /proc/cpuinfo on this machine";
  EXPECT_EQ(DeviceInfo("cpu")["name"], model);
}

}  // namespace
}  // namespace compsweep::worker
