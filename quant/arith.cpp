#include "quant/arith.hpp"

#include <algorithm>
#include <string>

#include "quant/errors.hpp"

namespace ssmsim::quant {

namespace {

// Largest exact intermediate: sums of two 126-bit terms still fit a signed 128-bit integer.
constexpr int kMaxExactBits = 126;

void require_same_mult(const Format& a, const Format& b, const char* op) {
  if (a.scale.mult != b.scale.mult)
    throw FormatError(std::string(op) + " of " + a.to_string() + " and " + b.to_string() +
                      ": operands with different scale multipliers cannot be added exactly;"
                      " requantize one of them first");
}

// Aligns raw (in format f) to `shift` fraction bits (shift >= f.scale.shift), exactly.
wide_t align(wide_t raw, const Format& f, int shift, int width_after) {
  const int k = shift - f.scale.shift;
  if (width_after > kMaxExactBits)
    throw FormatError("aligning " + f.to_string() + " by " + std::to_string(k) +
                      " bits needs a " + std::to_string(width_after) +
                      "-bit intermediate, more than the 126 bits of the exact datapath");
  return raw * (wide_t{1} << k);
}

Format scale_product(const Format& a, const Format& b, int width) {
  // The product multiplier may exceed the 31-bit limit of a stored format; it only ever feeds a
  // Rescale, which reduces it against the destination multiplier.
  Format f;
  f.is_signed = a.is_signed || b.is_signed;
  f.width = width;
  f.scale = Scale{a.scale.mult * b.scale.mult, a.scale.shift + b.scale.shift};
  return f;
}

// Builds the Requantizer from an exact intermediate at scale `from` into `to`.
Requantizer narrowing(const Scale& from, const Format& to, Rounding rounding, Overflow overflow) {
  int64_t num = from.mult, den = to.scale.mult;
  int64_t a = num, b = den;
  while (b) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  num /= a;
  den /= a;
  if (num > Format::kMaxMult)
    throw FormatError("the rescale from an intermediate with multiplier " +
                      std::to_string(from.mult) + " to " + to.to_string() +
                      " needs a numerator over 2^31; use binary-point or smaller dyadic scales");
  return Requantizer(Rescale{num, den, from.shift - to.scale.shift}, to, rounding, overflow);
}

// Width of the aligned operand and of the result of an exact sum.
int aligned_width(const Format& f, int shift) { return f.width + (shift - f.scale.shift); }

}  // namespace

Format product_format(const Format& a, const Format& b) {
  return scale_product(a, b, a.width + b.width);
}

Format sum_format(const Format& a, const Format& b) {
  require_same_mult(a, b, "sum_format");
  const int shift = std::max(a.scale.shift, b.scale.shift);
  Format f;
  f.is_signed = a.is_signed || b.is_signed;
  f.width = std::max(aligned_width(a, shift) + (f.is_signed && !a.is_signed),
                     aligned_width(b, shift) + (f.is_signed && !b.is_signed)) + 1;
  f.scale = Scale{a.scale.mult, shift};
  return f;
}

int64_t add(int64_t a, const Format& fa, int64_t b, const Format& fb, const Format& to,
            Rounding rounding, Overflow overflow, uint64_t* events) {
  const Format fs = sum_format(fa, fb);
  const wide_t sum = align(a, fa, fs.scale.shift, fs.width) + align(b, fb, fs.scale.shift, fs.width);
  return narrowing(fs.scale, to, rounding, overflow)(sum, events);
}

int64_t mul(int64_t a, const Format& fa, int64_t b, const Format& fb, const Format& to,
            Rounding rounding, Overflow overflow, uint64_t* events) {
  const Format fp = product_format(fa, fb);
  return narrowing(fp.scale, to, rounding, overflow)(wide_t{a} * b, events);
}

int64_t mac(int64_t acc, const Format& facc, int64_t a, const Format& fa, int64_t b,
            const Format& fb, const Format& to, Rounding rounding, Overflow overflow,
            uint64_t* events) {
  const Format fp = product_format(fa, fb);
  if (facc.scale.mult != fp.scale.mult)
    throw FormatError("mac: accumulator " + facc.to_string() + " and product of " +
                      fa.to_string() + " x " + fb.to_string() + " have different multipliers");
  const int shift = std::max(facc.scale.shift, fp.scale.shift);
  const int width = std::max(aligned_width(facc, shift), aligned_width(fp, shift)) + 1;
  const wide_t sum = align(acc, facc, shift, width) + align(wide_t{a} * b, fp, shift, width);
  return narrowing(Scale{fp.scale.mult, shift}, to, rounding, overflow)(sum, events);
}

WideComplex cmul_exact(const Complex& a, const Complex& b, CMulForm form) {
  const wide_t ar = a.re, ai = a.im, br = b.re, bi = b.im;
  if (form == CMulForm::FourMult) return {ar * br - ai * bi, ar * bi + ai * br};
  const wide_t k1 = br * (ar + ai);
  const wide_t k2 = ar * (bi - br);
  const wide_t k3 = ai * (br + bi);
  return {k1 - k3, k1 + k2};
}

namespace {
void check_complex_widths(const Format& fa, const Format& fb) {
  if (fa.width + fb.width + 2 > kMaxExactBits)
    throw FormatError("complex product of " + fa.to_string() + " x " + fb.to_string() +
                      " needs " + std::to_string(fa.width + fb.width + 2) +
                      " bits, more than the 126 bits of the exact datapath");
}
}  // namespace

namespace detail {

Complex cmul_wide(const Complex& a, const Format& fa, const Complex& b, const Format& fb,
                  const Format& to, Rounding rounding, Overflow overflow, uint64_t* events,
                  CMulForm form) {
  check_complex_widths(fa, fb);
  const WideComplex p = cmul_exact(a, b, form);
  const Requantizer rq = narrowing(product_format(fa, fb).scale, to, rounding, overflow);
  return {rq(p.re, events), rq(p.im, events)};
}

Complex cmac_wide(const Complex& acc, const Format& facc, const Complex& a, const Format& fa,
                  const Complex& b, const Format& fb, const Format& to, Rounding rounding,
                  Overflow overflow, uint64_t* events, CMulForm form) {
  check_complex_widths(fa, fb);
  const Format fp = product_format(fa, fb);
  if (facc.scale.mult != fp.scale.mult)
    throw FormatError("cmac: accumulator " + facc.to_string() + " and product of " +
                      fa.to_string() + " x " + fb.to_string() + " have different multipliers");
  const int shift = std::max(facc.scale.shift, fp.scale.shift);
  const int width = std::max(aligned_width(facc, shift), aligned_width(fp, shift) + 1) + 1;
  const WideComplex p = cmul_exact(a, b, form);
  const Requantizer rq = narrowing(Scale{fp.scale.mult, shift}, to, rounding, overflow);
  const wide_t re = align(acc.re, facc, shift, width) + align(p.re, fp, shift, width);
  const wide_t im = align(acc.im, facc, shift, width) + align(p.im, fp, shift, width);
  return {rq(re, events), rq(im, events)};
}

}  // namespace detail

}  // namespace ssmsim::quant
