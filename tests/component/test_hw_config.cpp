// The hardware config's keys: each key reads into its own field, a round trip keeps every value,
// and the resolved config lists every key in its order (it is written beside results).
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "hw_models/hw_config.hpp"

using namespace ssmsim;

namespace {

// Every field of a config, by its place in the structs, as text.
std::vector<std::pair<std::string, std::string>> fields(const hw::HwConfig& c) {
  auto s = [](auto v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  std::vector<std::pair<std::string, std::string>> f = {
      {"name", c.name},
      {"clock_mhz", s(c.clock_mhz)},
      {"cmac.lanes", s(c.cmac.lanes)},
      {"cmac.pipeline", s(c.cmac.pipeline)},
      {"cmac.operand_bits", s(c.cmac.operand_bits)},
      {"mve.macs", s(c.mve.macs)},
      {"mve.operand_bits", s(c.mve.operand_bits)},
      {"mve.pipeline", s(c.mve.pipeline)},
      {"sfu.width", s(c.sfu.width)},
      {"sfu.pipeline", s(c.sfu.pipeline)},
      {"sfu.isqrt_cycles", s(c.sfu.isqrt_cycles)}};
  for (const auto& [n, m] : {std::make_pair("weight_mem", &c.weight_mem), std::make_pair("state_mem", &c.state_mem)}) {
    f.emplace_back(std::string(n) + ".capacity_bytes", s(m->capacity_bytes));
    f.emplace_back(std::string(n) + ".word_bits", s(m->word_bits));
    f.emplace_back(std::string(n) + ".banks", s(m->banks));
    f.emplace_back(std::string(n) + ".ports", s(m->ports));
  }
  f.insert(f.end(), {{"bus.width_bits", s(c.bus.width_bits)},
                     {"bus.latency", s(c.bus.latency)},
                     {"bus.burst_beats", s(c.bus.burst_beats)},
                     {"offchip.enabled", s(c.offchip.enabled)},
                     {"offchip.latency", s(c.offchip.latency)},
                     {"offchip.double_buffer", s(c.offchip.double_buffer)},
                     {"mode", c.mode},
                     {"quantum_ns", s(c.quantum_ns)},
                     {"energy_table", c.energy_table},
                     {"tech_scale", s(c.tech_scale)},
                     {"fault_step", s(c.fault_step)}});
  return f;
}

// Each key with a value that is not its default, and the field it must set.
const std::vector<std::tuple<std::string, std::string, std::string>> kKeys = {
    {"name", "x9", "name"},
    {"clock_mhz", "333.5", "clock_mhz"},
    {"cmac_lanes", "7", "cmac.lanes"},
    {"cmac_pipeline", "9", "cmac.pipeline"},
    {"cmac_operand_bits", "5", "cmac.operand_bits"},
    {"mve_macs", "13", "mve.macs"},
    {"mve_operand_bits", "6", "mve.operand_bits"},
    {"mve_pipeline", "11", "mve.pipeline"},
    {"sfu_width", "3", "sfu.width"},
    {"sfu_pipeline", "5", "sfu.pipeline"},
    {"sfu_isqrt_cycles", "17", "sfu.isqrt_cycles"},
    {"weight_mem", "{capacity_bytes: 12345}", "weight_mem.capacity_bytes"},
    {"weight_mem", "{word_bits: 128}", "weight_mem.word_bits"},
    {"weight_mem", "{banks: 8}", "weight_mem.banks"},
    {"weight_mem", "{ports: 3}", "weight_mem.ports"},
    {"state_mem", "{capacity_bytes: 2222}", "state_mem.capacity_bytes"},
    {"state_mem", "{word_bits: 32}", "state_mem.word_bits"},
    {"state_mem", "{banks: 2}", "state_mem.banks"},
    {"state_mem", "{ports: 2}", "state_mem.ports"},
    {"bus_width_bits", "128", "bus.width_bits"},
    {"bus_latency", "3", "bus.latency"},
    {"bus_burst_beats", "9", "bus.burst_beats"},
    {"offchip", "false", "offchip.enabled"},
    {"offchip_latency", "77", "offchip.latency"},
    {"double_buffer", "false", "offchip.double_buffer"},
    {"mode", "cycle", "mode"},
    {"quantum_ns", "123.5", "quantum_ns"},
    {"energy_table", "t.yaml", "energy_table"},
    {"tech_scale", "0.5", "tech_scale"},
    {"fault_step", "42", "fault_step"},
};

hw::HwConfig every_key_set() {
  YAML::Node n;
  for (const auto& [key, value, field] : kKeys) {
    const YAML::Node v = YAML::Load(value);
    if (v.IsMap())
      for (const auto& kv : v) n[key][kv.first.as<std::string>()] = kv.second;
    else
      n[key] = v;
  }
  return hw::HwConfig::from_yaml(n);
}

}  // namespace

// Setting one key changes its own field and no other (a key read into the wrong field fails here).
TEST(HwConfig, EachKeyReadsIntoItsOwnFieldAndNoOther) {
  const auto defaults = fields(hw::HwConfig{});
  for (const auto& [key, value, field] : kKeys) {
    const auto got = fields(hw::HwConfig::from_yaml(YAML::Load(key + ": " + value)));
    ASSERT_EQ(got.size(), defaults.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i].first == field)
        EXPECT_NE(got[i].second, defaults[i].second) << key << ": " << value << " did not set " << field;
      else
        EXPECT_EQ(got[i].second, defaults[i].second) << key << ": " << value << " also changed " << got[i].first;
    }
  }
}

// Every field away from its default, written and read back: every value survives, field by field.
TEST(HwConfig, ARoundTripKeepsEveryValueOfEveryKey) {
  const hw::HwConfig c = every_key_set();
  const auto want = fields(c), defaults = fields(hw::HwConfig{});
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NE(want[i].second, defaults[i].second) << want[i].first << " kept its default";
  const hw::HwConfig back = hw::HwConfig::from_yaml(YAML::Load(YAML::Dump(c.to_yaml())));
  EXPECT_EQ(fields(back), want);
  EXPECT_EQ(YAML::Dump(back.to_yaml()), YAML::Dump(c.to_yaml()));
}

// The resolved config (written beside every result) lists every key once, in this order.
TEST(HwConfig, TheResolvedConfigListsEveryKeyInItsOrder) {
  const YAML::Node n = hw::HwConfig{}.to_yaml();
  std::vector<std::string> keys;
  for (const auto& kv : n) keys.push_back(kv.first.as<std::string>());
  const std::vector<std::string> want = {"name", "clock_mhz", "cmac_lanes", "cmac_pipeline", "cmac_operand_bits",
                                         "mve_macs", "mve_operand_bits", "mve_pipeline", "sfu_width", "sfu_pipeline",
                                         "sfu_isqrt_cycles", "weight_mem", "state_mem", "bus_width_bits", "bus_latency",
                                         "bus_burst_beats", "offchip", "offchip_latency", "double_buffer", "mode",
                                         "quantum_ns", "energy_table", "tech_scale", "fault_step"};
  EXPECT_EQ(keys, want);
  std::vector<std::string> mem;
  for (const auto& kv : n["weight_mem"]) mem.push_back(kv.first.as<std::string>());
  EXPECT_EQ(mem, (std::vector<std::string>{"capacity_bytes", "word_bits", "banks", "ports"}));
  EXPECT_EQ(YAML::Dump(n["state_mem"]), "capacity_bytes: 4096\nword_bits: 64\nbanks: 4\nports: 1");
}
