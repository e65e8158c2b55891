// The config sections ssmsim knows, with their defaults, ranges and validators (one place).
#pragma once

#include "sim/config.hpp"

namespace ssmsim::sim {

// A Config holding the built-in defaults of every section.
Config make_config();

}  // namespace ssmsim::sim
