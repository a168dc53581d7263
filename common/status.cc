#include "common/status.h"

namespace compsweep {

std::string Status::ToString() const {
  if (ok()) return "OK";
  static const char* kNames[] = {
      "OK",          "invalid argument", "not found", "already exists", "failed precondition",
      "unavailable", "cancelled",        "internal",  "io error"};
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

}  // namespace compsweep
