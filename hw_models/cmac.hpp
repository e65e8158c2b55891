// The complex diagonal MAC array: `cmac_lanes` lanes, each performing one state update per issue
// x' = Lambda_bar * x + B_bar * u (complex, fixed point) through ssm_core/qsteps.hpp, with a
// pipeline of `cmac_pipeline` stages from operand read to state write-back. For S4D each lane also
// accumulates its output term Re(C x') into the channel's accumulator (the per-channel products);
// for S5 the matrix-vector engine forms B u and C x around it.
// Memory: a group of lanes reads the A and B (and for S4D C) words of its states from the weight
// memory and the state words from the state memory, and writes the states back; a group issues
// in as many cycles as the worst bank needs.
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

class CmacArray : public PipelinedUnit {
 public:
  CmacArray(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights, BankedSram& states,
            const sc_core::sc_clock* clk);

  // S4D: every state of every channel; u[h] is channel h's input, acc[h] receives sum Re(C x').
  uint64_t s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u, int64_t* acc);
  // S5: every state p with its exact B u (bu_re[p], bu_im[p]).
  uint64_t s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                     const quant::wide_t* bu_im);

  const ActionCounts& actions() const { return actions_; }
  int lanes() const { return lanes_; }

 private:
  int lanes_;
  BankedSram &weights_, &states_;
  ActionCounts actions_;
  std::vector<uint64_t> wwords_, swords_;
};

}  // namespace ssmsim::hw
