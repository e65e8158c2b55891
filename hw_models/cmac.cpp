#include "hw_models/cmac.hpp"

#include <algorithm>

namespace ssmsim::hw {

using core::qstep::Cx;

CmacArray::CmacArray(sc_core::sc_module_name name, const CmacConfig& config, BankedSram& weights, BankedSram& states,
                     const sc_core::sc_clock* clk)
    : PipelinedUnit(name, static_cast<unsigned>(config.pipeline), clk != nullptr, clk),
      config_(config),
      weights_(weights),
      states_(states) {
  watch(weights);
  watch(states);
}

Datapath CmacArray::lane(const CmacWidths& w, int operand_bits, bool with_bu) {
  const int ax = acc_bits(w.A, w.x, 2);  // the exact complex product A x (re or im part)
  Datapath d;
  d.mul(w.A, w.x, 4, operand_bits);  // Lambda_bar x
  if (with_bu) d.mul(w.B, w.u, 2, operand_bits);  // B_bar u
  d.mul(ax, kScaleBits, 2);    // the terms' scale multipliers, re and im
  d.mul(w.bu, kScaleBits, 2);
  d.add(ax, 2);                // the complex product
  d.add(ax + kScaleBits, 4);   // the aligned sum and its rounding, re and im
  d.registers(4.0 * w.x + 2.0 * kAccBits);
  return d;
}

uint64_t CmacArray::s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u) {
  const size_t N2 = Ly.states;
  const Datapath dp = lane({m.wA, m.wx, m.wB, m.wu, m.wB + m.wu}, config_.operand_bits, true);
  const unsigned passes = dp.passes();
  Op op;
  op.name = "cmac.s4d";
  op.site = m.A;
  op.items = H * N2;
  op.per_cycle = static_cast<size_t>(config_.lanes);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges({word_range(*m.A, 2 * b, 2 * e), word_range(*m.B, 2 * b, 2 * e)}, false);
    const unsigned cr = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, false);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs, passes});
  };
  op.retire = [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      const size_t h = k / N2;
      const Cx x{states_.load(*m.x, 2 * k), states_.load(*m.x, 2 * k + 1)};
      const int64_t br = weights_.load(*m.B, 2 * k), bi = weights_.load(*m.B, 2 * k + 1);
      const int64_t ar = weights_.load(*m.A, 2 * k), ai = weights_.load(*m.A, 2 * k + 1);
      const quant::wide_t bur = static_cast<quant::wide_t>(br) * u[h], bui = static_cast<quant::wide_t>(bi) * u[h];
      const Cx nx = lane_ ? lane_(ar, ai, x, bur, bui, Ly.xupd[h])
                          : core::qstep::state_update(Ly.xupd[h], Ly.fast, ar, ai, x, bur, bui, nullptr);
      states_.put(*m.x, 2 * k, static_cast<int32_t>(nx.re));
      states_.put(*m.x, 2 * k + 1, static_cast<int32_t>(nx.im));
      if (tracer_) tracer_->state_update(k, ar, ai, x.re, x.im, bur, bui, nx.re, nx.im);
    }
    dp.count(actions_, e - b);
  };
  return run(op);
}

uint64_t CmacArray::s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                              const quant::wide_t* bu_im) {
  // B u arrives from the MVE as an exact sum over the H inputs
  const int bu = acc_bits(m.wB, m.wu, Ly.Br.size() / Ly.states);
  const Datapath dp = lane({m.wA, m.wx, m.wB, m.wu, bu}, config_.operand_bits, false);
  const unsigned passes = dp.passes();
  Op op;
  op.name = "cmac.s5";
  op.site = m.A;
  op.items = Ly.states;
  op.per_cycle = static_cast<size_t>(config_.lanes);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges({word_range(*m.A, 2 * b, 2 * e)}, false);
    const unsigned cr = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, false);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs, passes});
  };
  op.retire = [&](size_t b, size_t e) {
    for (size_t p = b; p < e; ++p) {
      const Cx x{states_.load(*m.x, 2 * p), states_.load(*m.x, 2 * p + 1)};
      const int64_t ar = weights_.load(*m.A, 2 * p), ai = weights_.load(*m.A, 2 * p + 1);
      const Cx nx = lane_ ? lane_(ar, ai, x, bu_re[p], bu_im[p], Ly.xupd[p])
                          : core::qstep::state_update(Ly.xupd[p], Ly.fast, ar, ai, x, bu_re[p], bu_im[p], nullptr);
      states_.put(*m.x, 2 * p, static_cast<int32_t>(nx.re));
      states_.put(*m.x, 2 * p + 1, static_cast<int32_t>(nx.im));
      if (tracer_) tracer_->state_update(p, ar, ai, x.re, x.im, bu_re[p], bu_im[p], nx.re, nx.im);
    }
    dp.count(actions_, e - b);
  };
  return run(op);
}

std::optional<UnitCost> CmacArray::cost(const CostContext& c) const {
  // built for the model's widest operands, as the S4D lane (an S5 model leaves its B u multipliers
  // idle and its B u term is priced, in area, at the lane's wB + wu)
  CmacWidths w;
  for (const auto& L : c.mem.layers)
    w.A = std::max(w.A, L.wA), w.B = std::max(w.B, L.wB), w.x = std::max(w.x, L.wx), w.u = std::max(w.u, L.wu);
  w.bu = w.B + w.u;
  UnitCost u;
  u.dynamic_pj = actions_.energy_pj(c.table);
  u.area_um2 = config_.lanes * lane(w, config_.operand_bits, true).area_um2(c.table, config_.pipeline);
  u.leakage_w = logic_leakage_w(c.table, u.area_um2);
  return u;
}

const keys::Table<CmacConfig>& CmacConfig::keys() {
  using C = CmacConfig;
  static const auto t =
      keys::Table<C>("hw")
          .integer("cmac_lanes", &C::lanes, 1, 4096, "lanes", "complex state updates issued per cycle")
          .integer("cmac_pipeline", &C::pipeline, 1, 64, "stages", "CMAC stages from operand read to state write-back")
          .integer("cmac_operand_bits", &C::operand_bits, 0, 32, "bits",
                   "CMAC multiplier operand width; 0: as wide as the operands (narrower: several passes per product)");
  return t;
}

}  // namespace ssmsim::hw
