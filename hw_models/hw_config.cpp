#include "hw_models/hw_config.hpp"

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"

namespace ssmsim::hw {

namespace {

void read_sram(const YAML::Node& node, const std::string& key, SramConfig& m) {
  if (!node.IsMap()) throw ConfigError(key, yaml_text(node), "expected a map with capacity_bytes, word_bits, banks, ports");
  for (const auto& kv : node) {
    const std::string k = kv.first.as<std::string>(), kk = key + "." + k;
    const YAML::Node& v = kv.second;
    if (k == "capacity_bytes") m.capacity_bytes = static_cast<uint64_t>(yaml_int(v, kk, 1, 1LL << 40));
    else if (k == "word_bits") {
      m.word_bits = static_cast<int>(yaml_int(v, kk, 8, 1024));
      if (m.word_bits % 8) throw ConfigError(kk, yaml_text(v), "a word is whole bytes: a multiple of 8 in [8, 1024]");
    } else if (k == "banks") m.banks = static_cast<int>(yaml_int(v, kk, 1, 1024));
    else if (k == "ports") m.ports = static_cast<int>(yaml_int(v, kk, 1, 16));
    else throw ConfigError(kk, yaml_text(v), "unknown memory key; allowed: capacity_bytes, word_bits, banks, ports");
  }
}

YAML::Node sram_yaml(const SramConfig& m) {
  YAML::Node n;
  n["capacity_bytes"] = m.capacity_bytes;
  n["word_bits"] = m.word_bits;
  n["banks"] = m.banks;
  n["ports"] = m.ports;
  return n;
}

int int_key(const YAML::Node& v, const std::string& key, int lo, int hi) {
  return static_cast<int>(yaml_int(v, key, lo, hi));
}

}  // namespace

HwConfig HwConfig::from_yaml(const YAML::Node& node, const std::string& prefix) {
  HwConfig c;
  if (!node || node.IsNull()) return c;
  if (!node.IsMap()) throw ConfigError(prefix, yaml_text(node), "expected a map of hardware keys (configs/hw/*.yaml)");
  for (const auto& kv : node) {
    const std::string k = kv.first.as<std::string>(), key = prefix + "." + k;
    const YAML::Node& v = kv.second;
    if (k == "name") c.name = v.Scalar();
    else if (k == "description") continue;
    else if (k == "clock_mhz") c.clock_mhz = yaml_real(v, key, 1, 1e5);
    else if (k == "cmac_lanes") c.cmac.lanes = int_key(v, key, 1, 4096);
    else if (k == "cmac_pipeline") c.cmac.pipeline = int_key(v, key, 1, 64);
    else if (k == "mve_macs") c.mve.macs = int_key(v, key, 1, 65536);
    else if (k == "cmac_operand_bits") c.cmac.operand_bits = int_key(v, key, 0, 32);
    else if (k == "mve_operand_bits") c.mve.operand_bits = int_key(v, key, 0, 32);
    else if (k == "mve_pipeline") c.mve.pipeline = int_key(v, key, 1, 64);
    else if (k == "sfu_width") c.sfu.width = int_key(v, key, 1, 4096);
    else if (k == "sfu_pipeline") c.sfu.pipeline = int_key(v, key, 1, 64);
    else if (k == "sfu_isqrt_cycles") c.sfu.isqrt_cycles = int_key(v, key, 1, 1024);
    else if (k == "weight_mem") read_sram(v, key, c.weight_mem);
    else if (k == "state_mem") read_sram(v, key, c.state_mem);
    else if (k == "bus_width_bits") {
      c.bus.width_bits = int_key(v, key, 8, 4096);
      if (c.bus.width_bits % 8)
        throw ConfigError(key, yaml_text(v), "the bus carries whole bytes: a multiple of 8 in [8, 4096]");
    } else if (k == "bus_latency") c.bus.latency = int_key(v, key, 0, 100000);
    else if (k == "bus_burst_beats") c.bus.burst_beats = int_key(v, key, 1, 4096);
    else if (k == "offchip") c.offchip.enabled = yaml_bool(v, key);
    else if (k == "offchip_latency") c.offchip.latency = int_key(v, key, 0, 100000);
    else if (k == "double_buffer") c.offchip.double_buffer = yaml_bool(v, key);
    else if (k == "mode") {
      c.mode = v.Scalar();
      if (c.mode != "lt" && c.mode != "cycle") throw ConfigError(key, c.mode, "allowed: lt, cycle");
    } else if (k == "quantum_ns") c.quantum_ns = yaml_real(v, key, 1, 1e12);
    else if (k == "energy_table") c.energy_table = v.IsNull() ? "" : v.Scalar();
    else if (k == "tech_scale") c.tech_scale = yaml_real(v, key, 1e-6, 1e6);
    else if (k == "fault_step") c.fault_step = yaml_int(v, key, -1, 1LL << 40);
    else
      throw ConfigError(key, yaml_text(v),
                        "unknown hw key; allowed: name, description, clock_mhz, cmac_lanes, cmac_pipeline, "
                        "cmac_operand_bits, mve_macs, mve_operand_bits, "
                        "mve_pipeline, sfu_width, sfu_pipeline, sfu_isqrt_cycles, weight_mem, state_mem, "
                        "bus_width_bits, bus_latency, bus_burst_beats, offchip, offchip_latency, double_buffer, mode, "
                        "quantum_ns, energy_table, tech_scale, fault_step");
  }
  return c;
}

YAML::Node HwConfig::to_yaml() const {
  YAML::Node n;
  n["name"] = name;
  n["clock_mhz"] = clock_mhz;
  n["cmac_lanes"] = cmac.lanes;
  n["cmac_pipeline"] = cmac.pipeline;
  n["cmac_operand_bits"] = cmac.operand_bits;
  n["mve_macs"] = mve.macs;
  n["mve_operand_bits"] = mve.operand_bits;
  n["mve_pipeline"] = mve.pipeline;
  n["sfu_width"] = sfu.width;
  n["sfu_pipeline"] = sfu.pipeline;
  n["sfu_isqrt_cycles"] = sfu.isqrt_cycles;
  n["weight_mem"] = sram_yaml(weight_mem);
  n["state_mem"] = sram_yaml(state_mem);
  n["bus_width_bits"] = bus.width_bits;
  n["bus_latency"] = bus.latency;
  n["bus_burst_beats"] = bus.burst_beats;
  n["offchip"] = offchip.enabled;
  n["offchip_latency"] = offchip.latency;
  n["double_buffer"] = offchip.double_buffer;
  n["mode"] = mode;
  n["quantum_ns"] = quantum_ns;
  n["energy_table"] = energy_table;
  n["tech_scale"] = tech_scale;
  n["fault_step"] = fault_step;
  return n;
}

}  // namespace ssmsim::hw
