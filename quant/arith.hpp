// Integer add, multiply, multiply-accumulate and complex multiply / MAC with explicit result
// formats (docs/fixed_point.md, section 4).
//
// Contract: every operation computes its exact result (products at full width, sums one bit wider
// than their widest aligned operand) in a 128-bit intermediate, then narrows it to the result
// format with ONE Requantizer step (one rounding, one overflow check). There is no intermediate
// rounding, so the 4-multiplier and 3-multiplier complex forms are bit-identical.
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

// Exact a * b then one requantize per part into `to`.
Complex cmul(const Complex& a, const Format& fa, const Complex& b, const Format& fb,
             const Format& to, Rounding rounding, Overflow overflow, uint64_t* events = nullptr,
             CMulForm form = CMulForm::FourMult);
// Exact acc + a * b then one requantize per part into `to`; the complex MAC of the state update
// x' = Lambda_bar * x + (B_bar u).
Complex cmac(const Complex& acc, const Format& facc, const Complex& a, const Format& fa,
             const Complex& b, const Format& fb, const Format& to, Rounding rounding,
             Overflow overflow, uint64_t* events = nullptr, CMulForm form = CMulForm::FourMult);

}  // namespace ssmsim::quant
