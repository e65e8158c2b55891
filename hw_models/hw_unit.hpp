// The unit contract (docs/hardware.md, "The unit contract"): every block of the accelerator (the
// CMAC array, the matrix-vector engine, the special-function unit, the memories, the bus, the
// off-chip path, the controller) is an HwUnit. The Accelerator keeps a list of them and asks
// each, by the same calls, for its cost (dynamic energy, area, leakage power), its declared
// statistics, its utilization and its waveform signals. Each unit's header also declares its typed
// config struct (the keys it reads, with their units and ranges: keys()) and its datapath inventory
// (hw_models/datapath.hpp), from which it derives both its action counts and its area. Adding a
// unit: its header and source, one field and one embed line in HwConfig, one member and one
// units_ entry in Accelerator, its calls in the Controller when it works in the schedule
// (docs/hardware.md, "Where to add a hardware unit").
#pragma once

#include <systemc>

#include <optional>
#include <string>

#include "hw_models/energy.hpp"
#include "hw_models/stats.hpp"

namespace ssmsim::core {
class QEngine;
}

namespace ssmsim::hw {

struct ModelMem;  // hw_models/layer_mem.hpp

// What a unit is priced against: the table, the model as laid out (its operand widths decide
// the widths of what is built) and the run's time.
struct CostContext {
  const EnergyTable& table;
  const ModelMem& mem;
  const core::QEngine& engine;
  uint64_t compute_cycles = 0;  // the controller's cycles of every sequence
  uint64_t all_cycles = 0;      // those plus the host's transfers (weights, inputs, outputs)
  double seconds = 0;           // all_cycles at the clock
};

// The width of the model's rescale multipliers (precision.rescale_bits, docs/fixed_point.md 9.1).
int rescale_bits(const CostContext& c);

// A unit's cost: its dynamic energy from its counted actions, its area from its inventory at the
// model's widths, and its leakage power (logic: per area; memories: per stored bit).
struct UnitCost {
  double dynamic_pj = 0;
  double area_um2 = 0;
  double leakage_w = 0;
};

// Leakage of logic of `area_um2` (the table's logic_leak_nw_per_um2, technology-scaled).
inline double logic_leakage_w(const EnergyTable& t, double area_um2) {
  return t.scale * t.logic_leak_nw_per_um2 * 1e-9 * area_um2;
}

class HwUnit {
 public:
  virtual ~HwUnit() = default;
  // The unit's name in the record's breakdowns (energy_breakdown_nj, area_breakdown_mm2, utilization).
  virtual std::string unit_name() const = 0;
  // Its cost; none for units that are not priced (the controller's sequencing logic).
  virtual std::optional<UnitCost> cost(const CostContext&) const { return std::nullopt; }
  // Busy cycles over the cycles it could have worked; none for units without a busy count.
  virtual std::optional<double> utilization(const CostContext&) const { return std::nullopt; }
  // Its declared counters (name, unit, description, value).
  virtual StatList stats() const { return {}; }
  // Cycle mode: its signals into a waveform file.
  virtual void trace(sc_core::sc_trace_file*) const {}
};

}  // namespace ssmsim::hw
