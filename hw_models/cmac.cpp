#include "hw_models/cmac.hpp"

#include <algorithm>

#include "quant/errors.hpp"

namespace ssmsim::hw {

using core::qstep::Cx;
using core::qstep::Ex;

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
  // the exact complex product A (o 2^e) (re or im part), its coarser part's products shifted by kA
  const int ax = acc_bits(w.A, w.x, 2) + w.shift + w.kA;
  Datapath d;
  d.mul(w.A, w.x, 4, operand_bits);  // Lambda_bar x
  if (with_bu) d.mul(w.B, w.u, 2, operand_bits);  // B_bar u
  d.mul(ax, w.K, 2);                              // the terms' scale multipliers, re and im
  d.mul(w.bu, w.K, 2);
  d.add(ax, 2);                // the complex product (of the shifted products)
  d.add(ax + w.K, 4);          // the aligned sum and its rounding, re and im
  if (w.zA) d.add(w.A, 2);     // A's re and im minus the zero point, at fetch
  if (w.zB && with_bu) d.add(w.B, 2);
  if (w.shift) d.add(acc_bits(w.A, w.x, 1) + w.shift, 4);  // each product's left shift by its state part's exponent
  if (with_bu && w.ushift) d.add(w.B + w.u + w.ushift, 2);  // each B u product's left shift by u's exponent
  if (w.kA) d.add(acc_bits(w.A, w.x, 1) + w.shift + w.kA, 2);  // the coarser part's A o products, by kA
  if (with_bu && w.kB) d.add(w.B + w.u + w.ushift + w.kB, 1);  // the coarser part's B u product, by kB
  if (w.prev) d.add(w.prev + w.K, 2);                          // delta form: the stored state into the sum, re and im
  if (with_bu && w.zu) d.add(w.zu, 1);                        // u minus its zero point (both products' u)
  d.registers(4.0 * w.x + 2.0 * kAccBits);
  return d;
}

Datapath CmacArray::narrow_datapath(int wx, int wk) { return Datapath().mul(wx, wk, 2).add(wx + wk, 2); }

Datapath CmacArray::block_state_datapath(int wx) { return bfp_value_datapath(wx, 2); }

Datapath CmacArray::block_datapath(int wx, size_t n) { return bfp_block_datapath(wx, n, 2); }

namespace {

// The lane's widths of a layer: the state operand, the zero points, the block shift.
CmacWidths widths(const LayerMem& m, int bu) {
  return {m.wA,         m.operand_bits(),
          m.wB,         m.u_op.mul_bits(m.wu),
          bu,           m.zA,
          m.zB,         m.xshift,
          m.u_op.shift, m.kA,
          m.kB,         m.delta ? m.wx : 0,
          m.u_op.zp,    m.wk};
}

// The stored state of state k, the delta form's third term (its operand is not: docs/fixed_point.md
// 9.3); zero, unused, in direct form.
Cx stored(const BankedSram& states, const LayerMem& m, size_t k) {
  return m.delta ? Cx{states.load(*m.x, 2 * k), states.load(*m.x, 2 * k + 1)} : Cx{};
}

// A lane function (the Verilog lane) has no input for the delta form's third term.
void check_lane(const CmacArray::LaneFn& lane, const LayerMem& m) {
  if (lane && m.delta)
    throw RunError("cmac: the lane function (the Verilog lane) has no input for the stored state that A in delta "
                   "form adds (precision A form: delta)");
}

// The cycles of the state words a group of lanes reads: the operand's, and in delta form with a
// narrowed operand the stored state's too.
unsigned read_states(BankedSram& states, const LayerMem& m, const Region& xin, size_t b, size_t e) {
  if (m.delta && &xin != m.x)
    return states.access_ranges({word_range(xin, 2 * b, 2 * e), word_range(*m.x, 2 * b, 2 * e)}, false);
  return states.access_ranges({word_range(xin, 2 * b, 2 * e)}, false);
}

}  // namespace

const std::vector<Ex>& CmacArray::exponents(const LayerMem& m) {
  std::vector<Ex>& e = exponents_[m.xo];
  e.resize(m.x->elements / 2);
  return e;
}

void CmacArray::clear_exponents() {
  for (auto& [r, e] : exponents_) std::fill(e.begin(), e.end(), Ex{});
}

