// The whole accelerator on a tiny model, its cycles and energy per token against figures derived
// by hand (the derivation is in the comments), in both timing modes: this pins the controller's
// schedule, every unit's cycle and action rules, the memories' access counts, the bus and the
// pricing together.
#include <gtest/gtest.h>

#include <systemc>

#include "hw_models/accelerator.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

// 1 input, 4 classes, H 4, N 4 (2 complex states a channel), one S4D layer, GELU (no mixing
// weights), post-LayerNorm, last-step pooling; every tensor and point at 16 bits, biases at 32.
core::ModelConfig tiny() {
  core::ModelConfig c = s4d_config();
  c.H = 4;
  c.N = 4;
  c.mixing = core::Mixing::Gelu;
  c.pooling = core::Pooling::Last;
  return c;
}

}  // namespace

class TinyAccelerator : public ::testing::TestWithParam<bool> {};

TEST_P(TinyAccelerator, CyclesAndEnergyPerTokenEqualTheHandDerivedFigures) {
  const core::QModel q = quantized(tiny());
  const core::QEngine e(q);
  ASSERT_FALSE(e.consts().logit_rescaled);
  const hw::HwConfig c = tiny_hw(GetParam());
  const hw::EnergyTable t = hw::EnergyTable::builtin();
  hw::Accelerator acc("acc", c, e, t, 64);
  for (const auto& m : acc.weight_map()) ASSERT_EQ(m.width, m.tensor.find("bias") != std::string::npos ? 32 : 16) << m.tensor;
  MiniHost host("host", acc, e, 1);
  sc_core::sc_start();
  ASSERT_EQ(host.logits.size(), 1u);
  EXPECT_EQ(host.logits[0], c_model_logits(e));

  // ---- cycles of the sequence (64 tokens) ----
  // An op: ceil(items / per cycle) issue cycles (one each: no conflicts, full-width multipliers)
  // plus the unit's stages.
  //   start: clear the state (16 codes = 4 words, 16 banks x ports a cycle)          1
  //   per token:
  //     encoder (MVE)   4 x 1 MACs, 4 a cycle: 1 + 2                                 3
  //     u_in (SFU)      4 elements, 2 a cycle: 2 + 2                                 4
  //     state (CMAC)    4 x 2 updates, 2 lanes: 4 + 3                                7
  //     C x (MVE)       8 complex products, 2 a cycle: 4 + 2                         6
  //     y (MVE)         4 outputs, 4 a cycle: 1 + 2                                  3
  //     GELU (SFU)      2 + 2                                                        4
  //     residual (SFU)  2 + 2                                                        4
  //     LayerNorm (SFU) 8 items: 4 + 2 + 5 (root); 4 outputs: 2 + 2                  15
  //                                                                          token: 46
  //   end: decoder (MVE) 4 x 4 MACs, 4 a cycle: 4 + 2                                6
  const uint64_t cycles = 1 + 64 * 46 + 6;
  EXPECT_EQ(acc.controller().total_cycles(), cycles);
  EXPECT_EQ(acc.controller().layer_cycles(), std::vector<uint64_t>{64u * (4 + 7 + 6 + 3 + 4 + 4 + 15)});
  // the host's transfers, each ceil(bytes / 8) beats in one burst after 8 cycles of latency:
  //   weights: 10 tensors of 1 word (encoder W, D, gamma, beta), 2 words (the biases: 4 codes of
  //   32 bits) or 4 words (A, B, C: 8 complex codes; decoder W: 16 codes): 24 beats + 10 x 8 = 104
  //   input: 64 codes = 16 words: 16 + 8; logits: 4 x 8 bytes: 4 + 8            = 36 cycles
  EXPECT_EQ(acc.load_cycles(), 104u);
  EXPECT_EQ(acc.io_cycles(), 36u);

  // ---- energy ----
  // Multiplies by operand widths per token (all operands 16 bits):
  //   CMAC: 8 updates x (6 of 16x16, 2 of 33x31, 2 of 32x31); adds 2 x 33 and 4 x 64 bits each
  const double k_mul = t.mul_pj_per_bit2, k_add = t.add_pj_per_bit;
  const double cmac = 64 * (k_mul * (48.0 * 256 + 16.0 * 33 * 31 + 16.0 * 32 * 31) + k_add * (16.0 * 33 + 32.0 * 64));
  //   MVE: encoder 4 MACs 16x16 (adds at 32 bits) and 4 narrowings 32x31 (adds at 63);
  //        C x 8 products = 16 MACs 16x16 (adds at 16+16+2 = 34); y: 4 D u 16x16, 4 of 34x31,
  //        4 of 32x31, 8 adds at 65; per sequence the decoder: 16 MACs 16x16 (adds at 34)
  const double mve = 64 * (k_mul * (24.0 * 256 + 4.0 * 32 * 31 + 4.0 * 34 * 31 + 4.0 * 32 * 31) +
                           k_add * (4.0 * 32 + 4.0 * 63 + 16.0 * 34 + 8.0 * 65)) +
                     k_mul * 16.0 * 256 + k_add * 16.0 * 34;
  //   SFU: u_in 4 x (16x31, add 64); GELU 4 reads of the 65,536 x 16-bit table (131,072 bytes);
  //        residual 4 x (2 of 64x31, 2 adds); LayerNorm 4 x (2 of 64x64, 64x16, 2 of 64x31, 5 adds)
  //        + once (64x64, 128 adds)
  const double sfu = 64 * (k_mul * (4.0 * 16 * 31 + 8.0 * 64 * 31 + 9.0 * 64 * 64 + 4.0 * 64 * 16 + 8.0 * 64 * 31) +
                           k_add * 64.0 * (4 + 8 + 20 + 128) + 4 * t.sram_pj(131072, 16));
  // Memory words (an access of a bank of capacity / banks bytes):
  //   weights: loading writes 24 words; per token reads encoder 1 W + 4 bias (one per row), CMAC
  //   4 x (A, B), C x 4 C, y 1 D, LayerNorm 2 x (gamma, beta) = 22; the decoder 4 x (W, b) = 8
  const double weight_mem = t.sram_pj(4096, 64) * (24 + 64 * 22 + 8);
  //   states: clearing writes 4 words; per token CMAC 4 reads and 4 writes, C x 4 reads
  const double state_mem = t.sram_pj(1024, 64) * (4 + 64 * 12);
  //   io (136 bytes: 64 codes of 16 bits in 64-bit words plus a word): 16 words written, 1 read a token
  const double io_mem = t.sram_pj(136, 64) * (16 + 64);
  //   bus: 24 + 16 + 4 beats of 64 bits
  const double bus = t.bus_pj_per_bit * 44 * 64;
  // Area (um^2): CMAC 2 lanes x (3.41 (6 x 256 + 2 x 33 x 31 + 2 x 32 x 31) + 4.28 (2 x 33 + 4 x 64)
  // + 5.0 x 3 x (4 x 16 + 2 x 64)); MVE 4 x (3.41 x 256 + 4.28 x 64 + 5.0 x 2 x 64) + 3.41 x 64 x 31;
  // SFU 2 x (3.41 x 64 x 31 + 4.28 x 3 x 64 + 5.0 x 2 x 64) + 0.7 x 65,536 x 16 (the GELU ROM);
  // bus 5.0 x 4 x 64; memories 0.7 x 8 x capacity.
  const double a_cmac = 2 * (3.41 * (6 * 256 + 2 * 33 * 31 + 2 * 32 * 31) + 4.28 * (2 * 33 + 4 * 64) + 5.0 * 3 * 192);
  const double a_mve = 4 * (3.41 * 256 + 4.28 * 64 + 5.0 * 2 * 64) + 3.41 * 64 * 31;
  const double a_sfu = 2 * (3.41 * 64 * 31 + 4.28 * 3 * 64 + 5.0 * 2 * 64) + 0.7 * 65536 * 16;
  const double a_bus = 5.0 * 4 * 64;
  // Leakage over the run: (2,951 + 104 + 36) cycles at 10 ns; logic 0.05 nW/um^2, SRAM 20 pW/bit.
  const double seconds = (cycles + 104 + 36) * 10e-9;
  const double leak_pj = (0.05e-9 * (a_cmac + a_mve + a_sfu + a_bus) + 20e-12 * 8 * (16384 + 4096 + 136)) * seconds * 1e12;
  const double total = cmac + mve + sfu + weight_mem + state_mem + io_mem + bus + leak_pj;

  const hw::Cost k = acc.cost();
  auto near = [](double got, double want) { EXPECT_NEAR(got, want, 1e-9 * want) << got << " vs " << want; };
  near(k.energy_pj_by_module.at("cmac"), cmac + 0.05e-9 * a_cmac * seconds * 1e12);
  near(k.energy_pj_by_module.at("mve"), mve + 0.05e-9 * a_mve * seconds * 1e12);
  near(k.energy_pj_by_module.at("sfu"), sfu + 0.05e-9 * a_sfu * seconds * 1e12);
  near(k.energy_pj_by_module.at("weight_mem"), weight_mem + 20e-12 * 8 * 16384 * seconds * 1e12);
  near(k.energy_pj_by_module.at("state_mem"), state_mem + 20e-12 * 8 * 4096 * seconds * 1e12);
  near(k.energy_pj_by_module.at("io_mem"), io_mem + 20e-12 * 8 * 136 * seconds * 1e12);
  near(k.energy_pj_by_module.at("bus"), bus + 0.05e-9 * a_bus * seconds * 1e12);
  EXPECT_EQ(k.energy_pj_by_module.at("offchip"), 0.0);
  near(k.leakage_pj, leak_pj);
  near(k.energy_pj, total);
  near(k.energy_pj / 64, total / 64);  // per token: the record's energy_nj_per_token x 1000
  near(k.area_mm2, (a_cmac + a_mve + a_sfu + a_bus + 0.7 * 8 * (16384 + 4096 + 136)) * 1e-6);
  near(k.utilization.at("cmac"), 64.0 * 7 / cycles);
  near(k.utilization.at("mve"), (64.0 * (3 + 6 + 3) + 6) / cycles);
  near(k.utilization.at("sfu"), 64.0 * (4 + 4 + 4 + 15) / cycles);
  near(k.utilization.at("bus"), (104.0 + 36) / (cycles + 104 + 36));
}

