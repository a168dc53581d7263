#include "common/data_files.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "common/npy.h"
#include "common/settings_schema.h"

namespace compsweep::data_files {
namespace {

using nlohmann::json;

std::string Shape(const std::vector<int64_t>& dims) {
  npy::Header h;
  h.shape = dims;
  return h.ShapeString();
}

}  // namespace

std::string DefaultMember(const std::string& split, const std::string& role) {
  return split + "_" + role;
}

std::vector<ArrayRef> Arrays(const json& data) {
  std::vector<ArrayRef> out;
  const std::string format = data.value("format", "");
  if (format != "npy" && format != "npz") return out;
  for (const char* split : {"train", "val", "test"}) {
    const json files = data.value(split, json());
    if (!files.is_object()) continue;
    for (const char* role : {"x", "y"}) {
      ArrayRef a;
      a.split = split;
      a.role = role;
      const std::string named = files.value(role, "");
      if (format == "npy") {
        a.file = named;
      } else {
        a.file = data.value("path", "");
        a.member = named.empty() ? DefaultMember(split, role) : named;
      }
      out.push_back(std::move(a));
    }
  }
  return out;
}

std::vector<Problem> Check(const json& data, const std::vector<std::string>& roots,
                           Summary* summary) {
  std::vector<Problem> problems;
  const std::string format = data.value("format", "");
  std::map<std::string, npy::Header> headers;  // "train.x" -> header
  std::map<std::string, std::pair<int64_t, int64_t>> label_ranges;
  for (const ArrayRef& a : Arrays(data)) {
    const std::vector<std::string> at = format == "npz" ? std::vector<std::string>{"path"}
                                                        : std::vector<std::string>{a.split, a.role};
    auto opened =
        settings::CheckFileToOpen(format == "npz" ? "data.path" : a.Field(), a.file, roots);
    if (!opened.ok()) {
      problems.push_back({at, opened.status().message()});
      if (format == "npz") break;  // one message for the one file
      continue;
    }
    const std::string what =
        a.Field() + " (" + a.file + (a.member.empty() ? "" : "[" + a.member + "]") + ")";
    if (a.role == "x") {
      auto h =
          format == "npy" ? npy::ReadNpyHeader(*opened) : npy::ReadNpzHeader(*opened, a.member);
      if (!h.ok()) {
        problems.push_back({{a.split, a.role}, h.status().message()});
        continue;
      }
      if (h->shape.size() < 2 || h->shape.size() > 4) {
        problems.push_back(
            {{a.split, "x"},
             what + " has shape " + h->ShapeString() +
                 "; expected N x F rows, N x T token ids, N x H x W or N x C x H x W "
                 "images"});
        continue;
      }
      headers[a.split + ".x"] = *h;
    } else {
      auto arr = format == "npy" ? npy::ReadNpy(*opened) : npy::ReadNpzArray(*opened, a.member);
      if (!arr.ok()) {
        problems.push_back({{a.split, a.role}, arr.status().message()});
        continue;
      }
      if (arr->header.shape.size() != 1) {
        problems.push_back({{a.split, "y"},
                            what + " has shape " + arr->header.ShapeString() +
                                "; labels are one integer per example (N,)"});
        continue;
      }
      auto range = npy::IntegerRange(*arr, what);
      if (!range.ok()) {
        problems.push_back({{a.split, "y"}, range.status().message()});
        continue;
      }
      if (range->first < 0) {
        problems.push_back({{a.split, "y"},
                            what + " has a negative label (" + std::to_string(range->first) + ")"});
        continue;
      }
      headers[a.split + ".y"] = arr->header;
      label_ranges[a.split] = *range;
    }
  }
  const auto train_x = headers.find("train.x");
  for (const char* split : {"train", "val", "test"}) {
    auto x = headers.find(std::string(split) + ".x");
    auto y = headers.find(std::string(split) + ".y");
    if (x == headers.end()) continue;
    if (y != headers.end() && x->second.shape[0] != y->second.shape[0]) {
      problems.push_back({{split, "y"},
                          "data." + std::string(split) + ": x has " +
                              std::to_string(x->second.shape[0]) + " examples but y has " +
                              std::to_string(y->second.shape[0])});
    }
    if (train_x == headers.end() || x == train_x) continue;
    const auto& a = train_x->second;
    const auto& b = x->second;
    if (!std::equal(a.shape.begin() + 1, a.shape.end(), b.shape.begin() + 1, b.shape.end())) {
      problems.push_back({{split, "x"},
                          "data." + std::string(split) + ".x has examples of shape " +
                              Shape({b.shape.begin() + 1, b.shape.end()}) +
                              " but data.train.x has " +
                              Shape({a.shape.begin() + 1, a.shape.end()})});
    } else if (a.dtype != b.dtype) {
      problems.push_back({{split, "x"},
                          "data." + std::string(split) + ".x is " + npy::DTypeName(b.dtype) +
                              " but data.train.x is " + npy::DTypeName(a.dtype)});
    }
  }
  int64_t largest = -1;
  for (const auto& [split, range] : label_ranges) largest = std::max(largest, range.second);
  int64_t num_classes = largest + 1;
  if (data.contains("num_classes") && data["num_classes"].is_number_integer()) {
    num_classes = data["num_classes"].get<int64_t>();
    for (const auto& [split, range] : label_ranges) {
      if (range.second >= num_classes) {
        problems.push_back({{split, "y"},
                            "data." + split + ".y has label " + std::to_string(range.second) +
                                ", outside [0, num_classes) with num_classes " +
                                std::to_string(num_classes)});
      }
    }
  } else if (!label_ranges.empty() && num_classes < 2) {
    problems.push_back({{"train", "y"},
                        "the labels hold a single class (" + std::to_string(largest) +
                            "); a classifier needs at least 2"});
  }
  if (train_x != headers.end() && !data.contains("val") && data.contains("val_fraction") &&
      data["val_fraction"].is_number()) {
    const int64_t n = train_x->second.shape[0];
    const int64_t subset = data.value("train_subset", int64_t{0});
    const int64_t used = subset > 0 ? std::min(subset, n) : n;
    const auto held = static_cast<int64_t>(std::floor(used * data["val_fraction"].get<double>()));
    if (held < 1 || used - held < 1) {
      problems.push_back({{"val_fraction"},
                          "val_fraction " + data["val_fraction"].dump() + " of " +
                              std::to_string(used) +
                              " training examples leaves no validation or no "
                              "training example; give a val split or change it"});
    }
  }
  if (summary != nullptr && train_x != headers.end()) {
    summary->feature_shape.assign(train_x->second.shape.begin() + 1, train_x->second.shape.end());
    summary->x_dtype = npy::DTypeName(train_x->second.dtype);
    summary->num_classes = num_classes;
    summary->train = train_x->second.shape[0];
    if (auto v = headers.find("val.x"); v != headers.end()) summary->val = v->second.shape[0];
    if (auto t = headers.find("test.x"); t != headers.end()) summary->test = t->second.shape[0];
  }
  return problems;
}

}  // namespace compsweep::data_files
