// The special-function unit: `sfu_width` elements per cycle, `sfu_pipeline` stages. It applies the
// quantized model's elementwise functions through ssm_core/qsteps.hpp: the input rescale of a
// post-norm layer, GELU (lookup table or the hard form), the sigmoid gate and the gated product,
// the residual sum, normalisation (BatchNorm folded: one pass; LayerNorm: a pass for the sum and
// sum of squares, the integer square root in `sfu_isqrt_cycles`, a pass for the outputs) and the
// mean pooling (an exact running sum per feature, one narrowing at the end).
#pragma once

#include <systemc>

#include <vector>

#include "hw_models/datapath.hpp"
#include "hw_models/energy.hpp"
#include "hw_models/hw_unit.hpp"
#include "hw_models/layer_mem.hpp"
#include "hw_models/unit.hpp"
#include "quant/intops.hpp"
#include "quant/keys.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::hw {

// Keys sfu_width, sfu_pipeline, sfu_isqrt_cycles of the hw section.
struct SfuConfig {
  int width = 2;          // elements per cycle, [1, 4096]
  int pipeline = 2;       // stages (cycles), [1, 64]
  int isqrt_cycles = 32;  // cycles of one integer square root (LayerNorm), [1, 1024]

  static const keys::Table<SfuConfig>& keys();
};

class SpecialFunctionUnit : public PipelinedUnit, public HwUnit {
 public:
  SpecialFunctionUnit(sc_core::sc_module_name name, const SfuConfig& config, BankedSram& weights,
                      const sc_core::sc_clock* clk);

  // The inventory. Built: `sfu_width` lanes of one 64 x 31 multiplier (the narrowing), three
  // 64-bit adders and a 64-bit register per stage, and the lookup tables as ROMs (entries x
  // output width: every layer's GELU table and sigmoid table). Counted: each function below, per
  // element (`H` elements an op), at its operands' widths. The normalisation's gamma and beta are
  // fetched minus their zero points (asymmetric: a subtractor each per element, two per lane).
  static Datapath lane(int wk);
  // Per element of each function (`in`: the input's width; widths in bits).
  static Datapath u_in_datapath(int wu, int wk);
  static Datapath batchnorm_datapath(int in, int wnorm, int wk);
  static Datapath layernorm_datapath(int wnorm, int wk);  // plus layernorm_once() per vector
  static Datapath layernorm_once();               // the division and the square root (2 adds a bit)
  static Datapath gelu_datapath(const core::QLayerConsts& Ly, int wy, int wact,
                                int wk);                                          // hard: a product; else a LUT read
  static Datapath gate_datapath(const core::QLayerConsts& Ly, int wact, int wk);  // sigmoid LUT, the product
  static Datapath residual_datapath(int wk);
  static Datapath pool_add_datapath();
  static Datapath pool_out_datapath(int wk);
  // One lane's zero-point adder and subtractors (below), from the model's points.
  static Datapath zero_point_datapath(const CostContext& c);
  // Block floating point on an activation of w bits (docs/fixed_point.md 9.3, "Activation
  // operands"), priced as the state's (hw_models/datapath.hpp: bfp_value_datapath per value,
  // bfp_block_datapath per block). Built: one of each per lane, and the exponent registers of
  // every narrowed vector (ActOperand::exponent_bits).
  // Zero points on activation points: per lane, one adder of the widest asymmetric point the SFU
  // writes and as many subtractors of the widest one it reads as one element's function reads at
  // once (the residual: g and h).

  // Zero points on activation points (hw_models/layer_mem.hpp, zp_bits): a function that writes an
  // asymmetric point counts its zero point's adder per element (the point's width from its
  // narrowing), one that reads one a subtractor per element and operand (`*_zp`: the zp_bits of
  // what it reads; u_in reads m.zh); the lookup tables fold the zero points into their addresses
  // and entries (none counted).
  uint64_t u_in(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in, int32_t* u);
  uint64_t norm(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in, int32_t* out, int in_width,
                int in_zp = 0);
  uint64_t gelu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* y, int32_t* act);
  // gate = sigmoid(mixg); g = narrow(other * gate)
  uint64_t gate(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* mixg, const int32_t* other,
                int32_t* g, int other_zp = 0);
  uint64_t residual(const core::QLayerConsts& Ly, size_t H, const int32_t* g, const int32_t* h, int32_t* res,
                    int g_zp = 0, int h_zp = 0);
  uint64_t pool_add(size_t H, const int32_t* h, int64_t* sum, int h_zp = 0);
  uint64_t pool_out(const quant::ScaledSum& pool, size_t H, const int64_t* sum, int32_t* out);
  // The n values of one step narrowed in place to v' = m 2^e, the value their consumers multiply
  // (qstep::narrow_activation): a pass over the n values after the point is produced, the block's
  // maximum known before its first value shifts. Not called for a point its component leaves as is.
  uint64_t operand(const core::XOperandConsts& op, int w, size_t n, int32_t* v);

  const ActionCounts& actions() const { return actions_; }

  // the unit contract
  std::string unit_name() const override { return basename(); }
  std::optional<UnitCost> cost(const CostContext& c) const override;
  std::optional<double> utilization(const CostContext& c) const override { return unit_utilization(c); }
  StatList stats() const override { return PipelinedUnit::stats(); }
  void trace(sc_core::sc_trace_file* f) const override { trace_busy(f); }

 private:
  uint64_t elementwise(const char* name, size_t n, const std::function<void(size_t)>& f);
  SfuConfig config_;
  BankedSram& weights_;
  ActionCounts actions_;
  std::vector<uint64_t> wwords_;
  std::vector<int32_t> gamma_, beta_;
};

}  // namespace ssmsim::hw
