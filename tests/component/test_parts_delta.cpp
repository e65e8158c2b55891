// The CMAC array and the matrix-vector engine on separate parts (`parts: separate` on A, B, C:
// each part of a channel its own zero point, the coarser part's products shifted left by its part
// shift; docs/fixed_point.md 9.2) and on A in delta form (`form: delta`: the update adds the
// stored state, not its operand, as a third term before its one rounding; 9.3), against the
// C-model step by step: S4D and S5, the state stored (16 bits) or entering as an 8-bit block
// floating point operand (one per part and state), loosely timed and clocked. Then the failures
// the comparison must see (a part shift one too large, the operand in place of the stored state)
// and the price of both keys derived by hand against the same model without them.
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

enum class Keys { Parts, Delta, Both, None };
const char* kKeysName[] = {"parts", "delta", "both", "none"};
bool has_parts(Keys k) { return k == Keys::Parts || k == Keys::Both; }
bool has_delta(Keys k) { return k == Keys::Delta || k == Keys::Both; }

// A, B, C 8-bit asymmetric per channel (with `parts: separate` and A with `form: delta` as `keys`
// says); D and the norm 8-bit asymmetric per channel; activations 8-bit symmetric; the state 16
// bits, stored or (`operand`) with an 8-bit block-floating-point operand per state; biases 32.
quant::PrecisionConfig precision(Keys keys, bool operand) {
  const std::string sep = has_parts(keys) ? ", parts: separate" : "";
  const std::string x = std::string("{bits: 16, scheme: symmetric, granularity: per_tensor") +
                        (operand ? ", operand_bits: 8, operand_block: 1" : "") + "}";
  const std::string text =
      "name: parts_delta\n"
      "default: quantized\n"
      "defaults: {bits: 8, scheme: asymmetric, granularity: per_channel, scale: dyadic, calibration: maxabs}\n"
      "components:\n"
      "  A: {scheme: asymmetric" + sep + (has_delta(keys) ? ", form: delta" : "") + "}\n"
      "  B: {scheme: asymmetric" + sep + "}\n"
      "  C: {scheme: asymmetric" + sep + "}\n"
      "  x: " + x + "\n"
      "  ssm_in: {scheme: symmetric, granularity: per_tensor}\n"
      "  ssm_out: {scheme: symmetric, granularity: per_tensor}\n"
      "  act: {scheme: symmetric, granularity: per_tensor}\n"
      "  bias: {bits: 32, scheme: symmetric, granularity: per_tensor}\n";
  return quant::PrecisionConfig::from_yaml(YAML::Load(text), "test");
}

// The largest part shift of a tensor (0 without separate parts), from the model.
int max_shift(const core::QTensor& t) {
  int k = 0;
  for (size_t i = 0; i < t.size(); ++i) k = std::max(k, t.part_shift(i));
  return k;
}

// Whether the two parts of some channel of a tensor have different zero points.
bool parts_zero_points_differ(const core::QTensor& t) {
  for (size_t g = 0; t.separate_parts && g < t.groups(); ++g)
    if (t.params[2 * g].zero_point != t.params[2 * g + 1].zero_point) return true;
  return false;
}

// `T` steps of layer 0 on the units (S5: B u on the MVE first; the operand stage when the operand
// is narrowed; C x and y): the stored state and y after every step.
struct Trace {
  std::vector<std::vector<int32_t>> xs, ys;
};
Trace run_steps(const core::QEngine& e, const core::QWorkspace& ws, Layer0& l, const sc_core::sc_clock* clk, size_t T) {
  const core::QModel& q = e.model();
  const core::QLayerConsts& Ly = e.consts().layers[0];
  const bool s5 = q.config.layer == core::LayerType::S5;
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, clk);
  hw::MatVecEngine mve("mve", hw::MveConfig{8, 0, 2}, l.weights, l.states, clk);
  const size_t H = q.config.H, S = Ly.Ar.size();
  Trace tr;
  run_unit(clk, [&] {
    std::vector<quant::wide_t> bur(S), bui(S);
    std::vector<int64_t> acc(H);
    std::vector<int32_t> y(H);
    for (size_t t = 0; t < T; ++t) {
      const auto u = at_step(ws.layers[0].u, t, H);
      if (s5) {
        mve.s5_bu(Ly, l.m, H, u.data(), bur.data(), bui.data());
        cmac.s5_update(Ly, l.m, bur.data(), bui.data());
      } else {
        cmac.s4d_update(Ly, l.m, H, u.data());
      }
      if (l.m.xo) cmac.operands(Ly, l.m);
      tr.xs.push_back(region_of(l.states, *l.m.x));
      mve.cx(Ly, l.m, H, !s5, l.m.xo ? cmac.exponents(l.m).data() : nullptr, acc.data());
      mve.output(Ly, l.m, H, acc.data(), u.data(), y.data());
      tr.ys.push_back(y);
    }
  });
  return tr;
}

}  // namespace

