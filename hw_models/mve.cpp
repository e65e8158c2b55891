#include "hw_models/mve.hpp"

#include <algorithm>

namespace ssmsim::hw {

MatVecEngine::MatVecEngine(sc_core::sc_module_name name, const MveConfig& config, BankedSram& weights,
                           BankedSram& states, const sc_core::sc_clock* clk)
    : PipelinedUnit(name, static_cast<unsigned>(config.pipeline), clk != nullptr, clk),
      config_(config),
      weights_(weights),
      states_(states) {
  watch(weights);
  watch(states);
}

Datapath MatVecEngine::mac(int wa, int wb, int acc, int operand_bits) {
  return Datapath().mul(wa, wb, 1, operand_bits).add(acc, 1).registers(kAccBits);
}

Datapath MatVecEngine::narrowing(int acc, int wk, bool rounding) {
  Datapath d;
  d.mul(acc, wk, 1);
  if (rounding) d.add(acc + wk, 1);
  return d;
}

Datapath MatVecEngine::output_datapath(int wD, int wu, int cx_acc, int wk, int operand_bits, const ActOperand& uop) {
  Datapath d;
  d.mul(wD, uop.mul_bits(wu), 1, operand_bits)
      .mul(cx_acc, wk, 1)
      .mul(wD + uop.value_bits(wu), wk, 1)
      .add(cx_acc + wk, 2);
  if (uop) d.add(wD + uop.value_bits(wu), 1);  // D m shifted left by u's block exponent
  if (uop.zp) d.add(uop.zp, 1);                 // an asymmetric u minus its zero point
  return d;
}

Datapath MatVecEngine::operand_mac(int wa, int w, const ActOperand& op, size_t terms, int operand_bits, int k) {
  Datapath d = mac(wa, op.mul_bits(w), acc_bits(wa, op.value_bits(w), terms) + k, operand_bits);
  if (op) d.add(wa + op.value_bits(w), 1);
  if (op.zp) d.add(op.zp, 1);  // an asymmetric activation minus its zero point, at the MAC's port
  return d;
}

std::optional<UnitCost> MatVecEngine::cost(const CostContext& c) const {
  // built for the model's widest operands: weights (dense layers, C, B) by activations (the
  // layers' inputs, the input, the states)
  int wB = 0, wC = 0, wx = 0, wu = 0, wW = 0, wact = 0, k = 0;
  bool zp = c.mem.z_enc || c.mem.z_dec, shift = false;
  for (const auto& L : c.mem.layers) {
    wB = std::max(wB, L.wB), wC = std::max(wC, L.wC), wx = std::max(wx, L.operand_bits());
    wu = std::max(wu, L.u_op.mul_bits(L.wu));
    wW = std::max({wW, L.wW, c.mem.w_enc, c.mem.w_dec}), wact = std::max(wact, L.act_op.mul_bits(L.wact));
    zp = zp || L.zW || L.zC || L.zD || L.zB;
    shift = shift || L.xshift || L.u_op || L.act_op;  // activation operands: each product shifted too
    k = std::max({k, L.kB, L.kC});
  }
  shift = shift || c.mem.in_op || c.mem.pool_op;
  const int mva = std::max({wW, wC, wB}), mvb = std::max({wact, c.mem.in_op.mul_bits(c.mem.w_in), wx, wu});
  Datapath one = mac(mva, mvb, kAccBits, config_.operand_bits);
  if (zp) one.add(mva, 1);  // each MAC's weight port: a zero-point subtractor
  // asymmetric activation points: each MAC's activation port a zero-point subtractor (the points
  // the MVE multiplies: the input, u, act, the decoder's input), the narrowing an adder (the points
  // it writes: encoder.out, y, the GLU's halves)
  int zread = std::max(c.mem.in_op.zp, c.mem.pool_op.zp), zwrite = 0;
  for (size_t i = 0; i < c.mem.layers.size(); ++i) {
    const LayerMem& L = c.mem.layers[i];
    zread = std::max({zread, L.u_op.zp, L.act_op.zp});
    zwrite = std::max({zwrite, L.zy, L.zmix, L.zmixg, i == 0 ? L.zh : 0});
  }
  if (zread) one.add(zread, 1);
  UnitCost u;
  u.dynamic_pj = actions_.energy_pj(c.table);
  u.area_um2 = config_.macs * one.area_um2(c.table, config_.pipeline) +
               narrowing(kAccBits, rescale_bits(c), false).area_um2(c.table, 0) +
               zp_datapath(zwrite).area_um2(c.table, 0);
  if (shift)  // block floating point: a 64-bit left shifter per MAC (each product by its part's exponent)
    u.area_um2 += static_cast<double>(config_.macs) * Datapath().add(kAccBits, 1).area_um2(c.table, 0);
  if (k)  // separate parts of B or C: a shifter per MAC (the coarser part's products by k), product + k bits
    u.area_um2 += static_cast<double>(config_.macs) * Datapath().add(acc_bits(mva, mvb, 1) + k, 1).area_um2(c.table, 0);
  u.leakage_w = logic_leakage_w(c.table, u.area_um2);
  return u;
}

namespace {

// The width of the exact sum C o over a channel's `states` states (shifted by the block exponent
// and, with separate parts, the coarser part's products by C's part shift).
int cx_bits(const LayerMem& m, size_t states) {
  return acc_bits(m.wC, m.operand_bits(), 2 * states) + m.xshift + m.kC;
}

// The rows whose last item lies in [b, e) for a row-major op of `cols` items per row.
template <typename F>
void rows_completed(size_t b, size_t e, size_t cols, F f) {
  for (size_t r = b / cols; r * cols < e; ++r)
    if ((r + 1) * cols - 1 >= b && (r + 1) * cols - 1 < e) f(r);
}

}  // namespace

uint64_t MatVecEngine::linear(const Region& W, const Region& b, size_t row0, size_t rows, size_t cols,
                              const int32_t* in, const std::vector<quant::ScaledSum>& narrow, int32_t* out, int w_width,
                              int in_width, const ActOperand& in_op) {
  const int acc = acc_bits(w_width, in_op.value_bits(in_width), cols);
  Datapath dp = operand_mac(w_width, in_width, in_op, cols, config_.operand_bits);
  // the narrowing, and into an asymmetric point its zero point's adder (the stored code q = v + zp)
  Datapath nar = narrowing(acc, multiplier_bits(narrow[0]));
  if (const int z = zp_bits(narrow[0].to())) nar.add(z, 1);
  if (!W.zero_points.empty()) dp.add(w_width, 1);  // the weight minus its zero point, at fetch
  const unsigned passes = dp.passes();
  Op op;
  op.name = "mve.linear";
  op.site = &W;
  op.offset = row0;
  op.items = rows * cols;
  op.per_cycle = static_cast<size_t>(config_.macs);
  op.issue = [&](size_t s, size_t e) {
    wwords_.clear();
    words_of(W, row0 * cols + s, row0 * cols + e, wwords_);
    for (size_t r = s / cols; r * cols < e; ++r)
      if (r * cols >= s) words_of(b, row0 + r, row0 + r + 1, wwords_);  // the row's bias at its start
    return std::max(passes, weights_.access(wwords_.data(), wwords_.size(), false));
  };
  std::vector<int32_t> wrow(cols), brow(1);
  op.retire = [&](size_t s, size_t e) {
    rows_completed(s, e, cols, [&](size_t r) {
      for (size_t i = 0; i < cols; ++i) wrow[i] = fetch(weights_, W, (row0 + r) * cols + i);
      out[r] = core::qstep::dot(wrow.data(), weights_.load(b, row0 + r), in, cols, 1, narrow[r], nullptr);
      nar.count(actions_, 1);
    });
    dp.count(actions_, e - s);
  };
  return run(op);
}

uint64_t MatVecEngine::decoder(const core::QConsts& c, const Region& W, const Region& b, size_t classes, size_t H,
                               const int32_t* in, int64_t* logits, int w_width, int in_width, const ActOperand& in_op) {
  const int sum_bits = acc_bits(w_width, in_op.value_bits(in_width), H);
  Datapath dp = operand_mac(w_width, in_width, in_op, H, config_.operand_bits);
  const Datapath rescale =
      narrowing(sum_bits, c.logit_rescaled ? multiplier_bits(c.logit[0]) : 1, false);  // counted when rescaled
  if (!W.zero_points.empty()) dp.add(w_width, 1);
  const unsigned passes = dp.passes();
  Op op;
  op.name = "mve.decoder";
  op.site = &W;
  op.items = classes * H;
  op.per_cycle = static_cast<size_t>(config_.macs);
  op.issue = [&](size_t s, size_t e) {
    wwords_.clear();
    words_of(W, s, e, wwords_);
    for (size_t r = s / H; r * H < e; ++r)
      if (r * H >= s) words_of(b, r, r + 1, wwords_);
    return std::max(passes, weights_.access(wwords_.data(), wwords_.size(), false));
  };
  op.retire = [&](size_t s, size_t e) {
    rows_completed(s, e, H, [&](size_t r) {
      int64_t acc = weights_.load(b, r);
      for (size_t f = 0; f < H; ++f) acc += static_cast<int64_t>(fetch(weights_, W, r * H + f)) * in[f];
      logits[r] = core::qstep::logit(c, r, acc);
      if (c.logit_rescaled) rescale.count(actions_, 1);
    });
    dp.count(actions_, e - s);
  };
  return run(op);
}

uint64_t MatVecEngine::output(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int64_t* acc,
                              const int32_t* u, int32_t* y) {
  Datapath dp = output_datapath(m.wD, m.wu, cx_bits(m, Ly.states), m.wk, config_.operand_bits, m.u_op);
  if (m.zD) dp.add(m.wD, 1);
  if (m.zy) dp.add(m.zy, 1);  // into an asymmetric y: its zero point's adder
  const unsigned passes = dp.passes();
  Op op;
  op.name = "mve.output";
  op.site = m.D;
  op.items = H;
  op.per_cycle = static_cast<size_t>(config_.macs);
  op.issue = [&](size_t s, size_t e) {
    wwords_.clear();
    words_of(*m.D, s, e, wwords_);
    return std::max(passes, weights_.access(wwords_.data(), wwords_.size(), false));
  };
  op.retire = [&](size_t s, size_t e) {
    for (size_t h = s; h < e; ++h) y[h] = core::qstep::output(Ly, h, acc[h], fetch(weights_, *m.D, h), u[h], nullptr);
    dp.count(actions_, e - s);
  };
  return run(op);
}

uint64_t MatVecEngine::s5_bu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u,
                             quant::wide_t* bu_re, quant::wide_t* bu_im) {
  const size_t P2 = Ly.states;
  Datapath dp = operand_mac(m.wB, m.wu, m.u_op, H, config_.operand_bits, m.kB);
  if (m.zB) dp.add(m.wB, 1);
  // separate parts: the coarser part's products (one of a complex-by-real product's two MACs)
  // shifted left by kB, and the sum kB wider
  const Datapath part = m.kB ? Datapath().add(m.wB + m.u_op.value_bits(m.wu) + m.kB, 1) : Datapath();
  const unsigned passes = dp.passes();
  Op op;
  op.name = "mve.s5_bu";
  op.site = m.B;
  op.items = P2 * H;  // complex-by-real products: two MACs each
  op.per_cycle = std::max<size_t>(1, static_cast<size_t>(config_.macs) / 2);
  op.issue = [&](size_t s, size_t e) {
    wwords_.clear();
    words_of(*m.B, 2 * s, 2 * e, wwords_);
    return std::max(passes, weights_.access(wwords_.data(), wwords_.size(), false));
  };
  op.retire = [&](size_t s, size_t e) {
    rows_completed(s, e, H, [&](size_t p) {
      quant::wide_t re = 0, im = 0;
      for (size_t h = 0; h < H; ++h) {
        re += static_cast<quant::wide_t>(fetch(weights_, *m.B, 2 * (p * H + h))) * u[h];
        im += static_cast<quant::wide_t>(fetch(weights_, *m.B, 2 * (p * H + h) + 1)) * u[h];
      }
      bu_re[p] = re;
      bu_im[p] = im;
    });
    dp.count(actions_, 2 * (e - s));
    part.count(actions_, e - s);
  };
  return run(op);
}

