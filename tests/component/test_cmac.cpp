// The CMAC array's figures derived by hand: cycles of an op (groups of `lanes` state updates, each
// issuing in the cycles its memories or its multiplier passes need, then the pipeline's depth),
// the action counts of one state update, its dynamic energy and the array's area, for S4D and S5,
// narrow multipliers, every pipeline depth in both timing modes, and bank conflicts.
#include <gtest/gtest.h>

#include <systemc>

#include <memory>
#include <tuple>

#include "hw_models/cmac.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

const hw::SramConfig kWide{16384, 64, 4, 4}, kWideStates{4096, 64, 4, 4};  // 4 ports: no conflicts

// The pulse S4D model at 16 bits: H 8 channels x 8 states = 64 state updates a step.
struct S4d {
  core::QModel q = quantized(s4d_config());
  core::QEngine e{q};
  std::unique_ptr<core::QWorkspace> ws = run_recorded(e);
  std::vector<int32_t> u(size_t t) const {
    std::vector<int32_t> v(q.config.H);
    for (size_t h = 0; h < v.size(); ++h) v[h] = ws->layers[0].u.at(t, h)[0];
    return v;
  }
  // the C-model's state after step t, [H][N/2][re, im]
  std::vector<int32_t> x(size_t t) const {
    const size_t K = q.config.H * e.consts().layers[0].states, L = pulse_data().test.length;
    std::vector<int32_t> v;
    for (size_t k = 0; k < K; ++k)
      for (size_t c = 0; c < 2; ++c) v.push_back(ws->layers[0].x[((k * L + t) * 2 + c) * core::kLanes]);
    return v;
  }
};

std::vector<int32_t> states_of(const Layer0& l) {
  std::vector<int32_t> v;
  for (size_t i = 0; i < l.m.x->elements; ++i) v.push_back(l.states.load(*l.m.x, i));
  return v;
}

hw::UnitCost cost_of(const hw::CmacArray& c, const Layer0& l, const core::QEngine& e) {
  const hw::ModelMem mm = l.model_mem();
  return *c.cost(hw::CostContext{hw::EnergyTable::builtin(), mm, e});
}

}  // namespace

// One S4D step on 2 lanes without conflicts: 64 updates in 32 groups of one cycle, then 3 stages.
// One update counts (all operands 16 bits):
//   4 A x products 16 x 16 and 2 B u products 16 x 16                 -> 6 multiplies 16x16
//   A x is exact at 16 + 16 + 1 = 33 bits: 2 scale multiplies 33 x 31 -> 2 multiplies 31x33
//   B u is exact at 32 bits: 2 scale multiplies 32 x 31               -> 2 multiplies 31x32
//   2 adds of the complex product (33 bits), 4 of the aligned sums and their rounding (33+31 = 64)
// Area: 2 lanes x (3.41 (4*16*16 + 2*16*16 + 2*33*31 + 2*32*31) + 4.28 (2*33 + 4*64)
//                  + 5.0 * 3 stages * (4*16 + 2*64)) um^2.
TEST(CmacArray, AnS4dStepCountsSixProductsFourScaleMultipliesAndSixAddsPerStateAndPricesThemByHand) {
  const S4d m;
  ASSERT_EQ(m.q.config.H * m.e.consts().layers[0].states, 64u);
  hw::CmacConfig c{2, 3, 0};
  Layer0 l(kWide, kWideStates, m.q);
  ASSERT_EQ(std::vector<int>({l.m.wA, l.m.wB, l.m.wx, l.m.wu}), std::vector<int>(4, 16));
  hw::CmacArray cmac("cmac", c, l.weights, l.states, nullptr);
  const auto u0 = m.u(0);
  EXPECT_EQ(cmac.s4d_update(m.e.consts().layers[0], l.m, 8, u0.data()), 32u + 3u);
  EXPECT_EQ(states_of(l), m.x(0));
  const hw::ActionCounts& a = cmac.actions();
  const std::map<std::pair<int, int>, uint64_t> mul{{{16, 16}, 6 * 64}, {{31, 33}, 2 * 64}, {{31, 32}, 2 * 64}};
  const std::map<int, uint64_t> add{{33, 2 * 64}, {64, 4 * 64}};
  EXPECT_EQ(a.mul, mul);
  EXPECT_EQ(a.add, add);
  EXPECT_TRUE(a.table.empty());
  // memories: a group of 2 states reads one word of A and one of B (4 codes of 16 bits a word),
  // reads one state word and writes it back (the initial zeros were 32 words written)
  EXPECT_EQ(l.weights.reads(), 2u * 32u);
  EXPECT_EQ(l.states.reads(), 32u);
  EXPECT_EQ(l.states.writes(), 32u + 32u);
  const Prices p;
  const hw::UnitCost k = cost_of(cmac, l, m.e);
  EXPECT_NEAR(k.dynamic_pj, p.mul(384.0 * 256 + 128.0 * 33 * 31 + 128.0 * 32 * 31) + p.add(128.0 * 33 + 256.0 * 64),
              1e-9);
  const double lane = 3.41 * (4 * 256 + 2 * 256 + 2 * 33 * 31 + 2 * 32 * 31) + 4.28 * (2 * 33 + 4 * 64) +
                      5.0 * 3 * (4 * 16 + 2 * 64);
  EXPECT_NEAR(k.area_um2, 2 * lane, 1e-9);
  EXPECT_NEAR(k.leakage_w, 0.05e-9 * 2 * lane, 1e-18);
  EXPECT_EQ(cmac.issue_stalls(), 0u);
}

