// A slow, obviously-correct reference of the integer C-model (docs/fixed_point.md, section 9),
// written from the contract alone, independently of the integer engine (ssm_core/qengine.cpp).
//
// Every product, sum, scaled sum, rounding and overflow is exact big-integer arithmetic
// (boost::multiprecision::cpp_int); rounding (section 2), overflow (section 2), the scaled-sum
// constants (9.1), the lookup tables (9.1), the integer square root (9.1) and the LayerNorm /
// BatchNorm (9.3), the weights' zero points (9.2, "Zero points": the operand q - zp), the complex
// weights' separate parts (9.2, "Separate parts": the operand (q - zp) 2^k of each part in its
// channel's unit, the finer part's scale), A's delta form (9.3, "Delta form": the stored state as
// the update's third term, ratio 1, before its one rounding) and the state
// operand (9.3, "The state operand": stored, a static narrowing into xo, or block floating point
// with its own exponent rule) and the activation operands (9.3, "Activation operands": block floating
// point on input, u, act and the mean-pooled vector, every consumer taking m 2^e) and the
// activation points' zero points (9.1 "Into an asymmetric point" and "Lookup table", 9.2 "An
// activation point may be asymmetric", 9.3 the input line: every point read and written as its
// operand q - zp) are written here again. Facts taken from the project: quant::quantize
// for the input quantizer and the table entries, QuantParams::scale(), Format::min_raw / max_raw /
// to_real, the codes and parameters stored in a QModel (the calibrated points with their zero points, xo included) and
// the precision config it was made with (the operand_bits / operand_block of x, input, ssm_in,
// gelu_out and pool; A's form), a tensor's separate_parts flag (with its two entries per channel).
//
// The model runs one sequence at a time, with plain nested loops over [step][feature] vectors.
#pragma once

#include <boost/multiprecision/cpp_int.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "quant/format.hpp"
#include "quant/quantizer.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::testing::qref {

using boost::multiprecision::cpp_int;
using quant::Format;
using quant::Overflow;
using quant::QuantParams;
using quant::Rounding;

inline cpp_int pow2(int n) {
  if (n < 0) throw std::logic_error("pow2 of a negative exponent");
  return cpp_int(1) << n;
}

// floor(n / d) for d > 0 (cpp_int's / truncates toward zero).
inline cpp_int floor_div(const cpp_int& n, const cpp_int& d) {
  cpp_int q = n / d;
  if (q * d != n && n < 0) q -= 1;
  return q;
}

// Section 2: the exact rational n / d (d > 0) rounded to an integer with `mode`.
inline cpp_int round_rational(const cpp_int& n, const cpp_int& d, Rounding mode) {
  if (d <= 0) throw std::logic_error("round_rational: denominator must be positive");
  const cpp_int fl = floor_div(n, d);
  const cpp_int rem = n - fl * d;  // 0 <= rem < d: v = fl + rem / d
  if (rem == 0) return fl;
  const cpp_int twice = 2 * rem;
  const bool above_half = twice > d, tie = twice == d;
  const bool negative = n < 0;
  const bool fl_odd = (fl % 2) != 0;
  bool up = false;  // result is fl + 1 instead of fl
  switch (mode) {
    case Rounding::Floor: up = false; break;
    case Rounding::TowardZero: up = negative; break;  // ceil for v < 0
    case Rounding::HalfUp: up = above_half || tie; break;
    case Rounding::HalfDown: up = above_half; break;
    case Rounding::HalfEven: up = above_half || (tie && fl_odd); break;
    case Rounding::HalfAway: up = above_half || (tie && !negative); break;
    case Rounding::HalfTowardZero: up = above_half || (tie && negative); break;
  }
  return up ? fl + 1 : fl;
}

// Section 2: the overflow step of the rounded integer q into format f; counts one event in
// *events when it changes the value.
inline int64_t fit(const cpp_int& q, const Format& f, Overflow mode, uint64_t* events) {
  cpp_int lo = f.min_raw();
  const cpp_int hi = f.max_raw();
  if (mode == Overflow::SaturateSymmetric && f.is_signed) lo = -hi;
  if (q >= lo && q <= hi) return static_cast<int64_t>(q);
  if (events) ++*events;
  if (mode == Overflow::Wrap) {
    const cpp_int m = pow2(f.width);
    cpp_int r = q % m;
    if (r < 0) r += m;                        // the low w bits, as an unsigned number
    if (f.is_signed && r > hi) r -= m;        // read as two's complement
    return static_cast<int64_t>(r);
  }
  return static_cast<int64_t>(q < lo ? lo : hi);
}

// A double as an exact integer times a power of two: x = m * 2^e.
inline void exact_double(double x, cpp_int& m, int& e) {
  if (!std::isfinite(x)) throw std::logic_error("exact_double: not finite");
  int ex = 0;
  const double fr = std::frexp(x, &ex);                 // x = fr * 2^ex, 0.5 <= |fr| < 1
  m = cpp_int(static_cast<int64_t>(std::ldexp(fr, 53)));  // exact: 53 significant bits
  e = ex - 53;
}