uint64_t MatVecEngine::cx(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, bool per_channel,
                          const core::qstep::Ex* ex, int64_t* acc) {
  const size_t S = Ly.states;  // S4D: N/2 per channel; S5: P2 shared
  Datapath dp = mac(m.wC, m.operand_bits(), cx_bits(m, S), config_.operand_bits);
  if (m.zC) dp.add(m.wC, 1);  // C minus its zero point, at fetch
  // block floating point: each product of Re(C o) = cr or 2^er - ci oi 2^ei is shifted left by the
  // exponent of its state part (two shifts per complex term)
  Datapath shift = m.xshift ? Datapath().add(acc_bits(m.wC, m.operand_bits(), 1) + m.xshift, 2) : Datapath();
  // separate parts: the coarser part's product of each term shifted left by kC
  if (m.kC) shift.add(acc_bits(m.wC, m.operand_bits(), 1) + m.xshift + m.kC, 1);
  const unsigned passes = dp.passes();
  // the state operand: the stored state, or the operand memory
  const Region& xm = m.xo ? *m.xo : *m.x;
  // the state of item (h, s): S4D x[h][s], S5 x[s]
  auto xi = [&](size_t h, size_t s) { return per_channel ? h * S + s : s; };
  Op op;
  op.name = "mve.cx";
  op.site = m.C;
  op.items = H * S;  // complex-by-complex real parts: two MACs each
  op.per_cycle = std::max<size_t>(1, static_cast<size_t>(config_.macs) / 2);
  op.issue = [&](size_t s, size_t e) {
    std::pair<uint64_t, uint64_t> xr;
    if (per_channel) {
      xr = word_range(xm, 2 * s, 2 * e);
    } else {
      const size_t p0 = s % S, p1 = (e - 1) % S;
      xr = e - s >= S || p1 < p0 ? word_range(xm, 0, 2 * S) : word_range(xm, 2 * p0, 2 * p1 + 2);
    }
    const unsigned c = weights_.access_ranges({word_range(*m.C, 2 * s, 2 * e)}, false);
    return std::max({c, states_.access_ranges({xr}, false), passes});
  };
  op.retire = [&](size_t s, size_t e) {
    rows_completed(s, e, S, [&](size_t h) {
      int64_t a = 0;
      for (size_t p = 0; p < S; ++p)
        a += core::qstep::output_term(fetch(weights_, *m.C, 2 * (h * S + p)), fetch(weights_, *m.C, 2 * (h * S + p) + 1),
                                      {states_.load(xm, 2 * xi(h, p)), states_.load(xm, 2 * xi(h, p) + 1)},
                                      ex ? ex[xi(h, p)] : core::qstep::Ex{});
      acc[h] = a;
    });
    dp.count(actions_, 2 * (e - s));
    shift.count(actions_, e - s);
  };
  return run(op);
}

const keys::Table<MveConfig>& MveConfig::keys() {
  using M = MveConfig;
  static const auto t =
      keys::Table<M>("hw")
          .integer("mve_macs", &M::macs, 1, 65536, "MACs/cycle", "matrix-vector engine: real MACs per cycle")
          .integer("mve_operand_bits", &M::operand_bits, 0, 32, "bits",
                   "MVE multiplier operand width; 0: as wide as the operands")
          .integer("mve_pipeline", &M::pipeline, 1, 64, "stages", "MVE stages (multiply, add tree, requantize)");
  return t;
}

}  // namespace ssmsim::hw
