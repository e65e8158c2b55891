#include "hw_models/sfu.hpp"

#include <algorithm>

#include "hw_models/layer_mem.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::hw {

SpecialFunctionUnit::SpecialFunctionUnit(sc_core::sc_module_name name, const SfuConfig& config, BankedSram& weights,
                                         const sc_core::sc_clock* clk)
    : PipelinedUnit(name, static_cast<unsigned>(config.pipeline), clk != nullptr, clk),
      config_(config),
      weights_(weights) {
  watch(weights);
}

Datapath SpecialFunctionUnit::lane(int wk) {
  return Datapath().mul(kAccBits, wk, 1).add(kAccBits, 3).registers(kAccBits);
}

Datapath SpecialFunctionUnit::u_in_datapath(int wu, int wk) { return Datapath().mul(wu, wk, 1).add(kAccBits, 1); }

Datapath SpecialFunctionUnit::batchnorm_datapath(int in, int wnorm, int wk) {
  return Datapath().mul(in, wnorm, 1).mul(kAccBits, wk, 2).add(kAccBits, 2);
}

Datapath SpecialFunctionUnit::layernorm_datapath(int wnorm, int wk) {
  return Datapath()
      .add(kAccBits, 3)            // the sum, the deviation and the sum of squared deviations
      .mul(kAccBits, kAccBits, 2)  // the square; d * rs
      .mul(kAccBits, wnorm, 1)     // * gamma
      .mul(kAccBits, wk, 2)        // the narrowing
      .add(kAccBits, 2);
}

Datapath SpecialFunctionUnit::layernorm_once() {
  return Datapath().mul(kAccBits, kAccBits, 1).add(kAccBits, 2 * 64);  // the division; the root, bit by bit
}

Datapath SpecialFunctionUnit::gelu_datapath(const core::QLayerConsts& Ly, int wy, int wact, int wk) {
  if (Ly.hard_gelu) return Datapath().mul(wy, wy + 1, 1).mul(kAccBits, wk, 1).add(kAccBits, 3);
  return Datapath().lookup(Ly.gelu.table().size() * static_cast<uint64_t>((wact + 7) / 8), wact, 1);
}

Datapath SpecialFunctionUnit::gate_datapath(const core::QLayerConsts& Ly, int wact, int wk) {
  return Datapath().lookup(Ly.sigmoid.table().size() * 2, 16, 1).mul(wact, 16, 1).mul(kAccBits, wk, 1).add(kAccBits, 1);
}

Datapath SpecialFunctionUnit::residual_datapath(int wk) { return Datapath().mul(kAccBits, wk, 2).add(kAccBits, 2); }
Datapath SpecialFunctionUnit::pool_add_datapath() { return Datapath().add(kAccBits, 1); }
Datapath SpecialFunctionUnit::pool_out_datapath(int wk) { return Datapath().mul(kAccBits, wk, 1).add(kAccBits, 1); }

std::optional<UnitCost> SpecialFunctionUnit::cost(const CostContext& c) const {
  // the lookup tables as ROMs: entries x output width (a 16-bit-input GELU table is 65,536 entries)
  double lut_bits = 0;
  const core::QModel& qm = c.engine.model();
  const int gate_bits = qm.config.mixing != core::Mixing::Gelu ? qm.point("gate").format.width : 0;
  for (size_t i = 0; i < c.mem.layers.size(); ++i) {
    const core::QLayerConsts& L = c.engine.consts().layers[i];
    const LayerMem& Lm = c.mem.layers[i];  // the GELU table holds act's stored codes (b bits)
    lut_bits += static_cast<double>(L.gelu.table().size()) * (Lm.act_op.zp ? Lm.wact - 1 : Lm.wact) +
                static_cast<double>(L.sigmoid.table().size()) * gate_bits;
  }
  UnitCost u;
  u.dynamic_pj = actions_.energy_pj(c.table);
  u.area_um2 = config_.width * lane(rescale_bits(c)).area_um2(c.table, config_.pipeline) +
               Datapath().rom_bits(lut_bits).area_um2(c.table, 0);
  // zero points of the normalisation's parameters: two subtractors per lane (gamma, beta)
  int wz = 0;
  for (const auto& L : c.mem.layers)
    for (const Region* r : {L.gamma, L.beta})
      if (r && !r->zero_points.empty()) wz = std::max(wz, operand_width(*r));
  if (wz) u.area_um2 += config_.width * Datapath().add(wz, 2).area_um2(c.table, 0);
  // activation operands in block floating point: each lane's share of the max-reduce trees, the
  // leading-zero counters, the rounding checks and shifters; every vector's exponent registers
  int wop = 0;
  double ebits = 0;
  const size_t Din = qm.config.d_input, H = qm.config.H;
  auto add_op = [&](const ActOperand& op, int w, size_t n) {
    if (!op) return;
    wop = std::max(wop, w);
    ebits += op.exponent_bits(n);
  };
  add_op(c.mem.in_op, c.mem.w_in, Din);
  add_op(c.mem.pool_op, c.mem.w_pool, H);
  for (const auto& L : c.mem.layers) add_op(L.u_op, L.wu, H), add_op(L.act_op, L.wact, H);
  if (wop)
    u.area_um2 += config_.width * (bfp_value_datapath(wop).area_um2(c.table, 0) +
                                   bfp_block_datapath(wop, 2).area_um2(c.table, 0)) +
                  Datapath().registers(ebits).area_um2(c.table, 1);
  u.area_um2 += config_.width * zero_point_datapath(c).area_um2(c.table, 0);
  u.leakage_w = logic_leakage_w(c.table, u.area_um2);
  return u;
}

