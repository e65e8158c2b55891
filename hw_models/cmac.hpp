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
#include <map>
#include <vector>

#include "hw_models/datapath.hpp"
#include "hw_models/energy.hpp"
#include "hw_models/hw_unit.hpp"
#include "hw_models/layer_mem.hpp"
#include "hw_models/trace.hpp"
#include "hw_models/unit.hpp"
#include "quant/intops.hpp"
#include "quant/keys.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::hw {

// Keys cmac_lanes, cmac_pipeline, cmac_operand_bits of the hw section.
struct CmacConfig {
  int lanes = 4;         // state updates issued per cycle, [1, 4096]
  int pipeline = 4;      // stages from operand read to state write-back (cycles), [1, 64]
  int operand_bits = 0;  // multiplier operand width (bits), [0, 32]; 0: as wide as the model's operands

  static const keys::Table<CmacConfig>& keys();
};

// The operand widths of one lane's state update x' = A (o 2^e) + B u (bits), each part of o with
// its own exponent.
struct CmacWidths {
  int A = 0, x = 0, B = 0, u = 0;  // x: the state operand o (the stored state unless narrowed)
  int bu = 0;  // the B u term the lane narrows: S4D wB + wu (its own product), S5 the MVE's exact sum
  bool zA = false, zB = false;  // A, B with zero points: a (w+1)-bit subtractor per part at fetch
  int shift = 0;                // block floating point: the products' largest left shift (0: none)
  int ushift = 0;  // u in block floating point (docs/fixed_point.md 9.3, "Activation operands"): u is
                   // its mantissa (w.u bits) and each B u product shifts left by up to ushift
  int kA = 0, kB = 0;  // separate parts (9.2): the coarser part's product shift of A, of B (0: shared)
  int prev = 0;        // A in delta form (9.3): the stored state's width (the third term); 0: direct
  int zu = 0;          // an asymmetric u: its zero point's subtractor (zp_bits; the u port of each lane)
  int K = 31;          // the rescale multipliers (precision.rescale_bits)
};

class CmacArray : public PipelinedUnit, public HwUnit {
 public:
  CmacArray(sc_core::sc_module_name name, const CmacConfig& config, BankedSram& weights, BankedSram& states,
            const sc_core::sc_clock* clk);

  // The inventory of one lane (one state update per issue), on multipliers of `operand_bits`:
  //   4 A x products and (S4D: `with_bu`) 2 B u products, on the configured multipliers;
  //   2 + 2 scale multipliers (31 bits) of the two terms' re and im parts;
  //   2 adders of the complex product (its exact width) and 4 of the aligned sums and their rounding;
  //   pipeline registers of the state (4 x) and two 64-bit accumulators per stage;
  //   with zero points (docs/fixed_point.md 9.2): a subtractor of the operand's width per part of
  //   A (and of B with the B u products) at operand fetch (A, B are then b + 1 bits wide);
  //   block floating point: a left shifter per product of A o (each of the 4 products shifted by
  //   the exponent of its state part, re = ar or 2^er - ai oi 2^ei, im = ar oi 2^ei + ai or 2^er;
  //   the terms are `shift` bits wider);
  //   separate parts (docs/fixed_point.md 9.2): a left shifter by k per product of the coarser
  //   part, of the shifted product's width (2 of the 4 A o products, 1 of the 2 B u products);
  //   the terms are k bits wider;
  //   delta form (9.3): the stored state as a third aligned input of the sum, an adder per part
  //   of the state's width aligned into the accumulator (wx + 31; its ratio 1 is a shift);
  //   an asymmetric u (docs/fixed_point.md 9.2): a (b+1)-bit subtractor at the lane's u port.
  // Counted once per state update (S5 without the B u products: the MVE forms B u); built
  // `lanes` times at the model's widest operands.
  static Datapath lane(const CmacWidths& w, int operand_bits, bool with_bu);
  // The operand stage (docs/fixed_point.md 9.3, "The state operand"), per state and step:
  //   static: a requantizer per part (a 31-bit scale multiplier of the wx-bit state and its
  //           rounding adder);
  //   block:  per part a magnitude and a rounding shifter (a shift and a rounding add, wx bits);
  //           per block of n states and part (block_datapath counts both parts: the real parts of
  //           a block share one exponent, the imaginary parts another): a max-reduce tree of the
  //           n magnitudes (n - 1 comparators), a leading-zero counter and the maximum's
  //           rounding check (2 adds), all wx bits.
  static Datapath narrow_datapath(int wx, int wk);
  static Datapath block_state_datapath(int wx);
  static Datapath block_datapath(int wx, size_t n);

  // S4D: every state of every channel; u[h] is channel h's input. Each lane fetches A and B (minus
  // their zero points, shifted by their part's shift) and the state operand (the stored state, or
  // the operand memory xo with its block's exponent), in delta form also the stored state (when
  // the operand is xo), and writes the stored state.
  uint64_t s4d_update(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* u);
  // S5: every state p with its exact B u (bu_re[p], bu_im[p]).
  uint64_t s5_update(const core::QLayerConsts& Ly, const LayerMem& m, const quant::wide_t* bu_re,
                     const quant::wide_t* bu_im);
  // The operand stage, after a step's updates when the layer narrows its state operand (m.xo):
  // reads the stored states, `lanes` at a time, and writes their operands into xo and, for block
  // floating point, each block's two exponents (of its real and of its imaginary parts) into their
  // registers (qstep::state_operands; blocks are cut at each of the m.xchannels channels' end:
  // S4D H, S5 one).
  uint64_t operands(const core::QLayerConsts& Ly, const LayerMem& m);
  // The exponent registers of a layer, one pair per state (its block's exponents of the real and
  // of the imaginary part; all 0 unless block floating point), read by the lanes and by the MVE's C x.
  const std::vector<core::qstep::Ex>& exponents(const LayerMem& m);
  // A sequence starts with every operand 0 and every exponent 0 (the controller clears xo).
  void clear_exponents();

  // The state update of one state, in place of ssm_core/qsteps.hpp's (co-simulation with the
  // Verilog lane: hw_models/rtl/rtl_lane.hpp); empty: the C++ step function.
  using LaneFn = std::function<core::qstep::Cx(int64_t ar, int64_t ai, core::qstep::Cx x, quant::wide_t bu_re,
                                               quant::wide_t bu_im, const quant::ScaledSum& upd)>;
  void set_lane(LaneFn f) { lane_ = std::move(f); }

  const ActionCounts& actions() const { return actions_; }
  int lanes() const { return config_.lanes; }
  void set_tracer(Tracer* t) { tracer_ = t; }

  // the unit contract
  std::string unit_name() const override { return basename(); }
  std::optional<UnitCost> cost(const CostContext& c) const override;
  std::optional<double> utilization(const CostContext& c) const override { return unit_utilization(c); }
  StatList stats() const override { return PipelinedUnit::stats(); }
  void trace(sc_core::sc_trace_file* f) const override { trace_busy(f); }

 private:
  CmacConfig config_;
  BankedSram &weights_, &states_;
  ActionCounts actions_;
  Tracer* tracer_ = nullptr;
  LaneFn lane_;
  std::map<const Region*, std::vector<core::qstep::Ex>> exponents_;  // per layer (its xo region), per state
  std::vector<int64_t> xbuf_, obuf_;
  std::vector<core::qstep::Ex> ebuf_;
};

}  // namespace ssmsim::hw
