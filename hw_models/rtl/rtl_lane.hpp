// Co-simulation: the Verilated Verilog lane (ssm_lane.v) as the CMAC array's state update, in
// place of the C++ step function (`ssmsim simulate --cmac rtl`). Each built variant fixes the
// state width and the rounding and overflow modes; a model whose state point needs another one is
// refused with the list of variants built (hw_models/rtl/CMakeLists.txt adds variants).
#pragma once

#include <string>
#include <vector>

#include "hw_models/cmac.hpp"
#include "quant/format.hpp"

namespace ssmsim::hw::rtl {

// "x16_he_sat", ...: the variants linked into this binary.
std::vector<std::string> lane_variants();

// The lane for a state of `xw` bits with these modes, as a CmacArray lane function: drives one
// state update per call through the lane's two pipeline stages. Throws InputError when no variant
// matches, or (at run time) RunError when an operand exceeds the lane's ports.
CmacArray::LaneFn make_lane(int xw, quant::Rounding rounding, quant::Overflow overflow);

}  // namespace ssmsim::hw::rtl
