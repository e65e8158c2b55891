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

#include "hw_models/energy.hpp"
#include "hw_models/hw_config.hpp"
#include "hw_models/layer_mem.hpp"
#include "hw_models/unit.hpp"
#include "quant/intops.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::hw {

class MatVecEngine : public PipelinedUnit {
 public:
  MatVecEngine(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights, BankedSram& states,
               const sc_core::sc_clock* clk);

  // out[o] = narrow[o](b[row0 + o] + sum_i W[row0 + o][i] in[i]) for o < rows; W is [.][cols].
  uint64_t linear(const Region& W, const Region& b, size_t row0, size_t rows, size_t cols, const int32_t* in,
                  const std::vector<quant::ScaledSum>& narrow, int32_t* out, int w_width, int in_width);
  // The decoder: logits (exact accumulators, rescaled per class where the decoder is per channel).
  uint64_t decoder(const core::QConsts& c, const Region& W, const Region& b, size_t classes, size_t H,
                   const int32_t* in, int64_t* logits, int w_width, int in_width);
  // y[h] = narrow_h(acc[h], D[h] u[h]).
  uint64_t output(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int64_t* acc, const int32_t* u,
                  int32_t* y);
  // S5: bu[p] = sum_h B[p][h] u[h] (exact, complex).
  uint64_t s5_bu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u, quant::wide_t* bu_re,
                 quant::wide_t* bu_im);
  // acc[h] = sum_s Re(C[h][s] x[.]) with the states read from the state memory: per channel for
  // S4D (x[h][s], the per-channel products), over the shared states for S5 (x[s]).
  uint64_t cx(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, bool per_channel, int64_t* acc);

  const ActionCounts& actions() const { return actions_; }

 private:
  int macs_, operand_bits_;
  BankedSram &weights_, &states_;
  ActionCounts actions_;
  std::vector<uint64_t> wwords_;
};

}  // namespace ssmsim::hw
