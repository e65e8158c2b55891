// The matrix-vector engine's figures derived by hand: the C x products and the layer output y
// (S4D), the logits, a mixing layer's rows, S5's B u, narrow multipliers; cycles (groups of
// `macs` MACs, or macs / 2 complex products, then the pipeline), action counts, energy and area.
#include <gtest/gtest.h>

#include <systemc>

#include "hw_models/mve.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

const hw::SramConfig kWide{16384, 64, 4, 4}, kWideStates{4096, 64, 4, 4};  // 4 ports: no conflicts

using MulCounts = std::map<std::pair<int, int>, uint64_t>;
using AddCounts = std::map<int, uint64_t>;

}  // namespace

// S4D, H 8 channels x 8 states, 16-bit codes, 4 MACs, 2 stages. C x: 64 complex products, 2 a
// cycle (their real parts: 2 MACs each), each group reading one word of C and one of x: 32 + 2
// cycles; each product 2 multiplies 16 x 16 and 2 adds at the sum's width 16 + 16 + log2(16) = 36.
// y: 8 outputs, 4 a cycle, one word of D each group: 2 + 2 cycles; each output a D u product
// 16 x 16, the two terms' scale multipliers (36 x 31 and 32 x 31) and 2 rounding adds (36 + 31).
// Area: 4 MACs x (3.41 * 16 * 16 + 4.28 * 64 + 5.0 * 2 * 64) + the requantizer 3.41 * 64 * 31.
TEST(MatVecEngine, CxAndTheLayerOutputMatchTheCModelInCyclesAndActionsDerivedByHand) {
  const core::QModel q = quantized(s4d_config());
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  const size_t H = 8, t = 5, L = pulse_data().test.length;
  Layer0 l(kWide, kWideStates, q);
  // the C-model's state after step t into the state memory
  std::vector<int32_t> x;
  for (size_t k = 0; k < H * 8; ++k)
    for (size_t c = 0; c < 2; ++c) x.push_back(ws->layers[0].x[((k * L + t) * 2 + c) * core::kLanes]);
  l.states.store(*l.m.x, x);
  hw::MatVecEngine mve("mve", hw::MveConfig{4, 0, 2}, l.weights, l.states, nullptr);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  std::vector<int64_t> acc(H);
  EXPECT_EQ(mve.cx(Ly, l.m, H, true, nullptr, acc.data()), 32u + 2u);
  EXPECT_EQ(mve.actions().mul, (MulCounts{{{16, 16}, 128}}));
  EXPECT_EQ(mve.actions().add, (AddCounts{{36, 128}}));
  const auto u = at_step(ws->layers[0].u, t, H);
  std::vector<int32_t> y(H);
  EXPECT_EQ(mve.output(Ly, l.m, H, acc.data(), u.data(), y.data()), 2u + 2u);
  EXPECT_EQ(y, at_step(ws->layers[0].y, t, H));
  EXPECT_EQ(mve.actions().mul, (MulCounts{{{16, 16}, 128 + 8}, {{31, 36}, 8}, {{31, 32}, 8}}));
  EXPECT_EQ(mve.actions().add, (AddCounts{{36, 128}, {67, 16}}));
  EXPECT_EQ(mve.issue_stalls(), 0u);
  const Prices p;
  const hw::ModelMem mm = l.model_mem();
  const hw::UnitCost k = *mve.cost({p.t, mm, e});
  EXPECT_NEAR(k.dynamic_pj, p.mul(136.0 * 256 + 8.0 * 36 * 31 + 8.0 * 32 * 31) + p.add(128.0 * 36 + 16.0 * 67), 1e-9);
  EXPECT_NEAR(k.area_um2, 4 * (3.41 * 256 + 4.28 * 64 + 5.0 * 2 * 64) + 3.41 * 64 * 31, 1e-9);
}

// The decoder: 4 classes x 8 features, 8 MACs: one row a cycle (2 words of W and the row's bias
// word), 4 + 2 cycles; 32 multiplies 16 x 16 and 32 adds at 16 + 16 + 3 = 35 bits; the logits
// are the C-model's (exact accumulators; a per-class rescale would add one 35 x 31 multiply each).
TEST(MatVecEngine, TheLogitsMatchTheCModelAndTakeOneCyclePerRowPlusThePipeline) {
  const core::QModel q = quantized(s4d_config());
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  ASSERT_FALSE(e.consts().logit_rescaled);
  hw::BankedSram weights("weight_mem", kWide), states("state_mem", kWideStates);
  const core::QTensor &W = q.tensor("decoder.weight"), &b = q.tensor("decoder.bias");
  const auto& rW = weights.allocate("W", W.size(), W.params[0].format.width);
  const auto& rb = weights.allocate("b", b.size(), b.params[0].format.width);
  weights.store(rW, W.q);
  weights.store(rb, b.q);
  hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, weights, states, nullptr);
  const auto pooled = at_step(ws->pooled, 0, 8);
  std::vector<int64_t> logits(4);
  EXPECT_EQ(mve.decoder(e.consts(), rW, rb, 4, 8, pooled.data(), logits.data(), 16, 16), 4u + 2u);
  EXPECT_EQ(logits, c_model_logits(e));
  EXPECT_EQ(mve.actions().mul, (MulCounts{{{16, 16}, 32}}));
  EXPECT_EQ(mve.actions().add, (AddCounts{{35, 32}}));
  EXPECT_EQ(weights.reads(), 4u * 3u);
}

