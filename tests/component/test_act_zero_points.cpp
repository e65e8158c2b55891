// Zero points on activation points (docs/fixed_point.md 9.2, "An activation point may be
// asymmetric"; docs/hardware.md, "Zero points on activation points") on the units against the
// C-model: every activation point 8-bit asymmetric (input, u, y, act, the GLU's halves and its
// gated output, the residual stream, the pooled vector; the gate keeps its fixed format, the state
// stays symmetric), S4D and S5, loosely timed and clocked. Layer 0's units, fed each step's
// recorded inputs, give the C-model's recorded operands step by step; the whole accelerator (an io
// memory that stores the input's codes q = v + zp unsigned, the encoder, the pooling and the
// decoder) gives its logits. Then the stored input's zero point with one bit flipped changes the
// operands read, and the price of the zero points (adders where a point is written, subtractors
// where it is read, multipliers one bit wider) for the same model symmetric and asymmetric,
// derived by hand.
#include <gtest/gtest.h>

#include <systemc>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "hw_models/cmac.hpp"
#include "hw_models/mve.hpp"
#include "hw_models/sfu.hpp"
#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

const hw::SramConfig kWide{16384, 64, 4, 4}, kWideStates{4096, 64, 4, 4};  // 4 ports: no conflicts

// Weights 8-bit symmetric per channel; every activation point 8 bits, asymmetric or symmetric;
// the state 16 bits; biases 32.
quant::PrecisionConfig precision(bool asymmetric) {
  const std::string scheme = asymmetric ? "asymmetric" : "symmetric";
  const std::string text =
      "name: act_zp\n"
      "default: quantized\n"
      "defaults: {bits: 8, scheme: symmetric, granularity: per_channel, scale: dyadic, calibration: maxabs}\n"
      "components:\n"
      "  act: {granularity: per_tensor, scheme: " + scheme + "}\n"
      "  gate: {granularity: per_tensor, scheme: symmetric}\n"
      "  ssm_in: {granularity: per_tensor, scheme: " + scheme + "}\n"
      "  ssm_out: {granularity: per_tensor, scheme: " + scheme + "}\n"
      "  residual: {granularity: per_tensor, scheme: " + scheme + "}\n"
      "  x: {bits: 16, granularity: per_tensor}\n"
      "  bias: {bits: 32, granularity: per_tensor}\n";
  return quant::PrecisionConfig::from_yaml(YAML::Load(text), "test");
}

// The zero points of the points every test relies on: a zero point that is not 0 makes a unit
// that forgot to add or subtract it differ from the C-model.
void expect_zero_points(const core::QModel& q) {
  for (const char* p : {"layers.0.u", "layers.0.y", "layers.0.act", "layers.0.mix", "layers.0.mixg", "layers.0.g",
                        "layers.0.res", "layers.0.out", "encoder.out", "pool"}) {
    const quant::QuantParams& pp = q.point(p);
    EXPECT_FALSE(pp.format.is_signed) << p;
    EXPECT_NE(pp.zero_point, 0) << p;
  }
  EXPECT_FALSE(q.point("input").format.is_signed);
}

std::string mode_name(bool s5, bool clocked) { return std::string(s5 ? "S5" : "S4d") + (clocked ? "_cycle" : "_lt"); }

}  // namespace

