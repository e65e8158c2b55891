// Driving and reading the Verilated lane's ports (plain C++ integer types of Verilator): shared by
// the testbench (tb_lane.cpp) and the co-simulation (rtl_lane.cpp).
#pragma once

#include <cstdint>

namespace ssmsim::hw::rtl {

// Drives an input port of `bits` bits with the two's-complement value v (Verilator keeps the
// unused high bits of a port's C type at zero).
template <typename T>
void drive(T& port, int64_t v, int bits) {
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  port = static_cast<T>(static_cast<uint64_t>(v) & mask);
}

// An output port's `bits` bits as a signed value.
inline int64_t sign_extend(uint64_t v, int bits) {
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  const uint64_t sign = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>(((v & mask) ^ sign) - sign);
}

}  // namespace ssmsim::hw::rtl