Datapath SpecialFunctionUnit::zero_point_datapath(const CostContext& c) {
  const core::ModelConfig& mc = c.engine.model().config;
  int zread = 0, zwrite = 0, reads = 0;
  for (size_t i = 0; i < c.mem.layers.size(); ++i) {
    const LayerMem& L = c.mem.layers[i];
    const core::QLayerConsts& Ly = c.engine.consts().layers[i];
    // written: u (its norm or rescale), act (the hard GELU), g, res, the post-norm output
    zwrite = std::max({zwrite, L.u_op.zp, Ly.hard_gelu ? L.act_op.zp : 0, L.zg, L.zres, mc.norm_out() ? L.zout : 0});
    // read: h (the norm or rescale, the residual, the pooling sum), the post-norm's input res, the
    // gate's other operand (mix, act or y), the residual's g (act without mixing), y (the hard GELU)
    const int g = mc.mixing == core::Mixing::Gelu ? L.act_op.zp : L.zg;
    const int other = mc.mixing == core::Mixing::Glu        ? L.zmix
                      : mc.mixing == core::Mixing::HalfGlu1 ? L.act_op.zp
                      : mc.mixing == core::Mixing::HalfGlu2 ? L.zy
                                                            : 0;
    zread = std::max({zread, L.zh, mc.norm_out() ? L.zres : 0, other, g, Ly.hard_gelu ? L.zy : 0,
                      i + 1 == c.mem.layers.size() ? (mc.norm_out() ? L.zout : L.zres) : 0});
    reads = std::max({reads, (g ? 1 : 0) + (L.zh ? 1 : 0), zread ? 1 : 0});
  }
  if (mc.pooling == core::Pooling::Mean) zwrite = std::max(zwrite, c.mem.pool_op.zp);
  Datapath d = zp_datapath(zwrite);
  if (zread) d.add(zread, static_cast<uint64_t>(reads));
  return d;
}

uint64_t SpecialFunctionUnit::elementwise(const char* name, size_t n, const std::function<void(size_t)>& f) {
  Op op;
  op.name = name;
  op.items = n;
  op.per_cycle = static_cast<size_t>(config_.width);
  op.issue = [](size_t, size_t) { return 1u; };
  op.retire = [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) f(i);
  };
  return run(op);
}

uint64_t SpecialFunctionUnit::u_in(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in,
                                   int32_t* u) {
  u_in_datapath(m.wu, m.wk).count(actions_, H);
  zp_datapath(m.zh).count(actions_, H), zp_datapath(zp_bits(Ly.u_in.to())).count(actions_, H);
  return elementwise("sfu.u_in", H, [&](size_t i) { u[i] = core::qstep::u_in(Ly, in[i], nullptr); });
}

uint64_t SpecialFunctionUnit::norm(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in,
                                   int32_t* out, int in_width, int in_zp) {
  // gamma and beta come from the weight memory, read as the passes need them
  gamma_.resize(H);
  beta_.resize(H);
  for (size_t f = 0; f < H; ++f) {
    gamma_[f] = fetch(weights_, *m.gamma, f);  // the codes minus their zero points
    beta_[f] = fetch(weights_, *m.beta, f);
  }
  // zero points: a subtractor per parameter with them, per element
  Datapath zp;
  if (!m.gamma->zero_points.empty()) zp.add(operand_width(*m.gamma), 1);
  if (!m.beta->zero_points.empty()) zp.add(operand_width(*m.beta), 1);
  zp.count(actions_, H);
  zp_datapath(in_zp).count(actions_, H), zp_datapath(zp_bits(Ly.norm[0].to())).count(actions_, H);
  auto read_params = [&](size_t b, size_t e) {
    wwords_.clear();
    words_of(*m.gamma, b, e, wwords_);
    words_of(*m.beta, b, e, wwords_);
    return weights_.access(wwords_.data(), wwords_.size(), false);
  };
  std::vector<int32_t> result(H);
  auto compute = [&] {
    core::qstep::norm(Ly, gamma_.data(), beta_.data(), in, 1, result.data(), 1, H, [](size_t) { return nullptr; });
  };
  uint64_t cycles = 0;
  if (Ly.batch_norm) {
    Op op;
    op.name = "sfu.batchnorm";
    op.site = m.gamma;
    op.items = H;
    op.per_cycle = static_cast<size_t>(config_.width);
    op.issue = read_params;
    op.retire = [&](size_t b, size_t e) {
      if (b == 0) compute();
      std::copy(result.begin() + static_cast<std::ptrdiff_t>(b), result.begin() + static_cast<std::ptrdiff_t>(e), out + b);
    };
    cycles = run(op);
    batchnorm_datapath(in_width, m.wnorm, m.wk).count(actions_, H);
    return cycles;
  }
  // LayerNorm: pass 1 (sum, then sum of squared deviations: 2H items) and the square root ...
  Op stats;
  stats.name = "sfu.layernorm.stats";
  stats.items = 2 * H;
  stats.per_cycle = static_cast<size_t>(config_.width);
  stats.extra = static_cast<unsigned>(config_.isqrt_cycles);
  stats.issue = [](size_t, size_t) { return 1u; };
  stats.retire = [&](size_t, size_t e) {
    if (e == 2 * H) compute();
  };
  cycles += run(stats);
  // ... pass 2: the outputs
  Op outs;
  outs.name = "sfu.layernorm.out";
  outs.site = m.gamma;
  outs.items = H;
  outs.per_cycle = static_cast<size_t>(config_.width);
  outs.issue = read_params;
  outs.retire = [&](size_t b, size_t e) {
    std::copy(result.begin() + static_cast<std::ptrdiff_t>(b), result.begin() + static_cast<std::ptrdiff_t>(e), out + b);
  };
  cycles += run(outs);
  layernorm_datapath(m.wnorm, m.wk).count(actions_, H);
  layernorm_once().count(actions_, 1);
  return cycles;
}