// A GLU mixing layer's value rows (8 x 8, 8 MACs): 8 groups of one row + 3 stages; 64 MACs
// (16 x 16, adds at 35 bits) and per row the narrowing (35 x 31 and its rounding add at 66 bits).
// On 8-bit multipliers every group issues in 4 passes.
TEST(MatVecEngine, MixingRowsCountTheirMacsAndOneNarrowingPerRowAndStallForNarrowMultipliers) {
  const core::QModel q = quantized(s4d_config());
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  hw::BankedSram weights("weight_mem", kWide), states("state_mem", kWideStates);
  const core::QTensor &W = q.tensor("layers.0.mix.weight"), &b = q.tensor("layers.0.mix.bias");
  const auto& rW = weights.allocate("W", W.size(), W.params[0].format.width);
  const auto& rb = weights.allocate("b", b.size(), b.params[0].format.width);
  weights.store(rW, W.q);
  weights.store(rb, b.q);
  hw::MatVecEngine wide("mve", hw::MveConfig{8, 0, 3}, weights, states, nullptr);
  hw::MatVecEngine narrow("mve8", hw::MveConfig{8, 8, 3}, weights, states, nullptr);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  const auto act = at_step(ws->layers[0].act, 3, 8);
  std::vector<int32_t> out(8), out8(8);
  EXPECT_EQ(wide.linear(rW, rb, 0, 8, 8, act.data(), Ly.mix_val, out.data(), 16, 16), 8u + 3u);
  EXPECT_EQ(out, at_step(ws->layers[0].mix, 3, 8));
  EXPECT_EQ(wide.actions().mul, (MulCounts{{{16, 16}, 64}, {{31, 35}, 8}}));
  EXPECT_EQ(wide.actions().add, (AddCounts{{35, 64}, {66, 8}}));
  EXPECT_EQ(narrow.linear(rW, rb, 0, 8, 8, act.data(), Ly.mix_val, out8.data(), 16, 16), 8u * 4u + 3u);
  EXPECT_EQ(out8, out);
  EXPECT_EQ(narrow.actions().mul, (MulCounts{{{8, 8}, 64 * 4}, {{31, 35}, 8}}));
  EXPECT_EQ(narrow.issue_stalls(), 8u * 3u);
}

// S5's B u: 8 states x 8 inputs, complex-by-real (2 MACs each), 4 MACs: 2 products a cycle, one
// word of B each group: 32 + 2 cycles; 128 multiplies 16 x 16 and adds at 16 + 16 + 3 = 35 bits;
// the sums are the exact complex dot products.
TEST(MatVecEngine, S5BuIsTheExactSumAndTakesTwoProductsPerCycle) {
  const core::QModel q = quantized(s5_config());
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  Layer0 l(kWide, kWideStates, q);
  hw::MatVecEngine mve("mve", hw::MveConfig{4, 0, 2}, l.weights, l.states, nullptr);
  const auto u = at_step(ws->layers[0].u, 2, 8);
  std::vector<quant::wide_t> re(8), im(8);
  EXPECT_EQ(mve.s5_bu(e.consts().layers[0], l.m, 8, u.data(), re.data(), im.data()), 32u + 2u);
  const std::vector<int32_t>& B = q.tensor("layers.0.B").q;  // [P2][H][re, im]
  for (size_t p = 0; p < 8; ++p) {
    quant::wide_t r = 0, i = 0;
    for (size_t h = 0; h < 8; ++h) r += static_cast<quant::wide_t>(B[2 * (p * 8 + h)]) * u[h],
                                    i += static_cast<quant::wide_t>(B[2 * (p * 8 + h) + 1]) * u[h];
    EXPECT_TRUE(re[p] == r && im[p] == i) << "state " << p;
  }
  EXPECT_EQ(mve.actions().mul, (MulCounts{{{16, 16}, 128}}));
  EXPECT_EQ(mve.actions().add, (AddCounts{{35, 128}}));
}