// Multipliers of `bits` on 16-bit operands take ceil(16 / bits)^2 passes a product: a group issues
// in that many cycles, and each pass counts as one bits x bits multiply (6 products an update).
class CmacNarrow : public ::testing::TestWithParam<std::tuple<int, unsigned>> {};

TEST_P(CmacNarrow, NarrowMultipliersTakeOnePassPerOperandSliceInCyclesActionsAndArea) {
  const auto [bits, passes] = GetParam();
  const S4d m;
  Layer0 l(kWide, kWideStates, m.q);
  hw::CmacArray cmac("cmac", hw::CmacConfig{2, 3, bits}, l.weights, l.states, nullptr);
  const auto u0 = m.u(0);
  EXPECT_EQ(cmac.s4d_update(m.e.consts().layers[0], l.m, 8, u0.data()), 32u * passes + 3u);
  EXPECT_EQ(states_of(l), m.x(0));  // the same values, only slower
  EXPECT_EQ(cmac.actions().mul.at({bits, bits}), 6u * 64u * passes);
  EXPECT_EQ(cmac.issue_stalls(), 32u * (passes - 1));
  const double lane = 3.41 * (6.0 * bits * bits + 2 * 33 * 31 + 2 * 32 * 31) + 4.28 * (2 * 33 + 4 * 64) +
                      5.0 * 3 * (4 * 16 + 2 * 64);
  EXPECT_NEAR(cost_of(cmac, l, m.e).area_um2, 2 * lane, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Widths, CmacNarrow,
                         ::testing::Values(std::make_tuple(8, 4u), std::make_tuple(6, 9u), std::make_tuple(4, 16u),
                                           std::make_tuple(12, 4u), std::make_tuple(16, 1u)));

// Every pipeline depth, loosely timed and clocked: 4 lanes, 16 groups of one cycle, then `depth`
// cycles; on the clock the op takes exactly that many periods, and the states are the C-model's.
class CmacDepth : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(CmacDepth, AnOpTakesItsGroupsPlusThePipelineDepthInBothModes) {
  const auto [depth, clocked] = GetParam();
  const S4d m;
  Layer0 l(kWide, kWideStates, m.q);
  std::unique_ptr<sc_core::sc_clock> clk;
  if (clocked) clk = std::make_unique<sc_core::sc_clock>("clk", sc_core::sc_time(5, sc_core::SC_NS));
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, depth, 0}, l.weights, l.states, clk.get());
  std::vector<uint64_t> cycles;
  std::vector<std::vector<int32_t>> states;
  const sc_core::sc_time took = run_unit(clk.get(), [&] {
    for (size_t t = 0; t < 3; ++t) {
      const auto u = m.u(t);
      cycles.push_back(cmac.s4d_update(m.e.consts().layers[0], l.m, 8, u.data()));
      states.push_back(states_of(l));
    }
  });
  const uint64_t want = 16 + static_cast<uint64_t>(depth);
  EXPECT_EQ(cycles, std::vector<uint64_t>(3, want));
  for (size_t t = 0; t < 3; ++t) EXPECT_EQ(states[t], m.x(t)) << "step " << t;
  if (clocked) {
    EXPECT_EQ(took, sc_core::sc_time(5.0 * static_cast<double>(3 * want), sc_core::SC_NS));
  }
  EXPECT_EQ(cmac.busy_cycles(), 3 * want);
  const double lane = 3.41 * (6 * 256 + 2 * 33 * 31 + 2 * 32 * 31) + 4.28 * (2 * 33 + 4 * 64) +
                      5.0 * depth * (4 * 16 + 2 * 64);
  EXPECT_NEAR(cost_of(cmac, l, m.e).area_um2, 4 * lane, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Depths, CmacDepth, ::testing::Combine(::testing::Range(1, 9), ::testing::Bool()));

