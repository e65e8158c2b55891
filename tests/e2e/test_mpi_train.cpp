// End-to-end against a real MPI (issue 18): Debian's OpenMPI `mpirun` starts 2 and 3 ranks of the
// ssmsim binary, which split every batch (and every validation pass) between them. The checkpoint,
// the training state and the QAT model must be the bytes of one process, a run stopped under 2
// ranks must resume under 3 to the same bytes, only rank 0 may print, and a wrong input must end
// every rank with one message. Built only when CMake found MPI (make's presets require it).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/testing.hpp"

#ifdef SSMSIM_MPIEXEC

using ssmsim::testing::count_of;
using ssmsim::testing::CliResult;
using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::run_program;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

// `mpirun -n ranks ssmsim args...` (more ranks than cores allowed; root allowed, as in CI).
CliResult mpirun(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> argv{SSMSIM_MPIEXEC, "--oversubscribe", "--allow-run-as-root", "-n", std::to_string(ranks),
                                SSMSIM_TEST_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv);
}

// The s4d_edge preset with BatchNorm (per-chunk statistics cross ranks) and dropout (per-chunk
// seeds), two epochs on the synthetic sines task.
std::vector<std::string> train_args(const std::string& out) {
  return {"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload", "sines",
          "--epochs", "2", "--set", "model.norm=batch", "--set", "model.dropout=0.1", "--out", out};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST(MpiTrain, TwoAndThreeRanksTrainTheBytesOfOneProcess) {
  const auto dir = scratch_dir("mpi_train_bits");
  const std::string one = (dir / "one.safetensors").string();
  CliResult r = run_cli(train_args(one));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const int k : {2, 3}) {
    const std::string out = (dir / ("ranks" + std::to_string(k) + ".safetensors")).string();
    r = mpirun(k, train_args(out));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(std::to_string(k) + " MPI ranks x 1 thread(s)"), std::string::npos) << r.err;
    EXPECT_EQ(count_of(r.err, "epoch 2/2:"), 1u) << "only rank 0 prints\n" << r.err;
    EXPECT_EQ(count_of(r.out, "test accuracy"), 1u) << r.out;
    EXPECT_EQ(read_text(out), read_text(one)) << k << " ranks: the checkpoint differs";
    EXPECT_EQ(read_text(out + ".state"), read_text(one + ".state")) << k << " ranks: the training state differs";
  }
}

// Stopped by --time-limit after its first step under 2 ranks (rank 0's clock decides for both),
// resumed under 3: the bytes of an uninterrupted single-process run.
TEST(MpiTrain, AStopUnderTwoRanksResumesUnderThreeToTheBytesOfOneProcess) {
  const auto dir = scratch_dir("mpi_train_resume");
  const std::string one = (dir / "one.safetensors").string(), parts = (dir / "parts.safetensors").string();
  CliResult r = run_cli(train_args(one));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = mpirun(2, with(train_args(parts), {"--time-limit", "1e-9"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.err, "stopped at step 1 of epoch 1 (time limit)"), 1u) << r.err;
  r = mpirun(3, with(train_args(parts), {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming after epoch 0 and step 1 of epoch 1"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(parts), read_text(one));
  EXPECT_EQ(read_text(parts + ".state"), read_text(one + ".state"));
}

// QAT with the discrete recurrence (Lambda_bar and B_bar gradients per chunk) and learned step
// sizes (LSQ sums per chunk), on 512 training sequences (8 chunks a step): the quantized model of
// one process under 2 and 3 ranks.
TEST(MpiQat, TwoAndThreeRanksFineTuneToTheBytesOfOneProcess) {
  const auto dir = scratch_dir("mpi_qat_bits");
  const std::string ckpt = (dir / "f.safetensors").string();
  CliResult r = run_cli(train_args(ckpt));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto qat = [&](const std::string& out) {
    return std::vector<std::string>{"qat", "--ckpt", ckpt, "--precision",
                                    (source_dir() / "configs/precision/w8a8_state8.yaml").string(), "--epochs", "2",
                                    "--calib", "64", "--set", "data.train_size=512", "--set",
                                    "train.recurrence=discrete", "--set", "qat.learn_scales=[x, ssm_in]", "--out", out};
  };
  const std::string one = (dir / "one.safetensors").string();
  r = run_cli(qat(one));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string test_line = r.out.substr(0, r.out.find(':'));
  for (const int k : {2, 3}) {
    const std::string out = (dir / ("ranks" + std::to_string(k) + ".safetensors")).string();
    r = mpirun(k, qat(out));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(count_of(r.err, "qat epoch 2/2:"), 1u) << r.err;
    EXPECT_EQ(r.out.substr(0, r.out.find(':')), test_line) << "the same test accuracy, printed once";
    EXPECT_EQ(read_text(out), read_text(one)) << k << " ranks: the quantized model differs";
  }
}

// A wrong key: every rank stops before any work with exit status 2, one message and no MPI_Abort.
// A verb that does not split its work is refused under several ranks.
TEST(MpiCli, AWrongInputEndsEveryRankWithOneMessage) {
  const auto dir = scratch_dir("mpi_cli_errors");
  CliResult r = mpirun(3, with(train_args((dir / "x.safetensors").string()), {"--set", "train.lr=-1"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_of(r.err, "config key 'train.lr' = '-1'"), 1u) << r.err;
  EXPECT_EQ(r.err.find("MPI_ABORT"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.safetensors"));
  r = mpirun(2, {"eval", "--ckpt", "x.safetensors", "--workload", "sines"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_of(r.err, "'eval' does not run under MPI (2 ranks)"), 1u) << r.err;
}

// Ranks that disagree: rank 0 finds the model file, ranks 1 and 2 (another working folder) do
// not. Rank 0 says which ranks could not start and why, once; nothing is written.
TEST(MpiCli, RanksThatCannotStartAreNamedByRankZero) {
  const auto dir = scratch_dir("mpi_cli_disagree");
  std::filesystem::create_directories(dir / "has" / "models");
  std::filesystem::create_directories(dir / "lacks");
  std::filesystem::copy_file(source_dir() / "configs/models/s4d_edge.yaml", dir / "has/models/m.yaml");
  const std::string out = (dir / "x.safetensors").string();
  auto context = [&](const char* n, const char* wdir) {
    return std::vector<std::string>{"-n", n, "-wdir", (dir / wdir).string(), SSMSIM_TEST_BIN, "train", "--model",
                                    "models/m.yaml", "--workload", "sines", "--epochs", "1", "--out", out};
  };
  std::vector<std::string> argv{SSMSIM_MPIEXEC, "--oversubscribe", "--allow-run-as-root"};
  for (const auto& a : context("1", "has")) argv.push_back(a);
  argv.push_back(":");
  for (const auto& a : context("2", "lacks")) argv.push_back(a);
  const CliResult r = run_program(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_of(r.err, "could not start on rank 1, 2: "), 1u) << r.err;
  EXPECT_NE(r.err.find("models/m.yaml"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("MPI_ABORT"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

#endif  // SSMSIM_MPIEXEC
