// The off-chip weight path: when the weights do not fit the weight memory they stream from an
// off-chip memory (DRAM) every token, a segment at a time (encoder, each layer, the decoder),
// over the bus (hw_models/bus.hpp: each burst from DRAM adds `offchip_latency` cycles); with
// double buffering the controller fetches the next segment while the current one computes.
// Inventory: the DRAM itself, priced per bit read (the table's dram_pj_per_64b); no on-chip area.
#pragma once

#include <cstdint>
#include <string>

#include "hw_models/hw_unit.hpp"
#include "quant/keys.hpp"

namespace ssmsim::hw {

class Bus;

// Keys offchip, offchip_latency, double_buffer of the hw section.
struct OffchipConfig {
  bool enabled = true;        // stream weights that do not fit from off-chip (key `offchip`)
  int latency = 40;           // cycles added to every burst read from DRAM, [0, 100000]
  bool double_buffer = true;  // fetch segment l+1's weights while segment l computes

  static const keys::Table<OffchipConfig>& keys();
};

class OffchipPath : public HwUnit {
 public:
  explicit OffchipPath(const Bus& bus) : bus_(bus) {}
  std::string unit_name() const override { return "offchip"; }
  std::optional<UnitCost> cost(const CostContext& c) const override;

 private:
  const Bus& bus_;  // counts the bits it carries from DRAM
};

}  // namespace ssmsim::hw