// Layer 0 on the units, all 64 steps: the input rescale (post-norm) gives u, the state update (S5:
// B u on the MVE first), C x and the output narrowing y, GELU act, the mixing rows mixg and mix,
// the gate g, the residual res and the post-LayerNorm out, each the C-model's recorded operand
// at every step (each unit fed the recorded operands of its inputs; the state carried by the
// state memory).
class ActZeroPointUnits : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(ActZeroPointUnits, EveryUnitGivesTheCModelsOperandsStepByStep) {
  const auto [s5, clocked] = GetParam();
  const core::QModel q = quantized(mean_pool_model(s5), precision(true));
  expect_zero_points(q);
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  Layer0 l(kWide, kWideStates, q);
  // the mixing layer's weights, as the Accelerator places them after the norm's
  auto place = [&](const std::string& t) {
    const core::QTensor& qt = q.tensor("layers.0." + t);
    const auto& r = hw::place_weight(l.weights, t, qt);
    l.weights.store(r, qt.q);
    return &r;
  };
  l.m.Wm = place("mix.weight"), l.m.bm = place("mix.bias");
  hw::weight_operands(l.m);
  ASSERT_EQ(std::vector<int>({l.m.wu, l.m.wy, l.m.wact, l.m.wg}), std::vector<int>(4, 9));  // q - zp: 9 bits
  ASSERT_EQ(std::vector<int>({l.m.u_op.zp, l.m.act_op.zp, l.m.zh, l.m.zy, l.m.zmix, l.m.zmixg, l.m.zg, l.m.zres,
                              l.m.zout}),
            std::vector<int>(9, 9));
  std::unique_ptr<sc_core::sc_clock> clk;
  if (clocked) clk = std::make_unique<sc_core::sc_clock>("clk", sc_core::sc_time(10, sc_core::SC_NS));
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, clk.get());
  hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, l.weights, l.states, clk.get());
  hw::SpecialFunctionUnit sfu("sfu", hw::SfuConfig{2, 2, 5}, l.weights, clk.get());
  const size_t H = q.config.H, T = pulse_data().test.length, S = Ly.Ar.size();
  struct Step {
    std::vector<int32_t> u, y, act, mixg, mix, g, res, out;
  };
  std::vector<Step> got(T);
  run_unit(clk.get(), [&] {
    std::vector<quant::wide_t> bur(S), bui(S);
    std::vector<int64_t> acc(H);
    for (size_t t = 0; t < T; ++t) {
      Step& s = got[t];
      s = {std::vector<int32_t>(H), std::vector<int32_t>(H), std::vector<int32_t>(H), std::vector<int32_t>(H),
           std::vector<int32_t>(H), std::vector<int32_t>(H), std::vector<int32_t>(H), std::vector<int32_t>(H)};
      const auto h = at_step(ws->h0, t, H);
      sfu.u_in(Ly, l.m, H, h.data(), s.u.data());
      const auto u = at_step(ws->layers[0].u, t, H);
      if (s5) {
        mve.s5_bu(Ly, l.m, H, u.data(), bur.data(), bui.data());
        cmac.s5_update(Ly, l.m, bur.data(), bui.data());
      } else {
        cmac.s4d_update(Ly, l.m, H, u.data());
      }
      mve.cx(Ly, l.m, H, !s5, nullptr, acc.data());
      mve.output(Ly, l.m, H, acc.data(), u.data(), s.y.data());
      const auto y = at_step(ws->layers[0].y, t, H), act = at_step(ws->layers[0].act, t, H);
      sfu.gelu(Ly, l.m, H, y.data(), s.act.data());
      mve.linear(*l.m.Wm, *l.m.bm, H, H, H, act.data(), Ly.mix_gate, s.mixg.data(), l.m.wW, l.m.wact, l.m.act_op);
      mve.linear(*l.m.Wm, *l.m.bm, 0, H, H, act.data(), Ly.mix_val, s.mix.data(), l.m.wW, l.m.wact, l.m.act_op);
      const auto mixg = at_step(ws->layers[0].mixg, t, H), mix = at_step(ws->layers[0].mix, t, H);
      sfu.gate(Ly, l.m, H, mixg.data(), mix.data(), s.g.data(), l.m.zmix);
      const auto g = at_step(ws->layers[0].g, t, H);
      sfu.residual(Ly, H, g.data(), h.data(), s.res.data(), l.m.zg, l.m.zh);
      const auto res = at_step(ws->layers[0].res, t, H);
      sfu.norm(Ly, l.m, H, res.data(), s.out.data(), l.m.wg, l.m.zres);
    }
  });
  const auto& R = ws->layers[0];
  for (size_t t = 0; t < T; ++t) {
    EXPECT_EQ(got[t].u, at_step(R.u, t, H)) << "u, step " << t;
    EXPECT_EQ(got[t].y, at_step(R.y, t, H)) << "y, step " << t;
    EXPECT_EQ(got[t].act, at_step(R.act, t, H)) << "act, step " << t;
    EXPECT_EQ(got[t].mixg, at_step(R.mixg, t, H)) << "mixg, step " << t;
    EXPECT_EQ(got[t].mix, at_step(R.mix, t, H)) << "mix, step " << t;
    EXPECT_EQ(got[t].g, at_step(R.g, t, H)) << "g, step " << t;
    EXPECT_EQ(got[t].res, at_step(R.res, t, H)) << "res, step " << t;
    EXPECT_EQ(got[t].out, at_step(R.out, t, H)) << "out, step " << t;
  }
  // the operands reach below zero and past the signed 8-bit range: (b+1)-bit values
  int32_t lo = 0, hi = 0;
  for (size_t t = 0; t < T; ++t)
    for (const auto* v : {&got[t].u, &got[t].y, &got[t].act, &got[t].g, &got[t].res})
      for (int32_t x : *v) lo = std::min(lo, x), hi = std::max(hi, x);
  EXPECT_LT(lo, 0);
  EXPECT_GT(hi - lo, 127);
}

