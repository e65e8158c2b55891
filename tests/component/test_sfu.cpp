// The special-function unit's figures derived by hand: every function on H = 8 elements, 2 a cycle
// with 2 stages (4 + 2 = 6 cycles unless said), its outputs the C-model's, its action counts, and
// the unit's area (lanes of one 64 x 31 multiplier, three 64-bit adders, 64-bit registers per
// stage; the lookup tables as ROMs).
#include <gtest/gtest.h>

#include <systemc>

#include "hw_models/sfu.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

const hw::SramConfig kWide{16384, 64, 4, 4}, kWideStates{4096, 64, 4, 4};
using MulCounts = std::map<std::pair<int, int>, uint64_t>;
using AddCounts = std::map<int, uint64_t>;
using TableCounts = std::map<std::pair<uint64_t, int>, uint64_t>;

struct Fixture {
  core::QModel q;
  core::QEngine e;
  std::unique_ptr<core::QWorkspace> ws;
  Layer0 l;
  hw::SpecialFunctionUnit sfu;
  explicit Fixture(core::QModel model)
      : q(std::move(model)), e(q), ws(run_recorded(e)), l(kWide, kWideStates, q), sfu("sfu", hw::SfuConfig{2, 2, 7}, l.weights, nullptr) {}
  const core::QLayerConsts& Ly() const { return e.consts().layers[0]; }
  std::vector<int32_t> at(const core::Seq<int32_t>& s, size_t t) const { return at_step(s, t, 8); }
};

}  // namespace

// The input rescale (post-norm layers): one 16 x 31 multiply and one 64-bit add an element.
// GELU by table: a 16-bit input is a 65,536-entry table of 16-bit entries (131,072 bytes), one read
// an element. The residual: two 64 x 31 multiplies and two adds an element.
TEST(SpecialFunctionUnit, InputRescaleGeluTableAndResidualMatchTheCModelAndCountTheirArithmetic) {
  Fixture f(quantized(s4d_config()));
  const size_t t = 4;
  ASSERT_EQ(f.l.m.wu, 16);
  ASSERT_EQ(f.Ly().gelu.table().size(), 65536u);
  std::vector<int32_t> u(8), act(8), res(8);
  const auto in = f.at(f.ws->h0, t);  // layer 0's input: the encoder's output
  EXPECT_EQ(f.sfu.u_in(f.Ly(), f.l.m, 8, in.data(), u.data()), 6u);
  EXPECT_EQ(u, f.at(f.ws->layers[0].u, t));
  const auto y = f.at(f.ws->layers[0].y, t);
  EXPECT_EQ(f.sfu.gelu(f.Ly(), f.l.m, 8, y.data(), act.data()), 6u);
  EXPECT_EQ(act, f.at(f.ws->layers[0].act, t));
  const auto g = f.at(f.ws->layers[0].g, t);
  EXPECT_EQ(f.sfu.residual(f.Ly(), 8, g.data(), in.data(), res.data()), 6u);
  EXPECT_EQ(res, f.at(f.ws->layers[0].res, t));
  EXPECT_EQ(f.sfu.actions().mul, (MulCounts{{{16, 31}, 8}, {{31, 64}, 16}}));
  EXPECT_EQ(f.sfu.actions().add, (AddCounts{{64, 8 + 16}}));
  EXPECT_EQ(f.sfu.actions().table, (TableCounts{{{131072, 16}, 8}}));
  const Prices p;
  const hw::ModelMem mm = f.l.model_mem();
  const hw::UnitCost k = *f.sfu.cost({p.t, mm, f.e});
  EXPECT_NEAR(k.dynamic_pj, p.mul(8.0 * 16 * 31 + 16.0 * 64 * 31) + p.add(24.0 * 64) + 8 * p.t.sram_pj(131072, 16), 1e-9);
  // ROMs: the GELU table (65,536 x 16 bits) and the sigmoid table of the GLU's gate
  const double rom_bits = 65536.0 * 16 + static_cast<double>(f.Ly().sigmoid.table().size()) * f.q.point("gate").format.width;
  EXPECT_NEAR(k.area_um2, 2 * (3.41 * 64 * 31 + 4.28 * 3 * 64 + 5.0 * 2 * 64) + 0.7 * rom_bits, 1e-6);
}

// The GLU gate: a sigmoid table read (16-bit entries), the gated product 16 x 16, its narrowing
// (64 x 31) and rounding add an element.
TEST(SpecialFunctionUnit, TheSigmoidGateMatchesTheCModelAndCountsATableReadAndTwoMultiplies) {
  Fixture f(quantized(s4d_config()));
  const size_t t = 9;
  const uint64_t sig_bytes = f.Ly().sigmoid.table().size() * 2;
  const auto mixg = f.at(f.ws->layers[0].mixg, t), mix = f.at(f.ws->layers[0].mix, t);
  std::vector<int32_t> g(8);
  EXPECT_EQ(f.sfu.gate(f.Ly(), f.l.m, 8, mixg.data(), mix.data(), g.data()), 6u);
  EXPECT_EQ(g, f.at(f.ws->layers[0].g, t));
  EXPECT_EQ(f.sfu.actions().mul, (MulCounts{{{16, 16}, 8}, {{31, 64}, 8}}));
  EXPECT_EQ(f.sfu.actions().add, (AddCounts{{64, 8}}));
  EXPECT_EQ(f.sfu.actions().table, (TableCounts{{{sig_bytes, 16}, 8}}));
}