uint64_t CmacArray::operands(const core::QLayerConsts& Ly, const LayerMem& m) {
  const size_t channels = m.xchannels, S = m.x->elements / 2, per = S / channels;
  const bool block = Ly.xop.mode == core::XOperand::Block;
  std::vector<Ex>& ex = exponents_[m.xo];
  ex.resize(S);
  Op op;
  op.name = "cmac.operand";
  op.site = m.xo;
  op.items = S;
  op.per_cycle = static_cast<size_t>(config_.lanes);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cr = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, false);
    const unsigned cw = states_.access_ranges({word_range(*m.xo, 2 * b, 2 * e)}, true);
    return std::max(cr, cw);
  };
  op.retire = [&](size_t b, size_t e) {
    if (b == 0) {  // the step's updates are all written back: every block's exponent, every operand
      xbuf_.resize(2 * S);
      obuf_.resize(2 * S);
      ebuf_.resize(2 * S);  // state_operands writes state k's exponents at its stride, 2k
      for (size_t i = 0; i < 2 * S; ++i) xbuf_[i] = states_.load(*m.x, i);
      for (size_t c = 0; c < channels; ++c)
        core::qstep::state_operands(Ly.xop, &xbuf_[2 * c * per], &xbuf_[2 * c * per + 1], per, 2, &obuf_[2 * c * per],
                                    &obuf_[2 * c * per + 1], &ebuf_[2 * c * per], nullptr);
      if (!block) {
        narrow_datapath(m.wx, m.wk).count(actions_, S);
      } else {
        block_state_datapath(m.wx).count(actions_, S);
        for (size_t c = 0; c < channels; ++c)
          for (size_t k = 0; k < per; k += Ly.xop.block) {
            const size_t n = std::min(per, k + Ly.xop.block) - k;
            block_datapath(m.wx, n).count(actions_, 1);
            if (tracer_) tracer_->block_exponent(ebuf_[2 * (c * per + k)].re, ebuf_[2 * (c * per + k)].im);
          }
      }
    }
    for (size_t k = b; k < e; ++k) {
      states_.put(*m.xo, 2 * k, static_cast<int32_t>(obuf_[2 * k]));
      states_.put(*m.xo, 2 * k + 1, static_cast<int32_t>(obuf_[2 * k + 1]));
      ex[k] = ebuf_[2 * k];
      if (tracer_) tracer_->state_operand(k, obuf_[2 * k], obuf_[2 * k + 1]);
    }
  };
  return run(op);
}

uint64_t CmacArray::s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u) {
  check_lane(lane_, m);
  const size_t N2 = Ly.states;
  const Datapath dp = lane(widths(m, m.wB + m.u_op.value_bits(m.wu) + m.kB), config_.operand_bits, true);
  const unsigned passes = dp.passes();
  // the state operand: the stored state, or the operand memory and the exponent registers
  const Region& xin = m.xo ? *m.xo : *m.x;
  const std::vector<Ex>* ex = m.xo ? &exponents(m) : nullptr;
  Op op;
  op.name = "cmac.s4d";
  op.site = m.A;
  op.items = H * N2;
  op.per_cycle = static_cast<size_t>(config_.lanes);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges({word_range(*m.A, 2 * b, 2 * e), word_range(*m.B, 2 * b, 2 * e)}, false);
    const unsigned cr = read_states(states_, m, xin, b, e);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs, passes});
  };
  op.retire = [&](size_t b, size_t e) {
    size_t h = b / N2, next = (h + 1) * N2;  // channel h's states end at `next`
    for (size_t k = b; k < e; ++k) {
      if (k == next) ++h, next += N2;
      const Cx x{states_.load(xin, 2 * k), states_.load(xin, 2 * k + 1)};
      const Ex xe = ex ? (*ex)[k] : Ex{};
      const int64_t br = fetch(weights_, *m.B, 2 * k), bi = fetch(weights_, *m.B, 2 * k + 1);
      const int64_t ar = fetch(weights_, *m.A, 2 * k), ai = fetch(weights_, *m.A, 2 * k + 1);
      const quant::wide_t bur = static_cast<quant::wide_t>(br) * u[h], bui = static_cast<quant::wide_t>(bi) * u[h];
      const Cx nx = lane_ ? lane_(ar, ai, x, bur, bui, Ly.xupd[h])
                          : core::qstep::state_update(Ly.xupd[h], Ly.fast, ar, ai, x, bur, bui, nullptr, xe,
                                                      stored(states_, m, k));
      states_.put(*m.x, 2 * k, static_cast<int32_t>(nx.re));
      states_.put(*m.x, 2 * k + 1, static_cast<int32_t>(nx.im));
      if (tracer_) tracer_->state_update(k, ar, ai, x.re, x.im, xe.re, xe.im, bur, bui, nx.re, nx.im);
    }
    dp.count(actions_, e - b);
  };
  return run(op);
}

