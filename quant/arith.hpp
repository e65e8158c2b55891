// Integer add, multiply, multiply-accumulate and complex multiply / MAC with explicit result
// formats (docs/fixed_point.md, section 4).
//
// Contract: every operation computes its exact result (products at full width, sums one bit wider
// than their widest aligned operand) in a 128-bit intermediate, then narrows it to the result
// format with ONE Requantizer step (one rounding, one overflow check). There is no intermediate
// rounding, so the 4-multiplier and 3-multiplier complex forms are bit-identical. cmul / cmac
// compute in 64 bits where the exact value provably fits there (binary-point formats, small
// widths): same exact value, same single rounding and overflow step, same bits.
#pragma once

#include <cstdint>

#include "quant/format.hpp"
#include "quant/requantize.hpp"

namespace ssmsim::quant {

// The format that holds a * b exactly: width wa + wb, scale product (signed if either is).
Format product_format(const Format& a, const Format& b);
// The format that holds a + b exactly: the finer scale, one bit more than the widest aligned
// operand. Both scales must share the multiplier.
Format sum_format(const Format& a, const Format& b);

// Exact a + b then one requantize into `to`.
int64_t add(int64_t a, const Format& fa, int64_t b, const Format& fb, const Format& to,
            Rounding rounding, Overflow overflow, uint64_t* events = nullptr);
// Exact a * b then one requantize into `to`.
int64_t mul(int64_t a, const Format& fa, int64_t b, const Format& fb, const Format& to,
            Rounding rounding, Overflow overflow, uint64_t* events = nullptr);
// Exact acc + a * b then one requantize into `to`.
int64_t mac(int64_t acc, const Format& facc, int64_t a, const Format& fa, int64_t b,
            const Format& fb, const Format& to, Rounding rounding, Overflow overflow,
            uint64_t* events = nullptr);

// A complex fixed-point value: both parts share one Format.
struct Complex {
  int64_t re = 0;
  int64_t im = 0;
  bool operator==(const Complex& o) const { return re == o.re && im == o.im; }
  bool operator!=(const Complex& o) const { return !(*this == o); }
};

struct WideComplex {
  wide_t re = 0;
  wide_t im = 0;
};

// How the complex product is built. Both are exact, hence bit-identical; they differ in hardware
// cost (docs/fixed_point.md, 4.3):
//   FourMult:  re = ar*br - ai*bi, im = ar*bi + ai*br            4 multipliers (wa x wb), 2 adders
//   ThreeMult: k1 = br*(ar+ai), k2 = ar*(bi-br), k3 = ai*(br+bi)
//              re = k1 - k3, im = k1 + k2                          3 multipliers, 5 adders; the
//              pre-adders are one bit wider, so multipliers are (wa+1) x wb and wa x (wb+1)
enum class CMulForm { FourMult, ThreeMult };

// The exact complex product a * b at the scale of product_format(fa, fb).
WideComplex cmul_exact(const Complex& a, const Complex& b, CMulForm form = CMulForm::FourMult);

namespace detail {

// |v| <= 2^w, the bound the 64-bit path assumes for a raw value of a w-bit format.
inline bool within(int64_t v, int w) {
  return v >= -(int64_t{1} << w) && v <= (int64_t{1} << w);
}

// The 64-bit path of cmul / cmac for binary-point formats whose exact sums stay below 2^61:
// acc + a * b per part (no acc when `acc` is null) is computed exactly in int64 and narrowed by
// the 64-bit rounding shift and fit of requantize.hpp. Both CMulForms have this same exact value,
// so the form plays no part. Returns false, touching nothing, where that cannot be done exactly;
// the caller then takes the 128-bit path. Same bits either way.
inline bool cmac64(const Complex* acc, const Format* facc, const Complex& a, const Format& fa,
                   const Complex& b, const Format& fb, const Format& to, Rounding rounding,
                   Overflow overflow, uint64_t* events, Complex& out) {
  if (fa.scale.mult != 1 || fb.scale.mult != 1 || to.scale.mult != 1 ||
      (facc && facc->scale.mult != 1))
    return false;
  if (to.width < 1 || to.width > (to.is_signed ? 64 : 63) || to.scale.shift > Format::kMaxShift ||
      to.scale.shift < -Format::kMaxShift)
    return false;  // the 128-bit path throws
  const int pshift = fa.scale.shift + fb.scale.shift;
  const int shift = facc && facc->scale.shift > pshift ? facc->scale.shift : pshift;
  const int k_p = shift - pshift;
  const int k_acc = facc ? shift - facc->scale.shift : 0;
  // bits of the aligned terms: |ar*br -+ ai*bi| <= 2^(wa+wb+1), |acc| <= 2^wacc
  const int p_bits = fa.width + fb.width + 1 + k_p;
  const int acc_bits = facc ? facc->width + k_acc : 0;
  const int sum_bits = (p_bits > acc_bits ? p_bits : acc_bits) + 1;
  const int rs = shift - to.scale.shift;  // > 0: rounding right shift; < 0: exact left shift
  if (sum_bits > 61 || rs > 62 || sum_bits - rs > 61) return false;
  if (!within(a.re, fa.width) || !within(a.im, fa.width) || !within(b.re, fb.width) ||
      !within(b.im, fb.width))
    return false;
  if (facc && (!within(acc->re, facc->width) || !within(acc->im, facc->width))) return false;

  int64_t re = (a.re * b.re - a.im * b.im) * (int64_t{1} << k_p);
  int64_t im = (a.re * b.im + a.im * b.re) * (int64_t{1} << k_p);
  if (acc) {
    re += acc->re * (int64_t{1} << k_acc);
    im += acc->im * (int64_t{1} << k_acc);
  }
  if (rs >= 0) {
    const Shift64 k(rs);
    re = round_shift64(re, k, rounding);
    im = round_shift64(im, k, rounding);
  } else {
    re *= int64_t{1} << -rs;
    im *= int64_t{1} << -rs;
  }
  const Range64 range(to.width, to.is_signed, overflow);
  out = {fit64(re, range, overflow, events), fit64(im, range, overflow, events)};
  return true;
}

// The general paths: exact in 128 bits, one Requantizer per call.
Complex cmul_wide(const Complex& a, const Format& fa, const Complex& b, const Format& fb,
                  const Format& to, Rounding rounding, Overflow overflow, uint64_t* events,
                  CMulForm form);
Complex cmac_wide(const Complex& acc, const Format& facc, const Complex& a, const Format& fa,
                  const Complex& b, const Format& fb, const Format& to, Rounding rounding,
                  Overflow overflow, uint64_t* events, CMulForm form);

}  // namespace detail

// Exact a * b then one requantize per part into `to`.
inline Complex cmul(const Complex& a, const Format& fa, const Complex& b, const Format& fb,
                    const Format& to, Rounding rounding, Overflow overflow,
                    uint64_t* events = nullptr, CMulForm form = CMulForm::FourMult) {
  Complex out;
  if (detail::cmac64(nullptr, nullptr, a, fa, b, fb, to, rounding, overflow, events, out))
    return out;
  return detail::cmul_wide(a, fa, b, fb, to, rounding, overflow, events, form);
}

// Exact acc + a * b then one requantize per part into `to`; the complex MAC of the state update
// x' = Lambda_bar * x + (B_bar u).
inline Complex cmac(const Complex& acc, const Format& facc, const Complex& a, const Format& fa,
                    const Complex& b, const Format& fb, const Format& to, Rounding rounding,
                    Overflow overflow, uint64_t* events = nullptr,
                    CMulForm form = CMulForm::FourMult) {
  Complex out;
  if (detail::cmac64(&acc, &facc, a, fa, b, fb, to, rounding, overflow, events, out)) return out;
  return detail::cmac_wide(acc, facc, a, fa, b, fb, to, rounding, overflow, events, form);
}

}  // namespace ssmsim::quant