INSTANTIATE_TEST_SUITE_P(Layers, ActZeroPointUnits, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) { return mode_name(std::get<0>(info.param), std::get<1>(info.param)); });

// The whole accelerator on two pulse sequences: the host writes the input's stored codes
// (Accelerator::input_image: q = v + zp, unsigned), the controller reads the operands back, and
// the logits (through the encoder, the layer, the mean pooling and the decoder) are the C-model's.
class ActZeroPointAccelerator : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(ActZeroPointAccelerator, TheLogitsAreTheCModelsWithTheInputStoredAsUnsignedCodes) {
  const auto [s5, clocked] = GetParam();
  const core::QModel q = quantized(mean_pool_model(s5), precision(true));
  expect_zero_points(q);
  const core::QEngine e(q);
  hw::Accelerator acc("acc", tiny_hw(clocked), e, hw::EnergyTable::builtin(), pulse_data().test.length);
  EXPECT_EQ(acc.input_width(), 8);
  // the image holds q = v + zp: the operand -zp (the real value 0) is stored as the code 0
  const int64_t zp = q.point("input").zero_point;
  EXPECT_EQ(acc.input_image({static_cast<int32_t>(-zp)}), hw::BankedSram::pack({0}, 8, acc.io_word_bits(), false));
  MiniHost host("host", acc, e, 2);
  sc_core::sc_start();
  ASSERT_EQ(host.logits.size(), 2u);
  EXPECT_EQ(host.logits[0], c_model_logits(e));
  auto ws = e.make_workspace();
  quant::SaturationCounters sat;
  const size_t idx = 1;
  EXPECT_EQ(host.logits[1], e.run_chunk(core::make_chunk(pulse_data().test, &idx, 1), *ws, sat).logits);
}

INSTANTIATE_TEST_SUITE_P(Layers, ActZeroPointAccelerator, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) { return mode_name(std::get<0>(info.param), std::get<1>(info.param)); });

// The io memory's read: an asymmetric input region stores unsigned codes and fetch() gives the
// operand q - zp; the same words read with the zero point's lowest bit flipped give every operand
// one off (the subtraction is where the operand comes from).
TEST(ActZeroPointMemory, TheIoMemoryStoresTheCodeAndFetchGivesTheOperandAndAFlippedZeroPointIsSeen) {
  hw::BankedSram io("io_mem", hw::SramConfig{64, 64, 1, 1});
  const hw::Region& r = io.allocate("input", 8, 6, -1, false);
  io.set_zero_points(r, {27}, 1);
  const std::vector<int32_t> v = {-27, -1, 0, 5, 36, 17, -20, 30};  // operands of a u6 point with zp 27
  std::vector<int32_t> q;
  for (int32_t x : v) q.push_back(x + 27);
  io.store(r, q);
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(io.load(r, i), q[i]);
    EXPECT_EQ(hw::fetch(io, r, i), v[i]);
  }
  EXPECT_THROW(hw::BankedSram::pack(v, 6, 64), RunError);  // the operands do not fit 6 signed bits
  io.set_zero_points(r, {27 ^ 1}, 1);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(hw::fetch(io, r, i), v[i] + 1);
}

