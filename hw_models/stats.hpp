// Declared statistics: every module lists its counters with a name, a unit and a description
// (docs/hardware.md); reports print them, modules never do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ssmsim::hw {

struct Stat {
  std::string name;  // module-qualified, e.g. "cmac.stall_cycles"
  std::string unit;  // "cycles", "accesses", "beats", ...
  std::string description;
  double value = 0;
};
using StatList = std::vector<Stat>;

}  // namespace ssmsim::hw
