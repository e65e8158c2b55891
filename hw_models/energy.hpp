// The energy/area table (configs/energy/horowitz45nm.yaml, embedded; docs/hardware.md) and the
// action counts that units keep: the charter's "count actions, then price them". Units count
// multiplies by operand widths, adds by width, table reads; memories count accesses per bank;
// the bus counts beats; the pricing happens once, at the end (Accelerator::cost()).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ssmsim::hw {

struct EnergyTable {
  std::string name;
  double node_nm = 45;
  double mul_pj_per_bit2 = 0, add_pj_per_bit = 0;
  std::vector<std::pair<double, double>> sram_pj_per_64b;  // (bank bytes, pJ) ascending
  double dram_pj_per_64b = 0, bus_pj_per_bit = 0;
  double sram_leak_pw_per_bit = 0, logic_leak_nw_per_um2 = 0;
  double mul_um2_per_bit2 = 0, add_um2_per_bit = 0, sram_um2_per_bit = 0, reg_um2_per_bit = 0;
  double scale = 1;  // technology-node scale applied to every energy (hw.tech_scale)

  double mul_pj(int wa, int wb) const { return scale * mul_pj_per_bit2 * wa * wb; }
  double add_pj(int w) const { return scale * add_pj_per_bit * w; }
  // One access of `word_bits` to a bank of `bank_bytes`.
  double sram_pj(double bank_bytes, int word_bits) const;
  double dram_pj_per_bit() const { return scale * dram_pj_per_64b / 64.0; }
  double bus_pj(int bits) const { return scale * bus_pj_per_bit * bits; }

  static EnergyTable from_yaml(const YAML::Node& node, const std::string& where);
  // The embedded default (configs/energy/horowitz45nm.yaml), or a file.
  static EnergyTable builtin();
  static EnergyTable load(const std::filesystem::path& path);
};

// Counted arithmetic of a unit.
struct ActionCounts {
  std::map<std::pair<int, int>, uint64_t> mul;  // (width a, width b) -> multiplies
  std::map<int, uint64_t> add;                  // width -> adds (and compares, shifts)
  std::map<std::pair<uint64_t, int>, uint64_t> table;  // (table bytes, entry bits) -> lookups
  void multiply(int wa, int wb, uint64_t n = 1) { mul[{std::min(wa, wb), std::max(wa, wb)}] += n; }
  void adds(int w, uint64_t n = 1) { add[w] += n; }
  void lookup(uint64_t bytes, int bits, uint64_t n = 1) { table[{bytes, bits}] += n; }
  double energy_pj(const EnergyTable& t) const;
  uint64_t multiplies() const;
};

}  // namespace ssmsim::hw
