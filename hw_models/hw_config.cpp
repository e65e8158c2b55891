#include "hw_models/hw_config.hpp"

#include "quant/errors.hpp"

namespace ssmsim::hw {

const keys::Table<SramConfig>& SramConfig::keys() {
  using M = SramConfig;
  static const auto t =
      keys::Table<M>("memory")
          .integer("capacity_bytes", &M::capacity_bytes, 1, 1LL << 40, "bytes", "capacity")
          .integer("word_bits", &M::word_bits, 8, 1024, "bits", "word width (whole bytes)",
                   [](int w) { return w % 8 ? std::string("a word is whole bytes: a multiple of 8 in [8, 1024]") : std::string(); })
          .integer("banks", &M::banks, 1, 1024, "banks", "word w lives in bank w % banks")
          .integer("ports", &M::ports, 1, 16, "accesses/cycle", "accesses per bank per cycle (a read or a write each)");
  return t;
}

const keys::Table<HwConfig>& HwConfig::keys() {
  using H = HwConfig;
  static const auto t =
      keys::Table<H>("hw")
          .text("name", &H::name, "the configuration's name (reports)")
          .accepted("description", "free text, not stored")
          .real("clock_mhz", &H::clock_mhz, 1, 1e5, "MHz", "clock frequency")
          .integer("cmac_lanes", &H::cmac_lanes, 1, 4096, "lanes", "complex state updates issued per cycle")
          .integer("cmac_pipeline", &H::cmac_pipeline, 1, 64, "stages", "CMAC stages from operand read to state write-back")
          .integer("cmac_operand_bits", &H::cmac_operand_bits, 0, 32, "bits",
                   "CMAC multiplier operand width; 0: as wide as the operands (narrower: several passes per product)")
          .integer("mve_macs", &H::mve_macs, 1, 65536, "MACs/cycle", "matrix-vector engine: real MACs per cycle")
          .integer("mve_operand_bits", &H::mve_operand_bits, 0, 32, "bits",
                   "MVE multiplier operand width; 0: as wide as the operands")
          .integer("mve_pipeline", &H::mve_pipeline, 1, 64, "stages", "MVE stages (multiply, add tree, requantize)")
          .integer("sfu_width", &H::sfu_width, 1, 4096, "elements/cycle", "special-function unit throughput")
          .integer("sfu_pipeline", &H::sfu_pipeline, 1, 64, "stages", "SFU pipeline stages")
          .integer("sfu_isqrt_cycles", &H::sfu_isqrt_cycles, 1, 1024, "cycles", "one integer square root (LayerNorm)")
          .nested("weight_mem", &H::weight_mem, SramConfig::keys(), "the weight SRAM")
          .nested("state_mem", &H::state_mem, SramConfig::keys(), "the state SRAM")
          .integer("bus_width_bits", &H::bus_width_bits, 8, 4096, "bits", "system bus width (whole bytes)",
                   [](int w) { return w % 8 ? std::string("the bus carries whole bytes: a multiple of 8 in [8, 4096]") : std::string(); })
          .integer("bus_latency", &H::bus_latency, 0, 100000, "cycles", "from request to the first beat of a burst")
          .integer("bus_burst_beats", &H::bus_burst_beats, 1, 4096, "beats", "beats per burst at most")
          .boolean("offchip", &H::offchip, "stream the weights from off-chip memory when they do not fit on chip")
          .integer("offchip_latency", &H::offchip_latency, 0, 100000, "cycles", "added per off-chip burst")
          .boolean("double_buffer", &H::double_buffer, "fetch layer l+1's weights while layer l computes")
          .choice("mode", &H::mode, {{"lt", std::string("lt")}, {"cycle", std::string("cycle")}},
                  "lt (loosely timed, temporal decoupling) or cycle (clocked)")
          .real("quantum_ns", &H::quantum_ns, 1, 1e12, "ns", "lt: the quantum keeper's global quantum")
          .text("energy_table", &H::energy_table, "YAML energy/area table; empty = the built-in Horowitz 45 nm table")
          .real("tech_scale", &H::tech_scale, 1e-6, 1e6, "", "multiplies every energy of the table (technology node)")
          .integer("fault_step", &H::fault_step, -1, 1LL << 40, "step",
                   "testing: flip a state bit after this step of every sequence (-1: never)");
  return t;
}

HwConfig HwConfig::from_yaml(const YAML::Node& node, const std::string& prefix) { return keys().read(node, prefix); }

YAML::Node HwConfig::to_yaml() const { return keys().write(*this); }

}  // namespace ssmsim::hw
