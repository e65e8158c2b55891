// The system bus and its DMA engine: moves bytes between the host / off-chip memory and the
// accelerator's memories in bursts of at most `bus_burst_beats` beats of `bus_width_bits`. A burst
// costs the bus latency (plus the off-chip latency when it reads DRAM) and then one cycle per beat.
// The DMA runs a transfer in the background of the compute units (double buffering): in the lt mode
// its cycles are returned for the controller to overlap; in the cycle mode a clocked thread moves
// one beat per clock edge and the controller waits for its done event.
#pragma once

#include <systemc>

#include <cstdint>

#include "hw_models/hw_unit.hpp"
#include "hw_models/offchip.hpp"
#include "hw_models/stats.hpp"
#include "quant/keys.hpp"

namespace ssmsim::hw {

class BankedSram;

// Keys bus_width_bits, bus_latency, bus_burst_beats of the hw section.
struct BusConfig {
  int width_bits = 64;   // bits per beat, a multiple of 8 in [8, 4096]
  int latency = 8;       // cycles from request to the first beat of a burst, [0, 100000]
  int burst_beats = 16;  // beats per burst at most, [1, 4096]

  static const keys::Table<BusConfig>& keys();
};

// Inventory: four bus-wide registers (request, address, data in, data out); energy per bit per beat.
class Bus : public sc_core::sc_module, public HwUnit {
 public:
  SC_HAS_PROCESS(Bus);
  // `fill`: the memory that off-chip transfers write into (the weight memory), or none.
  Bus(sc_core::sc_module_name name, const BusConfig& config, const OffchipConfig& offchip, const sc_core::sc_clock* clk,
      BankedSram* fill = nullptr);

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
  uint64_t bus_bits() const { return beats_ * static_cast<uint64_t>(config_.width_bits); }
  uint64_t busy_cycles() const { return busy_; }

  // the unit contract
  std::string unit_name() const override { return basename(); }
  std::optional<UnitCost> cost(const CostContext& c) const override;
  std::optional<double> utilization(const CostContext& c) const override;
  StatList stats() const override;

 private:
  void count(uint64_t bytes, bool offchip);
  void dma_thread();
  uint64_t clocked_transfer(uint64_t bytes, bool offchip);
  BusConfig config_;
  int offchip_latency_;
  BankedSram* fill_;
  const sc_core::sc_clock* clk_;
  bool clocked_;
  uint64_t beats_ = 0, bursts_ = 0, offchip_bits_ = 0, busy_ = 0;
  uint64_t dma_bytes_ = 0;
  bool dma_offchip_ = false, dma_busy_ = false;
  sc_core::sc_event dma_start_, dma_done_;
};

}  // namespace ssmsim::hw
