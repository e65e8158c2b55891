#include "hw_models/bus.hpp"

#include <algorithm>

#include "hw_models/datapath.hpp"
#include "hw_models/sram.hpp"

namespace ssmsim::hw {

Bus::Bus(sc_core::sc_module_name name, const BusConfig& config, const OffchipConfig& offchip,
         const sc_core::sc_clock* clk, BankedSram* fill)
    : sc_module(name), config_(config), offchip_latency_(offchip.latency), fill_(fill), clk_(clk), clocked_(clk != nullptr) {
  if (clocked_) SC_THREAD(dma_thread);
}

uint64_t Bus::cycles_for(uint64_t bytes, bool offchip) const {
  if (bytes == 0) return 0;
  const auto bw = static_cast<uint64_t>(config_.width_bits / 8);
  const uint64_t beats = (bytes + bw - 1) / bw;
  const auto burst = static_cast<uint64_t>(config_.burst_beats);
  const uint64_t bursts = (beats + burst - 1) / burst;
  const auto lat = static_cast<uint64_t>(config_.latency + (offchip ? offchip_latency_ : 0));
  return beats + bursts * lat;
}

void Bus::count(uint64_t bytes, bool offchip) {
  if (bytes == 0) return;
  const auto bw = static_cast<uint64_t>(config_.width_bits / 8);
  const uint64_t beats = (bytes + bw - 1) / bw;
  beats_ += beats;
  bursts_ += (beats + static_cast<uint64_t>(config_.burst_beats) - 1) / static_cast<uint64_t>(config_.burst_beats);
  if (offchip) {
    offchip_bits_ += bytes * 8;
    if (fill_) fill_->count_fill(bytes * 8);
  }
  busy_ += cycles_for(bytes, offchip);
}

uint64_t Bus::clocked_transfer(uint64_t bytes, bool offchip) {
  // burst by burst: the latency, then one beat per clock edge
  const auto bw = static_cast<uint64_t>(config_.width_bits / 8);
  uint64_t beats_left = (bytes + bw - 1) / bw, cycles = 0;
  const auto lat = static_cast<uint64_t>(config_.latency + (offchip ? offchip_latency_ : 0));
  while (beats_left > 0) {
    const uint64_t n = std::min<uint64_t>(beats_left, static_cast<uint64_t>(config_.burst_beats));
    for (uint64_t c = 0; c < lat + n; ++c) {
      sc_core::wait(clk_->posedge_event());
      ++cycles;
    }
    beats_left -= n;
  }
  return cycles;
}

uint64_t Bus::transfer(uint64_t bytes, bool offchip) {
  count(bytes, offchip);
  return clocked_ ? clocked_transfer(bytes, offchip) : cycles_for(bytes, offchip);
}

uint64_t Bus::dma_start(uint64_t bytes, bool offchip) {
  count(bytes, offchip);
  if (!clocked_) return cycles_for(bytes, offchip);
  dma_bytes_ = bytes;
  dma_offchip_ = offchip;
  dma_busy_ = bytes > 0;
  if (dma_busy_) dma_start_.notify();
  return cycles_for(bytes, offchip);
}

void Bus::dma_wait() {
  if (clocked_ && dma_busy_) sc_core::wait(dma_done_);
}

void Bus::dma_thread() {
  for (;;) {
    sc_core::wait(dma_start_);
    clocked_transfer(dma_bytes_, dma_offchip_);
    dma_busy_ = false;
    dma_done_.notify();
  }
}

std::optional<UnitCost> Bus::cost(const CostContext& c) const {
  UnitCost u;
  u.dynamic_pj = c.table.bus_pj(1) * static_cast<double>(bus_bits());
  u.area_um2 = Datapath().registers(4.0 * config_.width_bits).area_um2(c.table, 1);
  u.leakage_w = logic_leakage_w(c.table, u.area_um2);
  return u;
}

std::optional<double> Bus::utilization(const CostContext& c) const {
  return static_cast<double>(busy_) / std::max(1.0, static_cast<double>(c.all_cycles));
}

StatList Bus::stats() const {
  const std::string p = basename();
  return {{p + ".beats", "beats", "bus beats (host and off-chip transfers)", static_cast<double>(beats_)},
          {p + ".bursts", "bursts", "bursts", static_cast<double>(bursts_)},
          {p + ".offchip_bits", "bits", "bits read from the off-chip memory", static_cast<double>(offchip_bits_)},
          {p + ".busy_cycles", "cycles", "cycles with a transfer in progress", static_cast<double>(busy_)}};
}

const keys::Table<BusConfig>& BusConfig::keys() {
  using B = BusConfig;
  static const auto t =
      keys::Table<B>("hw")
          .integer("bus_width_bits", &B::width_bits, 8, 4096, "bits", "system bus width (whole bytes)",
                   [](int w) { return w % 8 ? std::string("the bus carries whole bytes: a multiple of 8 in [8, 4096]") : std::string(); })
          .integer("bus_latency", &B::latency, 0, 100000, "cycles", "from request to the first beat of a burst")
          .integer("bus_burst_beats", &B::burst_beats, 1, 4096, "beats", "beats per burst at most");
  return t;
}

}  // namespace ssmsim::hw
