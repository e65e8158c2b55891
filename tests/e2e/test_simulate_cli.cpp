// End-to-end: `ssmsim simulate` on small real models, S4D and S5, several precision and hardware
// configs: the accelerator is bit-exact with the C-model (logits and every state), the lt and
// cycle modes count the same cycles, the cost is priced, and bad input is refused.
#include <map>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/testing.hpp"

using ssmsim::testing::have_mnist;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

std::string cfg(const std::string& rel) { return (source_dir() / rel).string(); }

// A float model trained one epoch on the synthetic sines task, quantized with `precision` (a
// preset's name, or the path of a YAML file).
std::string quantized_model(const std::filesystem::path& dir, const std::string& model,
                            const std::vector<std::string>& model_sets, const std::string& precision) {
  const std::string name = std::filesystem::path(model).stem().string();
  std::string tag;
  for (const auto& s : model_sets) tag += "_" + s.substr(s.find('=') + 1);
  const auto f = dir / (name + tag + ".safetensors");
  if (!std::filesystem::exists(f)) {
    std::vector<std::string> args = {"train", "--model", cfg("configs/models/" + model + ".yaml"), "--workload", "sines",
                                     "--epochs", "1", "--out", f.string()};
    for (const auto& s : model_sets) args.insert(args.end(), {"--set", s});
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  const bool file = precision.size() > 5 && precision.substr(precision.size() - 5) == ".yaml";
  const auto q = dir / (name + tag + "_" + std::filesystem::path(precision).stem().string() + ".safetensors");
  const auto r = run_cli({"quantize", "--ckpt", f.string(), "--precision",
                          file ? precision : cfg("configs/precision/" + precision + ".yaml"),
                          "--calib", "32", "--out", q.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return q.string();
}

nlohmann::json simulate(const std::string& q, const std::string& hw, const std::string& mode,
                        const std::filesystem::path& json, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"simulate", "--ckpt", q, "--hw", cfg("configs/hw/" + hw + ".yaml"), "--workload",
                                   "sines", "--limit", "3", "--mode", mode, "--check-states", "--json", json.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  return read_json(json);
}

}  // namespace

// S4D (LayerNorm pre-norm, and BatchNorm post-norm) and S5, at three precision configs, on both
// hardware presets: bit-exact in both timing modes, with identical cycle counts.
TEST(SimulateCli, S4dAndS5AreBitExactOnEveryPresetAndLtCountsTheSameCyclesAsCycle) {
  const auto dir = scratch_dir("simulate_bitexact");
  struct Model {
    std::string name;
    std::vector<std::string> sets;
  };
  const std::vector<Model> models = {{"s4d_edge", {}},
                                     {"s4d_edge", {"model.norm=batch", "model.prenorm=false"}},
                                     {"s5_small", {}}};
  for (const auto& m : models)
    for (const std::string p : {"w8a8_state8", "all16", "hetero_6x"}) {
      const std::string q = quantized_model(dir, m.name, m.sets, p);
      for (const std::string hw : {"edge_minimal", "wide"}) {
        const std::string what = m.name + (m.sets.empty() ? "" : " (BatchNorm, post-norm)") + " / " + p + " / " + hw;
        const auto lt = simulate(q, hw, "lt", dir / "lt.json");
        const auto cy = simulate(q, hw, "cycle", dir / "cycle.json");
        EXPECT_TRUE(lt["bit_exact"].get<bool>()) << what;
        EXPECT_TRUE(cy["bit_exact"].get<bool>()) << what;
        EXPECT_TRUE(lt["checked_states"].get<bool>()) << what;
        EXPECT_EQ(lt["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>()) << what;
        EXPECT_GT(lt["cycles"].get<uint64_t>(), 0u) << what;
        EXPECT_DOUBLE_EQ(lt["energy_nj_per_token"].get<double>(), cy["energy_nj_per_token"].get<double>()) << what;
      }
    }
}

// The record names the figures the co-design reports need.
TEST(SimulateCli, TheJsonRecordHasEveryCostFigureAndTheResolvedHardware) {
  const auto dir = scratch_dir("simulate_json");
  const std::string q = quantized_model(dir, "s4d_edge", {}, "w8a8_state8");
  const auto j = simulate(q, "edge_minimal", "lt", dir / "s.json");
  for (const char* k : {"bit_exact", "cycles_per_token", "latency_us_per_token", "tokens_per_s", "energy_nj_per_token",
                        "energy_breakdown_nj", "memory_bits", "area_mm2", "utilization", "clock_mhz", "hw", "stats",
                        "cycles_per_sequence", "cycles_per_layer_per_token"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k : {"cmac", "mve", "sfu", "weight_mem", "state_mem", "bus", "offchip"})
    EXPECT_TRUE(j["energy_breakdown_nj"].contains(k)) << k;
  // memory_bits: the weight bits stored, a number as in results.jsonl; per tensor and states beside it
  EXPECT_TRUE(j["memory_bits_by_tensor"].contains("layers.0.A"));
  EXPECT_GT(j["memory_bits"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["memory_bits"], j["footprint"]["weight_bits"]);
  EXPECT_GT(j["state_bits"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["hw"]["name"], "edge_minimal");
  EXPECT_DOUBLE_EQ(j["clock_mhz"].get<double>(), 200.0);
  EXPECT_NEAR(j["latency_us_per_token"].get<double>(), j["cycles_per_token"].get<double>() / 200.0, 1e-9);
  for (const auto& [unit, u] : j["utilization"].items()) {
    EXPECT_GT(u.get<double>(), 0.0) << unit;
    EXPECT_LE(u.get<double>(), 1.0) << unit;
  }
}

// Weights that do not fit on chip stream from off-chip memory every token: more cycles, and the
// DRAM energy appears; without an off-chip path the same config is refused.
TEST(SimulateCli, AModelThatDoesNotFitOnChipStreamsItsWeightsAndPaysOffChipEnergy) {
  const auto dir = scratch_dir("simulate_offchip");
  const std::string q = quantized_model(dir, "s5_small", {}, "w8a8_state8");
  const auto on = simulate(q, "wide", "lt", dir / "on.json");
  EXPECT_FALSE(on["weights_streamed"].get<bool>());
  EXPECT_EQ(on["energy_breakdown_nj"]["offchip"].get<double>(), 0.0);
  for (const std::string db : {"true", "false"}) {
    const auto lt = simulate(q, "wide", "lt", dir / "off.json",
                             {"--set", "hw.weight_mem.capacity_bytes=8192", "--set", "hw.double_buffer=" + db});
    const auto cy = simulate(q, "wide", "cycle", dir / "offc.json",
                             {"--set", "hw.weight_mem.capacity_bytes=8192", "--set", "hw.double_buffer=" + db});
    EXPECT_TRUE(lt["weights_streamed"].get<bool>());
    EXPECT_TRUE(lt["bit_exact"].get<bool>());
    EXPECT_EQ(lt["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>()) << "double_buffer " << db;
    EXPECT_GT(lt["energy_breakdown_nj"]["offchip"].get<double>(), 0.0);
    EXPECT_GT(lt["energy_nj_per_token"].get<double>(), on["energy_nj_per_token"].get<double>());
    EXPECT_GT(lt["cycles_per_token"].get<double>(), on["cycles_per_token"].get<double>());
  }
  const auto r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/wide.yaml"), "--workload", "sines", "--set",
                          "hw.weight_mem.capacity_bytes=8192", "--set", "hw.offchip=false"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("hw.weight_mem.capacity_bytes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hw.offchip"), std::string::npos) << r.err;
}

// A wrong bit anywhere is found: the run exits 1 and names the layer, step and element.
TEST(SimulateCli, ANonBitExactRunExitsOneAndNamesTheFirstDifference) {
  const auto dir = scratch_dir("simulate_fault");
  const std::string q = quantized_model(dir, "s4d_edge", {}, "w8a8_state8");
  auto r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/edge_minimal.yaml"), "--workload", "sines",
                    "--limit", "1", "--check-states", "--set", "hw.fault_step=5", "--json", (dir / "f.json").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("layer 0, step 5, state element 0"), std::string::npos) << r.err;
  EXPECT_FALSE(read_json(dir / "f.json")["bit_exact"].get<bool>());
  // without --check-states the logits still differ (or the fault was absorbed: then bit_exact holds)
  r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/edge_minimal.yaml"), "--workload", "sines", "--limit",
               "1", "--set", "hw.fault_step=0"});
  if (r.exit_code == 1) {
    EXPECT_NE(r.err.find("logit"), std::string::npos) << r.err;
  }
}

// Cycle mode writes a waveform of the clock and the units' busy signals.
TEST(SimulateCli, CycleModeWritesAVcdWaveform) {
  const auto dir = scratch_dir("simulate_vcd");
  const std::string q = quantized_model(dir, "s4d_edge", {}, "w8a8_state8");
  const auto vcd = (dir / "wave").string();
  auto r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/edge_minimal.yaml"), "--workload", "sines",
                    "--limit", "1", "--mode", "cycle", "--vcd", vcd});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(vcd + ".vcd");
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("cmac_busy"), std::string::npos);
  EXPECT_NE(text.find("$enddefinitions"), std::string::npos);
  r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/edge_minimal.yaml"), "--workload", "sines", "--limit",
               "1", "--vcd", vcd});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--mode cycle"), std::string::npos) << r.err;
}

