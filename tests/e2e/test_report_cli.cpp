// End-to-end: `ssmsim report` as a user runs it on sweep folders (results written here in the
// sweep's JSON-lines format; the page's content is checked by tests/component/test_report.cpp).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/testing.hpp"

using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;

namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string line(const std::string& id, int index, double acc, double energy) {
  return "{\"id\": \"" + id + "\", \"index\": " + std::to_string(index) + ", \"label\": \"w8a8_state8 / edge_minimal / ptq\", " +
         "\"accuracy\": " + std::to_string(acc) + ", \"energy_nj_per_token\": " + std::to_string(energy) +
         ", \"latency_us_per_token\": 2.5, \"memory_bits\": 20384, \"bit_exact\": true}\n";
}

}  // namespace

TEST(ReportCli, WritesThePageAndSummaryIntoTheFolderAndSaysWhere) {
  const auto dir = scratch_dir("report_cli");
  write(dir / "D/shard-0-of-2/results.jsonl", line("pa", 0, 0.9, 10) + line("pb", 2, 0.5, 20));
  write(dir / "D/shard-1-of-2/results.jsonl", line("pc", 1, 0.8, 5) + line("pa", 0, 0.9, 10));
  const auto r = run_cli({"report", "--in", (dir / "D").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report: 3 points (2 on the accuracy/energy Pareto front) -> " + (dir / "D/report.html").string() +
                       ", " + (dir / "D/report.md").string()),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "D/report.html"));
  EXPECT_TRUE(std::filesystem::exists(dir / "D/report.md"));
}

TEST(ReportCli, SeveralInFoldersAndAnOutPrefix) {
  const auto dir = scratch_dir("report_cli_multi");
  write(dir / "A/results.jsonl", line("pa", 0, 0.9, 10));
  write(dir / "B/results.jsonl", line("pb", 1, 0.95, 30));
  const auto r = run_cli({"report", "--in", (dir / "A").string(), "--in", (dir / "B").string(), "--out",
                          (dir / "summary").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report: 2 points (2 on the accuracy/energy Pareto front)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "summary.html"));
  EXPECT_TRUE(std::filesystem::exists(dir / "summary.md"));
}

TEST(ReportCli, BadInputExitsTwoNamingFileAndLine) {
  const auto dir = scratch_dir("report_cli_bad");
  write(dir / "D/results.jsonl", line("pa", 0, 0.9, 10) + "not json\n");
  auto r = run_cli({"report", "--in", (dir / "D").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find((dir / "D/results.jsonl").string() + ":2"), std::string::npos) << r.err;

  r = run_cli({"report", "--in", (dir / "nothing-here").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no such folder"), std::string::npos) << r.err;

  r = run_cli({"report"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'--in' is required"), std::string::npos) << r.err;
}
