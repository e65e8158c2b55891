// The hardware configuration of the SSM accelerator (configs/hw/*.yaml, docs/hardware.md): sizes of
// the units, the memories, the bus and the off-chip path, the clock and the simulation mode.
// Resolved and validated once (from_yaml throws ConfigError naming the key and what is allowed);
// checks that need the model (does it fit?) are in Accelerator's constructor.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "quant/keys.hpp"

namespace ssmsim::hw {

// A banked SRAM: capacity in bytes, word width, banks (word w lives in bank w % banks), and
// accesses per bank per cycle (each port serves one read or one write).
struct SramConfig {
  uint64_t capacity_bytes = 16384;
  int word_bits = 64;
  int banks = 4;
  int ports = 1;

  static const keys::Table<SramConfig>& keys();
};

struct HwConfig {
  std::string name = "edge";
  double clock_mhz = 200;
  // complex diagonal MAC array: lanes = state updates issued per cycle; pipeline = stages from
  // operand read to state write-back
  int cmac_lanes = 4;
  int cmac_pipeline = 4;
  // multiplier operand width of the CMAC lanes and of the MVE's MACs; 0: as wide as the model's
  // operands. Narrower multipliers take several passes per product (ceil(wa/w) * ceil(wb/w) cycles)
  int cmac_operand_bits = 0;
  int mve_operand_bits = 0;
  // matrix-vector engine: real MACs per cycle; pipeline stages (multiply, add tree, requantize)
  int mve_macs = 8;
  int mve_pipeline = 3;
  // special-function unit: elements per cycle; pipeline stages; cycles of one integer square root
  int sfu_width = 2;
  int sfu_pipeline = 2;
  int sfu_isqrt_cycles = 32;
  SramConfig weight_mem{16384, 64, 4, 1};
  SramConfig state_mem{4096, 64, 4, 1};
  // system bus between host / off-chip memory and the accelerator's memories
  int bus_width_bits = 64;
  int bus_latency = 8;        // cycles from request to the first beat of a burst
  int bus_burst_beats = 16;   // beats per burst at most
  // off-chip weight memory (DRAM): when the weights do not fit on chip they stream from it every
  // token, a layer at a time, over the bus; latency is added per burst
  bool offchip = true;
  int offchip_latency = 40;
  bool double_buffer = true;  // fetch layer l+1's weights while layer l computes
  // simulation
  std::string mode = "lt";    // lt (loosely timed, temporal decoupling) or cycle (clocked)
  double quantum_ns = 10000;   // lt: the quantum keeper's global quantum
  std::string energy_table;   // YAML energy/area table; empty = the built-in Horowitz 45 nm table
  double tech_scale = 1.0;    // multiplies every energy of the table (technology node)
  // testing the bit-exactness check: flip the lowest bit of layer 0's first state code after the
  // state update of this step of every sequence (-1: never)
  int64_t fault_step = -1;

  // The `hw` section's keys: the one place they are spelled (configs/hw/*.yaml).
  static const keys::Table<HwConfig>& keys();
  static HwConfig from_yaml(const YAML::Node& node, const std::string& prefix = "hw");
  YAML::Node to_yaml() const;
  double cycle_ns() const { return 1000.0 / clock_mhz; }
};

}  // namespace ssmsim::hw
