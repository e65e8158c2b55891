#include "hw_models/hw_config.hpp"

#include "quant/errors.hpp"

namespace ssmsim::hw {

const keys::Table<HwConfig>& HwConfig::keys() {
  using H = HwConfig;
  static const auto t =
      keys::Table<H>("hw")
          .text("name", &H::name, "the configuration's name (reports)")
          .accepted("description", "free text, not stored")
          .real("clock_mhz", &H::clock_mhz, 1, 1e5, "MHz", "clock frequency")
          .embed(&H::cmac, CmacConfig::keys())
          .embed(&H::mve, MveConfig::keys())
          .embed(&H::sfu, SfuConfig::keys())
          .nested("weight_mem", &H::weight_mem, SramConfig::keys(), "the weight SRAM")
          .nested("state_mem", &H::state_mem, SramConfig::keys(), "the state SRAM")
          .embed(&H::bus, BusConfig::keys())
          .embed(&H::offchip, OffchipConfig::keys())
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