// LayerNorm: a pass over 2H items (sum, then squared deviations), the square root (7 cycles
// here), a pass over H outputs reading gamma and beta: (8 + 2 + 7) + (4 + 2) cycles. Counted an
// element: 5 adds, 2 multiplies 64 x 64 (square, d * rs), one 64 x 16 (gamma), 2 narrowing 64 x 31;
// once: the division (64 x 64) and the root's 128 adds.
TEST(SpecialFunctionUnit, LayerNormCountsItsTwoPassesTheRootAndTheDivision) {
  Fixture f(quantized(s4d_config()));
  const size_t t = 7;
  const auto res = f.at(f.ws->layers[0].res, t);
  std::vector<int32_t> out(8);
  EXPECT_EQ(f.sfu.norm(f.Ly(), f.l.m, 8, res.data(), out.data(), 16), (8u + 2u + 7u) + (4u + 2u));
  EXPECT_EQ(out, f.at(f.ws->layers[0].out, t));
  EXPECT_EQ(f.sfu.actions().mul, (MulCounts{{{64, 64}, 17}, {{16, 64}, 8}, {{31, 64}, 16}}));
  EXPECT_EQ(f.sfu.actions().add, (AddCounts{{64, 5 * 8 + 128}}));
}

// Folded BatchNorm: one pass reading gamma and beta (one word each a group): 4 + 2 cycles; an
// element: the product 16 x 16 (input by scale), 2 narrowing multiplies 64 x 31, 2 adds.
TEST(SpecialFunctionUnit, BatchNormIsOnePassWithAProductAndTwoNarrowingsPerElement) {
  core::ModelConfig c = s4d_config();
  c.norm = core::Norm::Batch;
  Fixture f(quantized(c));
  ASSERT_TRUE(f.Ly().batch_norm);
  const size_t t = 11;
  const auto res = f.at(f.ws->layers[0].res, t);
  std::vector<int32_t> out(8);
  EXPECT_EQ(f.sfu.norm(f.Ly(), f.l.m, 8, res.data(), out.data(), 16), 4u + 2u);
  EXPECT_EQ(out, f.at(f.ws->layers[0].out, t));
  EXPECT_EQ(f.sfu.actions().mul, (MulCounts{{{16, 16}, 8}, {{31, 64}, 16}}));
  EXPECT_EQ(f.sfu.actions().add, (AddCounts{{64, 16}}));
  EXPECT_EQ(f.l.weights.reads(), 4u * 2u);
}

// The hard GELU: no table; an element y (y + 3) style product 16 x 17, its narrowing 64 x 31 and
// three adds.
TEST(SpecialFunctionUnit, TheHardGeluUsesOneProductInsteadOfATable) {
  Fixture f(quantized(s4d_config(), "all16", core::QGelu::Hard));
  ASSERT_TRUE(f.Ly().hard_gelu);
  const size_t t = 2;
  const auto y = f.at(f.ws->layers[0].y, t);
  std::vector<int32_t> act(8);
  EXPECT_EQ(f.sfu.gelu(f.Ly(), f.l.m, 8, y.data(), act.data()), 6u);
  EXPECT_EQ(act, f.at(f.ws->layers[0].act, t));
  EXPECT_EQ(f.sfu.actions().mul, (MulCounts{{{16, 17}, 8}, {{31, 64}, 8}}));
  EXPECT_EQ(f.sfu.actions().add, (AddCounts{{64, 24}}));
  EXPECT_TRUE(f.sfu.actions().table.empty());
}

// Mean pooling: an exact running sum (one 64-bit add an element a token), then one narrowing an
// element (64 x 31 and its rounding add); the result is the decoder's input of the C-model.
TEST(SpecialFunctionUnit, MeanPoolingSumsEveryTokenExactlyAndNarrowsOnce) {
  core::ModelConfig c = s4d_config();
  c.pooling = core::Pooling::Mean;
  Fixture f(quantized(c));
  const size_t L = pulse_data().test.length;
  std::vector<int64_t> sum(8, 0);
  for (size_t t = 0; t < L; ++t) {
    const auto h = f.at(f.ws->layers[0].out, t);
    EXPECT_EQ(f.sfu.pool_add(8, h.data(), sum.data()), 6u);
  }
  std::vector<int32_t> pooled(8);
  EXPECT_EQ(f.sfu.pool_out(f.e.mean_pool(L), 8, sum.data(), pooled.data()), 6u);
  EXPECT_EQ(pooled, f.at(f.ws->pooled, 0));
  EXPECT_EQ(f.sfu.actions().mul, (MulCounts{{{31, 64}, 8}}));
  EXPECT_EQ(f.sfu.actions().add, (AddCounts{{64, 8 * L + 8}}));
  EXPECT_EQ(f.sfu.busy_cycles(), 6u * (L + 1));
}
