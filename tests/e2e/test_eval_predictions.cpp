// End-to-end: `ssmsim eval --predictions FILE` on a small model trained on the sines task: one CSV
// row per evaluated test sequence (index, label, predicted class, logits), predictions that are
// the argmax of their logits and give the accuracy `--json` reports, the same bytes for any thread
// count, integer logits for the integer C-model, a regression's outputs, and bad paths refused
// (exit 2, the path named, no file left behind).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/testing.hpp"

using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

std::string cfg(const std::string& rel) { return (source_dir() / rel).string(); }

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  return cells;
}

// The CSV's rows, the header first.
std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream ss(read_text(p));
  for (std::string line; std::getline(ss, line);) rows.push_back(split(line));
  return rows;
}

std::vector<std::string> class_header(size_t classes) {
  std::vector<std::string> h = {"index", "label", "predicted"};
  for (size_t k = 0; k < classes; ++k) h.push_back("logit_" + std::to_string(k));
  return h;
}

// A float model trained three epochs on sines (about 90% test accuracy: varied predictions).
std::string float_model(const std::filesystem::path& dir) {
  const auto f = dir / "sines.safetensors";
  const auto r = run_cli({"train", "--model", cfg("configs/models/s4d_edge.yaml"), "--workload", "sines", "--epochs",
                          "3", "--out", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return f.string();
}

// Evaluates with --predictions and --json; returns the record.
nlohmann::json eval(const std::string& ckpt, const std::filesystem::path& csv, const std::filesystem::path& json,
                    const std::string& threads) {
  const auto r = run_cli({"eval", "--ckpt", ckpt, "--workload", "sines", "--limit", "37", "--threads", threads,
                          "--predictions", csv.string(), "--json", json.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(json);
  return nlohmann::json::parse(f);
}

// The rows agree with the record: one per sequence in split order, predicted = the first index of
// the largest logit, the share of rows whose prediction is their label = the reported accuracy.
void expect_rows_agree(const std::vector<std::vector<std::string>>& rows, const nlohmann::json& rec, bool integer) {
  const size_t classes = 8;  // sines
  ASSERT_EQ(rows.size(), 38u);
  EXPECT_EQ(rows[0], class_header(classes));
  size_t correct = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), 3 + classes) << i;
    EXPECT_EQ(row[0], std::to_string(i - 1));
    std::vector<double> logits;
    for (size_t k = 0; k < classes; ++k) {
      const std::string& cell = row[3 + k];
      if (integer) {
        EXPECT_EQ(cell.find_first_not_of("-0123456789"), std::string::npos) << cell;
      } else {  // nine significant digits: the cell reads back to a float that prints as the cell
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(std::strtof(cell.c_str(), nullptr)));
        EXPECT_EQ(cell, buf);
      }
      logits.push_back(std::stod(cell));
    }
    size_t arg = 0;
    for (size_t k = 1; k < classes; ++k)
      if (logits[k] > logits[arg]) arg = k;
    EXPECT_EQ(row[2], std::to_string(arg)) << "row " << i;
    correct += row[1] == row[2];
  }
  EXPECT_EQ(rec["count"].get<size_t>(), 37u);
  EXPECT_EQ(rec["accuracy"].get<double>(), static_cast<double>(correct) / 37.0);
}

}  // namespace

TEST(EvalPredictions, FloatAndIntegerRowsAgreeWithTheirLogitsAndAccuracyAndDoNotDependOnThreads) {
  const auto dir = scratch_dir("eval_predictions");
  const std::string f = float_model(dir);
  const auto q = dir / "q.safetensors";
  const auto r = run_cli({"quantize", "--ckpt", f, "--precision", cfg("configs/precision/all16.yaml"), "--calib", "32",
                          "--out", q.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const bool integer : {false, true}) {
    const std::string ckpt = integer ? q.string() : f;
    const auto rec = eval(ckpt, dir / "p1.csv", dir / "e1.json", "1");
    eval(ckpt, dir / "p2.csv", dir / "e2.json", "2");
    SCOPED_TRACE(integer ? "integer C-model" : "float model");
    expect_rows_agree(read_csv(dir / "p1.csv"), rec, integer);
    EXPECT_FALSE(read_text(dir / "p1.csv").empty());
    EXPECT_EQ(read_text(dir / "p1.csv"), read_text(dir / "p2.csv"));
  }
}

TEST(EvalPredictions, ARegressionModelWritesItsOutputsPerStepAndFeature) {
  const auto dir = scratch_dir("eval_predictions_regress");
  const auto ckpt = (dir / "lorenz.safetensors").string();
  auto r = run_cli({"train", "--model", cfg("configs/models/s4d_edge.yaml"), "--workload", "lorenz", "--epochs", "1",
                    "--out", ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto csv = dir / "p.csv";
  r = run_cli({"eval", "--ckpt", ckpt, "--workload", "lorenz", "--limit", "5", "--predictions", csv.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(csv);
  ASSERT_EQ(rows.size(), 6u);
  ASSERT_GT(rows[0].size(), 1u);
  EXPECT_EQ(rows[0][0], "index");
  EXPECT_EQ(rows[0][1], "output_0_0");
  // lorenz forecasts 3 features: the columns run over steps, then features
  EXPECT_EQ((rows[0].size() - 1) % 3, 0u);
  EXPECT_EQ(rows[0][4], "output_1_0");
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].size(), rows[0].size());
    EXPECT_EQ(rows[i][0], std::to_string(i - 1));
  }
}

TEST(EvalPredictions, AFolderOrAnUnwritablePathIsAUsageErrorThatNamesTheFileAndLeavesNothing) {
  const auto dir = scratch_dir("eval_predictions_bad");
  const std::string f = float_model(dir);
  const auto listing = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto ro = dir / "ro";
  std::filesystem::create_directory(ro);
  const auto before = listing();
  const auto eval_to = [&](const std::string& path) {
    return run_cli({"eval", "--ckpt", f, "--workload", "sines", "--limit", "5", "--predictions", path});
  };
  // a folder
  auto r = eval_to(dir.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir.string()), std::string::npos) << r.err;
  // a folder that does not exist, and a file taken for a folder
  for (const auto& p : {dir / "missing" / "p.csv", dir / "sines.safetensors" / "p.csv"}) {
    r = eval_to(p.string());
    EXPECT_EQ(r.exit_code, 2) << p;
    EXPECT_NE(r.err.find(p.string()), std::string::npos) << r.err;
  }
  // a folder that cannot be written (read-only for a user; /proc takes no new files even for root)
  std::filesystem::permissions(ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  std::vector<std::filesystem::path> unwritable = {"/proc/ssmsim_predictions.csv"};
  if (std::ofstream(ro / "probe")) {
    std::filesystem::remove(ro / "probe");  // root: permissions do not stop it
  } else {
    unwritable.push_back(ro / "p.csv");
  }
  for (const auto& p : unwritable) {
    if (!std::filesystem::is_directory(p.parent_path())) continue;
    r = eval_to(p.string());
    EXPECT_EQ(r.exit_code, 2) << p;
    EXPECT_NE(r.err.find(p.string()), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(p));
  }
  std::filesystem::permissions(ro, std::filesystem::perms::owner_all);
  // nothing left behind, not even a temporary file
  EXPECT_EQ(listing(), before);
  EXPECT_TRUE(std::filesystem::is_empty(ro));
}
