// The CMAC array and the matrix-vector engine on the integer semantics of docs/fixed_point.md 9.2
// and 9.3, against the C-model: weights with zero points (A, B, C, D 8-bit asymmetric per channel,
// stored as their unsigned codes and subtracted at operand fetch) and the state stored at 16 bits
// apart from its 8-bit operand in every mode (stored, static narrowing into xo, block floating
// point with 1, 4 and a whole channel's states per exponent, one for the block's real parts and
// one for its imaginary parts), S4D and S5, loosely timed and clocked; a block whose parts get
// different exponents; then the new hardware's cycles, action counts and area derived by hand.
#include <gtest/gtest.h>

#include <systemc>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <memory>
#include <string>
#include <tuple>

#include "hw_models/cmac.hpp"
#include "hw_models/mve.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

const hw::SramConfig kWide{16384, 64, 4, 4}, kWideStates{4096, 64, 4, 4};  // 4 ports: no conflicts

enum class Mode { Stored, Static, Block1, Block4, Channel };
constexpr int kBlock[] = {0, 0, 1, 4, 4096};  // operand_block per mode (4096: cut at the channel's end)
const char* kModeName[] = {"stored", "static", "block1", "block4", "channel"};

// Every weight 8-bit asymmetric per channel; activations 8-bit symmetric; the state 16 bits with
// (except Stored) an 8-bit operand; biases 32 bits.
quant::PrecisionConfig precision(Mode mode) {
  std::string x = "{bits: 16, scheme: symmetric, granularity: per_tensor";
  if (mode != Mode::Stored)
    x += ", operand_bits: 8, operand_block: " + std::to_string(kBlock[static_cast<int>(mode)]);
  const std::string text =
      "name: zp_operand\n"
      "default: quantized\n"
      "defaults: {bits: 8, scheme: asymmetric, granularity: per_channel, scale: dyadic, calibration: maxabs}\n"
      "components:\n"
      "  x: " + x + "}\n"
      "  ssm_in: {scheme: symmetric, granularity: per_tensor}\n"
      "  ssm_out: {scheme: symmetric, granularity: per_tensor}\n"
      "  act: {scheme: symmetric, granularity: per_tensor}\n"
      "  bias: {bits: 32, scheme: symmetric, granularity: per_tensor}\n";
  return quant::PrecisionConfig::from_yaml(YAML::Load(text), "test");
}

bool any_nonzero_zero_point(const core::QModel& q) {
  for (const char* t : {"A", "B", "C", "D"})
    for (const auto& p : q.tensor(std::string("layers.0.") + t).params)
      if (p.zero_point != 0) return true;
  return false;
}

}  // namespace

// Twelve steps of layer 0 on the units: per step the state update (S5: B u on the MVE first),
// the operand stage when the operand is narrowed, C x and the output y; every stored state and
// every y equals the C-model's, and the operand memory holds the C-model's operands of the last
// step (qstep::state_operands of its state) and the exponent registers their exponents, per part.
// In block floating point some block's real and imaginary parts get different exponents. A bit
// flipped anywhere in the zero points, the operands or the exponents changes the states within a
// step or two.
class StateOperand : public ::testing::TestWithParam<std::tuple<bool, Mode, bool>> {};