// The price of the zero points, for the same float model quantized with every activation point 8-bit
// symmetric and 8-bit asymmetric (same widths; operands 8 and 9 bits), on one step of layer 0 (H 8):
//   MVE mixing gate rows (8 x 8 MACs, weights 8 bits, act 8 / 9 bits, 8 rows into mixg):
//     symmetric:  64 products 8 x 8, 64 adds of 8 + 8 + 3 = 19 bits; per row a 19 x 31 narrowing
//                 and its 50-bit rounding add;
//     asymmetric: 64 products 8 x 9, 64 adds of 20 bits and 64 subtractors of 9 bits (act's zero
//                 point at each MAC's port); per row a 20 x 31 narrowing, a 51-bit rounding add and
//                 a 9-bit adder (mixg's zero point).
//   SFU residual (8 elements: two 64 x 31 scale multiplies and two 64-bit adds each) plus, when
//     asymmetric, per element two 9-bit subtractors (g, h) and a 9-bit adder (res).
//   SFU GELU table: 8 lookups either way (the table is indexed by y's stored code and holds act's).
//   CMAC lane area (4 lanes, 3 stages, S4D): u's subtractor at the lane's u port (4.28 um2 a bit x
//     9) and the two B u products 8 x 9 instead of 8 x 8 (3.41 um2 a bit^2 x 2 x 8), the B u term
//     16 -> 17 bits into its scale multipliers (2 x 31).
TEST(ActZeroPointPrice, AdderWhereWrittenSubtractorWhereReadAndOneBitWiderMultipliersByHand) {
  const Prices P;
  struct Counts {
    hw::ActionCounts mve, sfu;
    double cmac_area = 0;
  };
  auto run = [&](bool asym) {
    const core::QModel q = quantized(s4d_config(), precision(asym));
    const core::QEngine e(q);
    const auto ws = run_recorded(e);
    const core::QLayerConsts& Ly = e.consts().layers[0];
    Layer0 l(kWide, kWideStates, q);
    const core::QTensor& W = q.tensor("layers.0.mix.weight");
    const hw::Region& Wm = hw::place_weight(l.weights, "mix.weight", W);
    l.weights.store(Wm, W.q);
    const core::QTensor& B = q.tensor("layers.0.mix.bias");
    const hw::Region& bm = hw::place_weight(l.weights, "mix.bias", B);
    l.weights.store(bm, B.q);
    l.m.Wm = &Wm, l.m.bm = &bm;
    hw::weight_operands(l.m);
    hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, l.weights, l.states, nullptr);
    hw::SpecialFunctionUnit sfu("sfu", hw::SfuConfig{2, 2, 5}, l.weights, nullptr);
    hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, nullptr);
    const size_t H = 8;
    std::vector<int32_t> out(H);
    const auto act = at_step(ws->layers[0].act, 0, H), y = at_step(ws->layers[0].y, 0, H);
    const auto g = at_step(ws->layers[0].g, 0, H), h = at_step(ws->h0, 0, H);
    mve.linear(Wm, bm, H, H, H, act.data(), Ly.mix_gate, out.data(), l.m.wW, l.m.wact, l.m.act_op);
    sfu.residual(Ly, H, g.data(), h.data(), out.data(), l.m.zg, l.m.zh);
    sfu.gelu(Ly, l.m, H, y.data(), out.data());
    const hw::ModelMem mm = l.model_mem();
    Counts c{mve.actions(), sfu.actions(), cmac.cost(hw::CostContext{hw::EnergyTable::builtin(), mm, e})->area_um2};
    return c;
  };
  const Counts s = run(false), a = run(true);
  using Mul = std::map<std::pair<int, int>, uint64_t>;
  using Add = std::map<int, uint64_t>;
  EXPECT_EQ(s.mve.mul, (Mul{{{8, 8}, 64}, {{19, 31}, 8}}));
  EXPECT_EQ(s.mve.add, (Add{{19, 64}, {50, 8}}));
  EXPECT_EQ(a.mve.mul, (Mul{{{8, 9}, 64}, {{20, 31}, 8}}));
  EXPECT_EQ(a.mve.add, (Add{{9, 64 + 8}, {20, 64}, {51, 8}}));
  EXPECT_EQ(s.sfu.add, (Add{{64, 16}}));
  EXPECT_EQ(a.sfu.add, (Add{{9, 24}, {64, 16}}));
  EXPECT_EQ(a.sfu.mul, s.sfu.mul);
  EXPECT_EQ(a.sfu.table, s.sfu.table);
  const hw::EnergyTable& t = P.t;
  const double mve_diff = P.mul(64 * (8 * 9 - 8 * 8) + 8 * (20 * 31 - 19 * 31)) +
                          P.add(64 * (20 - 19) + 8 * (51 - 50) + 9 * (64 + 8));
  EXPECT_NEAR(a.mve.energy_pj(t) - s.mve.energy_pj(t), mve_diff, 1e-9);
  EXPECT_NEAR(a.sfu.energy_pj(t) - s.sfu.energy_pj(t), P.add(9 * 24), 1e-9);
  EXPECT_NEAR(a.cmac_area - s.cmac_area, 4 * (3.41 * (2 * 8 * (9 - 8) + 2 * 31 * (17 - 16)) + 4.28 * 9), 1e-9);
}
