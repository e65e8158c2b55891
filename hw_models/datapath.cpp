#include "hw_models/datapath.hpp"

namespace ssmsim::hw {

void Datapath::count(ActionCounts& into, uint64_t items) const {
  for (const Mul& m : muls_) into.multiply(m.shape.a, m.shape.b, m.n * items * m.shape.passes);
  for (const Add& a : adds_) into.adds(a.bits, a.n * items);
  for (const Rom& r : roms_) into.lookup(r.bytes, r.entry_bits, r.n * items);
}

unsigned Datapath::passes() const {
  unsigned p = 1;
  for (const Mul& m : muls_) p = std::max(p, m.shape.passes);
  return p;
}

double Datapath::area_um2(const EnergyTable& t, unsigned stages) const {
  // the sums of bit products are exact (small integers), so each price is applied once
  double mul_bits2 = 0, add_bits = 0;
  for (const Mul& m : muls_) mul_bits2 += static_cast<double>(m.n) * m.shape.a * m.shape.b;
  for (const Add& a : adds_) add_bits += static_cast<double>(a.n) * a.bits;
  return t.mul_um2_per_bit2 * mul_bits2 + t.add_um2_per_bit * add_bits + t.reg_um2_per_bit * stages * reg_bits_ +
         t.sram_um2_per_bit * rom_bits_;
}

}  // namespace ssmsim::hw
