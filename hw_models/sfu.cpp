#include "hw_models/sfu.hpp"

#include <algorithm>

namespace ssmsim::hw {

SpecialFunctionUnit::SpecialFunctionUnit(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights,
                                         const sc_core::sc_clock* clk)
    : PipelinedUnit(name, static_cast<unsigned>(config.sfu_pipeline), clk != nullptr, clk),
      width_(config.sfu_width),
      isqrt_cycles_(static_cast<unsigned>(config.sfu_isqrt_cycles)),
      weights_(weights) {
  watch(weights);
}

uint64_t SpecialFunctionUnit::elementwise(const char* name, size_t n, const std::function<void(size_t)>& f) {
  Op op;
  op.name = name;
  op.items = n;
  op.per_cycle = static_cast<size_t>(width_);
  op.issue = [](size_t, size_t) { return 1u; };
  op.retire = [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) f(i);
  };
  return run(op);
}

uint64_t SpecialFunctionUnit::u_in(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in,
                                   int32_t* u) {
  actions_.multiply(m.wu, kScaleBits, H);
  actions_.adds(kAccBits, H);
  return elementwise("sfu.u_in", H, [&](size_t i) { u[i] = core::qstep::u_in(Ly, in[i], nullptr); });
}

uint64_t SpecialFunctionUnit::norm(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in,
                                   int32_t* out, int in_width) {
  // gamma and beta come from the weight memory, read as the passes need them
  gamma_.resize(H);
  beta_.resize(H);
  for (size_t f = 0; f < H; ++f) {
    gamma_[f] = weights_.load(*m.gamma, f);
    beta_[f] = weights_.load(*m.beta, f);
  }
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
    op.per_cycle = static_cast<size_t>(width_);
    op.issue = read_params;
    op.retire = [&](size_t b, size_t e) {
      if (b == 0) compute();
      std::copy(result.begin() + static_cast<std::ptrdiff_t>(b), result.begin() + static_cast<std::ptrdiff_t>(e), out + b);
    };
    cycles = run(op);
    actions_.multiply(in_width, m.wnorm, H);
    actions_.multiply(kAccBits, kScaleBits, 2 * H);
    actions_.adds(kAccBits, 2 * H);
    return cycles;
  }
  // LayerNorm: pass 1 (sum, then sum of squared deviations: 2H items) and the square root ...
  Op stats;
  stats.name = "sfu.layernorm.stats";
  stats.items = 2 * H;
  stats.per_cycle = static_cast<size_t>(width_);
  stats.extra = isqrt_cycles_;
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
  outs.per_cycle = static_cast<size_t>(width_);
  outs.issue = read_params;
  outs.retire = [&](size_t b, size_t e) {
    std::copy(result.begin() + static_cast<std::ptrdiff_t>(b), result.begin() + static_cast<std::ptrdiff_t>(e), out + b);
  };
  cycles += run(outs);
  actions_.adds(kAccBits, 3 * H);                 // sum, deviations
  actions_.multiply(kAccBits, kAccBits, H + 1);    // squares; the division
  actions_.adds(kAccBits, 2 * 64);                 // the square root, bit by bit
  actions_.multiply(kAccBits, kAccBits, H);        // d * rs
  actions_.multiply(kAccBits, m.wnorm, H);         // * gamma
  actions_.multiply(kAccBits, kScaleBits, 2 * H);  // the narrowing
  actions_.adds(kAccBits, 2 * H);
  return cycles;
}

uint64_t SpecialFunctionUnit::gelu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* y,
                                   int32_t* act) {
  if (Ly.hard_gelu) {
    actions_.multiply(m.wy, m.wy + 1, H);
    actions_.multiply(kAccBits, kScaleBits, H);
    actions_.adds(kAccBits, 3 * H);
  } else {
    actions_.lookup(Ly.gelu.table().size() * static_cast<uint64_t>((m.wact + 7) / 8), m.wact, H);
  }
  return elementwise("sfu.gelu", H, [&](size_t i) { act[i] = core::qstep::gelu(Ly, y[i], nullptr); });
}

uint64_t SpecialFunctionUnit::gate(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* mixg,
                                   const int32_t* other, int32_t* g) {
  actions_.lookup(Ly.sigmoid.table().size() * 2, 16, H);
  actions_.multiply(m.wact, 16, H);
  actions_.multiply(kAccBits, kScaleBits, H);
  actions_.adds(kAccBits, H);
  return elementwise("sfu.gate", H, [&](size_t i) {
    g[i] = core::qstep::gated(Ly, other[i], core::qstep::sigmoid(Ly, mixg[i], nullptr), nullptr);
  });
}

uint64_t SpecialFunctionUnit::residual(const core::QLayerConsts& Ly, size_t H, const int32_t* g, const int32_t* h,
                                       int32_t* res) {
  actions_.multiply(kAccBits, kScaleBits, 2 * H);
  actions_.adds(kAccBits, 2 * H);
  return elementwise("sfu.residual", H, [&](size_t i) { res[i] = core::qstep::residual(Ly, g[i], h[i], nullptr); });
}

uint64_t SpecialFunctionUnit::pool_add(size_t H, const int32_t* h, int64_t* sum) {
  actions_.adds(kAccBits, H);
  return elementwise("sfu.pool_add", H, [&](size_t i) { sum[i] += h[i]; });
}

uint64_t SpecialFunctionUnit::pool_out(const quant::ScaledSum& pool, size_t H, const int64_t* sum, int32_t* out) {
  actions_.multiply(kAccBits, kScaleBits, H);
  actions_.adds(kAccBits, H);
  return elementwise("sfu.pool_out", H, [&](size_t i) { out[i] = static_cast<int32_t>(pool(sum[i], nullptr)); });
}

}  // namespace ssmsim::hw