// Twelve steps of layer 0: every stored state and every y equals the C-model's. The preconditions
// make the comparison bite: with separate parts some A, B and C channel has a part shift above 0
// and parts with different zero points, and fetch() gives every element the C-model's operand
// (QTensor::operand); C's parts have different zero points in some channel; in delta form the
// update has its third term.
class PartsDelta : public ::testing::TestWithParam<std::tuple<bool, Keys, bool, bool>> {};

TEST_P(PartsDelta, TheUnitsMatchTheCModelStepByStep) {
  const auto [s5, keys, operand, clocked] = GetParam();
  const core::QModel q = quantized(s5 ? s5_config() : s4d_config(), precision(keys, operand));
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  Layer0 l(kWide, kWideStates, q);
  ASSERT_EQ(l.m.xo != nullptr, operand);
  ASSERT_EQ(Ly.delta, has_delta(keys));
  ASSERT_EQ(l.m.delta, has_delta(keys));
  ASSERT_EQ(Ly.xupd[0].K().size(), has_delta(keys) ? 3u : 2u);
  for (const char* name : {"A", "B", "C"}) {
    const core::QTensor& t = q.tensor(std::string("layers.0.") + name);
    const hw::Region& r = *(name[0] == 'A' ? l.m.A : name[0] == 'B' ? l.m.B : l.m.C);
    ASSERT_EQ(t.separate_parts, has_parts(keys)) << name;
    if (has_parts(keys)) {
      EXPECT_GT(max_shift(t), 0) << name;  // the shifts matter
      EXPECT_EQ(r.max_part_shift(), max_shift(t)) << name;
    }
    if (has_parts(keys) && name[0] == 'C') {
      EXPECT_TRUE(parts_zero_points_differ(t)) << name;
    }
    for (size_t i = 0; i < t.size(); ++i) ASSERT_EQ(hw::fetch(l.weights, r, i), t.operand(i)) << name << " " << i;
  }
  std::unique_ptr<sc_core::sc_clock> clk;
  if (clocked) clk = std::make_unique<sc_core::sc_clock>("clk", sc_core::sc_time(5, sc_core::SC_NS));
  const size_t T = 12;
  const Trace tr = run_steps(e, *ws, l, clk.get(), T);
  for (size_t t = 0; t < T; ++t) {
    EXPECT_EQ(tr.xs[t], c_model_x(e, *ws, t)) << "state, step " << t;
    EXPECT_EQ(tr.ys[t], at_step(ws->layers[0].y, t, q.config.H)) << "y, step " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Keys, PartsDelta,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(Keys::Parts, Keys::Delta, Keys::Both),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "S5_" : "S4d_") +
                                  kKeysName[static_cast<int>(std::get<1>(info.param))] +
                                  (std::get<2>(info.param) ? "_operand8" : "_stored") +
                                  (std::get<3>(info.param) ? "_cycle" : "_lt");
                         });

// One part shift of A one too large (channel 0's coarser part), S4D with both keys and the
// operand: the states differ from the C-model's within two steps, so the step-by-step comparison
// above sees a wrong shift.
TEST(PartsDeltaFault, APartShiftOneTooLargeChangesTheStates) {
  const core::QModel q = quantized(s4d_config(), precision(Keys::Both, true));
  const core::QEngine e(q);
  const auto ws = run_recorded(e);
  Layer0 l(kWide, kWideStates, q);
  std::vector<int> shifts = l.m.A->part_shifts;
  ASSERT_EQ(shifts.size(), 2 * q.config.H);
  const size_t coarse = shifts[0] > shifts[1] ? 0 : 1;
  ++shifts[coarse];
  l.weights.set_zero_points(*l.m.A, l.m.A->zero_points, l.m.A->zp_per, shifts);
  const Trace tr = run_steps(e, *ws, l, nullptr, 2);
  EXPECT_NE(tr.xs[1], c_model_x(e, *ws, 1));
}

