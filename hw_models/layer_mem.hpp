// Where one layer's tensors live in the accelerator's memories, and the operand widths its units
// count actions at; where the whole model lives (ModelMem). Filled by the Accelerator when it lays
// the model out.
#pragma once

#include <algorithm>
#include <vector>

#include "hw_models/datapath.hpp"
#include "hw_models/sram.hpp"
#include "quant/format.hpp"

namespace ssmsim::hw {

using Region = BankedSram::Region;

// Zero points on activation points (docs/fixed_point.md 9.2, "An activation point may be
// asymmetric"): an asymmetric point u<b> is stored (io memory, the registers between the units) as
// its code q = v + zp, b bits unsigned, and every unit computes with its operand v = q - zp, b + 1
// bits signed. The hardware adds zp where it writes the point (after the narrowing's fit: the
// narrowing saturates into [-zp, 2^b - 1 - zp]) and subtracts it where it reads the point, each a
// (b + 1)-bit adder; a lookup table indexed by or holding the point folds zp into its addresses or
// entries (no adder). zp_bits: that adder's width for a point of format f, 0 when symmetric.
inline int zp_bits(const quant::Format& f) { return f.is_signed ? 0 : f.width + 1; }
// The operand width of an activation point of format f (b + 1 for an asymmetric one).
inline int act_width(const quant::Format& f) { return f.width + (f.is_signed ? 0 : 1); }
// `n` zero-point adders or subtractors of `bits` (none when bits is 0: a symmetric point).
inline Datapath zp_datapath(int bits, uint64_t n = 1) { return bits ? Datapath().add(bits, n) : Datapath(); }

// An activation point as its multipliers receive it (input, u, act, the mean-pooled vector). In
// block floating point (docs/fixed_point.md 9.3, "Activation operands"): the mantissa's bits, the
// products' largest left shift (w - bits + 1 for a w-bit point), features per exponent and an
// exponent register's bits; bits 0: the point's values themselves. `zp`: an asymmetric point (never
// in block floating point), read through a zero-point subtractor of zp bits (zp_bits above) at
// each multiplier's activation port, as the weights' operands are at their fetch.
struct ActOperand {
  int bits = 0, shift = 0, ebits = 0;
  size_t block = 0;
  int zp = 0;
  explicit operator bool() const { return bits != 0; }
  // the multiplier's operand width (the mantissa's, else the point's w)
  int mul_bits(int w) const { return bits ? bits : w; }
  // the width of the shifted operand m 2^e a product carries (w + 1: v' can round past the format)
  int value_bits(int w) const { return bits ? bits + shift : w; }
  // exponent register bits of a vector of n features
  double exponent_bits(size_t n) const { return bits ? static_cast<double>((n + block - 1) / block) * ebits : 0.0; }
};

struct LayerMem {
  // weight memory
  const Region *A = nullptr, *B = nullptr, *C = nullptr, *D = nullptr;
  const Region *gamma = nullptr, *beta = nullptr, *Wm = nullptr, *bm = nullptr;
  // state memory: S4D [H][N/2][re, im], S5 [P2][re, im]: the stored state x, and (when the state
  // enters its multipliers narrowed: docs/fixed_point.md 9.3, "The state operand") its operand xo
  const Region* x = nullptr;
  const Region* xo = nullptr;
  // operand widths (bits): what the multipliers and adders receive. A weight of an asymmetric
  // tensor is its code minus the zero point, one bit wider than the stored code (b + 1, signed), and
  // so is an asymmetric activation point's (wu, wy, wact, wg: act_width); wx is the stored state's
  // width, wo the narrowed operand's (with xo).
  int wA = 0, wB = 0, wC = 0, wD = 0, wx = 0, wu = 0, wy = 0, wact = 0, wW = 0, wg = 0, wnorm = 0, wo = 0;
  int wk = 31;  // the rescale multipliers' width (precision.rescale_bits)
  // block floating point (docs/fixed_point.md 9.3): states per exponent (0: not block), the
  // largest exponent (wx - wo + 1: the products' left shift) and an exponent register's bits
  size_t xblock = 0;
  size_t xchannels = 1;  // the state operand's channels: blocks are cut at a channel's end (S4D H, S5 1)
  int xshift = 0, ebits = 0;
  // whether each weight tensor has zero points (a (b+1)-bit subtractor per operand fetch)
  bool zA = false, zB = false, zC = false, zD = false, zW = false, znorm = false;
  // separate parts (docs/fixed_point.md 9.2): the largest left shift of the coarser part's
  // products of A, B, C (0: parts shared); a shifter per coarser-part product, the sums k wider
  int kA = 0, kB = 0, kC = 0;
  // A in delta form (9.3): the state update adds the stored state x as a third aligned term
  bool delta = false;
  ActOperand u_op, act_op;    // u and the GELU output in block floating point (ssm_in, gelu_out)
  // the zero-point adders' widths (zp_bits) of the layer's other activation points: its input h
  // (encoder.out or the previous layer's output), y, the GLU's value half, gate pre-activation and
  // gated output, the residual sum and the post-norm output (u and act: in u_op, act_op)
  int zh = 0, zy = 0, zmix = 0, zmixg = 0, zg = 0, zres = 0, zout = 0;
  uint64_t weight_bytes = 0;  // the layer's share of the weight memory (off-chip streaming unit)
  // the width of the state operand the multipliers receive (xo's when narrowed, else x's)
  int operand_bits() const { return xo ? wo : wx; }
};

// Operand fetch: element i of a weight region as the multipliers receive it, the stored code
// minus its channel's zero point (docs/fixed_point.md 9.2, "Zero points"); the code itself for a
// symmetric tensor. With separate parts (9.2, "Separate parts") each part has its own zero point
// and the operand is (q - zp) * 2^k in its channel's unit, k the part's shift (0 for the finer
// part): the multiplier sees q - zp and its product is shifted left by k, which is the same
// integer (QTensor::operand).
inline int32_t fetch(const BankedSram& mem, const Region& r, size_t i) {
  const int32_t q = mem.load(r, i);
  if (r.zero_points.empty() && r.part_shifts.empty()) return q;
  const size_t k = r.entry_of(i);
  const int64_t v = r.zero_points.empty() ? q : int64_t{q} - r.zero_points[k];
  return static_cast<int32_t>(r.part_shifts.empty() ? v : v * (int64_t{1} << r.part_shifts[k]));
}

// The width of a weight operand stored at `width` bits as the multiplier sees it (one more with a
// zero point; a part's shift widens the product, not the multiplier's operand).
inline int operand_width(const Region& r) { return r.width + (r.zero_points.empty() ? 0 : 1); }

// The words that elements [b, e) of a region occupy, appended to `out`.
inline void words_of(const Region& r, size_t b, size_t e, std::vector<uint64_t>& out) {
  if (b >= e) return;
  for (uint64_t w = r.word_of(b); w <= r.word_of(e - 1); ++w) out.push_back(w);
}

// The word range [first, last) of elements [b, e) of a region (b < e).
inline std::pair<uint64_t, uint64_t> word_range(const Region& r, size_t b, size_t e) {
  return {r.word_of(b), r.word_of(e - 1) + 1};
}

// Where the model lives: filled by the Accelerator when it lays the model out.
struct ModelMem {
  const Region *We = nullptr, *be = nullptr, *Wd = nullptr, *bd = nullptr, *input = nullptr;
  std::vector<LayerMem> layers;
  int w_enc = 0, w_dec = 0, w_in = 0, w_h0 = 0, w_pool = 0;  // operand widths (w_enc, w_dec, w_in, w_pool: q - zp)
  bool z_enc = false, z_dec = false;                          // encoder / decoder weights with zero points
  ActOperand in_op, pool_op;     // the input and the mean-pooled vector in block floating point
  bool streaming = false;        // weights come from off-chip every token
  uint64_t encoder_bytes = 0;    // streamed segments
  uint64_t decoder_bytes = 0;
};

}  // namespace ssmsim::hw
