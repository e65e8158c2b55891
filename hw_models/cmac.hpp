// The complex diagonal MAC array: `cmac_lanes` lanes, each performing one state update per issue
// x' = Lambda_bar * x + B_bar * u (complex, fixed point) through ssm_core/qsteps.hpp, with a
// pipeline of `cmac_pipeline` stages from operand read to state write-back. The matrix-vector
// engine forms the products around it (S4D: C x per channel; S5: B u before, C x after).
// Memory: a group of lanes reads the A (and for S4D B) words of its states from the weight memory
// and the state words from the state memory, and writes the states back; a group issues in as
// many cycles as the worst bank needs, or as the multiplier passes need when the lanes'
// multipliers (`cmac_operand_bits`) are narrower than the operands.
#pragma once

#include <systemc>

#include <functional>
#include <vector>

#include "hw_models/energy.hpp"
#include "hw_models/hw_config.hpp"
#include "hw_models/layer_mem.hpp"
#include "hw_models/trace.hpp"
#include "hw_models/unit.hpp"
#include "quant/intops.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::hw {

class CmacArray : public PipelinedUnit {
 public:
  CmacArray(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights, BankedSram& states,
            const sc_core::sc_clock* clk);

  // S4D: every state of every channel; u[h] is channel h's input.
  uint64_t s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u);
  // S5: every state p with its exact B u (bu_re[p], bu_im[p]).
  uint64_t s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                     const quant::wide_t* bu_im);

  // The state update of one state, in place of ssm_core/qsteps.hpp's (co-simulation with the
  // Verilog lane: hw_models/rtl/rtl_lane.hpp); empty: the C++ step function.
  using LaneFn = std::function<core::qstep::Cx(int64_t ar, int64_t ai, core::qstep::Cx x, quant::wide_t bu_re,
                                               quant::wide_t bu_im, const quant::ScaledSum& upd)>;
  void set_lane(LaneFn f) { lane_ = std::move(f); }

  const ActionCounts& actions() const { return actions_; }
  int lanes() const { return lanes_; }
  void set_tracer(Tracer* t) { tracer_ = t; }

 private:
  int lanes_, operand_bits_;
  BankedSram &weights_, &states_;
  ActionCounts actions_;
  Tracer* tracer_ = nullptr;
  LaneFn lane_;
};

}  // namespace ssmsim::hw
