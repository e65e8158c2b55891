// End-to-end: training, evaluation and inspection through the ssmsim binary, on real inputs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "tests/support/testing.hpp"

using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

double accuracy_in(const std::string& text) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(R"(accuracy ([0-9.]+)%)"))) return -1;
  return std::stod(m[1]);
}

// A file's bytes.
std::string bytes(const std::string& f) {
  std::ifstream in(f, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(TrainCli, TrainsASyntheticTaskWritesTheBestCheckpointAndEvaluatesIt) {
  const auto dir = scratch_dir("train_cli");
  const auto ckpt = (dir / "sines.safetensors").string();
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload",
                    "sines", "--epochs", "2", "--threads", "2", "--out", ckpt, "--json", (dir / "t.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("epoch 2/2:"), std::string::npos) << r.err;  // progress and per-epoch lines
  EXPECT_TRUE(std::filesystem::exists(ckpt));
  EXPECT_TRUE(std::filesystem::exists(ckpt + ".state"));
  EXPECT_TRUE(std::filesystem::exists(dir / "t.json"));
  const double trained = accuracy_in(r.out);
  EXPECT_GT(trained, 40.0) << r.out;  // 8 classes: chance is 12.5%

  r = run_cli({"eval", "--ckpt", ckpt, "--workload", "sines"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(accuracy_in(r.out), trained);  // the same checkpoint, the same test split

  r = run_cli({"info", "--ckpt", ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("s4_layers.0.kernel.log_A_real"), std::string::npos);

  // resuming a finished run trains nothing more and reports the same best checkpoint
  r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload",
               "sines", "--epochs", "2", "--out", ckpt, "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming after epoch 2"), std::string::npos) << r.err;
  EXPECT_DOUBLE_EQ(accuracy_in(r.out), trained);
}

// A run stopped by --time-limit (here after its first step) and continued with --resume writes
// the same checkpoint bytes as an uninterrupted run.
// train.standardize_input: the checkpoint written reads raw inputs (the standardization folded into
// its encoder), so `eval` on the raw test split scores what training reported; QAT refuses the key.
TEST(TrainCli, AStandardizedRunWritesACheckpointThatReadsRawInputs) {
  const auto dir = scratch_dir("train_standardized");
  const std::string ckpt = (dir / "c.safetensors").string();
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload", "sines",
                    "--epochs", "1", "--threads", "2", "--set", "train.standardize_input=true", "--out", ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("inputs standardized by the training split's mean / std: "), std::string::npos) << r.err;
  const double trained = accuracy_in(r.out);
  ASSERT_GT(trained, 0) << r.out;
  r = run_cli({"eval", "--ckpt", ckpt, "--workload", "sines"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(accuracy_in(r.out), trained);
  r = run_cli({"qat", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/all16.yaml").string(),
               "--epochs", "1", "--set", "train.standardize_input=true", "--out", (dir / "q.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("train.standardize_input is for float training"), std::string::npos) << r.err;
}

TEST(TrainCli, ATimeLimitStopsMidEpochAndResumeReachesTheSameBits) {
  const auto dir = scratch_dir("train_cli_time_limit");
  const std::string model = (source_dir() / "configs/models/s4d_edge.yaml").string();
  const auto whole = (dir / "whole.safetensors").string(), parts = (dir / "parts.safetensors").string();
  auto r = run_cli({"train", "--model", model, "--workload", "sines", "--epochs", "2", "--out", whole});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"train", "--model", model, "--workload", "sines", "--epochs", "2", "--out", parts, "--time-limit",
               "1e-9", "--json", (dir / "stopped.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stopped at step 1 of epoch 1 (time limit)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(parts));  // no epoch finished, so no best checkpoint yet
  std::ifstream js(dir / "stopped.json");
  EXPECT_NE(std::string(std::istreambuf_iterator<char>(js), {}).find("\"finished\": false"), std::string::npos);
  r = run_cli({"train", "--model", model, "--workload", "sines", "--epochs", "2", "--out", parts, "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming after epoch 0 and step 1 of epoch 1"), std::string::npos) << r.err;
  EXPECT_EQ(bytes(parts), bytes(whole));
}

TEST(TrainCli, TheEmbeddedDefaultModelClassifiesSmnist) {
  SSMSIM_REQUIRE_MNIST();
  const auto r = run_cli({"eval", "--ckpt", (source_dir() / "workloads/models/s4d_edge_smnist.safetensors").string(),
                          "--workload", "smnist", "--limit", "500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(accuracy_in(r.out), 95.0) << r.out;
  EXPECT_NE(r.out.find("(500 sequences)"), std::string::npos) << r.out;
}

TEST(TrainCli, BadInputsExitTwoAndSayWhatIsWrong) {
  const auto dir = scratch_dir("train_cli_bad");
  const std::string model = (source_dir() / "configs/models/s4d_edge.yaml").string();
  auto r = run_cli({"train", "--model", model, "--workload", "nosuch", "--out", (dir / "x").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("smnist"), std::string::npos) << r.err;  // lists the workloads

  r = run_cli({"train", "--model", model, "--workload", "sines", "--out", (dir / "x").string(), "--set",
               "model.H=0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("model.H"), std::string::npos) << r.err;

  r = run_cli({"train", "--model", model, "--workload", "sines", "--out", (dir / "x").string(), "--set",
               "train.lr=-1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("train.lr"), std::string::npos) << r.err;

  r = run_cli({"train", "--model", model, "--workload", "sines", "--out", (dir / "never").string(), "--resume"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("never.state"), std::string::npos) << r.err;

  r = run_cli({"eval", "--ckpt", (dir / "missing.safetensors").string(), "--workload", "sines"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.safetensors"), std::string::npos) << r.err;
}

TEST(TrainCli, ATrainingStateIsNotAcceptedAsACheckpoint) {
  const auto dir = scratch_dir("train_cli_state");
  const auto ckpt = (dir / "m.safetensors").string();
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload",
                    "sines", "--epochs", "1", "--out", ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"eval", "--ckpt", ckpt + ".state", "--workload", "sines"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a float checkpoint"), std::string::npos) << r.err;
}

TEST(TrainCli, ForecastingTasksTrainWithTheRegressionHeadAndReportMseAndSmape) {
  const auto dir = scratch_dir("train_cli_forecast");
  for (const char* task : {"lorenz", "adding"}) {
    const auto ckpt = (dir / (std::string(task) + ".safetensors")).string();
    auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload",
                      task, "--epochs", "1", "--out", ckpt});
    ASSERT_EQ(r.exit_code, 0) << task << ": " << r.err;
    EXPECT_NE(r.out.find("test MSE"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sMAPE"), std::string::npos) << r.out;
    r = run_cli({"eval", "--ckpt", ckpt, "--workload", task, "--json", (dir / "e.json").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("MSE"), std::string::npos) << r.out;
  }
  // a forecasting checkpoint given a classification workload: a clear error
  const auto r = run_cli({"eval", "--ckpt", (dir / "lorenz.safetensors").string(), "--workload", "sines"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("regression"), std::string::npos) << r.err;
}

// PTQ through the CLI on the embedded model: quantize, inspect the footprint, evaluate on integers.
TEST(QuantizeCli, QuantizesTheEmbeddedModelAndEvaluatesItOnIntegers) {
  SSMSIM_REQUIRE_MNIST();
  const auto dir = scratch_dir("quantize_cli");
  const std::string ckpt = (source_dir() / "workloads/models/s4d_edge_smnist.safetensors").string();
  const std::string q = (dir / "q.safetensors").string();
  auto r = run_cli({"quantize", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/all16.yaml").string(),
                    "--calib", "64", "--out", q});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"info", "--ckpt", q});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("layers.0.A"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.9"), std::string::npos) << r.out;  // 16-bit codes: about 2x smaller than float32
  EXPECT_NE(r.out.find("reduction"), std::string::npos) << r.out;
  r = run_cli({"eval", "--ckpt", q, "--workload", "smnist", "--limit", "200", "--json", (dir / "e.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(accuracy_in(r.out), 95.0) << r.out;
  EXPECT_NE(r.out.find("integer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("saturation events"), std::string::npos) << r.out;
  // eval --precision on the float checkpoint: the same PTQ in memory, the same integers
  const double from_file = accuracy_in(r.out);
  r = run_cli({"eval", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/all16.yaml").string(),
               "--set", "quantize.calib=64", "--workload", "smnist", "--limit", "200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(accuracy_in(r.out), from_file) << r.out;

  // a precision config with a float component cannot make an integer model; a quantized model is
  // not a float checkpoint
  r = run_cli({"quantize", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/float.yaml").string(),
               "--out", (dir / "f.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is float"), std::string::npos) << r.err;
  r = run_cli({"quantize", "--ckpt", q, "--precision", (source_dir() / "configs/precision/w8a8_state8.yaml").string(),
               "--out", (dir / "qq.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a float checkpoint"), std::string::npos) << r.err;
}

// QAT through the CLI: it writes the best integer model, which `eval` then scores with the same
// accuracy QAT reported for it.
TEST(QatCli, FineTunesAQuantizedModelThatEvalScoresTheSame) {
  const auto dir = scratch_dir("qat_cli");
  const std::string model = (source_dir() / "configs/models/s4d_edge.yaml").string();
  const std::string ckpt = (dir / "f.safetensors").string(), q = (dir / "q.safetensors").string();
  auto r = run_cli({"train", "--model", model, "--workload", "sines", "--epochs", "2", "--out", ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"qat", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/w8a8_state8.yaml").string(),
               "--epochs", "1", "--calib", "64", "--set", "train.lr=0.002", "--out", q, "--json",
               (dir / "qat.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("qat epoch 1/1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("PTQ starting point"), std::string::npos) << r.err;
  const double qat_test = accuracy_in(r.out);
  EXPECT_GT(qat_test, 12.5) << r.out;  // 8 classes
  r = run_cli({"eval", "--ckpt", q, "--workload", "sines"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(accuracy_in(r.out), qat_test) << r.out;
  r = run_cli({"info", "--ckpt", q});
  EXPECT_NE(r.out.find("precision 'w8a8_state8'"), std::string::npos) << r.out;

  // with distillation from the float checkpoint: said, and the model it writes scores the same
  const std::string d = (dir / "d.safetensors").string();
  r = run_cli({"qat", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/w8a8_state8.yaml").string(),
               "--epochs", "1", "--calib", "64", "--set", "train.lr=0.002", "--set", "qat.distill=0.5", "--out", d});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("distillation from " + ckpt + ": weight 0.5, temperature 2"), std::string::npos) << r.err;
  const double distilled = accuracy_in(r.out);
  r = run_cli({"eval", "--ckpt", d, "--workload", "sines"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(accuracy_in(r.out), distilled) << r.out;
  r = run_cli({"qat", "--ckpt", ckpt, "--precision", (source_dir() / "configs/precision/w8a8_state8.yaml").string(),
               "--epochs", "1", "--set", "qat.distill=1.5", "--out", d});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("qat.distill"), std::string::npos) << r.err;
}

// A QAT run stopped by --time-limit (after its first step) and continued with --resume writes the
// same model bytes as an uninterrupted run; a resume with another recipe is refused.
TEST(QatCli, ATimeLimitStopsMidEpochAndResumeReachesTheSameModel) {
  const auto dir = scratch_dir("qat_cli_time_limit");
  const std::string ckpt = (dir / "f.safetensors").string();
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload", "sines",
                    "--epochs", "1", "--out", ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto qat = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> a = {"qat",
                                  "--ckpt",
                                  ckpt,
                                  "--precision",
                                  (source_dir() / "configs/precision/w8a8_state8.yaml").string(),
                                  "--epochs",
                                  "2",
                                  "--calib",
                                  "64",
                                  "--set",
                                  "train.lr=0.002",
                                  "--out",
                                  out};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const std::string whole = (dir / "whole.safetensors").string(), parts = (dir / "parts.safetensors").string();
  r = qat(whole, {"--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = qat(parts, {"--time-limit", "1e-9", "--json", (dir / "stopped.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stopped at step 1 of epoch 1 (time limit)"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(parts));  // no epoch finished, so no best model yet
  EXPECT_NE(read_text(dir / "stopped.json").find("\"finished\": false"), std::string::npos);
  r = qat(parts, {"--resume", "--set", "train.lr=0.003"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("resume with the same command"), std::string::npos) << r.err;
  r = qat(parts, {"--resume", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming after epoch 0 and step 1 of epoch 1"), std::string::npos) << r.err;
  EXPECT_EQ(bytes(parts), bytes(whole));
  EXPECT_EQ(accuracy_in(r.out), accuracy_in(qat(whole, {"--resume"}).out));  // a finished run: nothing more

  // --from-state: a new run from the finished run's parameters; at learning rate 0 nothing moves,
  // so its best is the model it started from; stopped and resumed, it writes the same bytes
  const std::string from = (dir / "from.safetensors").string(), from2 = (dir / "from2.safetensors").string();
  const std::vector<std::string> fine = {"--from-state", whole + ".state", "--set", "train.lr=0.0005"};
  r = qat(from, {"--from-state", whole + ".state", "--set", "train.lr=0", "--set", "train.ssm_lr=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("starting from the parameters of " + whole + ".state (after its epoch 2)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the model it started from: val (integer)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("best ->"), std::string::npos) << r.err;  // no epoch beat the start
  r = qat(from2, fine);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stopped = fine;
  stopped.insert(stopped.end(), {"--time-limit", "1e-9"});
  r = qat(parts, stopped);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto resumed = fine;
  resumed.push_back("--resume");
  r = qat(parts, resumed);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(bytes(parts), bytes(from2));
  r = qat(parts, {"--resume"});  // the same run needs the same --from-state
  EXPECT_EQ(r.exit_code, 2);
}
