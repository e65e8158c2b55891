// End-to-end: the seed studies, issue 16's paper tables and what Table 2's gaps are made of
// (configs/sweeps/) run through `ssmsim sweep` and `ssmsim report` on small subsets (the full runs
// are in docs/results.md and docs/reports/): every point bit-exact, the report written with every
// point.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/testing.hpp"

using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;

namespace {



// The spec with a smaller calibration and QAT on 32 training and 32 validation sequences.
fs::path small_copy(const std::string& name, const fs::path& dir) {
  std::string s = read_text(source_dir() / "configs/sweeps" / (name + ".yaml"));
  auto swap = [&](const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return at != std::string::npos;
  };
  EXPECT_TRUE(swap("calib: 256", "calib: 16")) << name;
  if (s.find("qat:\n  epochs: 1\n") != std::string::npos)
    swap("qat:\n  epochs: 1\n", "qat:\n  epochs: 1\n  train_size: 32\n  val_size: 32\n");
  const auto p = dir / (name + ".yaml");
  std::ofstream(p) << s;
  return p;
}

}  // namespace

class SeedSweep : public ::testing::TestWithParam<std::string> {};

TEST_P(SeedSweep, RunsOnASubsetAndReportsEveryPointBitExact) {
  SSMSIM_REQUIRE_MNIST();
  const std::string name = GetParam();
  const auto dir = scratch_dir("seed_" + name);
  const auto spec = small_copy(name, dir);
  auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string(), "--jobs", "2", "--limit", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t points = 0;
  std::ifstream f(dir / "out/results.jsonl");
  for (std::string line; std::getline(f, line); ++points) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["bit_exact"].get<bool>()) << j["label"];
    EXPECT_EQ(j["eval_sequences"].get<size_t>(), 20u);
  }
  const std::map<std::string, size_t> expected = {{"seed_s4d_ptq", 30},  {"seed_s4d_qat", 20}, {"seed_qs5", 6},
                                                  {"hw_dse", 48},        {"paper_s4d", 30},    {"paper_qs5", 7},
                                                  {"paper_qs5_gaps", 12}};
  EXPECT_EQ(points, expected.at(name));
  r = run_cli({"report", "--in", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_text(dir / "out/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  std::ifstream g(dir / "out/results.jsonl");
  for (std::string line; std::getline(g, line);)
    EXPECT_NE(html.find(nlohmann::json::parse(line)["id"].get<std::string>()), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "out/report.md"));
}

INSTANTIATE_TEST_SUITE_P(Specs, SeedSweep,
                         ::testing::Values("seed_s4d_ptq", "seed_s4d_qat", "seed_qs5", "hw_dse", "paper_s4d",
                                           "paper_qs5", "paper_qs5_gaps"));
