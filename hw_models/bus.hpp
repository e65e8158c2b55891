// The system bus and its DMA engine: moves bytes between the host / off-chip memory and the
// accelerator's memories in bursts of at most `bus_burst_beats` beats of `bus_width_bits`. A burst
// costs the bus latency (plus the off-chip latency when it reads DRAM) and then one cycle per beat.
// The DMA runs a transfer in the background of the compute units (double buffering): in the lt mode
// its cycles are returned for the controller to overlap; in the cycle mode a clocked thread moves
// one beat per clock edge and the controller waits for its done event.
#pragma once

#include <systemc>

#include <cstdint>

#include "hw_models/hw_config.hpp"
#include "hw_models/stats.hpp"

namespace ssmsim::hw {

class Bus : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Bus);
  Bus(sc_core::sc_module_name name, const HwConfig& config, const sc_core::sc_clock* clk);

  // The cycles of a transfer of `bytes` (0 for none).
  uint64_t cycles_for(uint64_t bytes, bool offchip) const;
  // Counts a transfer's beats, bursts and DRAM bits and returns its cycles (lt), or runs it beat
  // by beat on the clock (cycle mode, from a controller thread) and returns when it is done.
  uint64_t transfer(uint64_t bytes, bool offchip);
  // Background DMA (cycle mode): start, then wait. In lt mode start returns the cycles at once.
  uint64_t dma_start(uint64_t bytes, bool offchip);
  void dma_wait();

  uint64_t beats() const { return beats_; }
  uint64_t bursts() const { return bursts_; }
  uint64_t offchip_bits() const { return offchip_bits_; }
  uint64_t bus_bits() const { return beats_ * static_cast<uint64_t>(config_.bus_width_bits); }
  uint64_t busy_cycles() const { return busy_; }
  StatList stats() const;

 private:
  void count(uint64_t bytes, bool offchip);
  void dma_thread();
  uint64_t clocked_transfer(uint64_t bytes, bool offchip);
  HwConfig config_;
  const sc_core::sc_clock* clk_;
  bool clocked_;
  uint64_t beats_ = 0, bursts_ = 0, offchip_bits_ = 0, busy_ = 0;
  uint64_t dma_bytes_ = 0;
  bool dma_offchip_ = false, dma_busy_ = false;
  sc_core::sc_event dma_start_, dma_done_;
};

}  // namespace ssmsim::hw