uint64_t CmacArray::s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                              const quant::wide_t* bu_im) {
  check_lane(lane_, m);
  // B u arrives from the MVE as an exact sum over the H inputs (its coarser part's products
  // shifted by kB)
  const int bu = acc_bits(m.wB, m.u_op.value_bits(m.wu), Ly.Br.size() / Ly.states) + m.kB;
  const Datapath dp = lane(widths(m, bu), config_.operand_bits, false);
  const unsigned passes = dp.passes();
  const Region& xin = m.xo ? *m.xo : *m.x;
  const std::vector<Ex>* ex = m.xo ? &exponents(m) : nullptr;
  Op op;
  op.name = "cmac.s5";
  op.site = m.A;
  op.items = Ly.states;
  op.per_cycle = static_cast<size_t>(config_.lanes);
  op.issue = [&](size_t b, size_t e) {
    const unsigned cw = weights_.access_ranges({word_range(*m.A, 2 * b, 2 * e)}, false);
    const unsigned cr = read_states(states_, m, xin, b, e);
    const unsigned cs = states_.access_ranges({word_range(*m.x, 2 * b, 2 * e)}, true);
    return std::max({cw, cr, cs, passes});
  };
  op.retire = [&](size_t b, size_t e) {
    for (size_t p = b; p < e; ++p) {
      const Cx x{states_.load(xin, 2 * p), states_.load(xin, 2 * p + 1)};
      const Ex xe = ex ? (*ex)[p] : Ex{};
      const int64_t ar = fetch(weights_, *m.A, 2 * p), ai = fetch(weights_, *m.A, 2 * p + 1);
      const Cx nx = lane_ ? lane_(ar, ai, x, bu_re[p], bu_im[p], Ly.xupd[p])
                          : core::qstep::state_update(Ly.xupd[p], Ly.fast, ar, ai, x, bu_re[p], bu_im[p], nullptr, xe,
                                                      stored(states_, m, p));
      states_.put(*m.x, 2 * p, static_cast<int32_t>(nx.re));
      states_.put(*m.x, 2 * p + 1, static_cast<int32_t>(nx.im));
      if (tracer_) tracer_->state_update(p, ar, ai, x.re, x.im, xe.re, xe.im, bu_re[p], bu_im[p], nx.re, nx.im);
    }
    dp.count(actions_, e - b);
  };
  return run(op);
}

std::optional<UnitCost> CmacArray::cost(const CostContext& c) const {
  // built for the model's widest operands, as the S4D lane (an S5 model leaves its B u multipliers
  // idle and its B u term is priced, in area, at the lane's wB + wu)
  CmacWidths w;
  int wx_static = 0, wx_block = 0;  // the stored state's widest, where the operand stage narrows it
  double exponent_bits = 0;         // the exponent registers: two per block (re, im) of every layer
  for (const auto& L : c.mem.layers) {
    w.A = std::max(w.A, L.wA), w.B = std::max(w.B, L.wB), w.x = std::max(w.x, L.operand_bits()), w.u = std::max(w.u, L.u_op.mul_bits(L.wu));
    w.ushift = std::max(w.ushift, L.u_op.shift), w.zu = std::max(w.zu, L.u_op.zp);
    w.zA = w.zA || L.zA, w.zB = w.zB || L.zB, w.shift = std::max(w.shift, L.xshift);
    w.kA = std::max(w.kA, L.kA), w.kB = std::max(w.kB, L.kB), w.prev = std::max(w.prev, L.delta ? L.wx : 0);
    if (L.xo && !L.xblock) wx_static = std::max(wx_static, L.wx);
    if (L.xblock) {
      wx_block = std::max(wx_block, L.wx);
      const size_t per = L.x->elements / 2 / L.xchannels;
      exponent_bits += 2.0 * static_cast<double>(L.xchannels * ((per + L.xblock - 1) / L.xblock)) * L.ebits;
    }
  }
  w.bu = w.B + w.u + w.ushift + w.kB;
  w.K = rescale_bits(c);
  UnitCost u;
  u.dynamic_pj = actions_.energy_pj(c.table);
  u.area_um2 = config_.lanes * lane(w, config_.operand_bits, true).area_um2(c.table, config_.pipeline);
  // the operand stage: a state's narrowing per lane; block floating point also the lane's share of
  // the max-reduce trees (a comparator per part), the leading-zero counters and the rounding
  // checks, one per part
  if (wx_static) u.area_um2 += config_.lanes * narrow_datapath(wx_static, w.K).area_um2(c.table, 0);
  if (wx_block)
    u.area_um2 += config_.lanes * (block_state_datapath(wx_block).area_um2(c.table, 0) +
                                   block_datapath(wx_block, 2).area_um2(c.table, 0)) +
                  Datapath().registers(exponent_bits).area_um2(c.table, 1);
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
