// The hardware configuration of the SSM accelerator (configs/hw/*.yaml, docs/hardware.md): each
// unit's own config struct (declared in the unit's header, with its keys' units and ranges), the
// clock and the simulation mode. The YAML is flat (cmac_lanes, mve_macs, ...; the memories as
// maps). Read, written and documented by one key table (keys()); from_yaml throws ConfigError naming
// the key and what is allowed; checks that need the model (does it fit?) are in Accelerator's
// constructor.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "hw_models/bus.hpp"
#include "hw_models/cmac.hpp"
#include "hw_models/mve.hpp"
#include "hw_models/offchip.hpp"
#include "hw_models/sfu.hpp"
#include "hw_models/sram.hpp"
#include "quant/keys.hpp"

namespace ssmsim::hw {

struct HwConfig {
  std::string name = "edge";
  double clock_mhz = 200;  // MHz, [1, 1e5]
  CmacConfig cmac;         // cmac_*
  MveConfig mve;           // mve_*
  SfuConfig sfu;           // sfu_*
  SramConfig weight_mem{16384, 64, 4, 1};
  SramConfig state_mem{4096, 64, 4, 1};
  BusConfig bus;           // bus_*: between host / off-chip memory and the accelerator's memories
  OffchipConfig offchip;   // offchip, offchip_latency, double_buffer
  // simulation
  std::string mode = "lt";    // lt (loosely timed, temporal decoupling) or cycle (clocked)
  double quantum_ns = 10000;  // lt: the quantum keeper's global quantum (ns), [1, 1e12]
  std::string energy_table;   // YAML energy/area table; empty = the built-in Horowitz 45 nm table
  double tech_scale = 1.0;    // multiplies every energy of the table (technology node), [1e-6, 1e6]
  // testing the bit-exactness check: flip the lowest bit of layer 0's first state code after the
  // state update of this step of every sequence (-1: never), [-1, 2^40]
  int64_t fault_step = -1;

  // The `hw` section's keys: its own, and each unit's table embedded (flat YAML) or nested (the
  // memories); the one place a key is spelled (configs/hw/*.yaml).
  static const keys::Table<HwConfig>& keys();
  static HwConfig from_yaml(const YAML::Node& node, const std::string& prefix = "hw");
  YAML::Node to_yaml() const;
  double cycle_ns() const { return 1000.0 / clock_mhz; }
};

}  // namespace ssmsim::hw
