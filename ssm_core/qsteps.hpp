// The integer constants of a quantized model and its bit-accurate step functions
// (docs/fixed_point.md, section 9), on one sequence and one element at a time.
//
// These are written once and called by every integer datapath: the C-model (QEngine, which runs
// them on 8 sequences at a time and has vectorised forms of the state update tested equal to
// them) and the SystemC accelerator (hw_models/), whose units call them on the values they hold.
// A value array with a stride lets the C-model's lane-interleaved buffers (ssm_core/seq.hpp) and a
// hardware unit's plain vectors use the same function.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "quant/intops.hpp"
#include "quant/quantizer.hpp"
#include "quant/requantize.hpp"

namespace ssmsim::core {

// Fraction bits of the integer LayerNorm's reciprocal standard deviation (docs/fixed_point.md 9.5).
constexpr int kLnFrac = 56;

// How the state enters its multipliers (docs/fixed_point.md 9.3, "state operand"): as stored, narrowed
// by a static scaled sum into the `xo` point, or block floating point (a power-of-two exponent
// per block of states, computed every step).
enum class XOperand { Stored, Static, Block };

// The state operand's constants.
struct XOperandConsts {
  XOperand mode = XOperand::Stored;
  quant::ScaledSum narrow;         // Static: x -> xo
  int bits = 0;                    // Block: the operand's width (signed)
  size_t block = 0;                // Block: states per exponent (cut at a channel's end in S4D)
  quant::Format format{};          // Block: s<bits>.0, the fit of round(x / 2^e)
  quant::detail::Range64 range{};  // Block: format's range under `overflow` (the 64-bit fit)
  quant::Rounding rounding = quant::Rounding::HalfEven;
  quant::Overflow overflow = quant::Overflow::Saturate;
};

// Block floating point by a spec's operand_bits and operand_block (Stored when it has none): the
// state's (x) and an activation point's (input, ssm_in, gelu_out, pool) operand constants.
inline XOperandConsts block_operand(const quant::QuantizerSpec& s) {
  XOperandConsts op;
  if (s.operand_bits == 0) return op;
  op.mode = XOperand::Block;
  op.bits = s.operand_bits;
  op.block = static_cast<size_t>(s.operand_block);
  op.format = quant::Format::fixed(true, s.operand_bits, 0);
  op.rounding = s.rounding;
  op.overflow = s.overflow;
  op.range = quant::detail::Range64(s.operand_bits, true, s.overflow);
  return op;
}

// The constants of one layer: weight codes and the scaled sums that narrow each result. Weight
// codes here are the multipliers' operands: the stored code minus its zero point.
struct QLayerConsts {
  std::string name;
  std::string in_point;           // the layer's input (residual stream) point
  // SSM
  std::vector<int32_t> Ar, Ai, Br, Bi, Cr, Ci, D;
  size_t states = 0;              // S4D: N/2 per channel; S5: P2
  std::vector<quant::ScaledSum> xupd;  // per A/B channel (S4D: channel h; S5: state p)
  std::vector<quant::ScaledSum> yout;  // per output channel h
  bool xupd_per_state = false;
  bool delta = false;  // A in delta form: xupd has a third term, the stored state (ratio 1)
  XOperandConsts xop;
  XOperandConsts u_op, act_op;    // block floating point on u and on the GELU output (or Stored)
  bool fast = false;              // every state update and output fits 64-bit arithmetic
  bool narrow32 = false;          // every state-update multiply is 32 x 32 bits (qsimd.hpp; not a static xo)
  bool fused32 = false;           // S4D, narrow32, and every A and B operand times its channel's aligned
                                  // multiplier (K 2^up) fits 32 bits, as does delta form's (qsimd.hpp)
  bool block16 = false;           // S5 with a block operand: qsimd.hpp's s5_block_fits holds
  bool split64 = false;           // S4D, a stored state, not fast: qsimd.hpp's s4d_split_fits holds
  std::vector<uint8_t> f64;       // S4D, narrow32, saturating: per channel, whether and how the double-
                                  // precision kernel is exact (qsimd.hpp's s4d_f64_channels); empty: none
  quant::ScaledSum u_in;          // postnorm: layer input -> u
  // nonlinearity
  quant::Lut gelu;
  bool hard_gelu = false;
  int64_t hard_two = 0;
  quant::ScaledSum hard_out;
  // mixing
  std::vector<int32_t> Wm, bm;
  std::vector<quant::ScaledSum> mix_val, mix_gate;
  quant::Lut sigmoid;
  quant::ScaledSum g_out;
  quant::ScaledSum res;
  // normalisation (into u for prenorm, into out for postnorm)
  bool batch_norm = false;
  std::vector<int32_t> gamma, beta;
  std::vector<quant::ScaledSum> norm;
  uint64_t ln_eps = 0;
};

struct QConsts {
  std::vector<int32_t> We, be, Wd, bd;
  std::vector<quant::ScaledSum> enc, logit;
  bool logit_rescaled = false;
  quant::QuantParams input;
  XOperandConsts input_op, pool_op;  // block floating point on the input and the pooled vector
  std::vector<QLayerConsts> layers;
  std::string last_point;
};

namespace qstep {

// The real input value -> its operand q - zp: the one float operation of the integer model.
inline int32_t input(const QConsts& c, double v, uint64_t* ev) {
  return static_cast<int32_t>(quant::quantize(v, c.input, ev) - c.input.zero_point);
}

// One output of a matrix-vector product: narrow(b + sum_i w[i] * in[i * stride]), exact in 64 bits.
inline int32_t dot(const int32_t* w, int32_t b, const int32_t* in, size_t n, size_t stride,
                   const quant::ScaledSum& narrow, uint64_t* ev) {
  int64_t acc = b;
  for (size_t i = 0; i < n; ++i) acc += static_cast<int64_t>(w[i]) * in[i * stride];
  return static_cast<int32_t>(narrow(acc, ev));
}

// The complex state update of one state (section 9.3): x' = narrow(A x, B u) for the real and
// imaginary parts, each with its own one rounding; `bu_re`, `bu_im` are the exact B u
// (S4D: B * u of the channel; S5: the sum over the inputs). `fast` (QLayerConsts::fast: the
// formats' bounds keep every term below 2^62) computes the same bits in 64-bit arithmetic.
struct Cx {
  int64_t re, im;
};
// The block exponents of a state operand's parts (0 unless block floating point).
struct Ex {
  int re = 0, im = 0;
};
// `x` is the state operand and `e` its parts' exponents: each exact product of a part is shifted
// left by that part's exponent before the narrowing (re = ar xr 2^er - ai xi 2^ei,
// im = ar xi 2^ei + ai xr 2^er). In delta form (`upd` has a third term, ratio 1) A is
// Lambda_bar - 1 and the stored state `prev` is added before the one rounding.
[[gnu::always_inline]] inline Cx state_update(const quant::ScaledSum& upd, bool fast, int64_t ar, int64_t ai, Cx x,
                                              quant::wide_t bu_re, quant::wide_t bu_im, uint64_t* ev, Ex e = {},
                                              Cx prev = {}) {
  using quant::wide_t;
  const bool delta = upd.K().size() == 3;
  if (fast) {
    const int64_t xr = x.re * (int64_t{1} << e.re), xi = x.im * (int64_t{1} << e.im);
    if (delta)
      return {upd.fast(ar * xr - ai * xi, static_cast<int64_t>(bu_re), prev.re, ev),
              upd.fast(ar * xi + ai * xr, static_cast<int64_t>(bu_im), prev.im, ev)};
    return {upd.fast(ar * xr - ai * xi, static_cast<int64_t>(bu_re), ev),
            upd.fast(ar * xi + ai * xr, static_cast<int64_t>(bu_im), ev)};
  }
  const wide_t xr = static_cast<wide_t>(x.re) * (wide_t{1} << e.re), xi = static_cast<wide_t>(x.im) * (wide_t{1} << e.im);
  if (delta) return {upd(ar * xr - ai * xi, bu_re, prev.re, ev), upd(ar * xi + ai * xr, bu_im, prev.im, ev)};
  return {upd(ar * xr - ai * xi, bu_re, ev), upd(ar * xi + ai * xr, bu_im, ev)};
}

// The output accumulator's term of one state: Re(C x) = cr x.re 2^er - ci x.im 2^ei (exact; the
// factor 2 of the conjugate pairs is in the narrowing's multiplier).
inline int64_t output_term(int64_t cr, int64_t ci, Cx x, Ex e = {}) {
  return cr * x.re * (int64_t{1} << e.re) - ci * x.im * (int64_t{1} << e.im);
}

// Block floating point: the exponent of a block whose largest magnitude is `maxmag`: the smallest
// e >= 0 with round(maxmag / 2^e) <= 2^(bits - 1) - 1 under the operand's rounding. That is
// e0 = max(0, bitlen(maxmag) - (bits - 1)) (a leading-zero count), or e0 + 1 when rounding the
// block's maximum at e0 carries into bit bits - 1 (so that no positive part saturates; under floor
// or half_down a negative part can still round to -2^(bits-1), docs/fixed_point.md 9.3).
inline int block_exponent(uint64_t maxmag, int bits, quant::Rounding r) {
  const int len = maxmag == 0 ? 0 : 64 - __builtin_clzll(maxmag);
  const int e0 = std::max(0, len - (bits - 1));
  // a stored state has at most 32 bits: the 64-bit rounding shift is exact here
  const int64_t top = quant::detail::round_shift64(static_cast<int64_t>(maxmag), quant::detail::Shift64(e0), r);
  return top > (int64_t{1} << (bits - 1)) - 1 ? e0 + 1 : e0;
}
inline uint64_t magnitude(int64_t v) { return v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v); }

// One block of block floating point: the n values v[k * stride] (n <= op.block) narrowed to the
// mantissas m[k * stride] = fit(round(v / 2^e)) with the block's exponent e, which it returns.
template <typename In, typename Out>
int narrow_block(const XOperandConsts& op, const In* v, size_t n, size_t stride, Out* m, uint64_t* ev) {
  uint64_t mag = 0;
  for (size_t k = 0; k < n; ++k) mag = std::max(mag, magnitude(v[k * stride]));
  const int e = block_exponent(mag, op.bits, op.rounding);
  const quant::detail::Shift64 sh(e);
  for (size_t k = 0; k < n; ++k)
    m[k * stride] = static_cast<Out>(
        quant::detail::fit64(quant::detail::round_shift64(v[k * stride], sh, op.rounding), op.range, op.overflow, ev));
  return e;
}

// The state operand of `n` states (parts re[k * stride], im[k * stride]) into ore / oim, with each
// part's exponent in e (Stored: the state itself, exponents 0; Static: the scaled sum into xo;
// Block: the real parts of xop.block consecutive states share one exponent and their imaginary
// parts another; each part is fit(round(x / 2^e))).
inline void state_operands(const XOperandConsts& op, const int64_t* re, const int64_t* im, size_t n, size_t stride,
                           int64_t* ore, int64_t* oim, Ex* e, uint64_t* ev) {
  if (op.mode != XOperand::Block) {
    for (size_t k = 0; k < n; ++k) {
      ore[k * stride] = op.mode == XOperand::Static ? op.narrow(re[k * stride], ev) : re[k * stride];
      oim[k * stride] = op.mode == XOperand::Static ? op.narrow(im[k * stride], ev) : im[k * stride];
      e[k * stride] = Ex{};
    }
    return;
  }
  for (size_t b = 0; b < n; b += op.block) {
    const size_t len = std::min(n - b, op.block);
    const Ex x{narrow_block(op, re + b * stride, len, stride, ore + b * stride, ev),
               narrow_block(op, im + b * stride, len, stride, oim + b * stride, ev)};
    for (size_t k = b; k < b + len; ++k) e[k * stride] = x;
  }
}

// Block floating point on an activation point (docs/fixed_point.md 9.3, "activation operands"):
// the n values of one step (stride apart), in blocks of op.block, each replaced by the value its
// consumers multiply, fit(round(v / 2^e)) * 2^e with the block's exponent (Stored: unchanged).
inline void narrow_activation(const XOperandConsts& op, int32_t* v, size_t n, size_t stride, uint64_t* ev) {
  if (op.mode != XOperand::Block) return;
  for (size_t b = 0; b < n; b += op.block) {
    const size_t len = std::min(n - b, op.block);
    const int e = narrow_block(op, v + b * stride, len, stride, v + b * stride, ev);
    for (size_t k = b; k < b + len; ++k) v[k * stride] = static_cast<int32_t>(int64_t{v[k * stride]} * (int64_t{1} << e));
  }
}

// y = narrow(acc, D u) of channel h (D: the channel's feed-through code).
inline int32_t output(const QLayerConsts& Ly, size_t h, int64_t acc, int32_t D, int32_t u, uint64_t* ev) {
  return static_cast<int32_t>(Ly.yout[h](acc, static_cast<quant::wide_t>(D) * u, ev));
}

// The postnorm layer's input rescale into u.
inline int32_t u_in(const QLayerConsts& Ly, int32_t v, uint64_t* ev) { return static_cast<int32_t>(Ly.u_in(v, ev)); }

// GELU: the lookup table, or the hard form v * clip(v + 2, 0, 4) / 4.
inline int32_t gelu(const QLayerConsts& Ly, int32_t v, uint64_t* ev) {
  if (!Ly.hard_gelu) return static_cast<int32_t>(Ly.gelu(v, ev));
  const int64_t c = std::clamp<int64_t>(v + Ly.hard_two, 0, 2 * Ly.hard_two);
  return static_cast<int32_t>(Ly.hard_out(static_cast<quant::wide_t>(v) * c, ev));
}

inline int32_t sigmoid(const QLayerConsts& Ly, int32_t v, uint64_t* ev) { return static_cast<int32_t>(Ly.sigmoid(v, ev)); }

// The gated output g = narrow(other * gate).
inline int32_t gated(const QLayerConsts& Ly, int32_t other, int32_t gate, uint64_t* ev) {
  return static_cast<int32_t>(Ly.g_out(static_cast<quant::wide_t>(other) * gate, ev));
}

// The residual sum res = narrow(g, layer input).
inline int32_t residual(const QLayerConsts& Ly, int32_t g, int32_t h, uint64_t* ev) {
  return static_cast<int32_t>(Ly.res(g, h, ev));
}

// Normalisation of one step's H features (section 9.5): BatchNorm folded into a scaled sum per
// feature, or the integer LayerNorm (d_f = H r_f - sum r; rs = isqrt(floor(2^(2F) H / (sum d^2 +
// eps))); out_f = narrow(d_f rs gamma_f, beta_f)). gamma and beta are the layer's codes
// (Ly.gamma, Ly.beta, or a memory's copy); `ev(f)` is feature f's event counter.
template <typename Ev>
void norm(const QLayerConsts& Ly, const int32_t* gamma, const int32_t* beta, const int32_t* in, size_t in_stride,
          int32_t* out, size_t out_stride, size_t H, Ev ev) {
  using quant::wide_t;
  if (Ly.batch_norm) {
    for (size_t f = 0; f < H; ++f)
      out[f * out_stride] =
          static_cast<int32_t>(Ly.norm[f](static_cast<wide_t>(in[f * in_stride]) * gamma[f], beta[f], ev(f)));
    return;
  }
  int64_t sum = 0;
  for (size_t f = 0; f < H; ++f) sum += in[f * in_stride];
  quant::uwide_t v = 0;
  for (size_t f = 0; f < H; ++f) {
    const int64_t d = static_cast<int64_t>(H) * in[f * in_stride] - sum;
    v += static_cast<quant::uwide_t>(static_cast<wide_t>(d) * d);
  }
  const quant::uwide_t num = (quant::uwide_t{1} << (2 * kLnFrac)) * H;
  const uint64_t rs = quant::isqrt(num / (v + Ly.ln_eps));
  for (size_t f = 0; f < H; ++f) {
    const int64_t d = static_cast<int64_t>(H) * in[f * in_stride] - sum;
    out[f * out_stride] = static_cast<int32_t>(
        Ly.norm[f](static_cast<wide_t>(d) * static_cast<wide_t>(rs) * gamma[f], beta[f], ev(f)));
  }
}

// A logit from the decoder's accumulator: rescaled to the common logit scale when the decoder is
// quantized per channel.
inline int64_t logit(const QConsts& c, size_t cls, int64_t acc) {
  return c.logit_rescaled ? c.logit[cls](acc, nullptr) : acc;
}

}  // namespace qstep

}  // namespace ssmsim::core
