// The controller: sequences a sequence's work on the units, token by token and layer by layer
// (docs/hardware.md, "Schedule"):
//   encoder (MVE) -> per layer: norm or input rescale (SFU) -> [S5: B u (MVE)] -> state update
//   (CMAC) -> [narrowed state operand: the operand stage (CMAC)] -> C x (MVE) -> D u and output
//   narrowing (MVE) -> GELU (SFU) -> [mixing (MVE),
//   gate (SFU)] -> residual (SFU) -> [post-norm (SFU)] -> pooling sum (SFU);
//   after the last token: pooling narrowing (SFU) and the decoder (MVE).
// Dependent ops run one after another. When the weights stream from off-chip, each token fetches
// the encoder's and every layer's weights over the bus; with double buffering the fetch of the
// next segment overlaps the current segment's compute.
// Timing: in lt mode the ops' cycles are annotated under a quantum keeper (temporal decoupling);
// in cycle mode the units and the DMA run on the clock and the controller waits for them, and the
// cycles are read from the clock. Both count the same schedule.
#pragma once

#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include <cstdint>
#include <exception>
#include <vector>

#include "hw_models/bus.hpp"
#include "hw_models/cmac.hpp"
#include "hw_models/hw_config.hpp"
#include "hw_models/hw_unit.hpp"
#include "hw_models/layer_mem.hpp"
#include "hw_models/mve.hpp"
#include "hw_models/sfu.hpp"
#include "hw_models/stats.hpp"
#include "hw_models/trace.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::hw {

// Inventory: sequencing logic, not priced (its cycles are the units' and the bus's).
class Controller : public sc_core::sc_module, public HwUnit {
 public:
  SC_HAS_PROCESS(Controller);
  Controller(sc_core::sc_module_name name, const HwConfig& config, const core::QEngine& engine, const ModelMem& mem,
             BankedSram& io, BankedSram& states, CmacArray& cmac, MatVecEngine& mve, SpecialFunctionUnit& sfu, Bus& bus,
             const sc_core::sc_clock* clk);

  // Starts a sequence of L tokens whose input codes are in the io memory; done_event() fires at
  // its end (the host's interrupt).
  void start(size_t L);
  const sc_core::sc_event& done_event() const { return done_; }
  bool busy() const { return busy_; }
  // An error of the last sequence (rethrown by whoever waits for it), or null.
  std::exception_ptr error() const { return error_; }

  // The last sequence: logits, cycles; with record_states, every layer's state after every step
  // (S4D [t][H][N/2][re, im], S5 [t][P2][re, im]).
  bool record_states = false;
  const std::vector<int64_t>& logits() const { return logits_; }
  const std::vector<std::vector<int32_t>>& states() const { return states_; }
  uint64_t sequence_cycles() const { return seq_cycles_; }

  // Test-vector export: the tracer sees every step's vectors and state updates (nullptr: none).
  void set_tracer(Tracer* t) {
    tracer_ = t;
    cmac_.set_tracer(t);
  }

  // Totals over every sequence run.
  uint64_t total_cycles() const { return total_cycles_; }
  uint64_t tokens() const { return tokens_; }
  const std::vector<uint64_t>& layer_cycles() const { return layer_cycles_; }  // per layer, all tokens
  uint64_t stream_stall_cycles() const { return stream_stall_; }

  // the unit contract
  std::string unit_name() const override { return basename(); }
  StatList stats() const override;

 private:
  void thread();
  void run_sequence();
  uint64_t now() const;            // cycles since the start of the sequence
  void advance(uint64_t cycles);   // lt: annotate; cycle: nothing (time moved already)
  void idle(uint64_t cycles);      // the controller's own cycles (lt: annotated; cycle: clock edges)
  // runs a segment's compute, overlapped with a fetch of `next_bytes` when double buffering
  template <typename F>
  void segment(uint64_t next_bytes, F compute);
  void layer(size_t li, std::vector<int32_t>& h);

  HwConfig config_;
  const core::QEngine& engine_;
  const core::QConsts& k_;
  const ModelMem& mem_;
  BankedSram& io_;
  BankedSram& state_mem_;
  CmacArray& cmac_;
  MatVecEngine& mve_;
  SpecialFunctionUnit& sfu_;
  Bus& bus_;
  const sc_core::sc_clock* clk_;
  bool clocked_;
  sc_core::sc_time period_;
  tlm_utils::tlm_quantumkeeper qk_;
  sc_core::sc_event start_, done_;
  bool busy_ = false;
  Tracer* tracer_ = nullptr;
  std::exception_ptr error_;
  size_t L_ = 0, t_ = 0;
  uint64_t lt_cycles_ = 0;
  sc_core::sc_time t0_;
  std::vector<int64_t> logits_;
  std::vector<std::vector<int32_t>> states_;
  uint64_t seq_cycles_ = 0, total_cycles_ = 0, tokens_ = 0, stream_stall_ = 0;
  std::vector<uint64_t> layer_cycles_;
  // the datapath's buffers (registers between the units)
  std::vector<int32_t> in_, u_, y_, act_, mix_, mixg_, g_, res_, out_, pooled_;
  std::vector<int64_t> acc_, pool_sum_;
  std::vector<quant::wide_t> bu_re_, bu_im_;
};

}  // namespace ssmsim::hw