TEST_P(StateOperand, TheUnitsMatchTheCModelStepByStepWithZeroPointsInEveryOperandMode) {
  const auto [s5, mode, clocked] = GetParam();
  const core::QModel q = quantized(s5 ? s5_config() : s4d_config(), precision(mode));
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  ASSERT_FALSE(q.tensor("layers.0.A").params[0].format.is_signed);
  ASSERT_TRUE(any_nonzero_zero_point(q));  // the subtraction at fetch matters
  Layer0 l(kWide, kWideStates, q);
  ASSERT_EQ(l.m.xo != nullptr, mode != Mode::Stored);
  ASSERT_EQ(l.m.wA, 9);  // the operand q - zp: one bit wider than the stored code
  ASSERT_EQ(l.m.A->width, 8);
  std::unique_ptr<sc_core::sc_clock> clk;
  if (clocked) clk = std::make_unique<sc_core::sc_clock>("clk", sc_core::sc_time(5, sc_core::SC_NS));
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, clk.get());
  hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, l.weights, l.states, clk.get());
  const size_t H = q.config.H, T = 12, S = Ly.Ar.size();
  std::vector<std::vector<int32_t>> xs, ys;
  int max_e = 0;
  bool parts_differ = false;  // some block's real and imaginary parts with different exponents
  run_unit(clk.get(), [&] {
    std::vector<quant::wide_t> bur(S), bui(S);
    std::vector<int64_t> acc(H);
    std::vector<int32_t> y(H);
    for (size_t t = 0; t < T; ++t) {
      const auto u = at_step(ws->layers[0].u, t, H);
      if (s5) {
        mve.s5_bu(Ly, l.m, H, u.data(), bur.data(), bui.data());
        cmac.s5_update(Ly, l.m, bur.data(), bui.data());
      } else {
        cmac.s4d_update(Ly, l.m, H, u.data());
      }
      if (l.m.xo) cmac.operands(Ly, l.m);
      xs.push_back(region_of(l.states, *l.m.x));
      const core::qstep::Ex* ex = l.m.xo ? cmac.exponents(l.m).data() : nullptr;
      for (size_t k = 0; ex && k < S; ++k) {
        max_e = std::max({max_e, ex[k].re, ex[k].im});
        parts_differ = parts_differ || ex[k].re != ex[k].im;
      }
      mve.cx(Ly, l.m, H, !s5, ex, acc.data());
      mve.output(Ly, l.m, H, acc.data(), u.data(), y.data());
      ys.push_back(y);
    }
  });
  for (size_t t = 0; t < T; ++t) {
    EXPECT_EQ(xs[t], c_model_x(e, *ws, t)) << "state, step " << t;
    EXPECT_EQ(ys[t], at_step(ws->layers[0].y, t, H)) << "y, step " << t;
  }
  if (mode >= Mode::Block1) {
    EXPECT_GT(max_e, 0);  // the exponents shift real products
    EXPECT_TRUE(parts_differ);
  } else {
    EXPECT_EQ(max_e, 0);
  }
  if (l.m.xo) {
    const std::vector<int32_t> x = c_model_x(e, *ws, T - 1);
    std::vector<int64_t> xr(x.begin(), x.end()), o(2 * S);
    std::vector<core::qstep::Ex> ee(2 * S);
    const size_t channels = s5 ? 1 : H, per = S / channels;
    for (size_t c = 0; c < channels; ++c)
      core::qstep::state_operands(Ly.xop, &xr[2 * c * per], &xr[2 * c * per + 1], per, 2, &o[2 * c * per],
                                  &o[2 * c * per + 1], &ee[2 * c * per], nullptr);
    EXPECT_EQ(region_of(l.states, *l.m.xo), std::vector<int32_t>(o.begin(), o.end()));
    for (size_t k = 0; k < S; ++k) {
      EXPECT_EQ(cmac.exponents(l.m)[k].re, ee[2 * k].re) << "exponent of state " << k << ", re";
      EXPECT_EQ(cmac.exponents(l.m)[k].im, ee[2 * k].im) << "exponent of state " << k << ", im";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, StateOperand,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(Mode::Stored, Mode::Static, Mode::Block1, Mode::Block4,
                                                              Mode::Channel),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "S5_" : "S4d_") +
                                  kModeName[static_cast<int>(std::get<1>(info.param))] +
                                  (std::get<2>(info.param) ? "_cycle" : "_lt");
                         });

