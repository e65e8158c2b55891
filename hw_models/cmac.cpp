#include "hw_models/cmac.hpp"

#include <algorithm>

namespace ssmsim::hw {

using core::qstep::Cx;

CmacArray::CmacArray(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights, BankedSram& states,
                     const sc_core::sc_clock* clk)
    : PipelinedUnit(name, static_cast<unsigned>(config.cmac_pipeline), clk != nullptr, clk),
      lanes_(config.cmac_lanes),
      weights_(weights),
      states_(states) {
  watch(weights);
  watch(states);
}

uint64_t CmacArray::s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u,
                               int64_t* acc) {
  const size_t N2 = Ly.states;
  std::fill(acc, acc + H, 0);
  Op op;
  op.name = "cmac.s4d";
  op.site = m.A;
  op.items = H * N2;
  op.per_cycle = static_cast<size_t>(lanes_);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges(
        {word_range(*m.A, 2 * b, 2 * e), word_range(*m.B, 2 * b, 2 * e), word_range(*m.C, 2 * b, 2 * e)}, false);
    const unsigned cr = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, false);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs});
  };
  op.retire = [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      const size_t h = k / N2;
      const Cx x{states_.load(*m.x, 2 * k), states_.load(*m.x, 2 * k + 1)};
      const int64_t br = weights_.load(*m.B, 2 * k), bi = weights_.load(*m.B, 2 * k + 1);
      const Cx nx = core::qstep::state_update(Ly.xupd[h], Ly.fast, weights_.load(*m.A, 2 * k),
                                              weights_.load(*m.A, 2 * k + 1), x, static_cast<quant::wide_t>(br) * u[h],
                                              static_cast<quant::wide_t>(bi) * u[h], nullptr);
      states_.put(*m.x, 2 * k, static_cast<int32_t>(nx.re));
      states_.put(*m.x, 2 * k + 1, static_cast<int32_t>(nx.im));
      acc[h] += core::qstep::output_term(weights_.load(*m.C, 2 * k), weights_.load(*m.C, 2 * k + 1), nx);
    }
    const uint64_t n = e - b;
    const int ax = acc_bits(m.wA, m.wx, 2), bu = m.wB + m.wu;
    actions_.multiply(m.wA, m.wx, 4 * n);            // Lambda_bar x
    actions_.multiply(m.wB, m.wu, 2 * n);            // B_bar u
    actions_.multiply(ax, kScaleBits, 2 * n);        // the terms' scale multipliers, re and im
    actions_.multiply(bu, kScaleBits, 2 * n);
    actions_.adds(ax, 2 * n);                        // the complex product
    actions_.adds(ax + kScaleBits, 4 * n);           // the aligned sum and its rounding, re and im
    actions_.multiply(m.wC, m.wx, 2 * n);            // Re(C x')
    actions_.adds(acc_bits(m.wC, m.wx, 2 * Ly.states), 2 * n);
  };
  return run(op);
}

uint64_t CmacArray::s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                              const quant::wide_t* bu_im) {
  Op op;
  op.name = "cmac.s5";
  op.site = m.A;
  op.items = Ly.states;
  op.per_cycle = static_cast<size_t>(lanes_);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges({word_range(*m.A, 2 * b, 2 * e)}, false);
    const unsigned cr = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, false);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs});
  };
  op.retire = [&](size_t b, size_t e) {
    for (size_t p = b; p < e; ++p) {
      const Cx x{states_.load(*m.x, 2 * p), states_.load(*m.x, 2 * p + 1)};
      const Cx nx = core::qstep::state_update(Ly.xupd[p], Ly.fast, weights_.load(*m.A, 2 * p),
                                              weights_.load(*m.A, 2 * p + 1), x, bu_re[p], bu_im[p], nullptr);
      states_.put(*m.x, 2 * p, static_cast<int32_t>(nx.re));
      states_.put(*m.x, 2 * p + 1, static_cast<int32_t>(nx.im));
    }
    const uint64_t n = e - b;
    const int ax = acc_bits(m.wA, m.wx, 2);
    actions_.multiply(m.wA, m.wx, 4 * n);
    actions_.multiply(ax, kScaleBits, 2 * n);
    actions_.multiply(acc_bits(m.wB, m.wu, Ly.Br.size() / Ly.states), kScaleBits, 2 * n);
    actions_.adds(ax, 2 * n);
    actions_.adds(ax + kScaleBits, 4 * n);
  };
  return run(op);
}

}  // namespace ssmsim::hw
