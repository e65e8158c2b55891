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

}  // namespace ssmsim::hw
