// Bounded work per sweep: the hard trial limit (checked before expanding, without
// overflow), bounded diagnostics, and an expansion that a caller can stop.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sweep_spec.h"

namespace compsweep {
namespace {

using ::testing::HasSubstr;

// A grid of `per_axis` values on each of the given number of axes.
std::string Grid(int axes, int per_axis) {
  static const char* kNames[] = {"distill.temperature",
                                 "distill.epochs",
                                 "distill.lr",
                                 "prune.rounds",
                                 "prune.lr",
                                 "prune.finetune_epochs",
                                 "quantize.lr",
                                 "quantize.qat_epochs",
                                 "student.lr",
                                 "student.epochs"};
  std::string text =
      "data: {dataset: synthetic}\n"
      "teacher: {arch: mlp}\n"
      "student: {arch: mlp}\n"
      "pipeline: [distill, prune, quantize]\n"
      "parameters:\n";
  for (int a = 0; a < axes; ++a) {
    text += std::string("  ") + kNames[a] + ": {values: [";
    for (int v = 1; v <= per_axis; ++v) text += (v > 1 ? ", " : "") + std::to_string(v);
    text += "]}\n";
  }
  return text;
}

ValidateOptions AllowLarge() {
  ValidateOptions o;
  o.allow_large = true;
  return o;
}

TEST(SweepBoundsTest, HardLimitHoldsEvenWithAllowLarge) {
  // 10^10 trials (the report's 7e9 grid grew the coordinator to 6 GB): refused at
  // the 'parameters:' key without expanding anything.
  const auto t0 = std::chrono::steady_clock::now();
  ParseOutcome out = ParseSweepText(Grid(10, 10), "big.yaml", AllowLarge());
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_FALSE(out.spec.has_value());
  EXPECT_EQ(out.errors[0].ToString(),
            "big.yaml:5:1: sweep expands to 10000000000 trials, more than the hard limit "
            "200000 trials per sweep (also with --allow-large); split the sweep");
  EXPECT_LT(ms, 1000);
}

TEST(SweepBoundsTest, ProductThatOverflowsInt64IsRefusedNotWrapped) {
  // 1000^10 = 10^30 does not fit in 64 bits; a wrapped product could look small.
  ParseOutcome out = ParseSweepText(Grid(10, 1000), "huge.yaml", AllowLarge());
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message,
              HasSubstr("sweep expands to more than 9.2e18 trials, more than the hard limit"));
}

TEST(SweepBoundsTest, LimitIsInclusiveAndConfigurable) {
  ValidateOptions o = AllowLarge();
  o.hard_max_trials = 100;
  EXPECT_TRUE(ParseSweepText(Grid(2, 10), "s.yaml", o).spec.has_value());  // exactly 100
  ParseOutcome out = ParseSweepText(Grid(3, 5), "s.yaml", o);              // 125
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message, HasSubstr("expands to 125 trials, more than the hard limit"));
  // Without allow_large the soft limit speaks first, as before.
  o.allow_large = false;
  o.max_trials = 50;
  out = ParseSweepText(Grid(2, 10), "s.yaml", o);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message, HasSubstr("pass --allow-large"));
}

TEST(SweepBoundsTest, RandomRunCapHasTheSameHardLimit) {
  const std::string head =
      "data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: [quantize]\n"
      "method: random\nseed: 1\n";
  ParseOutcome out = ParseSweepText(head + "run_cap: 7000000000\n", "r.yaml", AllowLarge());
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].ToString(),
            "r.yaml:6:10: run_cap is 7000000000, more than the hard limit 200000 trials per "
            "sweep (also with --allow-large); split the sweep");
  EXPECT_TRUE(ParseSweepText(head + "run_cap: 200000\n", "r.yaml").spec.has_value());
}

TEST(SweepBoundsTest, DiagnosticsDoNotEchoAHugeFile) {
  // A 1 MiB scalar where a mapping belongs, a 1 MiB key (explicit '?' form: plain
  // keys stop at 1024 characters), a 1 MiB value, and a long file name.
  const std::string blob(1 << 20, 'x');
  for (const std::string& text :
       {blob, "? " + blob + "\n: 1\n", "name: t\nmethod: " + blob + "\n"}) {
    ParseOutcome out = ParseSweepText(text, std::string(5000, 'f'));
    ASSERT_FALSE(out.errors.empty());
    size_t total = 0;
    for (const Diagnostic& d : out.errors) total += d.ToString().size();
    EXPECT_LT(total, 8000u);
    EXPECT_THAT(out.errors[0].ToString(), HasSubstr("...(5000 bytes)"));
  }

  // Thousands of errors: the list is cut, and says how many more there were.
  std::string many = "data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\n";
  for (int i = 0; i < 3000; ++i) many += "bad_key_" + std::to_string(i) + ": 1\n";
  ParseOutcome out = ParseSweepText(many, "many.yaml");
  ASSERT_EQ(out.errors.size(), 100u);
  EXPECT_EQ(out.errors.back().message, "... and 2901 more error(s) not shown");
}

TEST(SweepBoundsTest, ClippedTextKeepsUtf8Whole) {
  // 'é' is two bytes; a cut in its middle would make the JSON reply invalid UTF-8.
  std::string key;
  for (int i = 0; i < 1000; ++i) key += "\xc3\xa9";
  ParseOutcome out = ParseSweepText(key + ": 1\n", "u.yaml");
  ASSERT_FALSE(out.errors.empty());
  for (const Diagnostic& d : out.errors) {
    const std::string& m = d.message;
    for (size_t i = 0; i < m.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(m[i]);
      if (c == 0xC3) {
        ASSERT_LT(i + 1, m.size());
        EXPECT_EQ(static_cast<unsigned char>(m[i + 1]) & 0xC0, 0x80);
      }
    }
  }
}

TEST(SweepBoundsTest, CancellableExpansionMatchesAndStops) {
  ParseOutcome out = ParseSweepText(Grid(3, 10), "s.yaml");
  ASSERT_TRUE(out.spec.has_value());
  std::atomic<bool> cancel{false};
  auto all = ExpandTrials(*out.spec, [&] { return cancel.load(); });
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  const std::vector<TrialConfig> plain = ExpandTrials(*out.spec);
  ASSERT_EQ(all->size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ((*all)[i].hash, plain[i].hash);

  cancel = true;
  auto stopped = ExpandTrials(*out.spec, [&] { return cancel.load(); });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), StatusCode::kCancelled);
  EXPECT_THAT(stopped.status().message(), HasSubstr("stopped after 256 of 1000 trials"));
}

TEST(SweepBoundsTest, CancelFromAnotherThreadStopsALargeExpansion) {
  ParseOutcome out = ParseSweepText(Grid(5, 10), "s.yaml", AllowLarge());  // 100,000
  ASSERT_TRUE(out.spec.has_value());
  std::atomic<bool> cancel{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = ExpandTrials(*out.spec, [&] { return cancel.load(); });
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_LT(ms, 2000);  // the whole expansion takes many seconds
}

TEST(SweepBoundsTest, HandBuiltSpecAboveTheLimitIsRefusedBeforeExpanding) {
  ParseOutcome out = ParseSweepText(Grid(1, 3), "s.yaml");
  ASSERT_TRUE(out.spec.has_value());
  SweepSpec spec = *out.spec;
  spec.method = "random";
  spec.run_cap = kHardMaxTrials + 1;
  auto r = ExpandTrials(spec, [] { return false; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace compsweep
