#include "hw_models/cmac.hpp"

#include <algorithm>

namespace ssmsim::hw {

using core::qstep::Cx;

CmacArray::CmacArray(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights, BankedSram& states,
                     const sc_core::sc_clock* clk)
    : PipelinedUnit(name, static_cast<unsigned>(config.cmac_pipeline), clk != nullptr, clk),
      lanes_(config.cmac_lanes),
      operand_bits_(config.cmac_operand_bits),
      weights_(weights),
      states_(states) {
  watch(weights);
  watch(states);
}

uint64_t CmacArray::s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u) {
  const size_t N2 = Ly.states;
  const MulShape ax = mul_shape(m.wA, m.wx, operand_bits_), bu = mul_shape(m.wB, m.wu, operand_bits_);
  const unsigned passes = std::max(ax.passes, bu.passes);
  Op op;
  op.name = "cmac.s4d";
  op.site = m.A;
  op.items = H * N2;
  op.per_cycle = static_cast<size_t>(lanes_);
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
    const uint64_t n = e - b;
    const int axw = acc_bits(m.wA, m.wx, 2), buw = m.wB + m.wu;
    actions_.multiply(ax.a, ax.b, 4 * n * ax.passes);  // Lambda_bar x
    actions_.multiply(bu.a, bu.b, 2 * n * bu.passes);  // B_bar u
    actions_.multiply(axw, kScaleBits, 2 * n);         // the terms' scale multipliers, re and im
    actions_.multiply(buw, kScaleBits, 2 * n);
    actions_.adds(axw, 2 * n);                         // the complex product
    actions_.adds(axw + kScaleBits, 4 * n);            // the aligned sum and its rounding, re and im
  };
  return run(op);
}

uint64_t CmacArray::s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                              const quant::wide_t* bu_im) {
  const MulShape ax = mul_shape(m.wA, m.wx, operand_bits_);
  Op op;
  op.name = "cmac.s5";
  op.site = m.A;
  op.items = Ly.states;
  op.per_cycle = static_cast<size_t>(lanes_);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges({word_range(*m.A, 2 * b, 2 * e)}, false);
    const unsigned cr = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, false);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs, ax.passes});
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
    const uint64_t n = e - b;
    const int axw = acc_bits(m.wA, m.wx, 2);
    actions_.multiply(ax.a, ax.b, 4 * n * ax.passes);
    actions_.multiply(axw, kScaleBits, 2 * n);
    actions_.multiply(acc_bits(m.wB, m.wu, Ly.Br.size() / Ly.states), kScaleBits, 2 * n);
    actions_.adds(axw, 2 * n);
    actions_.adds(axw + kScaleBits, 4 * n);
  };
  return run(op);
}

}  // namespace ssmsim::hw
