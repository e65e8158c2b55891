// The matrix-vector engine: `mve_macs` real multiply-accumulates per cycle, `mve_pipeline` stages
// (multiply, adder tree, requantize), multipliers of `mve_operand_bits` (0: the operands' widths;
// narrower ones take several passes). It runs the encoder, the decoder, the mixing layers, the
// output products C x (S4D per channel, S5 over the shared states, reading the states from the
// state memory), the feed-through D u with the output narrowing, and for S5 B u before the state
// update.
// Each output row is computed by ssm_core/qsteps.hpp when its last MAC retires. A group reads the
// words of its weights (and a row's bias at the row's start) from the weight memory.
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

// Keys mve_macs, mve_operand_bits, mve_pipeline of the hw section.
struct MveConfig {
  int macs = 8;          // real multiply-accumulates per cycle, [1, 65536]
  int operand_bits = 0;  // multiplier operand width (bits), [0, 32]; 0: as wide as the model's operands
  int pipeline = 3;      // stages: multiply, adder tree, requantize (cycles), [1, 64]

  static const keys::Table<MveConfig>& keys();
};

class MatVecEngine : public PipelinedUnit, public HwUnit {
 public:
  MatVecEngine(sc_core::sc_module_name name, const MveConfig& config, BankedSram& weights, BankedSram& states,
               const sc_core::sc_clock* clk);

  // The inventory. One MAC: a wa x wb product on the configured multipliers and an adder of the
  // sum's width `acc` (counted per MAC of an op at its exact width; built `macs` times at the
  // model's widest operands with 64-bit accumulators and a 64-bit register per stage).
  static Datapath mac(int wa, int wb, int acc, int operand_bits);
  // One output's narrowing (the scaled sum): a 31-bit multiplier of the exact sum and, with
  // `rounding`, its rounding add (counted per output row; built once, 64 x 31, its rounding add
  // on an accumulator's adder). The decoder's per-class rescale is the multiply alone.
  static Datapath narrowing(int acc, int wk, bool rounding = true);
  // One output of an SSM layer, y = narrow(C x, D u): the D u product on a MAC's multiplier and
  // the two terms' scale multipliers (the C x sum of `cx_acc` bits, the product), two rounding adds.
  static Datapath output_datapath(int wD, int wu, int cx_acc, int wk, int operand_bits, const ActOperand& uop = {});
  // One product of a wa-bit weight by an activation of `w` bits that enters as `op` (block floating
  // point: the mantissa's bits on the multiplier, the product shifted left by the block's exponent,
  // a shifter of the shifted product's width) and its adder of a `terms`-term sum (`k` bits wider:
  // a weight with separate parts, its coarser part's products shifted left by up to k).
  static Datapath operand_mac(int wa, int w, const ActOperand& op, size_t terms, int operand_bits, int k = 0);

  // out[o] = narrow[o](b[row0 + o] + sum_i W[row0 + o][i] in[i]) for o < rows; W is [.][cols].
  uint64_t linear(const Region& W, const Region& b, size_t row0, size_t rows, size_t cols, const int32_t* in,
                  const std::vector<quant::ScaledSum>& narrow, int32_t* out, int w_width, int in_width,
                  const ActOperand& in_op = {});
  // The decoder: logits (exact accumulators, rescaled per class where the decoder is per channel).
  uint64_t decoder(const core::QConsts& c, const Region& W, const Region& b, size_t classes, size_t H,
                   const int32_t* in, int64_t* logits, int w_width, int in_width, const ActOperand& in_op = {});
  // y[h] = narrow_h(acc[h], D[h] u[h]).
  uint64_t output(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int64_t* acc, const int32_t* u,
                  int32_t* y);
  // S5: bu[p] = sum_h B[p][h] u[h] (exact, complex; B's operands minus their zero points, with
  // separate parts each product of the coarser part shifted left by its part's shift: a shifter
  // per complex-by-real product, the sum kB bits wider).
  uint64_t s5_bu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u, quant::wide_t* bu_re,
                 quant::wide_t* bu_im);
  // acc[h] = sum_s cr or 2^er - ci oi 2^ei with the state operands o[.] read from the state memory
  // (the stored state, or the operand memory xo with the exponent registers `ex`, one pair (re, im)
  // per state; null: all 0): per channel for S4D (o[h][s], the per-channel products), over the shared states for
  // S5 (o[s]). C's codes minus their zero points (with separate parts: each term's coarser-part
  // product shifted left by its part's shift, a shifter per term).
  uint64_t cx(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, bool per_channel, const core::qstep::Ex* ex,
              int64_t* acc);

  const ActionCounts& actions() const { return actions_; }

  // the unit contract
  std::string unit_name() const override { return basename(); }
  std::optional<UnitCost> cost(const CostContext& c) const override;
  std::optional<double> utilization(const CostContext& c) const override { return unit_utilization(c); }
  StatList stats() const override { return PipelinedUnit::stats(); }
  void trace(sc_core::sc_trace_file* f) const override { trace_busy(f); }

 private:
  MveConfig config_;
  BankedSram &weights_, &states_;
  ActionCounts actions_;
  std::vector<uint64_t> wwords_;
};

}  // namespace ssmsim::hw
