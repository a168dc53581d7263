// The arrays a data section of format npy or npz names, and the checks that
// can be made on them before launch without LibTorch (CLI validate): files
// exist, shapes fit each other, labels are in range. Thread-safety: pure
// functions (they read files).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::data_files {

// One array of a split: for format npy `file` is the .npy path and `member` is
// empty; for npz `file` is data.path and `member` the array name in it.
struct ArrayRef {
  std::string split;   // train | val | test
  std::string role;    // x | y
  std::string file;    // as written in the sweep (relative to the working directory)
  std::string member;  // npz only
  std::string Field() const { return "data." + split + "." + role; }
};

// The default array names inside an .npz: train_x, train_y, val_x, val_y,
// test_x, test_y (the `val` pair only when data.val is given).
std::string DefaultMember(const std::string& split, const std::string& role);

// Every array of a data section of format npy or npz, train first, then val
// (when given), then test. Missing names of an npz take DefaultMember.
std::vector<ArrayRef> Arrays(const nlohmann::json& data);

// One problem, at data.<key_path...> of the sweep file (empty: at data).
struct Problem {
  std::vector<std::string> key_path;  // e.g. {"train", "y"}, {"path"}, {"num_classes"}
  std::string message;
};

// What the arrays hold, once checked.
struct Summary {
  std::vector<int64_t> feature_shape;  // x's shape without N
  std::string x_dtype;                 // float32 | uint8 | int64
  int64_t num_classes = 0;             // given, or the largest label + 1
  int64_t train = 0, val = 0, test = 0;
};

// Reads the headers of every x and the whole of every y (labels) and checks
// them: x is N x F, N x T, N x H x W or N x C x H x W; y is N labels of an
// integer dtype; N of x and y agree; every split has train's feature shape and
// x dtype; labels lie in [0, num_classes) (num_classes given, else inferred as
// the largest label + 1 over all splits, at least 2); val_fraction leaves at
// least one example on each side. Paths are opened as written (relative to the
// working directory), after the same path rule as the sweep file (`roots`).
std::vector<Problem> Check(const nlohmann::json& data, const std::vector<std::string>& roots,
                           Summary* summary = nullptr);

}  // namespace compsweep::data_files
