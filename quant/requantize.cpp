#include "quant/requantize.hpp"

#include <boost/multiprecision/cpp_int.hpp>
#include <cmath>
#include <cstdlib>

#include "quant/errors.hpp"

namespace ssmsim::quant {

namespace {

using big = boost::multiprecision::cpp_int;

// numeric_limits is not specialised for __int128 under strict -std=c++17.
constexpr wide_t kWideMin = -static_cast<wide_t>((uwide_t{1} << 127) - 1) - 1;

int bit_length(uwide_t v) {
  int n = 0;
  while (v) {
    ++n;
    v >>= 1;
  }
  return n;
}

wide_t abs_wide(wide_t v) { return v < 0 ? -v : v; }

// q is floor(value); `cmp` compares the remainder with half a unit (-1 below, 0 at, +1 above);
// `inexact` says the remainder is non-zero. Returns the rounded integer for the mode.
template <typename Int>
Int adjust(Int q, int cmp, bool inexact, Rounding mode) {
  if (!inexact) return q;
  bool up = false;
  switch (mode) {
    case Rounding::Floor: up = false; break;
    case Rounding::TowardZero: up = q < 0; break;
    case Rounding::HalfUp: up = cmp >= 0; break;
    case Rounding::HalfDown: up = cmp > 0; break;
    case Rounding::HalfEven: up = cmp > 0 || (cmp == 0 && (q & 1) != 0); break;
    case Rounding::HalfAway: up = cmp > 0 || (cmp == 0 && q >= 0); break;
    case Rounding::HalfTowardZero: up = cmp > 0 || (cmp == 0 && q < 0); break;
  }
  return up ? Int(q + 1) : q;
}

// The exact slow path for values that leave the 128-bit range (huge left shifts, huge divisors):
// arbitrary precision, then the same rounding and overflow rules.
int64_t exact_big(wide_t v, const Rescale& r, const Format& to, Rounding rounding,
                  Overflow overflow, uint64_t* events) {
  big num = big(static_cast<long long>(v >> 64)) * (big(1) << 64) +
            big(static_cast<unsigned long long>(static_cast<uwide_t>(v) & ~uint64_t{0}));
  num *= r.num;
  big den = r.den;
  if (r.shift >= 0)
    den <<= r.shift;
  else
    num <<= -r.shift;
  big q = num / den;  // truncates toward zero
  big rem = num - q * den;
  if (rem < 0) {
    q -= 1;
    rem += den;
  }
  const big twice = rem * 2;
  const int cmp = twice < den ? -1 : (twice == den ? 0 : 1);
  q = adjust<big>(q, cmp, rem != 0, rounding);

  const int64_t hi = to.max_raw();
  const int64_t lo = (overflow == Overflow::SaturateSymmetric && to.is_signed) ? -hi : to.min_raw();
  if (q >= lo && q <= hi) return static_cast<int64_t>(q);
  if (events) ++*events;
  if (overflow != Overflow::Wrap) return q < lo ? lo : hi;
  const big modulus = big(1) << to.width;
  big m = q % modulus;
  if (m < 0) m += modulus;
  if (to.is_signed && m > hi) m -= modulus;
  return static_cast<int64_t>(m);
}

}  // namespace

wide_t round_div(wide_t num, wide_t den, Rounding mode) {
  wide_t q = num / den;
  wide_t rem = num % den;
  if (rem < 0) {
    q -= 1;
    rem += den;
  }
  const wide_t other = den - rem;  // compare rem with den/2 without overflow
  const int cmp = rem < other ? -1 : (rem == other ? 0 : 1);
  return adjust<wide_t>(q, cmp, rem != 0, mode);
}

wide_t round_shift(wide_t v, int n, Rounding mode) {
  if (n == 0) return v;
  if (n >= 127) {  // |v| < 2^126 <= 2^(n-1): the quotient lies strictly within (-1/2, 1/2)
    const wide_t q = v < 0 ? -1 : 0;
    return adjust<wide_t>(q, v < 0 ? 1 : -1, v != 0, mode);
  }
  const wide_t q = v >> n;  // arithmetic shift: floor
  const uwide_t rem = static_cast<uwide_t>(v) & ((uwide_t{1} << n) - 1);
  const uwide_t half = uwide_t{1} << (n - 1);
  const int cmp = rem < half ? -1 : (rem == half ? 0 : 1);
  return adjust<wide_t>(q, cmp, rem != 0, mode);
}

int64_t fit(wide_t v, const Format& to, Overflow mode, uint64_t* events) {
  const int64_t hi = to.max_raw();
  const int64_t lo = (mode == Overflow::SaturateSymmetric && to.is_signed) ? -hi : to.min_raw();
  if (v >= lo && v <= hi) return static_cast<int64_t>(v);
  if (events) ++*events;
  if (mode != Overflow::Wrap) return v < lo ? lo : hi;
  uwide_t bits = static_cast<uwide_t>(v) & ((uwide_t{1} << to.width) - 1);
  if (to.is_signed && (bits >> (to.width - 1)) != 0) bits |= ~((uwide_t{1} << to.width) - 1);
  return static_cast<int64_t>(static_cast<wide_t>(bits));
}

Rescale Rescale::between(const Format& from, const Format& to) {
  int64_t num = from.scale.mult, den = to.scale.mult;
  // reduce num/den by their gcd so that a dyadic ratio is recognised as one
  int64_t a = num, b = den;
  while (b) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  Rescale r{num / a, den / a, from.scale.shift - to.scale.shift};
  r.validate();
  return r;
}

Rescale Rescale::dyadic(int64_t mult, int shift) {
  Rescale r{mult, 1, shift};
  r.validate();
  return r;
}

Rescale Rescale::approximate(double ratio, int mult_bits) {
  if (!(ratio > 0) || !std::isfinite(ratio))
    throw FormatError("a rescale ratio must be positive and finite, got " + std::to_string(ratio));
  if (mult_bits < 2 || mult_bits > 31)
    throw FormatError("rescale multiplier bits must be 2..31, got " + std::to_string(mult_bits));
  int exp = 0;
  const double mant = std::frexp(ratio, &exp);  // ratio = mant * 2^exp, mant in [0.5, 1)
  int shift = mult_bits - exp;
  auto mult = static_cast<int64_t>(std::llround(std::ldexp(mant, mult_bits)));
  if (mult == (int64_t{1} << mult_bits)) {  // rounding carried into a new bit
    mult >>= 1;
    --shift;
  }
  return dyadic(mult, shift);
}

double Rescale::real() const {
  return std::ldexp(static_cast<double>(num) / static_cast<double>(den), -shift);
}

void Rescale::validate() const {
  if (num < 1 || num > Format::kMaxMult || den < 1 || den > Format::kMaxMult)
    throw FormatError("rescale " + to_string() + ": numerator and denominator must be 1..2^31-1");
  if (std::abs(shift) > 2 * Format::kMaxShift)
    throw FormatError("rescale " + to_string() + ": shift must be within -2048..2048");
}

std::string Rescale::to_string() const {
  std::string s = std::to_string(num);
  if (den != 1) s += "/" + std::to_string(den);
  return s + ">>" + std::to_string(shift);
}

Requantizer::Requantizer(const Rescale& rescale, const Format& to, Rounding rounding,
                         Overflow overflow)
    : rescale_(rescale), to_(to), rounding_(rounding), overflow_(overflow) {
  rescale_.validate();
  to_.validate();
  num_ = rescale_.num;
  shift_ = rescale_.shift;
  fast_ = rescale_.den == 1 && rescale_.shift >= 0 && 62 + bit_length(rescale_.num) < 126;
  fast64_ = rescale_.den == 1 && rescale_.shift >= 0 && rescale_.shift <= 62;
  num64_ = rescale_.num;
  lim64_ = int64_t{1} << (62 - bit_length(static_cast<uwide_t>(rescale_.num)));
  k64_ = detail::Shift64(fast64_ ? rescale_.shift : 0);
  range_ = detail::Range64(to_.width, to_.is_signed, overflow_);
}

Requantizer::Requantizer(const Format& from, const Format& to, Rounding rounding,
                         Overflow overflow)
    : Requantizer(Rescale::between(from, to), to, rounding, overflow) {}

int64_t Requantizer::apply_general(wide_t v, uint64_t* events) const {
  if (v == kWideMin ||
      bit_length(static_cast<uwide_t>(abs_wide(v))) > kFastInputBits)
    return exact_big(v, rescale_, to_, rounding_, overflow_, events);
  const wide_t p = v * num_;  // |p| < 2^126
  const int den_bits = bit_length(static_cast<uwide_t>(rescale_.den));
  if (shift_ >= 0) {
    if (rescale_.den == 1) return fit(round_shift(p, shift_, rounding_), to_, overflow_, events);
    if (den_bits + shift_ <= 126)
      return fit(round_div(p, static_cast<wide_t>(rescale_.den) << shift_, rounding_), to_,
                 overflow_, events);
  } else {
    const int k = -shift_;
    const int p_bits = bit_length(static_cast<uwide_t>(abs_wide(p)));
    if (p == 0) return fit(0, to_, overflow_, events);
    if (p_bits + k <= 125) {
      const wide_t shifted = p * (wide_t{1} << k);
      return fit(rescale_.den == 1 ? shifted : round_div(shifted, rescale_.den, rounding_), to_,
                 overflow_, events);
    }
  }
  return exact_big(v, rescale_, to_, rounding_, overflow_, events);
}

int64_t requantize(wide_t raw, const Format& from, const Format& to, Rounding rounding,
                   Overflow overflow, uint64_t* events) {
  return Requantizer(from, to, rounding, overflow)(raw, events);
}

int64_t rescale(wide_t value, const Rescale& factor, const Format& to, Rounding rounding,
                Overflow overflow, uint64_t* events) {
  return Requantizer(factor, to, rounding, overflow)(value, events);
}

uint64_t SaturationCounters::count(const std::string& tensor) const {
  const auto it = counts_.find(tensor);
  return it == counts_.end() ? 0 : it->second;
}

uint64_t SaturationCounters::total() const {
  uint64_t t = 0;
  for (const auto& [name, n] : counts_) t += n;
  return t;
}

void SaturationCounters::merge(const SaturationCounters& other) {
  for (const auto& [name, n] : other.counts_) counts_[name] += n;
}

}  // namespace ssmsim::quant