uint64_t SpecialFunctionUnit::gelu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* y,
                                   int32_t* act) {
  // a table holds the stored codes (b bits), indexed by y's stored code: no zero-point adders
  gelu_datapath(Ly, m.wy, m.act_op.zp ? m.wact - 1 : m.wact, m.wk).count(actions_, H);
  if (Ly.hard_gelu) zp_datapath(m.zy).count(actions_, H), zp_datapath(zp_bits(Ly.hard_out.to())).count(actions_, H);
  return elementwise("sfu.gelu", H, [&](size_t i) { act[i] = core::qstep::gelu(Ly, y[i], nullptr); });
}

uint64_t SpecialFunctionUnit::gate(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* mixg,
                                   const int32_t* other, int32_t* g, int other_zp) {
  gate_datapath(Ly, m.wact, m.wk).count(actions_, H);
  zp_datapath(other_zp).count(actions_, H), zp_datapath(zp_bits(Ly.g_out.to())).count(actions_, H);
  return elementwise("sfu.gate", H, [&](size_t i) {
    g[i] = core::qstep::gated(Ly, other[i], core::qstep::sigmoid(Ly, mixg[i], nullptr), nullptr);
  });
}

uint64_t SpecialFunctionUnit::residual(const core::QLayerConsts& Ly, size_t H, const int32_t* g, const int32_t* h,
                                       int32_t* res, int g_zp, int h_zp) {
  residual_datapath(multiplier_bits(Ly.res)).count(actions_, H);
  zp_datapath(g_zp).count(actions_, H), zp_datapath(h_zp).count(actions_, H);
  zp_datapath(zp_bits(Ly.res.to())).count(actions_, H);
  return elementwise("sfu.residual", H, [&](size_t i) { res[i] = core::qstep::residual(Ly, g[i], h[i], nullptr); });
}

uint64_t SpecialFunctionUnit::pool_add(size_t H, const int32_t* h, int64_t* sum, int h_zp) {
  pool_add_datapath().count(actions_, H);
  zp_datapath(h_zp).count(actions_, H);
  return elementwise("sfu.pool_add", H, [&](size_t i) { sum[i] += h[i]; });
}

uint64_t SpecialFunctionUnit::pool_out(const quant::ScaledSum& pool, size_t H, const int64_t* sum, int32_t* out) {
  pool_out_datapath(multiplier_bits(pool)).count(actions_, H);
  zp_datapath(zp_bits(pool.to())).count(actions_, H);
  return elementwise("sfu.pool_out", H, [&](size_t i) { out[i] = static_cast<int32_t>(pool(sum[i], nullptr)); });
}

uint64_t SpecialFunctionUnit::operand(const core::XOperandConsts& op, int w, size_t n, int32_t* v) {
  bfp_value_datapath(w).count(actions_, n);
  for (size_t b = 0; b < n; b += op.block) bfp_block_datapath(w, std::min(n, b + op.block) - b).count(actions_, 1);
  return elementwise("sfu.operand", n, [&](size_t i) {
    if (i == 0) core::qstep::narrow_activation(op, v, n, 1, nullptr);
  });
}

const keys::Table<SfuConfig>& SfuConfig::keys() {
  using S = SfuConfig;
  static const auto t =
      keys::Table<S>("hw")
          .integer("sfu_width", &S::width, 1, 4096, "elements/cycle", "special-function unit throughput")
          .integer("sfu_pipeline", &S::pipeline, 1, 64, "stages", "SFU pipeline stages")
          .integer("sfu_isqrt_cycles", &S::isqrt_cycles, 1, 1024, "cycles", "one integer square root (LayerNorm)");
  return t;
}

}  // namespace ssmsim::hw
