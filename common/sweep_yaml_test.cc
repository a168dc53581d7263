// Inputs that make yaml-cpp 0.7 misbehave must come back as diagnostics, fast.
#include <chrono>
#include <cstdlib>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "common/sweep_spec.h"

namespace compsweep {
namespace {

// Runs ParseSweepText on a thread and gives up after a while: the bug these
// tests guard against is an endless loop that allocates ~100 MB/s, so a hang
// must end the test binary instead of the machine's memory.
ParseOutcome ParseWithin(const std::string& text, std::chrono::seconds limit) {
  auto done = std::async(std::launch::async, [text] { return ParseSweepText(text, "s.yaml"); });
  if (done.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "ParseSweepText does not return on: " << text;
    std::abort();
  }
  return done.get();
}

// yaml-cpp issue #1040: YAML::LoadAll loops forever on a ',' outside a flow
// collection. Found by tests/fuzz/sweep_fuzz (a 406-byte sweep file with a
// stray ", test_subset: 32}" line at its top).
TEST(SweepYamlTest, StrayCommaIsAnErrorNotAnEndlessLoop) {
  for (const std::string text :
       {",", "--- ,", "\"x\" ,", ", a: 1}\nb: c", ", test_subset: 32}\n"}) {
    ParseOutcome out = ParseWithin(text, std::chrono::seconds(30));
    EXPECT_FALSE(out.spec.has_value()) << text;
    ASSERT_FALSE(out.errors.empty()) << text;
    EXPECT_FALSE(out.errors.front().message.empty());
  }
}

TEST(SweepYamlTest, SecondDocumentIsStillReportedWithItsPosition) {
  ParseOutcome out = ParseWithin("name: a\nmethod: grid\n---\nname: b\n", std::chrono::seconds(30));
  ASSERT_FALSE(out.errors.empty());
  bool found = false;
  for (const Diagnostic& d : out.errors) {
    if (d.message.find("more than one YAML document") != std::string::npos) {
      found = true;
      EXPECT_EQ(d.line, 4);
      EXPECT_EQ(d.column, 1);
    }
  }
  EXPECT_TRUE(found);
}

TEST(SweepYamlTest, EmptyDocumentsAfterTheFirstDoNotCount) {
  // As upstream's fix: the stream ends at the first empty document.
  ParseOutcome out = ParseWithin("name: a\n---\n,\n", std::chrono::seconds(30));
  for (const Diagnostic& d : out.errors) {
    EXPECT_EQ(d.message.find("more than one YAML document"), std::string::npos) << d.ToString();
  }
}

}  // namespace
}  // namespace compsweep