// S4D, block floating point with 4 states per exponent (H 8 x 8 states: 16 blocks, each with an
// exponent of its real parts and one of its imaginary parts), 4 lanes, 3 stages. Widths: A, B, C,
// D stored at 8 bits, operands 9 (q - zp); u 8; the stored state 16, its operand 8, so exponents
// 0 .. 16 - 8 + 1 = 9 (4-bit registers) and the products shift by up to 9.
// One state update counts:
//   6 products 9 x 8 (4 A o, 2 B u); each A o product 17 bits, shifted by its part's exponent: 26
//   bits; the complex product's parts 27 bits;
//   scale multiplies 27 x 31 (2) and 17 x 31 (2, B u at 9 + 8);
//   adds: the left shifters 26 (4, one per product), the complex product 27 (2), the aligned sums
//   27 + 31 = 58 (4), the zero-point subtractors of A and B, 9 bits (4).
// The operand stage per state: 2 magnitudes and 2 rounding shifters (a shift and a rounding add
// each), 16 bits: 6 adds; per block of 4 and part: 3 comparators, a leading-zero count and the
// maximum's rounding check (2): 2 x 6 = 12 adds of 16 bits. Both ops: 16 groups of 4 states + 3
// stages.
// C x on the MVE: 64 complex terms, 2 MACs each (9 x 8, adds at 9 + 8 + log2(16) + 9 = 30 bits,
// C's subtractor at 9 bits each) and two 26-bit shifters per term (cr or 2^er, ci oi 2^ei).
// Area of the CMAC array: 4 lanes x the lane (3.41 sum(n a b) + 4.28 sum(n w) + 5.0 * 3 stages *
// (4 * 8 + 2 * 64)) + 4 x the operand stage's (6 + 2 x 4) 16-bit adds + 16 blocks x 2 parts x 4
// exponent bits.
TEST(StateOperandPrice, BlockFloatingPointAndZeroPointsCountTheirSubtractorsShiftersAndTreeByHand) {
  const core::QModel q = quantized(s4d_config(), precision(Mode::Block4));
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  Layer0 l(kWide, kWideStates, q);
  ASSERT_EQ(std::vector<int>({l.m.wA, l.m.wB, l.m.wC, l.m.wD, l.m.wu, l.m.wx, l.m.operand_bits(), l.m.xshift, l.m.ebits}),
            std::vector<int>({9, 9, 9, 9, 8, 16, 8, 9, 4}));
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, nullptr);
  const auto u = at_step(ws->layers[0].u, 0, 8);
  EXPECT_EQ(cmac.s4d_update(Ly, l.m, 8, u.data()), 16u + 3u);
  const std::map<std::pair<int, int>, uint64_t> mul{{{8, 9}, 6 * 64}, {{27, 31}, 2 * 64}, {{17, 31}, 2 * 64}};
  EXPECT_EQ(cmac.actions().mul, mul);
  EXPECT_EQ(cmac.actions().add, (std::map<int, uint64_t>{{9, 4 * 64}, {26, 4 * 64}, {27, 2 * 64}, {58, 4 * 64}}));
  EXPECT_EQ(cmac.operands(Ly, l.m), 16u + 3u);
  EXPECT_EQ(cmac.actions().mul, mul);  // the operand stage multiplies nothing
  EXPECT_EQ(cmac.actions().add.at(16), 64u * 6 + 16u * 12);
  // the operand stage reads every state word and writes every operand word (16 + 8 words)
  const hw::ModelMem mm = l.model_mem();
  const hw::UnitCost k = *cmac.cost(hw::CostContext{hw::EnergyTable::builtin(), mm, e});
  const double lane = 3.41 * (6 * 9 * 8 + 2 * 27 * 31 + 2 * 17 * 31) + 4.28 * (4 * 26 + 2 * 27 + 4 * 58 + 4 * 9) +
                      5.0 * 3 * (4 * 8 + 2 * 64);
  EXPECT_NEAR(k.area_um2, 4 * lane + 4 * 4.28 * 16 * (6 + 2 * 4) + 5.0 * 16 * 2 * 4, 1e-9);
  hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, l.weights, l.states, nullptr);
  std::vector<int64_t> acc(8);
  EXPECT_EQ(mve.cx(Ly, l.m, 8, true, cmac.exponents(l.m).data(), acc.data()), 16u + 2u);
  EXPECT_EQ(mve.actions().mul, (std::map<std::pair<int, int>, uint64_t>{{{8, 9}, 128}}));
  EXPECT_EQ(mve.actions().add, (std::map<int, uint64_t>{{9, 128}, {26, 128}, {30, 128}}));
}