// S5 on 8-bit multipliers: B u comes from the MVE (an exact sum over H = 8 inputs: 16 + 16 + 3 =
// 35 bits), so an update is 4 A x products (4 passes each on 8 bits), 2 + 2 scale multiplies
// (33 x 31 and 35 x 31) and the 6 adds; 8 states on 2 lanes: 4 groups of 4 pass cycles + 3 stages.
TEST(CmacArray, AnS5StepStallsForTheMultiplierPassesAndCountsNoBuProducts) {
  const core::QModel q = quantized(s5_config());
  const core::QEngine e(q);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  ASSERT_EQ(Ly.states, 8u);
  Layer0 l(kWide, kWideStates, q);
  ASSERT_EQ(std::vector<int>({l.m.wA, l.m.wB, l.m.wx, l.m.wu}), std::vector<int>(4, 16));
  hw::CmacArray cmac("cmac", hw::CmacConfig{2, 3, 8}, l.weights, l.states, nullptr);
  const std::vector<quant::wide_t> bu(8, 0);
  EXPECT_EQ(cmac.s5_update(Ly, l.m, bu.data(), bu.data()), 4u * 4u + 3u);
  const std::map<std::pair<int, int>, uint64_t> mul{{{8, 8}, 4 * 4 * 8}, {{31, 33}, 2 * 8}, {{31, 35}, 2 * 8}};
  const std::map<int, uint64_t> add{{33, 2 * 8}, {64, 4 * 8}};
  EXPECT_EQ(cmac.actions().mul, mul);
  EXPECT_EQ(cmac.actions().add, add);
  EXPECT_EQ(cmac.issue_stalls(), 4u * 3u);
  // built as the S4D lane (its B u multipliers idle, the B u term's scale multiplier at 16 + 16)
  const double lane = 3.41 * (6 * 64 + 2 * 33 * 31 + 2 * 32 * 31) + 4.28 * (2 * 33 + 4 * 64) + 5.0 * 3 * (4 * 16 + 2 * 64);
  EXPECT_NEAR(cost_of(cmac, l, e).area_um2, 2 * lane, 1e-9);
}

// S5 on a single-bank, single-port memory (clocked): a group of 4 states needs 2 words of A (8
// codes), reads 2 state words and writes 2: each memory serves them in 2 cycles; 2 groups of 2
// cycles, then 3 stages.
TEST(CmacArray, S5BankConflictsStallTheIssueByTheWordsTheOneBankMustServe) {
  const core::QModel q = quantized(s5_config());
  const core::QEngine e(q);
  Layer0 l({16384, 64, 1, 1}, {4096, 64, 1, 1}, q);
  sc_core::sc_clock clk("clk", sc_core::sc_time(5, sc_core::SC_NS));
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, &clk);
  const std::vector<quant::wide_t> bu(8, 0);
  uint64_t cycles = 0;
  const sc_core::sc_time took = run_unit(&clk, [&] { cycles = cmac.s5_update(e.consts().layers[0], l.m, bu.data(), bu.data()); });
  EXPECT_EQ(cycles, 2u * 2u + 3u);
  EXPECT_EQ(took, clk.period() * 7.0);
  EXPECT_EQ(cmac.issue_stalls(), 2u);
  EXPECT_EQ(l.weights.conflict_cycles(), 2u);
  EXPECT_EQ(l.weights.reads(), 4u);
}
