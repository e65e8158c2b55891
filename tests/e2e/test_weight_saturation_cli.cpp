// End-to-end: codes clipped when weights are quantized are named. `quantize` of the embedded S4D
// model with all8_static (8-bit biases at accumulator scale) warns on stderr for the encoder,
// mixing and decoder biases with their exact counts and still succeeds; `info` and `eval --json`
// show the counts (eval as "weights.<tensor>" entries of `saturation`); with w8a8_state8 (32-bit biases)
// nothing is named; a committed quantized model written before the counts existed evaluates with none.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/testing.hpp"

using ssmsim::testing::count_of;
using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

std::string src(const std::string& rel) { return (source_dir() / rel).string(); }

}  // namespace

TEST(WeightSaturationCli, EightBitBiasesThatSaturateAreNamedWithTheirCountsByQuantizeInfoAndEval) {
  SSMSIM_REQUIRE_MNIST();
  const auto dir = scratch_dir("weight_saturation_cli");
  const std::string q = (dir / "q8.safetensors").string();
  auto r = run_cli({"quantize", "--ckpt", src("workloads/models/s4d_edge_smnist.safetensors"), "--precision",
                    src("configs/precision/all8_static.yaml"), "--out", q});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // the default calibration (256 training sequences) on the embedded model, counted once
  EXPECT_NE(r.err.find("warning: 15 of 16 codes of 'encoder.bias' (component bias, 8 bits)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: 18 of 32 codes of 'layers.0.mix.bias' (component bias, 8 bits)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("warning: 10 of 10 codes of 'decoder.bias' (component bias, 8 bits)"), std::string::npos) << r.err;
  EXPECT_EQ(count_of(r.err, "warning:"), 3u) << r.err;  // no weight tensor clips under maxabs
  EXPECT_EQ(count_of(r.err, "precision.components.bias.bits"), 3u) << r.err;

  r = run_cli({"info", "--ckpt", q});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("saturated at quantization: decoder.bias 10 of 10 codes, encoder.bias 15 of 16 codes, "
                       "layers.0.mix.bias 18 of 32 codes"),
            std::string::npos)
      << r.out;

  const auto json = dir / "e8.json";
  r = run_cli({"eval", "--ckpt", q, "--workload", "smnist", "--limit", "20", "--json", json.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("weight codes saturated at quantization: decoder.bias=10/10 encoder.bias=15/16 "
                       "layers.0.mix.bias=18/32"),
            std::string::npos)
      << r.out;
  const auto sat = nlohmann::json::parse(read_text(json)).at("saturation");
  EXPECT_EQ(sat.at("weights.encoder.bias"), 15);
  EXPECT_EQ(sat.at("weights.layers.0.mix.bias"), 18);
  EXPECT_EQ(sat.at("weights.decoder.bias"), 10);
  EXPECT_TRUE(sat.contains("encoder.out"));  // the per-point runtime events stay under their names
}

TEST(WeightSaturationCli, ThirtyTwoBitBiasesAndAnOldQuantizedFileNameNothing) {
  SSMSIM_REQUIRE_MNIST();
  const auto dir = scratch_dir("weight_saturation_cli_w8a8");
  const std::string q = (dir / "w8a8_state8.safetensors").string();
  auto r = run_cli({"quantize", "--ckpt", src("workloads/models/s4d_edge_smnist.safetensors"), "--precision",
                    src("configs/precision/w8a8_state8.yaml"), "--calib", "64", "--out", q});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning:"), std::string::npos) << r.err;
  for (const std::string& file : {q, src("workloads/models/s4d_edge_smnist_hetero6x_qat.safetensors")}) {
    const auto json = dir / "e.json";
    r = run_cli({"eval", "--ckpt", file, "--workload", "smnist", "--limit", "20", "--json", json.string()});
    ASSERT_EQ(r.exit_code, 0) << file << ": " << r.err;
    EXPECT_EQ(r.out.find("weight codes saturated"), std::string::npos) << r.out;
    for (const auto& [key, n] : nlohmann::json::parse(read_text(json)).at("saturation").items())
      EXPECT_NE(key.rfind("weights.", 0), 0u) << file << ": " << key;
    r = run_cli({"info", "--ckpt", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("saturated at quantization"), std::string::npos) << r.out;
  }
}