// Bad hardware configs and the wrong kind of checkpoint: exit 2 with the key and what is allowed.
TEST(SimulateCli, BadHardwareConfigsAndFloatCheckpointsAreRefusedClearly) {
  const auto dir = scratch_dir("simulate_bad");
  const std::string q = quantized_model(dir, "s4d_edge", {}, "w8a8_state8");
  const std::string hw = cfg("configs/hw/edge_minimal.yaml");
  struct Case {
    std::string set, expect;
  };
  for (const Case& c : std::vector<Case>{{"hw.cmac_lanes=0", "hw.cmac_lanes"},
                                         {"hw.bus_width_bits=12", "multiple of 8"},
                                         {"hw.weight_mem.word_bits=20", "multiple of 8"},
                                         {"hw.state_mem.capacity_bytes=16", "hw.state_mem.capacity_bytes"},
                                         {"hw.mode=fast", "allowed: lt, cycle"},
                                         {"hw.lanes=4", "unknown hw key"}}) {
    const auto r = run_cli({"simulate", "--ckpt", q, "--hw", hw, "--workload", "sines", "--set", c.set});
    EXPECT_EQ(r.exit_code, 2) << c.set;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.set << ": " << r.err;
  }
  const auto r = run_cli({"simulate", "--ckpt", cfg("workloads/models/s4d_edge_smnist.safetensors"), "--hw", hw,
                          "--workload", "smnist"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("float checkpoint"), std::string::npos) << r.err;
}

// Co-simulation: the Verilated Verilog lane in place of the C++ state update stays bit-exact with
// the C-model (every state checked), S4D and S5, 8- and 16-bit states, both timing modes; a state
// format without a built lane is refused, naming the variants.
TEST(SimulateCli, TheVerilogLaneInsideTheAcceleratorStaysBitExact) {
  const auto dir = scratch_dir("simulate_cosim");
  struct Case {
    std::string model, precision, hw;
  };
  for (const Case& c : std::vector<Case>{{"s4d_edge", "w8a8_state8", "edge_minimal"},
                                         {"s4d_edge", "hetero_6x", "edge_minimal"},
                                         {"s5_small", "all16", "wide"}}) {
    const std::string q = quantized_model(dir, c.model, {}, c.precision);
    for (const std::string mode : {"lt", "cycle"}) {
      const auto j = simulate(q, c.hw, mode, dir / "rtl.json", {"--cmac", "rtl"});
      EXPECT_TRUE(j["bit_exact"].get<bool>()) << c.model << " " << c.precision << " " << mode;
      EXPECT_EQ(j["cmac"], "rtl");
    }
  }
  const std::string q4 = quantized_model(dir, "s4d_edge", {}, "a8_rest4");
  const auto r = run_cli({"simulate", "--ckpt", q4, "--hw", cfg("configs/hw/edge_minimal.yaml"), "--workload", "sines",
                          "--limit", "1", "--cmac", "rtl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no Verilog lane is built for a 4-bit state"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("x16_he_sat"), std::string::npos) << r.err;
}

// A precision file written by the test: every weight 8-bit asymmetric per channel (zero points),
// activations 8-bit symmetric, the state stored at 16 bits with an 8-bit operand, static
// (`block` 0) or block floating point with `block` states per exponent.
std::string zero_point_precision(const std::filesystem::path& dir, int block) {
  const auto path = dir / ("zp_operand" + std::to_string(block) + ".yaml");
  std::ofstream(path) << "name: zp_operand" << block << "\n"
                      << "default: quantized\n"
                      << "defaults: {bits: 8, scheme: asymmetric, granularity: per_channel, calibration: maxabs}\n"
                      << "components:\n"
                      << "  x: {bits: 16, scheme: symmetric, granularity: per_tensor, operand_bits: 8, operand_block: "
                      << block << "}\n"
                      << "  ssm_in: {scheme: symmetric, granularity: per_tensor}\n"
                      << "  ssm_out: {scheme: symmetric, granularity: per_tensor}\n"
                      << "  act: {scheme: symmetric, granularity: per_tensor}\n"
                      << "  bias: {bits: 32, scheme: symmetric, granularity: per_tensor}\n";
  return path.string();
}

// Zero points (docs/fixed_point.md 9.2) and the state operand apart from the stored state (9.3),
// static and block floating point, S4D and S5: bit-exact with the C-model on every sequence and
// state in both timing modes with equal cycles and energy; the operand memory is counted in the
// state bits; a fault is still found; the Verilog lane runs zero points and a static operand and
// refuses block floating point.
TEST(SimulateCli, ZeroPointsAndANarrowedStateOperandStayBitExactInBothModes) {
  const auto dir = scratch_dir("simulate_zp_operand");
  for (const std::string model : {"s4d_edge", "s5_small"})
    for (const int block : {0, 4}) {
      const std::string what = model + ", operand_block " + std::to_string(block);
      const std::string q = quantized_model(dir, model, {}, zero_point_precision(dir, block));
      const std::string hw = model == "s5_small" ? "wide" : "edge_minimal";
      const auto lt = simulate(q, hw, "lt", dir / "lt.json");
      const auto cy = simulate(q, hw, "cycle", dir / "cycle.json");
      EXPECT_TRUE(lt["bit_exact"].get<bool>()) << what;
      EXPECT_TRUE(cy["bit_exact"].get<bool>()) << what;
      EXPECT_EQ(lt["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>()) << what;
      EXPECT_DOUBLE_EQ(lt["energy_nj_per_token"].get<double>(), cy["energy_nj_per_token"].get<double>()) << what;
      const auto& bits = lt["memory_bits_by_tensor"];
      ASSERT_TRUE(bits.contains("layers.0.xo")) << what;
      EXPECT_EQ(bits["layers.0.xo"].get<uint64_t>() * 2, bits["layers.0.x"].get<uint64_t>()) << what;  // 8 of 16 bits
      EXPECT_EQ(bits["layers.0.A"].get<uint64_t>() % 8, 0u) << what;  // codes stored at 8 bits
      auto r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/" + hw + ".yaml"), "--workload", "sines",
                        "--limit", "1", "--check-states", "--set", "hw.fault_step=3"});
      EXPECT_EQ(r.exit_code, 1) << what << r.err;
      EXPECT_NE(r.err.find("layer 0, step 3, state element 0"), std::string::npos) << r.err;
      r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/" + hw + ".yaml"), "--workload", "sines",
                   "--limit", "2", "--check-states", "--cmac", "rtl", "--json", (dir / "rtl.json").string()});
      if (block == 0) {
        EXPECT_EQ(r.exit_code, 0) << what << r.err;
        if (r.exit_code == 0) EXPECT_TRUE(read_json(dir / "rtl.json")["bit_exact"].get<bool>()) << what;
      } else {
        EXPECT_EQ(r.exit_code, 2) << what;
        EXPECT_NE(r.err.find("does not support a block-floating-point state operand"), std::string::npos) << r.err;
      }
    }
}

