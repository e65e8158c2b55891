#include "hw_models/energy.hpp"

#include <cmath>

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"

namespace ssmsim::hw {

extern const char* const kBuiltinEnergyTable;  // energy_table_data.cpp, generated from configs/energy

double EnergyTable::sram_pj(double bank_bytes, int word_bits) const {
  const auto& p = sram_pj_per_64b;
  size_t i = 0;  // the segment [i, i + 1] used (nearest one outside the range)
  while (i + 2 < p.size() && bank_bytes > p[i + 1].first) ++i;
  const double x0 = std::log(p[i].first), x1 = std::log(p[i + 1].first);
  const double y0 = std::log(p[i].second), y1 = std::log(p[i + 1].second);
  const double y = y0 + (std::log(std::max(bank_bytes, 1.0)) - x0) * (y1 - y0) / (x1 - x0);
  return scale * std::exp(y) * word_bits / 64.0;
}

EnergyTable EnergyTable::from_yaml(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) throw InputError(where + ": an energy table is a YAML map (see configs/energy/horowitz45nm.yaml)");
  EnergyTable t;
  auto real = [&](const char* k, double& out) {
    if (!node[k]) throw InputError(where + ": missing key '" + k + "' (see configs/energy/horowitz45nm.yaml)");
    out = yaml_real(node[k], where + ":" + k, 0, 1e9);
  };
  t.name = node["name"] ? node["name"].Scalar() : where;
  real("node_nm", t.node_nm);
  real("mul_pj_per_bit2", t.mul_pj_per_bit2);
  real("add_pj_per_bit", t.add_pj_per_bit);
  real("dram_pj_per_64b", t.dram_pj_per_64b);
  real("bus_pj_per_bit", t.bus_pj_per_bit);
  real("sram_leak_pw_per_bit", t.sram_leak_pw_per_bit);
  real("logic_leak_nw_per_um2", t.logic_leak_nw_per_um2);
  real("mul_um2_per_bit2", t.mul_um2_per_bit2);
  real("add_um2_per_bit", t.add_um2_per_bit);
  real("sram_um2_per_bit", t.sram_um2_per_bit);
  real("reg_um2_per_bit", t.reg_um2_per_bit);
  const YAML::Node s = node["sram_pj_per_64b"];
  if (!s || !s.IsSequence() || s.size() < 2)
    throw InputError(where + ": 'sram_pj_per_64b' needs at least two [bank bytes, pJ] points");
  for (const auto& pt : s) {
    if (!pt.IsSequence() || pt.size() != 2) throw InputError(where + ": an sram_pj_per_64b point is [bytes, pJ]");
    const double b = yaml_real(pt[0], where + ":sram_pj_per_64b", 1, 1e15), e = yaml_real(pt[1], where + ":sram_pj_per_64b", 1e-9, 1e9);
    if (!t.sram_pj_per_64b.empty() && b <= t.sram_pj_per_64b.back().first)
      throw InputError(where + ": sram_pj_per_64b points must have ascending capacities");
    t.sram_pj_per_64b.emplace_back(b, e);
  }
  return t;
}

EnergyTable EnergyTable::builtin() { return from_yaml(YAML::Load(kBuiltinEnergyTable), "built-in horowitz45nm"); }

EnergyTable EnergyTable::load(const std::filesystem::path& path) {
  const YAML::Node n = load_config_yaml(path, "energy table (hw.energy_table)");
  return from_yaml(n, path.string());
}

double ActionCounts::energy_pj(const EnergyTable& t) const {
  double e = 0;
  for (const auto& [w, n] : mul) e += t.mul_pj(w.first, w.second) * static_cast<double>(n);
  for (const auto& [w, n] : add) e += t.add_pj(w) * static_cast<double>(n);
  for (const auto& [k, n] : table) e += t.sram_pj(static_cast<double>(k.first), k.second) * static_cast<double>(n);
  return e;
}

uint64_t ActionCounts::multiplies() const {
  uint64_t n = 0;
  for (const auto& kv : mul) n += kv.second;
  return n;
}

}  // namespace ssmsim::hw
