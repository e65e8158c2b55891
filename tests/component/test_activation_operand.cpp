// Block floating point on the activations that enter multipliers (docs/fixed_point.md 9.3,
// "Activation operands": input, ssm_in, gelu_out, pool with operand_bits / operand_block), on the
// units against the C-model: the SFU's narrowing pass turns u (after the input rescale) and act
// (after GELU) into the C-model's v' = m 2^e at every step, with 1, 3 and a whole vector's features
// per exponent, loosely timed and clocked; the whole accelerator (the input narrowed after the io
// memory, the mean-pooled vector before the decoder) gives the C-model's logits, S4D and S5, in
// both modes; then the narrowing's cycles, action counts and area derived by hand.
#include <gtest/gtest.h>

#include <systemc>
#include <yaml-cpp/yaml.h>

#include <string>
#include <tuple>

#include "hw_models/sfu.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

const hw::SramConfig kWide{16384, 64, 4, 4}, kWideStates{4096, 64, 4, 4};

// 8-bit activations; the input, u and the pooled vector enter their multipliers as 4-bit
// mantissas, the GELU output as 5-bit ones (half_away), `block` features per exponent.
quant::PrecisionConfig precision(int block) {
  const std::string op = "operand_bits: 4, operand_block: " + std::to_string(block);
  const std::string text =
      "name: act_operand\n"
      "default: quantized\n"
      "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, scale: dyadic, calibration: maxabs}\n"
      "components:\n"
      "  input: {" + op + "}\n"
      "  ssm_in: {" + op + "}\n"
      "  gelu_out: {operand_bits: 5, operand_block: " + std::to_string(block) + ", rounding: half_away}\n"
      "  pool: {" + op + "}\n"
      "  x: {bits: 16}\n"
      "  bias: {bits: 32}\n";
  return quant::PrecisionConfig::from_yaml(YAML::Load(text), "test");
}

const int kBlocks[] = {1, 3, 4096};

std::string name_of(int block) { return block == 4096 ? "WholeVector" : "Block" + std::to_string(block); }

}  // namespace

// The SFU on layer 0 of the S4D pulse model (post-norm: u is the input rescale), all 64 steps:
// u_in then the narrowing pass gives the C-model's recorded u, GELU then the pass its act; the
// narrowing changes some value (the test is not vacuous).
class ActivationOperandSfu : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(ActivationOperandSfu, TheNarrowingPassGivesTheCModelsUAndActAtEveryStep) {
  const auto [block, clocked] = GetParam();
  const core::QModel q = quantized(mean_pool_model(false), precision(block));
  const core::QEngine e(q);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  ASSERT_EQ(Ly.u_op.mode, core::XOperand::Block);
  ASSERT_EQ(Ly.act_op.mode, core::XOperand::Block);
  ASSERT_EQ(Ly.u_op.block, static_cast<size_t>(block));
  const auto ws = run_recorded(e);
  Layer0 l(kWide, kWideStates, q);
  const hw::ActOperand uop = hw::act_operand(Ly.u_op, l.m.wu), aop = hw::act_operand(Ly.act_op, l.m.wact);
  ASSERT_EQ(uop.bits, 4);
  ASSERT_EQ(uop.shift, 8 - 4 + 1);
  ASSERT_EQ(aop.bits, 5);
  const sc_core::sc_clock* clk = clocked ? new sc_core::sc_clock("clk", 10, sc_core::SC_NS) : nullptr;
  hw::SpecialFunctionUnit sfu("sfu", hw::SfuConfig{2, 2, 5}, l.weights, clk);
  const size_t H = 8, L = pulse_data().test.length;
  bool changed = false;
  std::vector<std::vector<int32_t>> u_got, act_got;
  run_unit(clk, [&] {
    for (size_t t = 0; t < L; ++t) {
      std::vector<int32_t> u(H), act(H);
      const auto in = at_step(ws->h0, t, H);
      sfu.u_in(Ly, l.m, H, in.data(), u.data());
      const auto before = u;
      EXPECT_EQ(sfu.operand(Ly.u_op, l.m.wu, H, u.data()), 6u);  // 8 values, 2 a cycle, 2 stages
      changed = changed || before != u;
      const auto y = at_step(ws->layers[0].y, t, H);
      sfu.gelu(Ly, l.m, H, y.data(), act.data());
      sfu.operand(Ly.act_op, l.m.wact, H, act.data());
      u_got.push_back(u);
      act_got.push_back(act);
    }
  });
  for (size_t t = 0; t < L; ++t) {
    EXPECT_EQ(u_got[t], at_step(ws->layers[0].u, t, H)) << "step " << t;
    EXPECT_EQ(act_got[t], at_step(ws->layers[0].act, t, H)) << "step " << t;
  }
  EXPECT_TRUE(changed);
}

