#include "hw_models/offchip.hpp"

#include "hw_models/bus.hpp"

namespace ssmsim::hw {

std::optional<UnitCost> OffchipPath::cost(const CostContext& c) const {
  UnitCost u;
  u.dynamic_pj = c.table.dram_pj_per_bit() * static_cast<double>(bus_.offchip_bits());
  u.area_um2 = 0;
  u.leakage_w = logic_leakage_w(c.table, u.area_um2);
  return u;
}

const keys::Table<OffchipConfig>& OffchipConfig::keys() {
  using O = OffchipConfig;
  static const auto t =
      keys::Table<O>("hw")
          .boolean("offchip", &O::enabled, "stream the weights from off-chip memory when they do not fit on chip")
          .integer("offchip_latency", &O::latency, 0, 100000, "cycles", "added per off-chip burst")
          .boolean("double_buffer", &O::double_buffer, "fetch layer l+1's weights while layer l computes");
  return t;
}

}  // namespace ssmsim::hw
