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

// Found by tests/fuzz/sweep_fuzz (639,783 executions into a long run): the
// quickstart with bytes FE FF FF FF inside data.path was valid, and then
// hashing its trials threw nlohmann's "invalid UTF-8" (a coordinator given it
// over HTTP would have died in ExpandTrials).
TEST(SweepYamlTest, BytesThatAreNotUtf8AreAnErrorWithTheirPosition) {
  const std::string good =
      "name: u\nmethod: grid\ndata: {dataset: synthetic, train_subset: 64, test_subset: 32}\n"
      "student: {arch: mlp, epochs: 1}\npipeline: [quantize]\n"
      "objectives: {size_bytes: minimize}\n";
  std::string bad = good;
  bad.replace(bad.find("name: u") + 6, 1, "fash\xfe\xff\xff\xffmnist");
  ParseOutcome out = ParseWithin(bad, std::chrono::seconds(30));
  EXPECT_FALSE(out.spec.has_value());
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 1);
  EXPECT_EQ(out.errors[0].column, 11);
  EXPECT_NE(out.errors[0].message.find("not UTF-8"), std::string::npos);
  EXPECT_NE(out.errors[0].message.find("0xFE"), std::string::npos);
  // Overlong forms and surrogates are not UTF-8 either; real UTF-8 is fine.
  for (const std::string seq : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    std::string text = good;
    text.insert(text.find("name: u") + 7, seq);
    EXPECT_FALSE(ParseWithin(text, std::chrono::seconds(30)).errors.empty()) << text;
  }
  std::string utf8 = good;
  utf8.replace(utf8.find("name: u") + 6, 1, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  ParseOutcome fine = ParseWithin(utf8, std::chrono::seconds(30));
  EXPECT_TRUE(fine.errors.empty()) << fine.errors.front().ToString();
  ASSERT_TRUE(fine.spec.has_value());
  EXPECT_FALSE(ExpandTrials(*fine.spec).empty());
}

// Found by sweep_fuzz (388,484 executions into its next run): a program sweep
// whose command held NUL and 0x1C bytes around a valid 3-byte character; from it
// yaml-cpp made a string with a 0xA0 byte that is not in the file, and
// ExpandTrials threw on it. YAML allows no such control characters.
TEST(SweepYamlTest, ControlCharactersAreAnErrorWithTheirPosition) {
  for (const char c : {'\0', '\x1c', '\x7f', '\x08'}) {
    std::string text = "name: a\nmethod: grid\nprogram: [python3, train.py]\n";
    text.insert(text.find("train.py"), 1, c);
    ParseOutcome out = ParseWithin(text, std::chrono::seconds(30));
    EXPECT_FALSE(out.spec.has_value());
    ASSERT_EQ(out.errors.size(), 1u) << static_cast<int>(c);
    EXPECT_EQ(out.errors[0].line, 3);
    EXPECT_EQ(out.errors[0].column, 20);
    EXPECT_NE(out.errors[0].message.find("control character"), std::string::npos)
        << out.errors[0].message;
  }
  // Tabs, CR LF line ends are YAML.
  ParseOutcome ok = ParseWithin("name: a\r\nmethod: grid\t# tab\r\nprogram: [python3, t.py]\r\n",
                                std::chrono::seconds(30));
  EXPECT_TRUE(ok.errors.empty()) << ok.errors.front().ToString();
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