// Delta form with a narrowed operand, by hand: the stored state x and the operand memory xo hold
// different values (x[k] = 300 (k + 1) + 7, -400 (k + 1); xo[k] = k % 40 + 1, -(k % 20 + 1); exponents
// 0) and u = 0: each lane's next state is SS{ka, kb, 1}(ar or - ai oi, 0, xr) and
// SS(ar oi + ai or, 0, xi), the stored state (not the operand) the third term; the operand in its
// place gives other states.
TEST(PartsDeltaByHand, TheDeltaFormAddsTheStoredStateNotItsOperand) {
  const core::QModel q = quantized(s4d_config(), precision(Keys::Delta, true));
  const core::QEngine e(q);
  const core::QLayerConsts& Ly = e.consts().layers[0];
  Layer0 l(kWide, kWideStates, q);
  ASSERT_NE(l.m.xo, nullptr);
  const size_t S = l.m.x->elements / 2, N2 = Ly.states;
  for (size_t k = 0; k < S; ++k) {
    const auto n = static_cast<int32_t>(k + 1);
    l.states.put(*l.m.x, 2 * k, 300 * n + 7);
    l.states.put(*l.m.x, 2 * k + 1, -400 * n);
    l.states.put(*l.m.xo, 2 * k, static_cast<int32_t>(k % 40 + 1));
    l.states.put(*l.m.xo, 2 * k + 1, -static_cast<int32_t>(k % 20 + 1));
  }
  hw::CmacArray cmac("cmac", hw::CmacConfig{4, 3, 0}, l.weights, l.states, nullptr);
  const std::vector<int32_t> u(8, 0);
  cmac.s4d_update(Ly, l.m, 8, u.data());
  size_t other = 0;  // states where the operand as the third term would differ
  for (size_t k = 0; k < S; ++k) {
    const auto n = static_cast<int64_t>(k + 1);
    const quant::wide_t ar = hw::fetch(l.weights, *l.m.A, 2 * k), ai = hw::fetch(l.weights, *l.m.A, 2 * k + 1);
    const quant::wide_t orr = static_cast<int64_t>(k % 40 + 1), oi = -static_cast<int64_t>(k % 20 + 1), xr = 300 * n + 7, xi = -400 * n;
    const quant::ScaledSum& s = Ly.xupd[k / N2];
    EXPECT_EQ(l.states.load(*l.m.x, 2 * k), s(ar * orr - ai * oi, 0, xr, nullptr)) << "state " << k;
    EXPECT_EQ(l.states.load(*l.m.x, 2 * k + 1), s(ar * oi + ai * orr, 0, xi, nullptr)) << "state " << k;
    other += s(ar * orr - ai * oi, 0, orr, nullptr) != s(ar * orr - ai * oi, 0, xr, nullptr);
  }
  EXPECT_EQ(other, S);
}