INSTANTIATE_TEST_SUITE_P(Blocks, ActivationOperandSfu, ::testing::Combine(::testing::ValuesIn(kBlocks), ::testing::Bool()),
                         [](const auto& i) {
                           return name_of(std::get<0>(i.param)) + (std::get<1>(i.param) ? "Clocked" : "LooselyTimed");
                         });

// The whole accelerator, S4D and S5, three sequences: the logits are the C-model's with the input,
// u, act and the pooled vector narrowed; lt and cycle count the same cycles.
class ActivationOperandAccelerator : public ::testing::TestWithParam<std::tuple<bool, int, bool>> {};

TEST_P(ActivationOperandAccelerator, TheLogitsAreTheCModelsOnEverySequence) {
  const auto [s5, block, clocked] = GetParam();
  const core::QModel q = quantized(mean_pool_model(s5), precision(block));
  const core::QEngine e(q);
  ASSERT_EQ(e.consts().input_op.mode, core::XOperand::Block);
  ASSERT_EQ(e.consts().pool_op.mode, core::XOperand::Block);
  hw::Accelerator acc("acc", tiny_hw(clocked), e, hw::EnergyTable::builtin(), 64);
  MiniHost host("host", acc, e, 3);
  sc_core::sc_start();
  ASSERT_EQ(host.logits.size(), 3u);
  auto ws = e.make_workspace();
  quant::SaturationCounters sat;
  for (size_t i = 0; i < 3; ++i) {
    const auto want = e.run_chunk(core::make_chunk(pulse_data().test, &i, 1), *ws, sat).logits;
    EXPECT_EQ(host.logits[i], want) << "sequence " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ActivationOperandAccelerator,
                         ::testing::Combine(::testing::Bool(), ::testing::ValuesIn(kBlocks), ::testing::Bool()),
                         [](const auto& i) {
                           return std::string(std::get<0>(i.param) ? "S5" : "S4d") + name_of(std::get<1>(i.param)) +
                                  (std::get<2>(i.param) ? "Clocked" : "LooselyTimed");
                         });

// The narrowing's price by hand (the state's operand stage's, per part): 8 values of an 8-bit u
// in blocks of 3 (3, 3, 2): per value 3 adds (a magnitude, a shift, a rounding add), per block of
// n (n - 1) comparators, a leading-zero count and a rounding check (a rounding add and a compare):
// 24 + (5 + 5 + 4) = 38 8-bit adds. Built: per lane one of each (3 + 4 adds for a block of 2, of
// the widest narrowed point, 8 bits) and the exponent registers: u and act of the layer
// (3 blocks each) with 3-bit exponents (0 .. 5, 0 .. 4 fit 3 bits), 18 bits at one stage.
TEST(ActivationOperandPrice, TheNarrowingCountsItsTreeShifterAndExponentRegistersByHand) {
  const core::QModel q = quantized(mean_pool_model(false), precision(3));
  const core::QEngine e(q);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  Layer0 l(kWide, kWideStates, q);
  hw::SpecialFunctionUnit sfu("sfu", hw::SfuConfig{2, 2, 5}, l.weights, nullptr);
  std::vector<int32_t> u{100, -3, 7, 0, 1, -127, 64, 5};
  EXPECT_EQ(sfu.operand(Ly.u_op, l.m.wu, 8, u.data()), 6u);
  EXPECT_EQ(sfu.actions().add, (std::map<int, uint64_t>{{8, 38}}));
  // 4-bit mantissas (-8 .. 7), half_even: block (100, -3, 7): M 100 (7 bits) -> e 4 (100 / 16
  // rounds to 6); block (0, 1, -127): 127 / 16 rounds to 8 > 7 -> e 5 (-127 / 32 rounds to -4);
  // block (64, 5): e 4 (5 / 16 rounds to 0)
  EXPECT_EQ(u, (std::vector<int32_t>{96, 0, 0, 0, 0, -128, 64, 0}));
  hw::ModelMem mm = l.model_mem();
  mm.layers[0].u_op = hw::act_operand(Ly.u_op, l.m.wu);
  mm.layers[0].act_op = hw::act_operand(Ly.act_op, l.m.wact);
  ASSERT_EQ(mm.layers[0].u_op.ebits, 3);
  ASSERT_EQ(mm.layers[0].act_op.ebits, 3);
  const Prices p;
  const double with = sfu.cost({p.t, mm, e})->area_um2;
  hw::ModelMem none = l.model_mem();  // the same layer with its activations as they are
  none.layers[0].u_op = {}, none.layers[0].act_op = {};
  const double without = sfu.cost({p.t, none, e})->area_um2;
  EXPECT_NEAR(with - without, 2 * (7 * 8 * p.t.add_um2_per_bit) + 18 * p.t.reg_um2_per_bit, 1e-9);
}