INSTANTIATE_TEST_SUITE_P(Modes, TinyAccelerator, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Clocked" : "LooselyTimed"; });

// The S5 schedule on the tiny model's S5 twin (P 4: 2 stored states, shared by the 4 channels):
// per token the MVE forms B u before the state update and C x over the shared states after it.
//   start: clear the state (4 codes = 1 word)                                          1
//   per token: encoder 3, u_in 4,
//     B u (MVE)      2 states x 4 inputs, 2 a cycle (complex by real: 2 MACs each): 4 + 2  6
//     state (CMAC)   2 updates, 2 lanes: 1 + 3                                          4
//     C x (MVE)      4 channels x 2 states, 2 a cycle (each group reads the one x word): 4 + 2  6
//     y 3, GELU 4, residual 4, LayerNorm 15                                    token: 49
//   end: the decoder 6
class TinyS5Accelerator : public ::testing::TestWithParam<bool> {};

TEST_P(TinyS5Accelerator, TheS5ScheduleFormsBuBeforeAndCxAfterTheStateUpdate) {
  core::ModelConfig mc = tiny();
  mc.layer = core::LayerType::S5;
  mc.P = 4;
  mc.J = 1;
  const core::QModel q = quantized(mc);
  const core::QEngine e(q);
  ASSERT_EQ(e.consts().layers[0].states, 2u);
  hw::Accelerator acc("acc", tiny_hw(GetParam()), e, hw::EnergyTable::builtin(), 64);
  MiniHost host("host", acc, e, 1);
  sc_core::sc_start();
  EXPECT_EQ(host.logits.at(0), c_model_logits(e));
  EXPECT_EQ(acc.controller().total_cycles(), 1u + 64u * 49u + 6u);
  EXPECT_EQ(acc.controller().layer_cycles(), std::vector<uint64_t>{64u * (4 + 6 + 4 + 6 + 3 + 4 + 4 + 15)});
}

INSTANTIATE_TEST_SUITE_P(Modes, TinyS5Accelerator, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Clocked" : "LooselyTimed"; });

// The controller's schedule when the weights stream from off-chip: the tiny model above with a
// weight memory of 160 bytes (no double buffering), and the tiny model with two layers and 320
// bytes (double-buffered; one layer would fit whole). Segments, in 64-bit words: the encoder W 1 +
// b 2 = 24 bytes; a layer from the word after the previous segment to its beta (A, B, C start in
// banks 0, 1, 2: layer 0 18 words with the skipped ones = 144 bytes, layer 1 20 words = 160 bytes);
// the decoder W 4 + b 2 = 48 bytes. A fetch from DRAM takes beats + bursts x (8 + 40): encoder
// 3 + 48 = 51, layer 0 18 + 2 x 48 = 114, layer 1 20 + 2 x 48 = 116, decoder 6 + 48 = 54.
// Compute: encoder 3, a layer 43 (46 - 3, as above), the decoder 6; clearing 1 a layer.
//   no double buffering: clear 1, the first encoder fetch 51; a token: encoder 3, fetch layer 0
//     114, layer 43, fetch the encoder 51 (the last token: the decoder, 54); then the decoder 6.
//   double buffering: the fetch of the next segment overlaps the current one's compute, a
//     segment takes max(compute, fetch): encoder max(3, 114), layer 0 max(43, 116), layer 1
//     max(43, 51) (the last token: max(43, 54)).
class StreamingSchedule : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(StreamingSchedule, WeightsStreamedFromOffChipStallTheScheduleByTheFetchesNotHidden) {
  const auto [double_buffer, clocked] = GetParam();
  core::ModelConfig mc = tiny();
  mc.n_layers = double_buffer ? 2 : 1;
  const core::QModel q = quantized(mc);
  const core::QEngine e(q);
  hw::HwConfig c = tiny_hw(clocked);
  c.offchip = {true, 40, double_buffer};
  c.weight_mem.capacity_bytes = double_buffer ? 320 : 160;
  const hw::EnergyTable t = hw::EnergyTable::builtin();
  hw::Accelerator acc("acc", c, e, t, 64);
  ASSERT_TRUE(acc.streaming());
  MiniHost host("host", acc, e, 1);
  sc_core::sc_start();
  EXPECT_EQ(host.logits.at(0), c_model_logits(e));
  uint64_t cycles = 0, stall = 0, bytes = 0, loaded = 0, reads = 0;
  std::vector<uint64_t> layers;
  if (double_buffer) {
    cycles = 2 + 51 + 63 * (114 + 116 + 51) + (114 + 116 + 54) + 6;
    stall = 51 + 64 * ((114 - 3) + (116 - 43)) + 63 * (51 - 43) + (54 - 43);
    layers = {64 * 116, 63 * 51 + 54};
    bytes = 24 + 64 * (144 + 160) + 63 * 24 + 48;
    loaded = 1 + 2 + 2 * 15 + 4 + 2;  // encoder, 2 layers of A 4, B 4, C 4, D, gamma, beta; decoder
    reads = 64 * (5 + 2 * 17) + 8;     // encoder 5, a layer 17 (CMAC 8, C x 4, D 1, norm 4); decoder 8
  } else {
    cycles = 1 + 51 + 63 * (3 + 114 + 43 + 51) + (3 + 114 + 43 + 54) + 6;
    stall = 51 + 64 * 114 + 63 * 51 + 54;
    layers = {63 * (43 + 51) + (43 + 54)};
    bytes = 24 + 64 * 144 + 63 * 24 + 48;
    loaded = 1 + 2 + 15 + 4 + 2;
    reads = 64 * (5 + 17) + 8;
  }
  EXPECT_EQ(acc.controller().total_cycles(), cycles);
  EXPECT_EQ(acc.controller().stream_stall_cycles(), stall);
  EXPECT_EQ(acc.controller().layer_cycles(), layers);
  // DRAM bits are priced per bit and written into the weight memory's buffer word by word
  const double bits = static_cast<double>(bytes * 8);
  const hw::Cost k = acc.cost();
  const double seconds = static_cast<double>(cycles + acc.load_cycles() + acc.io_cycles()) * 10e-9;
  auto near = [](double got, double want) { EXPECT_NEAR(got, want, 1e-9 * want) << got << " vs " << want; };
  near(k.energy_pj_by_module.at("offchip"), t.dram_pj_per_64b / 64 * bits);
  const double bank = static_cast<double>(c.weight_mem.capacity_bytes) / 4;
  near(k.energy_pj_by_module.at("weight_mem"),
       t.sram_pj(bank, 64) * static_cast<double>(loaded + reads) + t.sram_pj(bank, 64) * bits / 64 +
           20e-12 * 8 * static_cast<double>(c.weight_mem.capacity_bytes) * seconds * 1e12);
}

INSTANTIATE_TEST_SUITE_P(Buffering, StreamingSchedule, ::testing::Combine(::testing::Bool(), ::testing::Bool()));
