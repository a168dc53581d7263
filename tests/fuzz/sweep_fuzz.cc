// libFuzzer target: the sweep parser and validator (ParseSweepText) on arbitrary
// text, then the trial expansion of every sweep that parses and stays small.
// Checks beyond "no crash": diagnostics are given exactly when no spec is, and
// the expansion keeps CountTrials' bound and its hash format.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/sweep_spec.h"

namespace {

// A grid larger than this is counted but not expanded: the fuzzer should spend
// its time on parsing, not on building big grids (CountTrials covers those).
constexpr int64_t kMaxExpand = 64;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "sweep_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  compsweep::ValidateOptions options;
  options.max_trials = 1000;
  const compsweep::ParseOutcome out = compsweep::ParseSweepText(text, "fuzz.yaml", options);
  Check(out.spec.has_value() == out.errors.empty(), "spec set exactly when no errors");
  for (const auto& d : out.errors) {
    Check(!d.message.empty(), "diagnostic without message");
    Check(d.line >= 0 && d.column >= 0, "negative line or column");
    (void)d.ToString();
  }
  if (!out.spec) return 0;
  const compsweep::SweepSpec& spec = *out.spec;
  const int64_t count = compsweep::CountTrials(spec);
  Check(count >= 0, "negative trial count");
  (void)compsweep::TeacherKey(spec);
  if (count > kMaxExpand) return 0;
  const auto trials = compsweep::ExpandTrials(spec);
  Check(static_cast<int64_t>(trials.size()) <= count, "more trials than CountTrials");
  for (const auto& t : trials) {
    Check(t.hash.size() == 16, "hash is not 16 hex chars");
    Check(t.settings.is_object(), "settings not an object");
    (void)compsweep::TrialTeacherKey(t.settings);
  }
  return 0;
}
