// Where one layer's tensors live in the accelerator's memories, and the operand widths its units
// count actions at. Filled by the Accelerator when it lays the model out.
#pragma once

#include <algorithm>

#include "hw_models/sram.hpp"

namespace ssmsim::hw {

using Region = BankedSram::Region;

struct LayerMem {
  // weight memory
  const Region *A = nullptr, *B = nullptr, *C = nullptr, *D = nullptr;
  const Region *gamma = nullptr, *beta = nullptr, *Wm = nullptr, *bm = nullptr;
  // state memory: S4D [H][N/2][re, im], S5 [P2][re, im]
  const Region* x = nullptr;
  // operand widths (bits)
  int wA = 0, wB = 0, wC = 0, wD = 0, wx = 0, wu = 0, wy = 0, wact = 0, wW = 0, wg = 0, wnorm = 0;
  uint64_t weight_bytes = 0;  // the layer's share of the weight memory (off-chip streaming unit)
};

// The words that elements [b, e) of a region occupy, appended to `out`.
inline void words_of(const Region& r, size_t b, size_t e, std::vector<uint64_t>& out) {
  if (b >= e) return;
  for (uint64_t w = r.word_of(b); w <= r.word_of(e - 1); ++w) out.push_back(w);
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

// The word range [first, last) of elements [b, e) of a region (b < e).
inline std::pair<uint64_t, uint64_t> word_range(const Region& r, size_t b, size_t e) {
  return {r.word_of(b), r.word_of(e - 1) + 1};
}

// Multiplier width of the scaled sums that narrow results (quant/intops.hpp: 31-bit multipliers)
// and of the exact accumulators.
constexpr int kScaleBits = 31;
constexpr int kAccBits = 64;

// The width of an exact sum of `terms` products of wa- and wb-bit operands (what an adder of the
// datapath needs), capped at the 64-bit accumulator.
inline int acc_bits(int wa, int wb, size_t terms) {
  int lg = 0;
  while ((size_t{1} << lg) < terms) ++lg;
  return std::min(kAccBits, wa + wb + lg);
}

}  // namespace ssmsim::hw