// Block floating point on the activations that enter multipliers (docs/fixed_point.md 9.3,
// "Activation operands": input, ssm_in, gelu_out, pool), S4D and S5, 1, 3 and a whole vector's
// features per exponent: bit-exact with the C-model on every sequence and state in both timing
// modes with equal cycles and energy, and with the Verilog lane (its B u comes narrowed); against
// the same model without operands the narrowing pass costs cycles, SFU energy and area (the
// max-reduce trees, shifters and exponent registers) and the MVE's area (its product shifters).
TEST(SimulateCli, ActivationOperandsStayBitExactInBothModesAndArePriced) {
  const auto dir = scratch_dir("simulate_act_operand");
  auto precision = [&](int block) {
    const auto path = dir / ("act_op" + std::to_string(block) + ".yaml");
    const std::string op = "operand_bits: 4, operand_block: " + std::to_string(block);
    std::ofstream(path) << "name: act_op" << block << "\ndefault: quantized\n"
                        << "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, calibration: maxabs}\n"
                        << "components:\n"
                        << (block ? "  input: {" + op + "}\n  ssm_in: {" + op + "}\n  pool: {" + op + "}\n" +
                                        "  gelu_out: {operand_bits: 5, operand_block: " + std::to_string(block) +
                                        ", rounding: half_away}\n"
                                  : std::string())
                        << "  x: {bits: 16}\n  bias: {bits: 32}\n";
    return path.string();
  };
  for (const std::string model : {"s4d_edge", "s5_small"}) {
    const std::string hw = model == "s5_small" ? "wide" : "edge_minimal";
    const auto plain = simulate(quantized_model(dir, model, {}, precision(0)), hw, "lt", dir / "plain.json");
    ASSERT_TRUE(plain["bit_exact"].get<bool>()) << model;
    for (const int block : {1, 3, 4096}) {
      const std::string what = model + ", operand_block " + std::to_string(block);
      const std::string q = quantized_model(dir, model, {}, precision(block));
      const auto lt = simulate(q, hw, "lt", dir / "lt.json");
      const auto cy = simulate(q, hw, "cycle", dir / "cycle.json");
      EXPECT_TRUE(lt["bit_exact"].get<bool>()) << what;
      EXPECT_TRUE(cy["bit_exact"].get<bool>()) << what;
      EXPECT_TRUE(lt["checked_states"].get<bool>()) << what;
      EXPECT_EQ(lt["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>()) << what;
      EXPECT_DOUBLE_EQ(lt["energy_nj_per_token"].get<double>(), cy["energy_nj_per_token"].get<double>()) << what;
      EXPECT_GT(lt["cycles"].get<uint64_t>(), plain["cycles"].get<uint64_t>()) << what;
      EXPECT_GT(lt["area_breakdown_mm2"]["sfu"].get<double>(), plain["area_breakdown_mm2"]["sfu"].get<double>()) << what;
      EXPECT_GT(lt["area_breakdown_mm2"]["mve"].get<double>(), plain["area_breakdown_mm2"]["mve"].get<double>()) << what;
      EXPECT_GT(lt["energy_breakdown_nj"]["sfu"].get<double>(), plain["energy_breakdown_nj"]["sfu"].get<double>()) << what;
      const auto r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/" + hw + ".yaml"), "--workload", "sines",
                              "--limit", "2", "--check-states", "--cmac", "rtl", "--json", (dir / "rtl.json").string()});
      EXPECT_EQ(r.exit_code, 0) << what << r.err;
      if (r.exit_code == 0) EXPECT_TRUE(read_json(dir / "rtl.json")["bit_exact"].get<bool>()) << what;
    }
  }
}