// Block floating point per part (docs/fixed_point.md 9.3): S4D, 4 states per block. The first
// block of channel 0 holds large real parts (25600, -12800, 12800, 512: the largest is 15 bits,
// so its exponent is 15 - 7 = 8 and the operands 100, -50, 50, 2, exact) and small imaginary
// parts (100, -90, 3, 0: exponent 0, the operands the parts themselves; one exponent shared with
// the real parts would round them to 0, 0, 0, 0); every other state is 0 (exponents 0). The
// lanes' next state from these operands with u = 0 is narrow(ar or 2^8 - ai oi) and
// narrow(ar oi + ai or 2^8), and channel 0's C x is sum cr or 2^8 - ci oi, by hand.
TEST(StateOperandBlock, TheRealAndImaginaryPartsOfABlockGetTheirOwnExponents) {
  const core::QModel q = quantized(s4d_config(), precision(Mode::Block4));
  const core::QEngine e(q);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  ASSERT_EQ(Ly.xop.block, 4u);
  ASSERT_GE(Ly.states, 4u);
  Layer0 l(kWide, kWideStates, q);
  const int64_t re[4] = {25600, -12800, 12800, 512}, im[4] = {100, -90, 3, 0};
  const int64_t ore[4] = {100, -50, 50, 2};
  for (size_t k = 0; k < 4; ++k) {
    l.states.put(*l.m.x, 2 * k, static_cast<int32_t>(re[k]));
    l.states.put(*l.m.x, 2 * k + 1, static_cast<int32_t>(im[k]));
  }
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, nullptr);
  hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, l.weights, l.states, nullptr);
  cmac.operands(Ly, l.m);
  const std::vector<core::qstep::Ex>& ex = cmac.exponents(l.m);
  const size_t S = l.m.x->elements / 2;
  for (size_t k = 0; k < S; ++k) {
    EXPECT_EQ(ex[k].re, k < 4 ? 8 : 0) << "state " << k;
    EXPECT_EQ(ex[k].im, 0) << "state " << k;
    EXPECT_EQ(l.states.load(*l.m.xo, 2 * k), k < 4 ? ore[k] : 0) << "state " << k;
    EXPECT_EQ(l.states.load(*l.m.xo, 2 * k + 1), k < 4 ? im[k] : 0) << "state " << k;
  }
  // C x of channel 0 on the operands and their exponents
  std::vector<int64_t> acc(8);
  mve.cx(Ly, l.m, 8, true, ex.data(), acc.data());
  int64_t want = 0;
  for (size_t k = 0; k < 4; ++k)
    want += static_cast<int64_t>(hw::fetch(l.weights, *l.m.C, 2 * k)) * ore[k] * 256 -
            static_cast<int64_t>(hw::fetch(l.weights, *l.m.C, 2 * k + 1)) * im[k];
  EXPECT_EQ(acc[0], want);
  for (size_t h = 1; h < 8; ++h) EXPECT_EQ(acc[h], 0) << "channel " << h;
  // the lanes' update from the operands (u = 0: no B u)
  const std::vector<int32_t> u(8, 0);
  cmac.s4d_update(Ly, l.m, 8, u.data());
  for (size_t k = 0; k < 4; ++k) {
    const quant::wide_t ar = hw::fetch(l.weights, *l.m.A, 2 * k), ai = hw::fetch(l.weights, *l.m.A, 2 * k + 1);
    const quant::wide_t xr = ore[k] * 256, xi = im[k];
    EXPECT_EQ(l.states.load(*l.m.x, 2 * k), Ly.xupd[0](ar * xr - ai * xi, 0, nullptr)) << "state " << k;
    EXPECT_EQ(l.states.load(*l.m.x, 2 * k + 1), Ly.xupd[0](ar * xi + ai * xr, 0, nullptr)) << "state " << k;
  }
}

// A static operand: the operand stage is a requantizer per part, a 31-bit scale multiply of the
// 16-bit state and its rounding add (16 + 31 bits); the lanes multiply the 8-bit operand without a
// shift. Built: 4 lanes x (2 x 16 x 31 multiplier bits, 2 x 47 adder bits), no exponent registers.
TEST(StateOperandPrice, AStaticOperandCountsOneRequantizerPerPartAndNoShifts) {
  const core::QModel q = quantized(s4d_config(), precision(Mode::Static));
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  Layer0 l(kWide, kWideStates, q);
  ASSERT_EQ(l.m.operand_bits(), 8);
  ASSERT_EQ(l.m.xshift, 0);
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, nullptr);
  const auto u = at_step(ws->layers[0].u, 0, 8);
  cmac.s4d_update(Ly, l.m, 8, u.data());
  EXPECT_EQ(cmac.operands(Ly, l.m), 16u + 3u);
  const std::map<std::pair<int, int>, uint64_t> mul{
      {{8, 9}, 6 * 64}, {{18, 31}, 2 * 64}, {{17, 31}, 2 * 64}, {{16, 31}, 2 * 64}};
  EXPECT_EQ(cmac.actions().mul, mul);
  EXPECT_EQ(cmac.actions().add, (std::map<int, uint64_t>{{9, 4 * 64}, {18, 2 * 64}, {47, 2 * 64}, {49, 4 * 64}}));
  const hw::ModelMem mm = l.model_mem();
  const hw::UnitCost k = *cmac.cost(hw::CostContext{hw::EnergyTable::builtin(), mm, e});
  const double lane = 3.41 * (6 * 9 * 8 + 2 * 18 * 31 + 2 * 17 * 31) + 4.28 * (2 * 18 + 4 * 49 + 4 * 9) +
                      5.0 * 3 * (4 * 8 + 2 * 64);
  EXPECT_NEAR(k.area_um2, 4 * lane + 4 * (3.41 * 2 * 16 * 31 + 4.28 * 2 * 47), 1e-9);
}
