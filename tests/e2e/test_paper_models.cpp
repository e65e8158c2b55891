// The seed papers' models as ssmsim trained them (issue 16, docs/results.md): the committed
// checkpoints give their recorded accuracies on the full sMNIST test set, and the pipeline that
// made the PTQ/QAT table runs end to end on a small subset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <string>

#include "tests/support/testing.hpp"

using ssmsim::testing::run_cli;
using ssmsim::testing::run_program;
using ssmsim::testing::source_dir;

namespace {

std::string model(const std::string& name) { return (source_dir() / "workloads/models" / name).string(); }

}  // namespace

// docs/results.md, "The S4D paper's model": 95.73% on the 10,000 test sequences.
TEST(PaperModels, QssmSmallScoresItsRecordedFloatAccuracy) {
  SSMSIM_REQUIRE_MNIST();
  const auto r = run_cli({"eval", "--ckpt", model("qssm_small_smnist.safetensors"), "--workload", "smnist"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("accuracy 95.73% (10000 sequences)"), std::string::npos) << r.out;
}

// The 8-bit QAT model (docs/results.md): its recorded integer accuracy on the first 1,000 test
// sequences, and the accelerator bit-exact on 8 of them.
TEST(PaperModels, QssmSmall8BitQatScoresItsRecordedAccuracyBitExactOnTheAccelerator) {
  SSMSIM_REQUIRE_MNIST();
  const std::string q = model("qssm_small_qssm_8bit_qat.safetensors");
  auto r = run_cli({"eval", "--ckpt", q, "--workload", "smnist", "--limit", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("accuracy 92.40% (1000 sequences)"), std::string::npos) << r.out;
  r = run_cli({"simulate", "--ckpt", q, "--hw", (source_dir() / "configs/hw/edge_minimal.yaml").string(), "--workload",
               "smnist", "--limit", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("bit_exact true"), std::string::npos) << r.out;
}

// scripts/ptq_qat_table.sh on 256 training and 100 test sequences, one QAT epoch: a table row
// with the footprint, a PTQ and a QAT accuracy, and the kept QAT model.
TEST(PaperModels, ThePtqQatTablePipelineRunsOnASubset) {
  SSMSIM_REQUIRE_MNIST();
  const auto dir = ssmsim::testing::scratch_dir("paper_table_subset");
  const auto r = run_program({"/bin/bash", (source_dir() / "scripts/ptq_qat_table.sh").string(), "--ckpt",
                              model("qssm_small_smnist.safetensors"), "--precisions", "qssm_8bit", "--epochs", "1",
                              "--limit", "100", "--threads", "2", "--set", "data.train_size=256", "--set",
                              "data.val_size=100", "--set", "train.batch_size=64", "--set",
                              "train.recurrence=discrete", "--keep", (dir / "q_").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(\| `qssm_8bit` \| 3\.83x smaller \(73\.9% reduction\) \| [0-9.]+% \| [0-9.]+% \|)")))
      << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "q_qssm_8bit_qat.safetensors"));
}