// The price against the same model without the keys (S4D, the state stored at 16 bits, 4 lanes, 3
// stages; A, B, C 8-bit asymmetric, operands q - zp of 9 bits; u 8 bits). One state update
// without the keys counts 4 A x products 9 x 16 and 2 B u products 9 x 8; the exact complex
// product 9 + 16 + 1 = 26 bits and B u 17 bits, their scale multiplies 26 x 31 and 17 x 31 (2
// each); adds: the complex product 26 (2), the aligned sums and roundings 26 + 31 = 57 (4), the
// zero-point subtractors 9 (4). With separate parts (A's coarser part shifted by up to kA, B's by
// kB) and delta form, the same plus:
//   the terms kA and kB wider: scale multiplies (26 + kA) x 31 and (17 + kB) x 31, adds 26 + kA
//   and 57 + kA;
//   2 shifters of the coarser part's A x products, 9 + 16 + kA bits, 1 of B u, 17 + kB bits;
//   delta form: the stored state into the sum, 16 + 31 = 47 bits, per part (2).
// The lane's area grows by the same bits (3.41 per multiplier bit^2, 4.28 per adder bit), 4
// lanes; its registers and cycles do not change. C x on the MVE: per term of 2 MACs (9 x 16,
// C's subtractor 9 bits, the sum over a channel's 16 products 9 + 16 + 4 = 29 bits, kC wider)
// one shifter of the coarser part's product, 25 + kC bits; built, a shifter of 25 + max(kB, kC)
// bits per MAC (8).
TEST(PartsDeltaPrice, SeparatePartsAndDeltaFormCountTheirShiftersAndStateAdderByHand) {
  const core::QModel plain = quantized(s4d_config(), precision(Keys::None, false));
  const core::QModel both = quantized(s4d_config(), precision(Keys::Both, false));
  const core::QEngine e0(plain), e1(both);
  const auto ws = run_recorded(e0);
  Layer0 l0(kWide, kWideStates, plain), l1(kWide, kWideStates, both);
  const int kA = max_shift(both.tensor("layers.0.A")), kB = max_shift(both.tensor("layers.0.B")),
            kC = max_shift(both.tensor("layers.0.C"));
  ASSERT_GT(kA, 0);
  ASSERT_GT(kC, 0);
  for (const hw::LayerMem* m : {&l0.m, &l1.m})
    ASSERT_EQ(std::vector<int>({m->wA, m->wB, m->wC, m->wu, m->wx, m->operand_bits()}),
              std::vector<int>({9, 9, 9, 8, 16, 16}));
  ASSERT_EQ(std::vector<int>({l1.m.kA, l1.m.kB, l1.m.kC, l1.m.delta}), std::vector<int>({kA, kB, kC, 1}));
  ASSERT_EQ(std::vector<int>({l0.m.kA, l0.m.kB, l0.m.kC, l0.m.delta}), std::vector<int>({0, 0, 0, 0}));
  hw::CmacArray c0("cmac0", hw::CmacConfig{4, 3, 0}, l0.weights, l0.states, nullptr);
  hw::CmacArray c1("cmac1", hw::CmacConfig{4, 3, 0}, l1.weights, l1.states, nullptr);
  const auto u = at_step(ws->layers[0].u, 0, 8);
  EXPECT_EQ(c0.s4d_update(e0.consts().layers[0], l0.m, 8, u.data()), 16u + 3u);
  EXPECT_EQ(c1.s4d_update(e1.consts().layers[0], l1.m, 8, u.data()), 16u + 3u);
  using Mul = std::map<std::pair<int, int>, uint64_t>;
  using Add = std::map<int, uint64_t>;
  auto muls = [](std::initializer_list<std::pair<std::pair<int, int>, uint64_t>> l) {
    Mul m;
    for (const auto& [k, n] : l) m[k] += n * 64;
    return m;
  };
  auto adds = [](std::initializer_list<std::pair<int, uint64_t>> l) {
    Add m;
    for (const auto& [k, n] : l) m[k] += n * 64;
    return m;
  };
  EXPECT_EQ(c0.actions().mul, muls({{{9, 16}, 4}, {{8, 9}, 2}, {{26, 31}, 2}, {{17, 31}, 2}}));
  EXPECT_EQ(c0.actions().add, adds({{26, 2}, {57, 4}, {9, 4}}));
  EXPECT_EQ(c1.actions().mul, muls({{{9, 16}, 4}, {{8, 9}, 2}, {{26 + kA, 31}, 2}, {{17 + kB, 31}, 2}}));
  Add want = adds({{26 + kA, 2}, {57 + kA, 4}, {9, 4}, {25 + kA, 2}, {47, 2}});
  if (kB) want[17 + kB] += 64;
  EXPECT_EQ(c1.actions().add, want);
  // the energy and the area differ by exactly these bits
  const Prices p;
  const double bits2 = 64.0 * 2 * 31 * (kA + kB), bits = 64.0 * (6 * kA + 2 * (25 + kA) + (kB ? 17 + kB : 0) + 2 * 47);
  EXPECT_NEAR(c1.actions().energy_pj(p.t) - c0.actions().energy_pj(p.t), p.mul(bits2) + p.add(bits), 1e-9);
  const hw::ModelMem m0 = l0.model_mem(), m1 = l1.model_mem();
  const double a0 = c0.cost(hw::CostContext{p.t, m0, e0})->area_um2, a1 = c1.cost(hw::CostContext{p.t, m1, e1})->area_um2;
  EXPECT_NEAR(a1 - a0, 4 * (3.41 * 2 * 31 * (kA + kB) + 4.28 * (6 * kA + 2 * (25 + kA) + (kB ? 17 + kB : 0) + 2 * 47)),
              1e-9);
  // C x on the MVE
  hw::MatVecEngine v0("mve0", hw::MveConfig{8, 0, 2}, l0.weights, l0.states, nullptr);
  hw::MatVecEngine v1("mve1", hw::MveConfig{8, 0, 2}, l1.weights, l1.states, nullptr);
  std::vector<int64_t> acc(8);
  EXPECT_EQ(v0.cx(e0.consts().layers[0], l0.m, 8, true, nullptr, acc.data()), 16u + 2u);
  EXPECT_EQ(v1.cx(e1.consts().layers[0], l1.m, 8, true, nullptr, acc.data()), 16u + 2u);
  EXPECT_EQ(v0.actions().mul, (Mul{{{9, 16}, 128}}));
  EXPECT_EQ(v1.actions().mul, (Mul{{{9, 16}, 128}}));
  EXPECT_EQ(v0.actions().add, (Add{{9, 128}, {29, 128}}));
  Add cx{{9, 128}, {29 + kC, 128}};
  cx[25 + kC] += 64;
  EXPECT_EQ(v1.actions().add, cx);
  const double b0 = v0.cost(hw::CostContext{p.t, m0, e0})->area_um2, b1 = v1.cost(hw::CostContext{p.t, m1, e1})->area_um2;
  EXPECT_NEAR(b1 - b0, 8 * 4.28 * (25 + std::max(kB, kC)), 1e-9);
}