// A positive real scale mult * 2^-shift as an exact rational n / d.
inline void exact_scale(const Format& f, cpp_int& n, cpp_int& d) {
  n = f.scale.mult;
  d = 1;
  if (f.scale.shift >= 0) d = pow2(f.scale.shift);
  else n *= pow2(-f.scale.shift);
}

// 9.1: the constant K / 2^S of one real ratio r, computed in double: |K| has exactly `bits` bits
// (the precision's rescale_bits; 1: K = +-1, a power-of-two rescale).
struct Ratio {
  cpp_int K;
  int S = 0;
  bool used = false;
};
inline Ratio ratio_constant(double r, int bits) {
  Ratio c;
  if (r == 0) return c;
  int e = 0;
  std::frexp(r, &e);  // |r| = m * 2^e, 0.5 <= m < 1: |r| * 2^(bits-e) in [2^(bits-1), 2^bits)
  int S = bits - e;
  double k = std::nearbyint(std::ldexp(r, S));  // round half to even (default FP environment)
  if (std::fabs(k) >= std::ldexp(1.0, bits)) {  // the rounding carried into bit `bits`
    S -= 1;
    k = std::nearbyint(std::ldexp(r, S));
  }
  c.K = cpp_int(static_cast<int64_t>(k));
  c.S = S;
  c.used = true;
  return c;
}

// 9.1: out = fit(round(sum_k v_k K_k 2^(S - S_k) / 2^S)), S = max S_k, in `out`'s modes. Into an
// asymmetric point (zero point zp, u<b>): out = fit(round(...) + zp) - zp, the point's operand.
struct Term {
  cpp_int v;
  double r;
};
inline int64_t scaled_sum(const std::vector<Term>& terms, const QuantParams& out, uint64_t* events, int bits) {
  std::vector<Ratio> c;
  bool any = false;
  int S = 0;
  for (const Term& t : terms) {
    c.push_back(ratio_constant(t.r, bits));
    if (c.back().used) {
      S = any ? std::max(S, c.back().S) : c.back().S;
      any = true;
    }
  }
  cpp_int num = 0;
  for (size_t k = 0; k < terms.size(); ++k)
    if (c[k].used) num += terms[k].v * c[k].K * pow2(S - c[k].S);
  const cpp_int q = S >= 0 ? round_rational(num, pow2(S), out.rounding) : num * pow2(-S);
  return fit(q + out.zero_point, out.format, out.overflow, events) - out.zero_point;
}

