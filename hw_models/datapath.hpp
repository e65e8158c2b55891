// A unit's datapath inventory: its multipliers by operand widths, its adders by width, its lookup
// ROMs and its pipeline registers (docs/hardware.md, "The unit contract"). One description gives
// both sides of the cost model: the counted side (each element used once per work item:
// `count` adds to the unit's ActionCounts) and the built side (`area_um2`, one instance, from the
// energy table's per-bit prices). Prices live only in the energy table (hw_models/energy.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "hw_models/energy.hpp"
#include "quant/intops.hpp"

namespace ssmsim::hw {

// Width of the exact accumulators (bits). The scaled sums' multipliers are the model's
// precision.rescale_bits wide (LayerMem::wk, rescale_bits(CostContext)).
constexpr int kAccBits = 64;

// A scaled sum's multiplier width: its widest constant |K| (the precision's rescale_bits).
inline int multiplier_bits(const quant::ScaledSum& s) {
  uint64_t widest = 1;
  for (const int64_t k : s.K())
    widest = std::max(widest, k < 0 ? uint64_t{0} - static_cast<uint64_t>(k) : static_cast<uint64_t>(k));
  return 64 - __builtin_clzll(widest);
}

// The width of an exact sum of `terms` products of wa- and wb-bit operands (what an adder of the
// datapath needs), capped at the 64-bit accumulator.
inline int acc_bits(int wa, int wb, size_t terms) {
  int lg = 0;
  while ((size_t{1} << lg) < terms) ++lg;
  return std::min(kAccBits, wa + wb + lg);
}

// A wa x wb multiply on the hardware's multipliers of `hw` bits (0: as wide as the operands):
// the multiplier it runs on and the passes it takes (ceil(wa / hw) * ceil(wb / hw)).
struct MulShape {
  int a, b;
  unsigned passes;
};
inline MulShape mul_shape(int wa, int wb, int hw) {
  if (hw <= 0) return {wa, wb, 1};
  return {hw, hw, static_cast<unsigned>(((wa + hw - 1) / hw) * ((wb + hw - 1) / hw))};
}

class Datapath {
 public:
  struct Mul {
    MulShape shape;  // the multiplier built and the passes one product takes on it
    uint64_t n;      // multipliers (built side) = products per work item (counted side)
  };
  struct Add {
    int bits;
    uint64_t n;
  };
  struct Rom {
    uint64_t bytes;  // the table's size as counted per lookup
    int entry_bits;
    uint64_t n;      // lookups per work item
  };

  // `n` products of wa x wb operands on multipliers of `hw_bits` (0: as wide as the operands).
  Datapath& mul(int wa, int wb, uint64_t n, int hw_bits = 0) {
    muls_.push_back({mul_shape(wa, wb, hw_bits), n});
    return *this;
  }
  Datapath& add(int bits, uint64_t n) {
    adds_.push_back({bits, n});
    return *this;
  }
  // `n` lookups of a table of `table_bytes` with `entry_bits`-bit entries (counted side)
  Datapath& lookup(uint64_t table_bytes, int entry_bits, uint64_t n) {
    roms_.push_back({table_bytes, entry_bits, n});
    return *this;
  }
  // ROM bits built (entries x stored width; built side)
  Datapath& rom_bits(double bits) {
    rom_bits_ += bits;
    return *this;
  }
  // bits of pipeline registers per stage
  Datapath& registers(double bits_per_stage) {
    reg_bits_ += bits_per_stage;
    return *this;
  }

  // Counted side: `items` work items, each using every element once (a product `passes` times on
  // narrower multipliers, each pass counted as a multiply of the multiplier's width).
  void count(ActionCounts& into, uint64_t items) const;
  // The issue cycles one work item needs from its multipliers: the most passes of any product.
  unsigned passes() const;
  // Built side: one instance with `stages` pipeline stages:
  //   mul_um2_per_bit2 * sum(n a b) + add_um2_per_bit * sum(n bits) + reg_um2_per_bit * stages * register bits
  //   + sram_um2_per_bit * ROM bits
  double area_um2(const EnergyTable& t, unsigned stages) const;

  const std::vector<Mul>& multipliers() const { return muls_; }
  const std::vector<Add>& adders() const { return adds_; }
  double register_bits() const { return reg_bits_; }

 private:
  std::vector<Mul> muls_;
  std::vector<Add> adds_;
  std::vector<Rom> roms_;
  double reg_bits_ = 0, rom_bits_ = 0;
};

// Block floating point (docs/fixed_point.md 9.3), the one price of the state's operand stage (per
// part) and of the SFU's activation narrowing: narrowing one w-bit value takes its magnitude, the
// shift and the rounding add; a block of n values a max-reduce tree (n - 1 comparators), a
// leading-zero counter and the maximum's rounding check (a rounding add and a compare). All are
// w-bit adds (comparators, shifters and counters priced as adds of their width).
inline Datapath bfp_value_datapath(int w, uint64_t values = 1) { return Datapath().add(w, 3 * values); }
inline Datapath bfp_block_datapath(int w, size_t n, uint64_t blocks = 1) {
  return Datapath().add(w, blocks * static_cast<uint64_t>((n - 1) + 1 + 2));
}

}  // namespace ssmsim::hw
