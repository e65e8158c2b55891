// to_fixed / to_real against an independent arbitrary-precision oracle (boost::multiprecision):
// the exact rational x / scale, rounded with a textbook implementation of each mode, then fitted
// with a textbook implementation of each overflow mode.
#include <gtest/gtest.h>

#include <boost/multiprecision/cpp_int.hpp>
#include <cmath>
#include <limits>
#include <random>

#include "quant/errors.hpp"
#include "quant/quantizer.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::quant {
namespace {

using boost::multiprecision::cpp_int;
using boost::multiprecision::cpp_rational;


cpp_int pow2(int n) { return cpp_int(1) << n; }

// The exact value of a finite double (or 2^1024 for an infinity) as a rational.
cpp_rational exact(double x) {
  if (std::isinf(x)) return cpp_rational(x < 0 ? -pow2(1024) : pow2(1024));
  int e = 0;
  const double mant = std::frexp(x, &e);
  const cpp_int m = static_cast<long long>(std::ldexp(mant, 53));  // exact
  const int k = e - 53;
  return k >= 0 ? cpp_rational(m * pow2(k)) : cpp_rational(m, pow2(-k));
}

cpp_rational scale_of(const Format& f) {
  const cpp_int mult = f.scale.mult;
  return f.scale.shift >= 0 ? cpp_rational(mult, pow2(f.scale.shift))
                            : cpp_rational(mult * pow2(-f.scale.shift));
}

// Round a rational to an integer, by definition of each mode.
cpp_int round_rational(const cpp_rational& v, Rounding mode) {
  const cpp_int num = numerator(v), den = denominator(v);  // den > 0
  cpp_int fl = num / den;                                  // truncates toward zero
  if (fl * den > num) fl -= 1;                             // floor
  const cpp_rational frac = v - cpp_rational(fl);          // in [0, 1)
  if (frac == 0) return fl;
  const cpp_rational half(1, 2);
  const cpp_int ce = fl + 1;
  switch (mode) {
    case Rounding::Floor: return fl;
    case Rounding::TowardZero: return v < 0 ? ce : fl;
    case Rounding::HalfUp: return frac >= half ? ce : fl;
    case Rounding::HalfDown: return frac > half ? ce : fl;
    case Rounding::HalfEven:
      if (frac != half) return frac > half ? ce : fl;
      return (fl % 2 == 0) ? fl : ce;
    case Rounding::HalfAway:
      if (frac != half) return frac > half ? ce : fl;
      return v < 0 ? fl : ce;
    case Rounding::HalfTowardZero:
      if (frac != half) return frac > half ? ce : fl;
      return v < 0 ? ce : fl;
  }
  return fl;
}

cpp_int fit_oracle(const cpp_int& v, const Format& f, Overflow mode, bool& event) {
  const cpp_int hi = f.is_signed ? pow2(f.width - 1) - 1 : pow2(f.width) - 1;
  cpp_int lo = f.is_signed ? -pow2(f.width - 1) : cpp_int(0);
  if (mode == Overflow::SaturateSymmetric && f.is_signed) lo = -hi;
  event = v < lo || v > hi;
  if (!event) return v;
  if (mode != Overflow::Wrap) return v < lo ? lo : hi;
  const cpp_int modulus = pow2(f.width);
  cpp_int r = v % modulus;
  if (r < 0) r += modulus;
  if (f.is_signed && r > hi) r -= modulus;
  return r;
}

// A random format: either width and signedness, binary point or dyadic, and shifts that are
// mostly moderate and sometimes at the extremes of the allowed range.
Format random_format(std::mt19937_64& rng) {
  Format f;
  f.is_signed = rng() % 2 == 0;
  f.width = 1 + static_cast<int>(rng() % (f.is_signed ? 64 : 63));
  const int kind = static_cast<int>(rng() % 10);
  if (kind == 0)
    f.scale.shift = static_cast<int>(rng() % 2049) - 1024;
  else
    f.scale.shift = static_cast<int>(rng() % 141) - 70;
  if (rng() % 2 == 0) {
    const int bits = 2 + static_cast<int>(rng() % 30);
    f.scale.mult = static_cast<int64_t>((rng() % (uint64_t{1} << bits)) | 1);
    if (f.scale.mult > Format::kMaxMult) f.scale.mult = Format::kMaxMult;
  }
  f.validate();
  return f;
}

// A random double aimed at the format: around its range, exactly on the grid, exactly halfway
// between grid points, or far outside in magnitude.
double random_value_unchecked(std::mt19937_64& rng, const Format& f) {
  std::uniform_real_distribution<double> unit(0.5, 1.0);
  const double sign = rng() % 2 ? -1.0 : 1.0;
  const double s = f.scale.real();
  switch (rng() % 8) {
    case 0:
    case 1: {  // |x / scale| around 2^k for k from -8 to width + 4
      const int k = static_cast<int>(rng() % static_cast<uint64_t>(f.width + 13)) - 8;
      return sign * std::ldexp(unit(rng), k) * s;
    }
    case 2:
    case 3: {  // a tie: (2j + 1) / 2 units, representable when (2j + 1) * mult < 2^53
      const int jbits = std::min(f.width, 52 - (64 - __builtin_clzll(
                                                           static_cast<uint64_t>(f.scale.mult))));
      const uint64_t j = jbits > 0 ? rng() % (uint64_t{1} << jbits) : 0;
      const double units = static_cast<double>(2 * j + 1) * static_cast<double>(f.scale.mult);
      return sign * std::ldexp(units, -f.scale.shift - 1);
    }
    case 4: {  // on the grid
      const uint64_t j = rng() % (uint64_t{1} << std::min(f.width, 20));
      return sign * std::ldexp(static_cast<double>(j) * static_cast<double>(f.scale.mult),
                               -f.scale.shift);
    }
    case 5: {  // a random double with a random exponent over the whole range
      const int k = static_cast<int>(rng() % 2098) - 1074;
      return sign * std::ldexp(unit(rng), k);
    }
    case 6: {  // huge
      const double choices[] = {1e300, std::numeric_limits<double>::max(), 0x1p1000, 1e30,
                                0x1p64, 0x1p63};
      return sign * choices[rng() % 6];
    }
    default: {  // tiny, subnormal, zero
      const double choices[] = {std::numeric_limits<double>::denorm_min(), 1e-300, 1e-310, 0.0,
                                0x1p-1022, 1e-20};
      return sign * choices[rng() % 6];
    }
  }
}

double random_value(std::mt19937_64& rng, const Format& f) {
  const double x = random_value_unchecked(rng, f);
  // a scale near 2^1024 can push an aimed value past the largest double
  return std::isfinite(x) ? x : std::copysign(std::numeric_limits<double>::max(), x);
}

TEST(ToFixed, EqualsTheExactRationalRoundingForRandomDoublesInEveryMode) {
  auto rng = testing::seeded_rng();
  int checked = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const Format f = random_format(rng);
    const double x = random_value(rng, f);
    ASSERT_TRUE(std::isfinite(x));
    const cpp_rational q = exact(x) / scale_of(f);
    for (Rounding r : ssmsim::quant::kAllRoundings) {
      const cpp_int rounded = round_rational(q, r);
      for (Overflow o : ssmsim::quant::kAllOverflows) {
        bool event = false;
        const cpp_int want = fit_oracle(rounded, f, o, event);
        uint64_t events = 0;
        const int64_t got = to_fixed(x, f, r, o, &events);
        ASSERT_EQ(cpp_int(got), want)
            << "x=" << std::hexfloat << x << std::defaultfloat << " format=" << f.to_string()
            << " rounding=" << to_string(r) << " overflow=" << to_string(o);
        ASSERT_EQ(events, event ? 1u : 0u) << "x=" << x << " format=" << f.to_string();
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 3000 * 21);
}

TEST(ToFixed, RoundsExactTiesOfABinaryPointFormatByEachModesRule) {
  const Format f = Format::fixed(true, 8, 1);  // unit 0.5: 0.25 is half a unit
  const auto q = [&](double x, Rounding r) { return to_fixed(x, f, r, Overflow::Saturate); };
  EXPECT_EQ(q(0.75, Rounding::Floor), 1);          // 1.5 units
  EXPECT_EQ(q(-0.75, Rounding::Floor), -2);
  EXPECT_EQ(q(-0.75, Rounding::TowardZero), -1);
  EXPECT_EQ(q(0.75, Rounding::HalfUp), 2);
  EXPECT_EQ(q(-0.75, Rounding::HalfUp), -1);
  EXPECT_EQ(q(0.75, Rounding::HalfDown), 1);
  EXPECT_EQ(q(0.75, Rounding::HalfEven), 2);
  EXPECT_EQ(q(1.25, Rounding::HalfEven), 2);        // 2.5 units -> 2
  EXPECT_EQ(q(-1.25, Rounding::HalfEven), -2);
  EXPECT_EQ(q(-0.75, Rounding::HalfAway), -2);
  EXPECT_EQ(q(-0.75, Rounding::HalfTowardZero), -1);
  EXPECT_EQ(q(0.75, Rounding::HalfTowardZero), 1);
}

TEST(ToFixed, RoundsADyadicFormatByTheExactQuotientNotARoundedScale) {
  // unit 3 * 2^-4 = 0.1875; 0.28125 = 1.5 units exactly, a tie
  const Format f = Format::dyadic(true, 8, 3, 4);
  EXPECT_EQ(to_fixed(0.28125, f, Rounding::HalfEven, Overflow::Saturate), 2);
  EXPECT_EQ(to_fixed(0.28125, f, Rounding::HalfDown, Overflow::Saturate), 1);
  // 0.1 / 0.1875 = 0.5333...: above the tie although a rounded quotient is close to it
  EXPECT_EQ(to_fixed(0.1, f, Rounding::HalfDown, Overflow::Saturate), 1);
}

TEST(ToFixed, SaturatesOrWrapsInfinitiesAsTheHugeValueTwoToThe1024) {
  const Format f = Format::fixed(true, 8, 4);
  uint64_t events = 0;
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(to_fixed(inf, f, Rounding::HalfEven, Overflow::Saturate, &events), 127);
  EXPECT_EQ(to_fixed(-inf, f, Rounding::HalfEven, Overflow::Saturate, &events), -128);
  EXPECT_EQ(to_fixed(-inf, f, Rounding::HalfEven, Overflow::SaturateSymmetric, &events), -127);
  EXPECT_EQ(to_fixed(inf, f, Rounding::HalfEven, Overflow::Wrap, &events), 0);  // low bits 0
  EXPECT_EQ(events, 4u);
  // a dyadic unit: the wrapped low bits of 2^1024 / (3 * 2^-4), checked with the oracle
  const Format g = Format::dyadic(false, 16, 3, 4);
  bool event = false;
  const cpp_int want = fit_oracle(round_rational(exact(inf) / scale_of(g), Rounding::HalfEven), g,
                                  Overflow::Wrap, event);
  EXPECT_EQ(cpp_int(to_fixed(inf, g, Rounding::HalfEven, Overflow::Wrap)), want);
}

TEST(ToFixed, RejectsNaNWithAFormatErrorThatSaysSo) {
  const Format f = Format::fixed(true, 8, 4);
  try {
    to_fixed(std::nan(""), f, Rounding::HalfEven, Overflow::Saturate);
    FAIL() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("s8.4"), std::string::npos) << e.what();
  }
}

TEST(ToFixed, RejectsAnInvalidFormat) {
  Format f;
  f.width = 65;
  EXPECT_THROW(to_fixed(1.0, f, Rounding::HalfEven, Overflow::Saturate), FormatError);
}

TEST(ToReal, IsExactBelowTwoToThe53AndCorrectlyRoundedAbove) {
  auto rng = testing::seeded_rng();
  for (int i = 0; i < 2000; ++i) {
    const int shift = static_cast<int>(rng() % 81) - 40;
    const int64_t mult = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(Format::kMaxMult));
    const Format f = Format::dyadic(true, 64, mult, shift);
    // small: |raw * mult| < 2^53 -> exact
    const int64_t small = static_cast<int64_t>(rng() % (uint64_t{1} << 21)) - (int64_t{1} << 20);
    EXPECT_EQ(f.to_real(small), std::ldexp(static_cast<double>(small * mult), -shift));
    // large: the nearest double to the exact product (then an exact power-of-two scaling)
    const auto large = static_cast<int64_t>(rng() >> 1) * (rng() % 2 ? 1 : -1);
    const double d = f.to_real(large);
    const cpp_rational want =
        cpp_rational(cpp_int(large) * mult) * scale_of(Format::fixed(true, 64, shift));
    const auto dist = [&](double v) {
      const cpp_rational diff = exact(v) - want;
      return diff < 0 ? cpp_rational(-diff) : diff;
    };
    EXPECT_LE(dist(d), dist(std::nextafter(d, 1e308)));
    EXPECT_LE(dist(d), dist(std::nextafter(d, -1e308)));
  }
}

}  // namespace
}  // namespace ssmsim::quant