// 9.1: the floor of the square root, by bisection.
inline cpp_int isqrt(const cpp_int& v) {
  if (v < 0) throw std::logic_error("isqrt of a negative number");
  cpp_int lo = 0, hi = 1;
  while (hi * hi <= v) hi *= 2;  // v < hi^2
  while (hi - lo > 1) {          // invariant: lo^2 <= v < hi^2
    const cpp_int mid = (lo + hi) / 2;
    if (mid * mid <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

inline double gelu_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// 9.1: a lookup table's entry for one input operand v = q - zp_in, computed on the spot: the
// output's operand quantize(f(in.to_real(v)), out) - zp_out. Reading an entry whose tabulation
// overflowed counts one event.
template <typename F>
int64_t table(F f, int64_t v, const QuantParams& in, const QuantParams& out, uint64_t* events) {
  if (in.format.width > 16) throw std::logic_error("lookup table input wider than 16 bits");
  if (v < in.format.min_raw() - in.zero_point || v > in.format.max_raw() - in.zero_point)
    throw std::logic_error("an operand outside its point's codes");
  uint64_t ev = 0;
  const int64_t q = quant::quantize(f(in.format.to_real(v)), out, &ev);
  if (ev) ++*events;
  return q - out.zero_point;
}

// 9.2, "An activation point may be asymmetric": a point is either symmetric (signed, zero point
// 0) or asymmetric (u<b>, zero point in 0 .. 2^b - 1); the gate keeps its fixed unsigned format
// with zero point 0; the state (x, xo) stays symmetric.
inline void check_point(const std::string& name, const QuantParams& p) {
  const bool gate = name == "gate";
  const bool state = name.size() > 2 && (name.compare(name.size() - 2, 2, ".x") == 0 ||
                                         name.compare(name.size() - 3, 3, ".xo") == 0);
  if (gate) {
    if (p.format.is_signed || p.zero_point != 0) throw std::logic_error("the gate is u<b>.<b-1> with zero point 0");
    return;
  }
  if (p.format.is_signed) {
    if (p.zero_point != 0) throw std::logic_error("a signed point " + name + " with a zero point");
    return;
  }
  if (state) throw std::logic_error("an asymmetric state point " + name);
  if (p.zero_point < 0 || p.zero_point > p.format.max_raw())
    throw std::logic_error("the zero point of " + name + " outside its codes");
}

// 9.2, "Separate parts": the power of two k with s(part) = f * 2^k, exactly, where f is the finer
// of the two parts' scales (the channel's unit): both scales as exact rationals n / d, their ratio
// a power of two 2^k with k >= 0 (otherwise the model breaks the contract).
inline int part_exponent(const Format& part, const Format& unit) {
  cpp_int pn, pd, un, ud;
  exact_scale(part, pn, pd);
  exact_scale(unit, un, ud);
  cpp_int num = pn * ud, den = pd * un;  // s(part) / f = num / den
  if (num < den) throw std::logic_error("a part finer than its channel's unit");
  int k = 0;
  while (num > den) {
    if (num % 2 != 0) throw std::logic_error("part scales that are not a power of two apart");
    num /= 2;
    ++k;
  }
  if (num != den) throw std::logic_error("part scales that are not a power of two apart");
  return k;
}

// The quantizer of weight element i: its channel's (the first dimension when per channel), and
// with separate parts (9.2) its part's: entry 2 * channel + part, part = i % 2 (re, im).
inline size_t weight_entry(const core::QTensor& t, size_t i) {
  const size_t per_group = t.separate_parts ? 2 : 1;
  const size_t groups = t.params.size() / per_group;
  if (t.params.size() % per_group != 0 || (groups != 1 && static_cast<int64_t>(groups) != t.shape.at(0)))
    throw std::logic_error("a weight with neither one nor one-per-channel parameters (per part)");
  const size_t ch = groups == 1 ? 0 : i / (t.size() / groups);
  return t.separate_parts ? 2 * ch + i % 2 : ch;
}

// 9.2, "Separate parts": the unit f of element i's channel, the finer of its two parts' formats
// (the real part's when they are equal); without separate parts, its channel's format.
inline const Format& weight_unit(const core::QTensor& t, size_t i) {
  const size_t k = weight_entry(t, i);
  if (!t.separate_parts) return t.params[k].format;
  const Format &re = t.params[k - k % 2].format, &im = t.params[k - k % 2 + 1].format;
  cpp_int rn, rd, in, id;  // exactly: s(re) <= s(im)  <=>  rn id <= in rd
  exact_scale(re, rn, rd);
  exact_scale(im, in, id);
  return rn * id <= in * rd ? re : im;
}

// The real scale of a weight's channel c as the scaled sums take it (9.2: s(A)[n], s(B)[n],
// s(C)[c] are the unit f with separate parts).
inline double weight_scale(const core::QTensor& t, size_t c) {
  const size_t groups = t.params.size() / (t.separate_parts ? 2 : 1);
  const size_t per = t.size() / (groups == 1 ? 1 : groups);
  return weight_unit(t, (groups == 1 ? 0 : c) * per).scale.real();
}

// 9.2, "Zero points": the multiplier operand of weight element i, w = q - zp, with q and zp of its
// channel (the first dimension when per channel). A symmetric tensor is signed with zero point 0;
// an asymmetric one has unsigned codes 0 .. 2^b - 1 and zp in that range. With separate parts
// (9.2) q and zp are of the element's part and w = (q - zp) * 2^k in the channel's unit.
inline cpp_int weight_operand(const core::QTensor& t, size_t i) {
  const QuantParams& p = t.params[weight_entry(t, i)];
  const int64_t q = t.q.at(i);
  if (q < p.format.min_raw() || q > p.format.max_raw()) throw std::logic_error("weight code outside its format");
  if (p.format.is_signed ? p.zero_point != 0 : (p.zero_point < 0 || p.zero_point > p.format.max_raw()))
    throw std::logic_error("a zero point that section 6 does not make");
  const cpp_int w = cpp_int(q) - p.zero_point;
  return t.separate_parts ? w * pow2(part_exponent(p.format, weight_unit(t, i))) : w;
}

// 9.2: a bias is always symmetric (the accumulator's zero point is 0): its code is its operand.
inline cpp_int bias_operand(const core::QTensor& t, size_t o) {
  if (t.p(o).zero_point != 0 || !t.p(o).format.is_signed) throw std::logic_error("an asymmetric bias");
  return t.q.at(o);
}

// bitlen(M): the position of the highest set bit, 0 for M = 0.
inline int bitlen(cpp_int m) {
  int n = 0;
  while (m > 0) {
    m >>= 1;
    ++n;
  }
  return n;
}

// 9.3, "The state operand": how the updated state enters its multipliers (A x at the next step,
// C x at this one), from x's operand_bits and operand_block.
struct OperandRule {
  enum Mode { Stored, Static, Block } mode = Stored;
  int bits = 0;                  // Block: the operand's width
  size_t block = 0;              // Block: states per exponent
  Rounding rounding = Rounding::HalfEven;  // Block: x's modes
  Overflow overflow = Overflow::Saturate;
  const QuantParams* xo = nullptr;  // Static: the point xo
};

using Mat = std::vector<std::vector<int64_t>>;  // [step][feature]

inline Mat zeros(size_t L, size_t F) { return Mat(L, std::vector<int64_t>(F, 0)); }

struct LayerTrace {
  Mat u, y, act, mix, mixg, gate, g, res, out;
  Mat x;  // the state after each step's update: [step][2 * state + part], part 0 re, 1 im
  Mat o;  // the state operand of each step (9.3): [step][2 * state + part]
  Mat e;  // its exponents: [step][2 * state + part] (0 unless block floating point)
};

struct Trace {
  Mat in, h0;
  std::vector<LayerTrace> layers;
  std::vector<int64_t> pool;
  std::vector<int64_t> logits;
  int32_t predicted = -1;
  std::map<std::string, uint64_t> events;  // overflow events per produced point
  // block floating point: blocks narrowed with e > 0, and those whose e is e0 + 1 (rounding the
  // block's maximum at e0 carried into the sign bit): what a test must reach to mean something
  uint64_t blocks_shifted = 0, blocks_carried = 0;
  // activation operands, per point ("input", "layers.0.u", "layers.0.act", "pool"): the blocks
  // narrowed with e > 0, and those whose e is e0 + 1
  std::map<std::string, uint64_t> act_shifted, act_carried;
  std::map<std::string, uint64_t> act_clamped;  // the mantissas fit changed (also in `events`)
};

// 9.3: a block's exponent from its largest magnitude M for a b-bit operand under `mode`:
// e0 = max(0, bitlen(M) - (b - 1)), plus one when round(M / 2^e0) carries past 2^(b-1) - 1.
inline int block_exponent(const cpp_int& M, int b, Rounding mode, bool* carried) {
  const int e0 = std::max(0, bitlen(M) - (b - 1));
  const bool carry = round_rational(M, pow2(e0), mode) > pow2(b - 1) - 1;
  if (carried) *carried = carry;
  return carry ? e0 + 1 : e0;
}

class Reference {
 public:
  explicit Reference(const core::QModel& m) : m_(m) {}

  // 9.1's scaled sum with the model's multiplier width
  int64_t ss(const std::vector<Term>& terms, const QuantParams& out, uint64_t* events) const {
    return scaled_sum(terms, out, events, m_.precision.rescale_bits());
  }

  // One sequence of L steps of d_input features (row-major [L, d_input]).
  Trace run(const float* x, size_t L) const {
    const core::ModelConfig& cfg = m_.config;
    const size_t H = cfg.H, Din = cfg.d_input, nl = cfg.n_layers;
    const bool s5 = cfg.layer == core::LayerType::S5;
    for (const auto& [name, t] : m_.tensors)  // 9.2: only the complex weights have parts
      if (t.separate_parts && t.component != quant::Component::A && t.component != quant::Component::B &&
          t.component != quant::Component::C)
        throw std::logic_error("separate parts on " + name + ", not a complex weight");
    for (const auto& [name, ps] : m_.points)
      for (const QuantParams& pp : ps) check_point(name, pp);
    Trace tr;

    // input: the one float -> int step
    const QuantParams& pin = m_.point("input");
    tr.in = zeros(L, Din);
    for (size_t t = 0; t < L; ++t)
      for (size_t d = 0; d < Din; ++d)
        tr.in[t][d] = quant::quantize(static_cast<double>(x[t * Din + d]), pin, ev(tr, "input")) - pin.zero_point;
    activation_operand(quant::Component::input, pin, tr.in, tr, "input");

    // encoder
    const core::QTensor& We = m_.tensor("encoder.weight");
    const core::QTensor& be = m_.tensor("encoder.bias");
    const QuantParams& penc = m_.point("encoder.out");
    tr.h0 = zeros(L, H);
    for (size_t t = 0; t < L; ++t)
      for (size_t o = 0; o < H; ++o) {
        cpp_int acc = bias_operand(be, o);
        for (size_t d = 0; d < Din; ++d) acc += weight_operand(We, o * Din + d) * tr.in[t][d];
        const double r = We.p(o).scale() * pin.scale() / penc.scale();
        tr.h0[t][o] = ss({{acc, r}}, penc, ev(tr, "encoder.out"));
      }

    const Mat* h = &tr.h0;
    std::string hname = "encoder.out";
    tr.layers.resize(nl);
    for (size_t i = 0; i < nl; ++i) {
      const std::string p = "layers." + std::to_string(i) + ".";
      LayerTrace& Ly = tr.layers[i];
      const QuantParams& ph = m_.point(hname);
      const QuantParams& pu = m_.point(p + "u");
      const QuantParams& px = m_.point(p + "x");
      const QuantParams& py = m_.point(p + "y");
      const QuantParams& pact = m_.point(p + "act");
      const QuantParams& pres = m_.point(p + "res");

      // u
      if (cfg.norm_in()) {
        Ly.u = norm(*h, ph, pu, p, tr, p + "u");
      } else {
        Ly.u = zeros(L, H);
        for (size_t t = 0; t < L; ++t)
          for (size_t f = 0; f < H; ++f) Ly.u[t][f] = ss({{(*h)[t][f], ph.scale() / pu.scale()}}, pu, ev(tr, p + "u"));
      }
      activation_operand(quant::Component::ssm_in, pu, Ly.u, tr, p + "u");  // B u and D u take u'

      // state and output (9.3): every state's update from the previous step's operands (0 at the
      // start), then, once every state of the step is updated, the new operands, then the output
      const core::QTensor& A = m_.tensor(p + "A");
      const core::QTensor& B = m_.tensor(p + "B");
      const core::QTensor& C = m_.tensor(p + "C");
      const core::QTensor& D = m_.tensor(p + "D");
      const OperandRule op = operand_rule(i, px);
      const double so = op.mode == OperandRule::Static ? op.xo->scale() : px.scale();  // s(o)
      // S4D: H channels of N/2 modes, A and B scales per channel, blocks cut at a channel's end;
      // S5: P/2 states, A and B scales per state, blocks over all of them
      const size_t nx = s5 ? static_cast<size_t>(A.shape[0]) : H * static_cast<size_t>(A.shape[1]);
      const size_t group = s5 ? nx : nx / H;
      const double kC = !s5 || cfg.conj_sym ? 2.0 : 1.0;
      // 9.3, "Delta form": A is stored as Lambda_bar - 1 and the update adds the stored state
      const bool delta = m_.precision.spec(quant::Component::A).delta;
      std::vector<int64_t> xr(nx, 0), xi(nx, 0), orr(nx, 0), oi(nx, 0);
      std::vector<int> e(2 * nx, 0);  // [2 * state + part]
      Ly.y = zeros(L, H);
      Ly.x = zeros(L, 2 * nx);
      Ly.o = zeros(L, 2 * nx);
      Ly.e = zeros(L, 2 * nx);
      for (size_t t = 0; t < L; ++t) {
        for (size_t n = 0; n < nx; ++n) {
          const size_t ab = s5 ? n : n / group;  // the A / B channel
          cpp_int bur = 0, bui = 0;
          if (!s5) {
            bur = weight_operand(B, 2 * n) * Ly.u[t][ab];
            bui = weight_operand(B, 2 * n + 1) * Ly.u[t][ab];
          } else {
            for (size_t hh = 0; hh < H; ++hh) {
              bur += weight_operand(B, (n * H + hh) * 2) * Ly.u[t][hh];
              bui += weight_operand(B, (n * H + hh) * 2 + 1) * Ly.u[t][hh];
            }
          }
          const cpp_int ar = weight_operand(A, 2 * n), ai = weight_operand(A, 2 * n + 1);
          const cpp_int sr = cpp_int(orr[n]) * pow2(e[2 * n]), si = cpp_int(oi[n]) * pow2(e[2 * n + 1]);
          const cpp_int axr = ar * sr - ai * si;
          const cpp_int axi = ar * si + ai * sr;
          const double rA = weight_scale(A, ab) * so / px.scale();
          const double rB = weight_scale(B, ab) * pu.scale() / px.scale();
          if (delta) {  // x' = SS{rA, rB, 1}(D o, B u, x): the stored state, not its operand
            const cpp_int pr = xr[n], pi = xi[n];
            xr[n] = ss({{axr, rA}, {bur, rB}, {pr, 1.0}}, px, ev(tr, p + "x"));
            xi[n] = ss({{axi, rA}, {bui, rB}, {pi, 1.0}}, px, ev(tr, p + "x"));
          } else {
            xr[n] = ss({{axr, rA}, {bur, rB}}, px, ev(tr, p + "x"));
            xi[n] = ss({{axi, rA}, {bui, rB}}, px, ev(tr, p + "x"));
          }
          Ly.x[t][2 * n] = xr[n];
          Ly.x[t][2 * n + 1] = xi[n];
        }
        for (size_t g0 = 0; g0 < nx; g0 += group)
          state_operands(op, px, xr, xi, g0, group, orr, oi, e, tr,
                         op.mode == OperandRule::Stored ? nullptr : ev(tr, p + "xo"));
        for (size_t n = 0; n < nx; ++n) {
          Ly.o[t][2 * n] = orr[n];
          Ly.o[t][2 * n + 1] = oi[n];
          Ly.e[t][2 * n] = e[2 * n];
          Ly.e[t][2 * n + 1] = e[2 * n + 1];
        }
        for (size_t c = 0; c < H; ++c) {
          cpp_int acc = 0;
          const size_t n0 = s5 ? 0 : c * group;
          for (size_t n = n0; n < n0 + group; ++n) {
            const size_t k = s5 ? c * nx + n : n;  // S5: C [H, P2, 2]; S4D: C [H, N/2, 2]
            acc += weight_operand(C, 2 * k) * orr[n] * pow2(e[2 * n]) -
                   weight_operand(C, 2 * k + 1) * oi[n] * pow2(e[2 * n + 1]);
          }
          const double rC = kC * weight_scale(C, c) * so / py.scale();
          const double rD = D.p(c).scale() * pu.scale() / py.scale();
          Ly.y[t][c] = ss({{acc, rC}, {weight_operand(D, c) * Ly.u[t][c], rD}}, py, ev(tr, p + "y"));
        }
      }

      // GELU
      Ly.act = zeros(L, H);
      for (size_t t = 0; t < L; ++t)
        for (size_t c = 0; c < H; ++c) {
          if (m_.gelu == core::QGelu::Lut) {
            Ly.act[t][c] = table(gelu_exact, Ly.y[t][c], py, pact, ev(tr, p + "act"));
          } else {
            // T = round_half_even(2 / s(y)), exactly: 2 / (mult 2^-shift)
            cpp_int sn, sd;
            exact_scale(py.format, sn, sd);
            const cpp_int T = round_rational(2 * sd, sn, Rounding::HalfEven);
            cpp_int tt = Ly.y[t][c] + T;
            if (tt < 0) tt = 0;
            if (tt > 2 * T) tt = 2 * T;
            const double r = py.scale() * py.scale() / (4.0 * pact.scale());
            Ly.act[t][c] = ss({{cpp_int(Ly.y[t][c]) * tt, r}}, pact, ev(tr, p + "act"));
          }
        }

      // every consumer of act takes act': the mixing's rows, half_glu1's product, gelu's residual
      activation_operand(quant::Component::gelu_out, pact, Ly.act, tr, p + "act");

      // mixing
      const Mat* gsrc = &Ly.g;
      const QuantParams* pg = nullptr;
      if (cfg.mixing == core::Mixing::Gelu) {
        Ly.g = Ly.act;
        pg = &pact;
      } else {
        const core::QTensor& Wm = m_.tensor(p + "mix.weight");
        const core::QTensor& bm = m_.tensor(p + "mix.bias");
        const QuantParams& pmixg = m_.point(p + "mixg");
        const QuantParams& pgate = m_.point("gate");
        pg = &m_.point(p + "g");
        const bool glu = cfg.mixing == core::Mixing::Glu;
        const QuantParams* pmix = glu ? &m_.point(p + "mix") : nullptr;
        auto row = [&](size_t o, size_t t) {
          cpp_int acc = bias_operand(bm, o);
          for (size_t j = 0; j < H; ++j) acc += weight_operand(Wm, o * H + j) * Ly.act[t][j];
          return acc;
        };
        Ly.mixg = zeros(L, H);
        Ly.gate = zeros(L, H);
        Ly.g = zeros(L, H);
        if (glu) Ly.mix = zeros(L, H);
        for (size_t t = 0; t < L; ++t)
          for (size_t o = 0; o < H; ++o) {
            const size_t og = glu ? H + o : o;  // the gate's row
            Ly.mixg[t][o] =
                ss({{row(og, t), Wm.p(og).scale() * pact.scale() / pmixg.scale()}}, pmixg, ev(tr, p + "mixg"));
            Ly.gate[t][o] = table(sigmoid, Ly.mixg[t][o], pmixg, pgate, ev(tr, "gate"));
            int64_t val = 0;
            double sval = 0;
            if (glu) {
              Ly.mix[t][o] =
                  ss({{row(o, t), Wm.p(o).scale() * pact.scale() / pmix->scale()}}, *pmix, ev(tr, p + "mix"));
              val = Ly.mix[t][o];
              sval = pmix->scale();
            } else if (cfg.mixing == core::Mixing::HalfGlu1) {
              val = Ly.act[t][o];
              sval = pact.scale();
            } else {
              val = Ly.y[t][o];
              sval = py.scale();
            }
            Ly.g[t][o] = ss({{cpp_int(val) * Ly.gate[t][o], sval * pgate.scale() / pg->scale()}}, *pg, ev(tr, p + "g"));
          }
      }

      // residual
      Ly.res = zeros(L, H);
      for (size_t t = 0; t < L; ++t)
        for (size_t f = 0; f < H; ++f)
          Ly.res[t][f] = ss({{(*gsrc)[t][f], pg->scale() / pres.scale()}, {(*h)[t][f], ph.scale() / pres.scale()}},
                            pres, ev(tr, p + "res"));

      // out (the residual sum itself without a post-norm)
      if (cfg.norm_out()) {
        Ly.out = norm(Ly.res, pres, m_.point(p + "out"), p, tr, p + "out");
        hname = p + "out";
      } else {
        Ly.out = Ly.res;
        hname = p + "res";
      }
      h = &Ly.out;
    }

    // pooling
    const QuantParams& plast = m_.point(hname);
    tr.pool.assign(H, 0);
    if (cfg.pooling == core::Pooling::Mean) {
      const QuantParams& ppool = m_.point("pool");
      for (size_t f = 0; f < H; ++f) {
        cpp_int sum = 0;
        for (size_t t = 0; t < L; ++t) sum += (*h)[t][f];
        tr.pool[f] = ss({{sum, plast.scale() / (static_cast<double>(L) * ppool.scale())}}, ppool, ev(tr, "pool"));
      }
      // the pooled vector's operand (last pooling has no pool point: the decoder takes the last
      // layer's output as it is)
      Mat pooled{tr.pool};
      activation_operand(quant::Component::pool, ppool, pooled, tr, "pool");
      tr.pool = pooled[0];
    } else {
      for (size_t f = 0; f < H; ++f) tr.pool[f] = (*h)[L - 1][f];
    }

    // decoder
    const core::QTensor& Wd = m_.tensor("decoder.weight");
    const core::QTensor& bd = m_.tensor("decoder.bias");
    const size_t classes = static_cast<size_t>(Wd.shape[0]);
    double smin = Wd.p(0).scale();
    for (size_t c = 0; c < classes; ++c) smin = std::min(smin, Wd.p(c).scale());
    Format s64;
    s64.is_signed = true;
    s64.width = 64;
    QuantParams plog;
    plog.format = s64;
    plog.rounding = Rounding::HalfEven;
    plog.overflow = Overflow::Saturate;
    for (size_t c = 0; c < classes; ++c) {
      cpp_int acc = bias_operand(bd, c);
      for (size_t f = 0; f < H; ++f) acc += weight_operand(Wd, c * H + f) * tr.pool[f];
      if (Wd.params.size() == 1) {
        if (acc > cpp_int(INT64_MAX) || acc < cpp_int(INT64_MIN)) throw std::logic_error("int64 accumulator overflow");
        tr.logits.push_back(static_cast<int64_t>(acc));
      } else {
        tr.logits.push_back(ss({{acc, Wd.p(c).scale() / smin}}, plog, ev(tr, "logits")));
      }
    }
    tr.predicted = 0;
    for (size_t c = 1; c < classes; ++c)
      if (tr.logits[c] > tr.logits[static_cast<size_t>(tr.predicted)]) tr.predicted = static_cast<int32_t>(c);
    return tr;
  }

 private:
  static uint64_t* ev(Trace& tr, const std::string& point) { return &tr.events[point]; }

  // The state operand's rule of layer i from x's spec, checked against the points the model holds:
  // xo exists exactly for a static operand, operand_bits wide, in x's modes.
  OperandRule operand_rule(size_t i, const QuantParams& px) const {
    const quant::QuantizerSpec& xs = m_.precision.spec(quant::Component::x);
    const std::string xo = "layers." + std::to_string(i) + ".xo";
    const bool has_xo = m_.points.count(xo) != 0;
    OperandRule r;
    if (xs.rounding != px.rounding || xs.overflow != px.overflow) throw std::logic_error("x's point is not in x's modes");
    if (has_xo != (xs.operand_bits != 0 && xs.operand_block == 0))
      throw std::logic_error("xo present without a static operand, or absent with one");
    if (xs.operand_bits == 0) return r;
    if (xs.operand_block == 0) {
      r.mode = OperandRule::Static;
      r.xo = &m_.point(xo);
      if (!r.xo->format.is_signed || r.xo->format.width != xs.operand_bits || r.xo->rounding != xs.rounding ||
          r.xo->overflow != xs.overflow)
        throw std::logic_error("xo is not s<operand_bits> in x's modes");
      return r;
    }
    r.mode = OperandRule::Block;
    r.bits = xs.operand_bits;
    r.block = static_cast<size_t>(xs.operand_block);
    r.rounding = xs.rounding;
    r.overflow = xs.overflow;
    if (r.bits < 2 || r.bits > px.format.width) throw std::logic_error("operand_bits outside 2..bits");
    return r;
  }

  // The operands (and exponents) of the n states from `first`, once they are all updated.
  void state_operands(const OperandRule& R, const QuantParams& px, const std::vector<int64_t>& xr,
                      const std::vector<int64_t>& xi, size_t first, size_t n, std::vector<int64_t>& orr,
                      std::vector<int64_t>& oi, std::vector<int>& e, Trace& tr, uint64_t* events) const {
    if (R.mode != OperandRule::Block) {
      for (size_t k = first; k < first + n; ++k) {
        const double r = R.mode == OperandRule::Static ? px.scale() / R.xo->scale() : 0;
        orr[k] = R.mode == OperandRule::Static ? ss({{xr[k], r}}, *R.xo, events) : xr[k];
        oi[k] = R.mode == OperandRule::Static ? ss({{xi[k], r}}, *R.xo, events) : xi[k];
        e[2 * k] = e[2 * k + 1] = 0;
      }
      return;
    }
    // per part: the real parts of a block share one exponent, the imaginary parts another
    const Format ob = Format::fixed(true, R.bits, 0);
    for (size_t b = first; b < first + n; b += R.block) {
      const size_t end = std::min(first + n, b + R.block);
      for (int part = 0; part < 2; ++part) {
        const std::vector<int64_t>& xs = part == 0 ? xr : xi;
        std::vector<int64_t>& os = part == 0 ? orr : oi;
        cpp_int M = 0;  // the largest magnitude of the block's parts
        for (size_t k = b; k < end; ++k) {
          const cpp_int mag = xs[k] < 0 ? -cpp_int(xs[k]) : cpp_int(xs[k]);
          if (mag > M) M = mag;
        }
        bool carry = false;
        const int x = block_exponent(M, R.bits, R.rounding, &carry);
        if (x > px.format.width - R.bits + 1) throw std::logic_error("a block exponent above w_x - b + 1");
        tr.blocks_shifted += x > 0;
        tr.blocks_carried += carry;
        for (size_t k = b; k < end; ++k) {
          os[k] = fit(round_rational(xs[k], pow2(x), R.rounding), ob, R.overflow, events);
          e[2 * k + part] = x;
        }
      }
    }
  }

  // 9.3, "Activation operands": when component c has operand_bits b (with operand_block k), each
  // step's features of the point p (values v, [step][feature]) are cut into blocks of k
  // consecutive features, each block gets its exponent e by the state's rule, and every value
  // becomes v' = fit(round(v / 2^e)) 2^e (s<b>.0, c's rounding and overflow; events on `point`).
  void activation_operand(quant::Component c, const QuantParams& p, Mat& v, Trace& tr, const std::string& point) const {
    const quant::QuantizerSpec& s = m_.precision.spec(c);
    if (s.operand_bits == 0) {
      if (s.operand_block != 0) throw std::logic_error("operand_block without operand_bits on " + point);
      return;
    }
    const int b = s.operand_bits, w = p.format.width;
    if (s.operand_block < 1) throw std::logic_error("an activation operand without a block on " + point);
    if (!p.format.is_signed || p.zero_point != 0)  // 9.2: its mantissas are signed
      throw std::logic_error("an asymmetric activation point with a block-floating-point operand: " + point);
    if (b < 2 || b > w || w > 30) throw std::logic_error("an activation operand outside 2..bits, or bits above 30");
    if (s.rounding != p.rounding || s.overflow != p.overflow) throw std::logic_error(point + " is not in its modes");
    const size_t k = static_cast<size_t>(s.operand_block);
    const Format ob = Format::fixed(true, b, 0);
    for (auto& row : v)
      for (size_t b0 = 0; b0 < row.size(); b0 += k) {
        const size_t end = std::min(row.size(), b0 + k);
        cpp_int M = 0;
        for (size_t f = b0; f < end; ++f) M = std::max(M, row[f] < 0 ? -cpp_int(row[f]) : cpp_int(row[f]));
        bool carry = false;
        const int e = block_exponent(M, b, s.rounding, &carry);
        if (e > w - b + 1) throw std::logic_error("an activation block exponent above w - b + 1");
        tr.act_shifted[point] += e > 0;
        tr.act_carried[point] += carry;
        for (size_t f = b0; f < end; ++f) {
          uint64_t clamped = 0;
          const cpp_int vp = cpp_int(fit(round_rational(row[f], pow2(e), s.rounding), ob, s.overflow, &clamped)) *
                             pow2(e);
          *ev(tr, point) += clamped;
          tr.act_clamped[point] += clamped;
          if (vp >= pow2(w) || vp <= -pow2(w)) throw std::logic_error("an activation operand not below 2^w");
          row[f] = static_cast<int64_t>(vp);
        }
      }
  }

  // Norm(r) into o over the H features of each step (LayerNorm, or the folded BatchNorm).
  Mat norm(const Mat& r, const QuantParams& pr, const QuantParams& po, const std::string& p, Trace& tr,
           const std::string& evname) const {
    const core::ModelConfig& cfg = m_.config;
    const size_t L = r.size(), H = cfg.H;
    const core::QTensor& sc = m_.tensor(p + "norm.scale");
    const core::QTensor& sh = m_.tensor(p + "norm.shift");
    Mat o = zeros(L, H);
    if (cfg.norm == core::Norm::Batch) {
      for (size_t t = 0; t < L; ++t)
        for (size_t f = 0; f < H; ++f)
          o[t][f] = ss({{cpp_int(r[t][f]) * weight_operand(sc, f), sc.p(f).scale() * pr.scale() / po.scale()},
                        {weight_operand(sh, f), sh.p(f).scale() / po.scale()}},
                       po, ev(tr, evname));
      return o;
    }
    // LayerNorm. E = round_half_even(eps H^3 / s(r)^2), exactly from the double eps and the exact scale.
    const double eps = cfg.layer == core::LayerType::S5 ? 1e-6 : 1e-5;
    cpp_int em, sn, sd;
    int ee = 0;
    exact_double(eps, em, ee);
    exact_scale(pr.format, sn, sd);
    const cpp_int H3 = cpp_int(H) * H * H;
    // eps H^3 / s^2 = em 2^ee H^3 sd^2 / sn^2
    cpp_int num = em * H3 * sd * sd, den = sn * sn;
    if (ee >= 0) num *= pow2(ee);
    else den *= pow2(-ee);
    cpp_int E = round_rational(num, den, Rounding::HalfEven);
    if (E > pow2(62)) E = pow2(62);
    if (E < 1) E = 1;  // at least 1: v + E is never 0 (docs/fixed_point.md 9.3)
    for (size_t t = 0; t < L; ++t) {
      cpp_int sum = 0;
      for (size_t f = 0; f < H; ++f) sum += r[t][f];
      std::vector<cpp_int> d(H);
      cpp_int v = 0;
      for (size_t f = 0; f < H; ++f) {
        d[f] = cpp_int(H) * r[t][f] - sum;
        v += d[f] * d[f];
      }
      // v + E == 0 (every feature equal, and E rounded to 0) leaves the quotient undefined; then
      // every d_f is 0 and the first term vanishes whatever rs is: rs = 0 here.
      const cpp_int rs = v + E == 0 ? cpp_int(0) : isqrt(floor_div(pow2(112) * H, v + E));
      for (size_t f = 0; f < H; ++f)
        o[t][f] = ss({{d[f] * rs * weight_operand(sc, f), std::ldexp(sc.p(f).scale(), -56) / po.scale()},
                      {weight_operand(sh, f), sh.p(f).scale() / po.scale()}},
                     po, ev(tr, evname));
    }
    return o;
  }

  const core::QModel& m_;
};

}  // namespace ssmsim::testing::qref