// The embedded sMNIST S4D model quantized like w8a8_hw (A, B, C 8-bit asymmetric per channel, the
// state stored at 16 bits with an 8-bit block-floating-point operand), once as it is and once with
// separate parts on A, B, C and A in delta form (docs/fixed_point.md 9.2, 9.3): with the keys the
// accelerator stays bit-exact with the C-model on every sequence and state in both timing modes,
// with equal cycles and energy; the keys cost CMAC energy and area (part shifters, the wider
// sums, the stored state's adders) and MVE area (part shifters); the Verilog lane refuses the
// delta form, naming the key, and runs separate parts alone bit-exactly. S5 (trained on sines)
// with both keys is bit-exact in both modes too.
TEST(SimulateCli, SeparatePartsAndDeltaFormStayBitExactInBothModesAndArePriced) {
  const auto dir = scratch_dir("simulate_parts_delta");
  auto precision = [&](const std::string& name, const std::string& a, const std::string& bc,
                       const std::string& x = "operand_bits: 8, operand_block: 1, rounding: half_away") {
    const auto path = dir / (name + ".yaml");
    std::ofstream(path) << "name: " << name << "\ndefault: quantized\n"
                        << "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, scale: dyadic, "
                           "scale_bits: 16, calibration: maxabs}\n"
                        << "components:\n"
                        << "  A: {scheme: asymmetric, granularity: per_channel" << a << "}\n"
                        << "  B: {scheme: asymmetric, granularity: per_channel" << bc << "}\n"
                        << "  C: {scheme: asymmetric, granularity: per_channel" << bc << "}\n"
                        << "  D: {granularity: per_channel}\n"
                        << "  x: {bits: 16, " << x << "}\n"
                        << "  residual: 16\n  bias: {bits: 32}\n";
    return path.string();
  };
  const std::string plain_p = precision("plain", "", "");
  const std::string both_p = precision("both", ", parts: separate, form: delta", ", parts: separate");
  // S5 on sines, both keys
  const std::string q5 = quantized_model(dir, "s5_small", {}, both_p);
  const auto lt5 = simulate(q5, "wide", "lt", dir / "lt5.json"), cy5 = simulate(q5, "wide", "cycle", dir / "cy5.json");
  EXPECT_TRUE(lt5["bit_exact"].get<bool>() && lt5["checked_states"].get<bool>());
  EXPECT_TRUE(cy5["bit_exact"].get<bool>());
  EXPECT_EQ(lt5["cycles"].get<uint64_t>(), cy5["cycles"].get<uint64_t>());
  if (!have_mnist()) {
    if (std::getenv("SSMSIM_REQUIRE_DATA")) FAIL() << "MNIST is missing: run `make data`";
    GTEST_SKIP() << "MNIST is not fetched: the embedded sMNIST model's part is skipped";
  }
  auto quantize = [&](const std::string& p) {
    const auto out = dir / (std::filesystem::path(p).stem().string() + "_smnist.safetensors");
    const auto r = run_cli({"quantize", "--ckpt", cfg("workloads/models/s4d_edge_smnist.safetensors"), "--precision", p,
                            "--calib", "32", "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out.string();
  };
  auto sim = [&](const std::string& q, const std::string& mode, const std::string& json,
                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"simulate", "--ckpt", q, "--hw", cfg("configs/hw/edge_minimal.yaml"), "--workload",
                                     "smnist", "--limit", "2", "--mode", mode, "--check-states", "--json",
                                     (dir / json).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const std::string plain = quantize(plain_p), both = quantize(both_p);
  ASSERT_EQ(sim(plain, "lt", "plain.json").exit_code, 0);
  auto r = sim(both, "lt", "lt.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = sim(both, "cycle", "cycle.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = read_json(dir / "plain.json"), lt = read_json(dir / "lt.json"), cy = read_json(dir / "cycle.json");
  EXPECT_TRUE(lt["bit_exact"].get<bool>() && lt["checked_states"].get<bool>());
  EXPECT_TRUE(cy["bit_exact"].get<bool>());
  EXPECT_EQ(lt["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>());
  EXPECT_DOUBLE_EQ(lt["energy_nj_per_token"].get<double>(), cy["energy_nj_per_token"].get<double>());
  EXPECT_GT(lt["energy_breakdown_nj"]["cmac"].get<double>(), p["energy_breakdown_nj"]["cmac"].get<double>());
  EXPECT_GT(lt["area_breakdown_mm2"]["cmac"].get<double>(), p["area_breakdown_mm2"]["cmac"].get<double>());
  EXPECT_GT(lt["area_breakdown_mm2"]["mve"].get<double>(), p["area_breakdown_mm2"]["mve"].get<double>());
  EXPECT_GT(lt["area_mm2"].get<double>(), p["area_mm2"].get<double>());
  r = sim(both, "lt", "rtl.json", {"--cmac", "rtl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("does not support A in delta form (precision A form: delta"), std::string::npos) << r.err;
  // separate parts alone run on the Verilog lane (it receives the shifted operands; the state
  // stored, as the lane has no block exponents)
  const std::string parts = quantize(precision("parts", ", parts: separate", ", parts: separate", "rounding: half_even"));
  r = sim(parts, "lt", "rtl.json", {"--cmac", "rtl"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code == 0) {
    EXPECT_TRUE(read_json(dir / "rtl.json")["bit_exact"].get<bool>());
  }
}

// The rescale multipliers' width (precision.rescale_bits, docs/fixed_point.md 9.1): S4D and S5 at
// 12 bits and shift-only (1) stay bit-exact with the C-model in both timing modes (and on the
// Verilog lane, whose multiplier receives the narrower constant), and the cost model prices
// narrower multipliers: less CMAC energy and area than the same model at 31 bits, shift-only the
// least.
TEST(SimulateCli, NarrowRescaleMultipliersStayBitExactAndCostLess) {
  const auto dir = scratch_dir("simulate_rescale_bits");
  auto precision = [&](int rb) {
    const auto path = dir / ("rescale" + std::to_string(rb) + ".yaml");
    std::ofstream(path) << "name: rescale" << rb << "\nrescale_bits: " << rb << "\ndefault: quantized\n"
                        << "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, scale: dyadic, "
                           "scale_bits: 16, calibration: maxabs}\n"
                        << "components:\n  x: 16\n  residual: 16\n  bias: 32\n";
    return path.string();
  };
  for (const std::string model : {"s4d_edge", "s5_small"}) {
    std::map<int, nlohmann::json> lt;
    for (const int rb : {31, 12, 1}) {
      const std::string q = quantized_model(dir, model, {}, precision(rb));
      const std::string tag = model + std::to_string(rb);
      lt[rb] = simulate(q, "wide", "lt", dir / (tag + "_lt.json"));
      const auto cy = simulate(q, "wide", "cycle", dir / (tag + "_cycle.json"));
      EXPECT_TRUE(lt[rb]["bit_exact"].get<bool>() && lt[rb]["checked_states"].get<bool>()) << tag;
      EXPECT_TRUE(cy["bit_exact"].get<bool>()) << tag;
      EXPECT_EQ(lt[rb]["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>()) << tag;
      if (model == "s4d_edge") {
        const auto rtl = simulate(q, "wide", "lt", dir / (tag + "_rtl.json"), {"--cmac", "rtl"});
        EXPECT_TRUE(rtl["bit_exact"].get<bool>()) << tag << " on the Verilog lane";
      }
    }
    for (const char* what : {"energy_breakdown_nj", "area_breakdown_mm2"}) {
      EXPECT_LT(lt[12][what]["cmac"].get<double>(), lt[31][what]["cmac"].get<double>()) << model << " " << what;
      EXPECT_LT(lt[1][what]["cmac"].get<double>(), lt[12][what]["cmac"].get<double>()) << model << " " << what;
      EXPECT_LT(lt[12][what]["sfu"].get<double>(), lt[31][what]["sfu"].get<double>()) << model << " " << what;
    }
  }
}

// Zero points on activation points (docs/fixed_point.md 9.2, "An activation point may be
// asymmetric"; docs/hardware.md, "Zero points on activation points"): every activation point 8-bit
// asymmetric (the input, u, y, act, the GLU's points, the residual stream, the pooled vector), S4D
// and S5: bit-exact with the C-model on every sequence and state in both timing modes with equal
// cycles and energy, and with the Verilog lane (it reads no activation point: B u comes to it
// exact); against the same model with every point symmetric the cycles and the stored bits are
// equal, and the zero points' adders and subtractors (and the one bit wider activation ports)
// cost energy and area in the MVE and the SFU.
TEST(SimulateCli, AsymmetricActivationPointsStayBitExactInBothModesAndArePriced) {
  const auto dir = scratch_dir("simulate_act_zero_points");
  auto precision = [&](const std::string& scheme) {
    const auto path = dir / ("act_" + scheme + ".yaml");
    const std::string s = "{scheme: " + scheme + "}";
    std::ofstream(path) << "name: act_" << scheme << "\ndefault: quantized\n"
                        << "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, calibration: maxabs}\n"
                        << "components:\n  act: " << s << "\n  gate: {scheme: symmetric}\n  ssm_in: " << s
                        << "\n  ssm_out: " << s << "\n  residual: " << s << "\n  x: {bits: 16}\n  bias: {bits: 32}\n";
    return path.string();
  };
  for (const std::string model : {"s4d_edge", "s5_small"}) {
    const std::string hw = model == "s5_small" ? "wide" : "edge_minimal";
    const auto sym = simulate(quantized_model(dir, model, {}, precision("symmetric")), hw, "lt", dir / "sym.json");
    ASSERT_TRUE(sym["bit_exact"].get<bool>()) << model;
    const std::string q = quantized_model(dir, model, {}, precision("asymmetric"));
    const auto info = run_cli({"info", "--ckpt", q});
    EXPECT_NE(info.out.find("activation zero points"), std::string::npos) << info.out;
    const auto lt = simulate(q, hw, "lt", dir / "lt.json");
    const auto cy = simulate(q, hw, "cycle", dir / "cycle.json");
    EXPECT_TRUE(lt["bit_exact"].get<bool>()) << model;
    EXPECT_TRUE(cy["bit_exact"].get<bool>()) << model;
    EXPECT_TRUE(lt["checked_states"].get<bool>()) << model;
    EXPECT_EQ(lt["cycles"].get<uint64_t>(), cy["cycles"].get<uint64_t>()) << model;
    EXPECT_DOUBLE_EQ(lt["energy_nj_per_token"].get<double>(), cy["energy_nj_per_token"].get<double>()) << model;
    EXPECT_EQ(lt["cycles"].get<uint64_t>(), sym["cycles"].get<uint64_t>()) << model;
    EXPECT_EQ(lt["memory_bits"], sym["memory_bits"]) << model;
    for (const char* unit : {"mve", "sfu"}) {
      EXPECT_GT(lt["area_breakdown_mm2"][unit].get<double>(), sym["area_breakdown_mm2"][unit].get<double>()) << unit;
      EXPECT_GT(lt["energy_breakdown_nj"][unit].get<double>(), sym["energy_breakdown_nj"][unit].get<double>()) << unit;
    }
    const auto r = run_cli({"simulate", "--ckpt", q, "--hw", cfg("configs/hw/" + hw + ".yaml"), "--workload", "sines",
                            "--limit", "2", "--check-states", "--cmac", "rtl", "--json", (dir / "rtl.json").string()});
    EXPECT_EQ(r.exit_code, 0) << model << r.err;
    if (r.exit_code == 0) EXPECT_TRUE(read_json(dir / "rtl.json")["bit_exact"].get<bool>()) << model;
  }
}
