// quant::rescale, round_div / round_shift, add / mul / mac and the complex multiply / MAC against
// exact big-integer arithmetic (boost::multiprecision::cpp_int), independent of the 128-bit code in
// quant/. The contract (docs/fixed_point.md): the exact rational result, rounded ONCE with the
// rounding mode, then fitted ONCE with the overflow mode; one event when the overflow step changed
// the rounded value.
//
// The oracle here is written from the definitions: a value is a rational num / den with den > 0;
// rounding takes the floor and the remainder and decides with 2 * remainder against den; overflow
// compares with the range computed from the width.
#include <gtest/gtest.h>

#include <boost/multiprecision/cpp_int.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/arith.hpp"
#include "quant/errors.hpp"
#include "quant/format.hpp"
#include "quant/requantize.hpp"
#include "tests/support/testing.hpp"

namespace {

using big = boost::multiprecision::cpp_int;
using ssmsim::quant::CMulForm;
using ssmsim::quant::Complex;
using ssmsim::quant::Format;
using ssmsim::quant::Overflow;
using ssmsim::quant::Requantizer;
using ssmsim::quant::Rescale;
using ssmsim::quant::Rounding;
using ssmsim::quant::Scale;
using ssmsim::quant::uwide_t;
using ssmsim::quant::wide_t;


constexpr wide_t kWideMax = static_cast<wide_t>((uwide_t{1} << 127) - 1);
constexpr wide_t kWideMin = -kWideMax - 1;

big pow2(int n) { return big(1) << n; }

big to_big(wide_t v) {
  const bool neg = v < 0;
  const uwide_t m = neg ? uwide_t{0} - static_cast<uwide_t>(v) : static_cast<uwide_t>(v);
  big b = big(static_cast<uint64_t>(m >> 64)) * pow2(64) + big(static_cast<uint64_t>(m));
  return neg ? big(-b) : b;
}

std::string str(wide_t v) { return to_big(v).str(); }

// An exact rational num / den, den > 0.
struct Q {
  big num;
  big den{1};
};

Q operator+(const Q& a, const Q& b) { return {a.num * b.den + b.num * a.den, a.den * b.den}; }
Q operator-(const Q& a, const Q& b) { return {a.num * b.den - b.num * a.den, a.den * b.den}; }
Q operator*(const Q& a, const Q& b) { return {a.num * b.num, a.den * b.den}; }

// The real value of raw in units of `s`: raw * mult * 2^-shift.
Q value_of(wide_t raw, const Scale& s) {
  Q q{to_big(raw) * s.mult, 1};
  if (s.shift >= 0)
    q.den *= pow2(s.shift);
  else
    q.num *= pow2(-s.shift);
  return q;
}

// A real value expressed in raw units of `s`: v / (mult * 2^-shift).
Q in_units_of(const Q& v, const Scale& s) {
  Q q{v.num, v.den * s.mult};
  if (s.shift >= 0)
    q.num *= pow2(s.shift);
  else
    q.den *= pow2(-s.shift);
  return q;
}

// v rounded to an integer by the definition of each mode.
big round_q(const Q& v, Rounding mode) {
  big q = v.num / v.den;  // toward zero
  big r = v.num - q * v.den;
  if (r < 0) {  // make q the floor and 0 <= r < den
    q -= 1;
    r += v.den;
  }
  if (r == 0) return q;
  const big twice = 2 * r;
  const bool above = twice > v.den, tie = twice == v.den;
  const bool negative = v.num < 0;
  switch (mode) {
    case Rounding::Floor:
      return q;
    case Rounding::TowardZero:
      return negative ? big(q + 1) : q;
    case Rounding::HalfUp:
      return above || tie ? big(q + 1) : q;
    case Rounding::HalfDown:
      return above ? big(q + 1) : q;
    case Rounding::HalfEven:
      return above || (tie && q % 2 != 0) ? big(q + 1) : q;
    case Rounding::HalfAway:
      return above || (tie && !negative) ? big(q + 1) : q;
    case Rounding::HalfTowardZero:
      return above || (tie && negative) ? big(q + 1) : q;
  }
  return q;
}

struct Expected {
  big rounded;      // after the rounding step
  int64_t raw = 0;  // after the overflow step
  bool overflowed = false;
};

// The overflow step on an integer, by definition, for a destination of to.width bits.
Expected fit_q(const big& rounded, const Format& to, Overflow mode) {
  const int w = to.width;
  const big hi = to.is_signed ? big(pow2(w - 1) - 1) : big(pow2(w) - 1);
  big lo = to.is_signed ? big(-pow2(w - 1)) : big(0);
  if (mode == Overflow::SaturateSymmetric && to.is_signed) lo = -hi;
  Expected e{rounded, 0, false};
  big out = rounded;
  if (rounded < lo || rounded > hi) {
    e.overflowed = true;
    if (mode == Overflow::Wrap) {
      const big m = pow2(w);
      out = ((rounded % m) + m) % m;
      if (to.is_signed && out >= pow2(w - 1)) out -= m;
    } else {
      out = rounded < lo ? lo : hi;
    }
  }
  e.raw = out.convert_to<int64_t>();
  return e;
}

Expected expect(const Q& v_in_units, const Format& to, Rounding r, Overflow o) {
  return fit_q(round_q(v_in_units, r), to, o);
}

// Counts mismatches; spells out the first few.
class Failures {
 public:
  void check(bool ok, const std::function<std::string()>& what) {
    ++cases_;
    if (ok) return;
    if (++count_ <= 12) examples_ += what() + "\n";
  }
  void expect_none() const {
    EXPECT_EQ(count_, 0u) << count_ << " of " << cases_ << " checks differ from the oracle:\n"
                          << examples_;
  }
  uint64_t cases() const { return cases_; }

 private:
  uint64_t count_ = 0, cases_ = 0;
  std::string examples_;
};

std::string modes(Rounding r, Overflow o) { return to_string(r) + "/" + to_string(o); }

// A random wide value with a random bit length in [0, max_bits] and a random sign.
wide_t random_wide(std::mt19937_64& rng, int max_bits) {
  const int bits = static_cast<int>(rng() % static_cast<uint64_t>(max_bits + 1));
  if (bits == 0) return 0;
  uwide_t m = (static_cast<uwide_t>(rng()) << 64) | rng();
  if (bits < 128) m &= (uwide_t{1} << bits) - 1;
  m |= uwide_t{1} << (bits - 1);
  if (bits == 128) return kWideMin;
  const auto v = static_cast<wide_t>(m);
  return rng() % 2 ? -v : v;
}

// A random 1..31-bit positive integer with its top bit set.
int64_t random_mult(std::mt19937_64& rng, int max_bits = 31) {
  const int bits = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_bits));
  const auto m = static_cast<int64_t>(rng() & ((uint64_t{1} << bits) - 1));
  return m | (int64_t{1} << (bits - 1));
}

Format random_dest(std::mt19937_64& rng) {
  const bool is_signed = rng() % 2 == 0;
  const int width = 1 + static_cast<int>(rng() % (is_signed ? 64u : 63u));
  return Format::fixed(is_signed, width, 0);  // the scale of `to` plays no part in a rescale
}

// A random raw value of `f`, with its extremes and zero now and then.
int64_t random_raw(std::mt19937_64& rng, const Format& f) {
  const auto pick = rng() % 10;
  if (pick == 0) return f.min_raw();
  if (pick == 1) return f.max_raw();
  if (pick == 2) return 0;
  const auto span = static_cast<uint64_t>(f.max_raw()) - static_cast<uint64_t>(f.min_raw());
  const uint64_t off = span == ~uint64_t{0} ? rng() : rng() % (span + 1);
  return static_cast<int64_t>(static_cast<uint64_t>(f.min_raw()) + off);
}

// A format up to max_width bits with multiplier `mult` (1: a binary point).
Format random_operand(std::mt19937_64& rng, int max_width, int64_t mult = 1) {
  const bool is_signed = rng() % 4 != 0;
  const int width = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_width));
  const int frac = static_cast<int>(rng() % static_cast<uint64_t>(width + 17)) - 8;
  return Format{is_signed, width, Scale{mult, frac}};
}

Format random_result(std::mt19937_64& rng, int64_t mult = 1) {
  const bool is_signed = rng() % 4 != 0;
  const int width = 1 + static_cast<int>(rng() % (is_signed ? 64u : 63u));
  const int frac = static_cast<int>(rng() % 120) - 30;
  return Format{is_signed, width, Scale{mult, frac}};
}

// ---------------------------------------------------------------------------------------------
// Rescale

TEST(RescaleOracle, RationalAndDyadicRescalesAreTheExactRatioRoundedOnceThenFitted) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int c = 0; c < 12000; ++c) {
    Rescale k;
    k.num = random_mult(rng);
    k.den = rng() % 2 ? 1 : random_mult(rng);
    k.shift = static_cast<int>(rng() % 400) - 140;
    wide_t v = random_wide(rng, 127);
    if (c % 8 == 0) {  // right shifts at the edge of the 126-bit datapath, products near 2^126
      k.shift = 122 + static_cast<int>(rng() % 8);
      k.num = random_mult(rng) | (int64_t{1} << 30);
      do v = random_wide(rng, 96);
      while (v > -(wide_t{1} << 90) && v < (wide_t{1} << 90));
    }
    if (c < 4) v = c % 2 ? kWideMin : kWideMax;
    const Format to = random_dest(rng);
    Q exact{to_big(v) * k.num, big(k.den)};
    if (k.shift >= 0)
      exact.den *= pow2(k.shift);
    else
      exact.num *= pow2(-k.shift);
    for (const Rounding r : ssmsim::quant::kAllRoundings)
      for (const Overflow o : ssmsim::quant::kAllOverflows) {
        const Expected e = expect(exact, to, r, o);
        uint64_t ev = 0;
        const int64_t got = ssmsim::quant::rescale(v, k, to, r, o, &ev);
        f.check(got == e.raw && ev == (e.overflowed ? 1u : 0u), [&] {
          return str(v) + " * " + k.to_string() + " -> " + to.to_string() + " " + modes(r, o) +
                 ": want " + std::to_string(e.raw) + (e.overflowed ? " (overflow)" : "") + " got " +
                 std::to_string(got) + " events " + std::to_string(ev);
        });
      }
  }
  f.expect_none();
}

TEST(RescaleOracle, APrebuiltRequantizerGivesTheSameBitsOnEveryPath) {
  // The same factor applied to inputs of every size: the fast path (|v| < 2^62), the general
  // 128-bit path and the arbitrary-precision path must agree with the oracle and each other.
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int c = 0; c < 300; ++c) {
    const Rescale k{random_mult(rng), rng() % 3 ? 1 : random_mult(rng),
                    static_cast<int>(rng() % 200) - 40};
    const Format to = random_dest(rng);
    for (const Rounding r : ssmsim::quant::kAllRoundings)
      for (const Overflow o : ssmsim::quant::kAllOverflows) {
        const Requantizer rq(k, to, r, o);
        for (int bits = 0; bits <= 128; bits += 4) {
          const wide_t v = bits == 128 ? kWideMin : random_wide(rng, bits);
          Q exact{to_big(v) * k.num, big(k.den)};
          if (k.shift >= 0)
            exact.den *= pow2(k.shift);
          else
            exact.num *= pow2(-k.shift);
          const Expected e = expect(exact, to, r, o);
          uint64_t ev = 0;
          const int64_t got = rq(v, &ev);
          f.check(got == e.raw && ev == (e.overflowed ? 1u : 0u), [&] {
            return str(v) + " * " + k.to_string() + " -> " + to.to_string() + " " + modes(r, o) +
                   ": want " + std::to_string(e.raw) + " got " + std::to_string(got);
          });
        }
      }
  }
  f.expect_none();
}

TEST(RescaleOracle, ApproximateGivesTheNearestMultiplierOfExactlyTheRequestedBits) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  std::uniform_real_distribution<double> exponent(-40.0, 40.0);
  for (int c = 0; c < 4000; ++c) {
    const double ratio = std::exp2(exponent(rng));
    const int bits = 2 + static_cast<int>(rng() % 30);
    const Rescale k = Rescale::approximate(ratio, bits);
    // ratio = mant * 2^-e2 exactly, mant a 53-bit integer
    int e = 0;
    const double m = std::frexp(ratio, &e);
    const auto mant = static_cast<int64_t>(std::ldexp(m, 53));
    const Q exact_ratio = value_of(mant, Scale{1, 53 - e});
    const Q approx = value_of(k.num, Scale{1, k.shift});
    const Q err = approx - exact_ratio;
    const Q half_ulp = value_of(1, Scale{1, k.shift + 1});
    const big abs_err_num = err.num < 0 ? big(-err.num) : err.num;
    f.check(k.is_dyadic() && k.num >= (int64_t{1} << (bits - 1)) && k.num < (int64_t{1} << bits) &&
                abs_err_num * half_ulp.den <= half_ulp.num * err.den,
            [&] {
              return std::to_string(ratio) + " bits " + std::to_string(bits) + " -> " +
                     k.to_string();
            });
  }
  f.expect_none();
}

TEST(RescaleOracle, ApproximatedScalesRescaleExactlyLikeTheirDyadicFactor) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  std::uniform_real_distribution<double> exponent(-30.0, 10.0);
  for (int c = 0; c < 3000; ++c) {
    const Rescale k =
        Rescale::approximate(std::exp2(exponent(rng)), 2 + static_cast<int>(rng() % 30));
    const Rescale d = Rescale::dyadic(k.num, k.shift);
    const wide_t v = random_wide(rng, 110);
    const Format to = random_dest(rng);
    const Q exact = in_units_of(value_of(v, Scale{k.num, k.shift}), Scale{1, 0});
    for (const Rounding r : ssmsim::quant::kAllRoundings)
      for (const Overflow o : ssmsim::quant::kAllOverflows) {
        const Expected e = expect(exact, to, r, o);
        uint64_t ev1 = 0, ev2 = 0;
        const int64_t a = ssmsim::quant::rescale(v, k, to, r, o, &ev1);
        const int64_t b = ssmsim::quant::rescale(v, d, to, r, o, &ev2);
        f.check(a == e.raw && b == e.raw && ev1 == ev2 && ev1 == (e.overflowed ? 1u : 0u), [&] {
          return str(v) + " * " + k.to_string() + " " + modes(r, o) + ": want " +
                 std::to_string(e.raw) + " got " + std::to_string(a) + "/" + std::to_string(b);
        });
      }
  }
  f.expect_none();
}

TEST(RescaleOracle, RequantizeBetweenDyadicFormatsIsTheExactRatioRoundedOnce) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int c = 0; c < 6000; ++c) {
    const Format from{rng() % 2 == 0, 40,
                      Scale{random_mult(rng), static_cast<int>(rng() % 80) - 20}};
    const Format to{rng() % 2 == 0, 1 + static_cast<int>(rng() % 40),
                    Scale{random_mult(rng), static_cast<int>(rng() % 80) - 20}};
    const int64_t raw = random_raw(rng, from);
    const Q exact = in_units_of(value_of(raw, from.scale), to.scale);
    for (const Rounding r : ssmsim::quant::kAllRoundings)
      for (const Overflow o : ssmsim::quant::kAllOverflows) {
        const Expected e = expect(exact, to, r, o);
        uint64_t ev = 0;
        const int64_t got = ssmsim::quant::requantize(raw, from, to, r, o, &ev);
        f.check(got == e.raw && ev == (e.overflowed ? 1u : 0u), [&] {
          return std::to_string(raw) + " " + from.to_string() + " -> " + to.to_string() + " " +
                 modes(r, o) + ": want " + std::to_string(e.raw) + " got " + std::to_string(got);
        });
      }
  }
  f.expect_none();
}

// ---------------------------------------------------------------------------------------------
// round_div / round_shift

TEST(RoundingOracle, RoundShiftBreaksTiesByTheModeForEveryShiftAndSign) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int n = 1; n <= 125; ++n) {
    for (int c = 0; c < 20; ++c) {
      // an exact tie (odd multiple of 2^(n-1)), a near-tie and a random value, both signs
      const int room = 125 - n;
      const wide_t k = room > 0 ? random_wide(rng, std::min(room, 100)) / 2 : 0;
      const wide_t half = wide_t{1} << (n - 1);
      const wide_t candidates[] = {(2 * k + 1) * half, (2 * k + 1) * half + 1,
                                   (2 * k + 1) * half - 1, random_wide(rng, 125)};
      for (const wide_t v0 : candidates)
        for (const wide_t v : {v0, -v0})
          for (const Rounding r : ssmsim::quant::kAllRoundings) {
            const big want = round_q(value_of(v, Scale{1, n}), r);
            const wide_t got = ssmsim::quant::round_shift(v, n, r);
            f.check(to_big(got) == want, [&] {
              return "round_shift(" + str(v) + ", " + std::to_string(n) + ", " + to_string(r) +
                     "): want " + want.str() + " got " + str(got);
            });
          }
    }
  }
  f.expect_none();
}

TEST(RoundingOracle, RoundShiftByAtLeast126BitsIsExactForEveryInputBelow2To126) {
  Failures f;
  const wide_t p125 = wide_t{1} << 125;
  const wide_t max126 = (wide_t{1} << 126) - 1;
  const wide_t values[] = {0, 1, 2, 3, p125 - 1, p125, p125 + 1, max126 - 1, max126};
  for (const int n : {126, 127, 128, 129, 200, 1000, 2048})
    for (const wide_t v0 : values)
      for (const wide_t v : {v0, -v0})
        for (const Rounding r : ssmsim::quant::kAllRoundings) {
          const big want = round_q(value_of(v, Scale{1, n}), r);
          const wide_t got = ssmsim::quant::round_shift(v, n, r);
          f.check(to_big(got) == want, [&] {
            return "round_shift(" + str(v) + ", " + std::to_string(n) + ", " + to_string(r) +
                   "): want " + want.str() + " got " + str(got);
          });
        }
  f.expect_none();
}

TEST(RoundingOracle, RoundShiftByZeroIsTheIdentity) {
  for (const Rounding r : ssmsim::quant::kAllRoundings)
    for (const wide_t v : {wide_t{0}, wide_t{-7}, wide_t{7}, kWideMax >> 2, -(kWideMax >> 2)})
      EXPECT_TRUE(ssmsim::quant::round_shift(v, 0, r) == v);
}

TEST(RoundingOracle, RoundDivMatchesTheExactQuotientIncludingTiesAndNegativeValues) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  const wide_t kLimit = (wide_t{1} << 126) - 1;
  for (int c = 0; c < 30000; ++c) {
    wide_t den = random_wide(rng, 125);
    if (den < 0) den = -den;
    if (den == 0) den = 1;
    if (c % 5 == 0) den = 1 + static_cast<wide_t>(rng() % 10);
    wide_t num = random_wide(rng, 125);
    if (c % 3 == 0 && den % 2 == 0 && den < (wide_t{1} << 100)) {  // an exact tie
      const wide_t q = random_wide(rng, 124 - 100);
      num = q * den + den / 2;
    }
    if (c % 7 == 0) num = rng() % 2 ? kLimit : -kLimit;
    for (const Rounding r : ssmsim::quant::kAllRoundings) {
      const big want = round_q(Q{to_big(num), to_big(den)}, r);
      const wide_t got = ssmsim::quant::round_div(num, den, r);
      f.check(to_big(got) == want, [&] {
        return "round_div(" + str(num) + ", " + str(den) + ", " + to_string(r) + "): want " +
               want.str() + " got " + str(got);
      });
    }
  }
  f.expect_none();
}

TEST(RoundingOracle, RoundDivOfSmallTiesRoundsEachModeAsDefined) {
  // -5/2, -3/2, -1/2, 1/2, 3/2, 5/2: the table of the seven modes
  const int64_t want[7][6] = {
      {-3, -2, -1, 0, 1, 2},  // Floor
      {-2, -1, 0, 0, 1, 2},   // TowardZero
      {-2, -1, 0, 1, 2, 3},   // HalfUp
      {-3, -2, -1, 0, 1, 2},  // HalfDown
      {-2, -2, 0, 0, 2, 2},   // HalfEven
      {-3, -2, -1, 1, 2, 3},  // HalfAway
      {-2, -1, 0, 0, 1, 2},   // HalfTowardZero
  };
  const int nums[] = {-5, -3, -1, 1, 3, 5};
  for (int r = 0; r < 7; ++r)
    for (int i = 0; i < 6; ++i) {
      EXPECT_TRUE(ssmsim::quant::round_div(nums[i], 2, ssmsim::quant::kAllRoundings[r]) == want[r][i])
          << nums[i] << "/2 " << to_string(ssmsim::quant::kAllRoundings[r]);
      EXPECT_TRUE(ssmsim::quant::round_shift(nums[i], 1, ssmsim::quant::kAllRoundings[r]) == want[r][i])
          << nums[i] << ">>1 " << to_string(ssmsim::quant::kAllRoundings[r]);
    }
}

// ---------------------------------------------------------------------------------------------
// add / mul / mac

TEST(ArithOracle, AddMulAndMacAreExactThenRoundedOnceForEveryMode) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int c = 0; c < 5000; ++c) {
    // a quarter of the cases with dyadic multipliers (shared where the operation needs it)
    const bool dyadic = c % 4 == 0;
    const int64_t ma = dyadic ? random_mult(rng, 12) : 1, mb = dyadic ? random_mult(rng, 12) : 1;
    const Format fa = random_operand(rng, 40, ma);
    const Format fb = random_operand(rng, 40, mb);
    const Format fb_same = random_operand(rng, 40, ma);  // same multiplier as fa, for add
    // the accumulator's binary point within 30 bits of the product's keeps the aligned sum
    // inside the 126-bit exact datapath
    Format facc = random_operand(rng, 40, ma * mb);
    facc.scale.shift = fa.frac() + fb.frac() + static_cast<int>(rng() % 61) - 30;
    const Format to = random_result(rng, dyadic ? random_mult(rng, 16) : 1);
    const int64_t a = random_raw(rng, fa), b = random_raw(rng, fb), b2 = random_raw(rng, fb_same);
    const int64_t acc = random_raw(rng, facc);
    const Q sum = in_units_of(value_of(a, fa.scale) + value_of(b2, fb_same.scale), to.scale);
    const Q prod = in_units_of(value_of(a, fa.scale) * value_of(b, fb.scale), to.scale);
    const Q macv = in_units_of(
        value_of(acc, facc.scale) + value_of(a, fa.scale) * value_of(b, fb.scale), to.scale);
    for (const Rounding r : ssmsim::quant::kAllRoundings)
      for (const Overflow o : ssmsim::quant::kAllOverflows) {
        struct Op {
          const char* name;
          Q exact;
          std::function<int64_t(uint64_t*)> run;
        };
        const Op ops[] = {
            {"add", sum,
             [&](uint64_t* ev) { return ssmsim::quant::add(a, fa, b2, fb_same, to, r, o, ev); }},
            {"mul", prod,
             [&](uint64_t* ev) { return ssmsim::quant::mul(a, fa, b, fb, to, r, o, ev); }},
            {"mac", macv,
             [&](uint64_t* ev) {
               return ssmsim::quant::mac(acc, facc, a, fa, b, fb, to, r, o, ev);
             }},
        };
        for (const Op& op : ops) {
          const Expected e = expect(op.exact, to, r, o);
          uint64_t ev = 0;
          const int64_t got = op.run(&ev);
          f.check(got == e.raw && ev == (e.overflowed ? 1u : 0u), [&] {
            return std::string(op.name) + " acc " + std::to_string(acc) + " " + facc.to_string() +
                   ", a " + std::to_string(a) + " " + fa.to_string() + ", b " + std::to_string(b) +
                   " " + fb.to_string() + ", b2 " + std::to_string(b2) + " " + fb_same.to_string() +
                   " -> " + to.to_string() + " " + modes(r, o) + ": want " + std::to_string(e.raw) +
                   " got " + std::to_string(got) + " events " + std::to_string(ev);
          });
        }
      }
  }
  f.expect_none();
}

TEST(ArithOracle, OperandsOfDifferentMultipliersOrBeyondTheDatapathAreRejected) {
  const Format a = Format::dyadic(true, 8, 3, 4), b = Format::dyadic(true, 8, 5, 4);
  const Format to = Format::fixed(true, 8, 0);
  EXPECT_THROW(ssmsim::quant::add(1, a, 1, b, to, Rounding::Floor, Overflow::Wrap),
               ssmsim::FormatError);
  EXPECT_THROW(ssmsim::quant::mac(1, a, 1, a, 1, a, to, Rounding::Floor, Overflow::Wrap),
               ssmsim::FormatError);
  // aligning s40.0 to 100 fraction bits needs 140 bits
  EXPECT_THROW(ssmsim::quant::add(1, Format::fixed(true, 40, 0), 1, Format::fixed(true, 8, 100), to,
                                  Rounding::Floor, Overflow::Wrap),
               ssmsim::FormatError);
  EXPECT_THROW(ssmsim::quant::cmul({1, 1}, Format::fixed(true, 64, 0), {1, 1},
                                   Format::fixed(true, 62, 0), to, Rounding::Floor, Overflow::Wrap),
               ssmsim::FormatError);
}

// ---------------------------------------------------------------------------------------------
// Complex multiply and MAC

struct ComplexCase {
  Format facc, fa, fb, to;
  Complex acc, a, b;
};

ComplexCase random_complex_case(std::mt19937_64& rng) {
  for (;;) {
    ComplexCase k;
    k.fa = random_operand(rng, 40);
    k.fb = random_operand(rng, 40);
    k.facc = random_operand(rng, 40);
    k.to = random_result(rng);
    // keep the aligned accumulator within the exact datapath
    const int prod_shift = k.fa.frac() + k.fb.frac();
    const int shift = std::max(prod_shift, k.facc.frac());
    if (k.facc.width + (shift - k.facc.frac()) + 2 > 120 ||
        k.fa.width + k.fb.width + (shift - prod_shift) + 3 > 120)
      continue;
    k.acc = {random_raw(rng, k.facc), random_raw(rng, k.facc)};
    k.a = {random_raw(rng, k.fa), random_raw(rng, k.fa)};
    k.b = {random_raw(rng, k.fb), random_raw(rng, k.fb)};
    return k;
  }
}

std::string describe(const ComplexCase& k) {
  auto c = [](const Complex& z) {
    return "(" + std::to_string(z.re) + "," + std::to_string(z.im) + ")";
  };
  return "acc " + c(k.acc) + " " + k.facc.to_string() + ", a " + c(k.a) + " " + k.fa.to_string() +
         ", b " + c(k.b) + " " + k.fb.to_string() + " -> " + k.to.to_string();
}

TEST(ComplexOracle, CmulAndCmacRoundEachPartOnceForEveryModeAndBothForms) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int c = 0; c < 4000; ++c) {
    const ComplexCase k = random_complex_case(rng);
    const Q ar = value_of(k.a.re, k.fa.scale), ai = value_of(k.a.im, k.fa.scale);
    const Q br = value_of(k.b.re, k.fb.scale), bi = value_of(k.b.im, k.fb.scale);
    const Q pre = ar * br - ai * bi, pim = ar * bi + ai * br;
    const Q mre = value_of(k.acc.re, k.facc.scale) + pre;
    const Q mim = value_of(k.acc.im, k.facc.scale) + pim;
    for (const Rounding r : ssmsim::quant::kAllRoundings)
      for (const Overflow o : ssmsim::quant::kAllOverflows) {
        const Expected e_pre = expect(in_units_of(pre, k.to.scale), k.to, r, o);
        const Expected e_pim = expect(in_units_of(pim, k.to.scale), k.to, r, o);
        const Expected e_mre = expect(in_units_of(mre, k.to.scale), k.to, r, o);
        const Expected e_mim = expect(in_units_of(mim, k.to.scale), k.to, r, o);
        const uint64_t mul_events = (e_pre.overflowed ? 1u : 0u) + (e_pim.overflowed ? 1u : 0u);
        const uint64_t mac_events = (e_mre.overflowed ? 1u : 0u) + (e_mim.overflowed ? 1u : 0u);
        for (const CMulForm form : {CMulForm::FourMult, CMulForm::ThreeMult}) {
          const char* fname = form == CMulForm::FourMult ? "FourMult" : "ThreeMult";
          uint64_t ev = 0;
          const Complex p = ssmsim::quant::cmul(k.a, k.fa, k.b, k.fb, k.to, r, o, &ev, form);
          f.check(p.re == e_pre.raw && p.im == e_pim.raw && ev == mul_events, [&] {
            return std::string("cmul ") + fname + " " + describe(k) + " " + modes(r, o) +
                   ": want (" + std::to_string(e_pre.raw) + "," + std::to_string(e_pim.raw) +
                   ") got (" + std::to_string(p.re) + "," + std::to_string(p.im) + ")";
          });
          uint64_t ev2 = 0;
          const Complex m =
              ssmsim::quant::cmac(k.acc, k.facc, k.a, k.fa, k.b, k.fb, k.to, r, o, &ev2, form);
          f.check(m.re == e_mre.raw && m.im == e_mim.raw && ev2 == mac_events, [&] {
            return std::string("cmac ") + fname + " " + describe(k) + " " + modes(r, o) +
                   ": want (" + std::to_string(e_mre.raw) + "," + std::to_string(e_mim.raw) +
                   ") got (" + std::to_string(m.re) + "," + std::to_string(m.im) + ")";
          });
        }
      }
  }
  f.expect_none();
}

TEST(ComplexOracle, The64BitAnd128BitPathsGiveTheSameBits) {
  // cmul / cmac take a 64-bit path where the exact value fits there; force both paths on the
  // same inputs and compare (and make sure the 64-bit path is taken often enough to matter)
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  int fast = 0;
  for (int c = 0; c < 6000; ++c) {
    ComplexCase k = random_complex_case(rng);
    if (c % 2 == 0) {  // small operands, so that most cases fit 64 bits
      k.fa = Format::fixed(k.fa.is_signed, 1 + static_cast<int>(rng() % 24), k.fa.frac() % 20);
      k.fb = Format::fixed(k.fb.is_signed, 1 + static_cast<int>(rng() % 24), k.fb.frac() % 20);
      k.facc = Format::fixed(true, 1 + static_cast<int>(rng() % 30),
                             k.fa.frac() + k.fb.frac() + static_cast<int>(rng() % 9) - 4);
      k.acc = {random_raw(rng, k.facc), random_raw(rng, k.facc)};
      k.a = {random_raw(rng, k.fa), random_raw(rng, k.fa)};
      k.b = {random_raw(rng, k.fb), random_raw(rng, k.fb)};
    }
    const Rounding r = ssmsim::quant::kAllRoundings[rng() % 7];
    const Overflow o = ssmsim::quant::kAllOverflows[rng() % 3];
    for (const bool with_acc : {false, true}) {
      Complex fast_out;
      uint64_t ev64 = 0, ev128 = 0;
      const bool took =
          ssmsim::quant::detail::cmac64(with_acc ? &k.acc : nullptr, with_acc ? &k.facc : nullptr,
                                        k.a, k.fa, k.b, k.fb, k.to, r, o, &ev64, fast_out);
      if (!took) continue;
      ++fast;
      const Complex wide =
          with_acc ? ssmsim::quant::detail::cmac_wide(k.acc, k.facc, k.a, k.fa, k.b, k.fb, k.to, r,
                                                      o, &ev128, CMulForm::ThreeMult)
                   : ssmsim::quant::detail::cmul_wide(k.a, k.fa, k.b, k.fb, k.to, r, o, &ev128,
                                                      CMulForm::ThreeMult);
      f.check(fast_out == wide && ev64 == ev128, [&] {
        return std::string(with_acc ? "cmac " : "cmul ") + describe(k) + " " + modes(r, o) +
               ": 64-bit (" + std::to_string(fast_out.re) + "," + std::to_string(fast_out.im) +
               ") 128-bit (" + std::to_string(wide.re) + "," + std::to_string(wide.im) + ")";
      });
    }
  }
  f.expect_none();
  EXPECT_GT(fast, 3000);
}

TEST(ComplexOracle, FourAndThreeMultiplierFormsAreBitIdentical) {
  auto rng = ssmsim::testing::seeded_rng();
  Failures f;
  for (int c = 0; c < 20000; ++c) {
    const ComplexCase k = random_complex_case(rng);
    const auto e4 = ssmsim::quant::cmul_exact(k.a, k.b, CMulForm::FourMult);
    const auto e3 = ssmsim::quant::cmul_exact(k.a, k.b, CMulForm::ThreeMult);
    f.check(e4.re == e3.re && e4.im == e3.im, [&] { return "cmul_exact " + describe(k); });
    const Rounding r = ssmsim::quant::kAllRoundings[rng() % 7];
    const Overflow o = ssmsim::quant::kAllOverflows[rng() % 3];
    uint64_t ev4 = 0, ev3 = 0;
    const Complex m4 = ssmsim::quant::cmac(k.acc, k.facc, k.a, k.fa, k.b, k.fb, k.to, r, o, &ev4,
                                           CMulForm::FourMult);
    const Complex m3 = ssmsim::quant::cmac(k.acc, k.facc, k.a, k.fa, k.b, k.fb, k.to, r, o, &ev3,
                                           CMulForm::ThreeMult);
    f.check(m4 == m3 && ev4 == ev3, [&] { return "cmac " + describe(k) + " " + modes(r, o); });
  }
  // the extremes of 40-bit operands, where the pre-adders of ThreeMult need their extra bit
  const Format w = Format::fixed(true, 40, 20);
  const int64_t lo = w.min_raw(), hi = w.max_raw();
  for (const int64_t ar : {lo, hi})
    for (const int64_t ai : {lo, hi})
      for (const int64_t br : {lo, hi})
        for (const int64_t bi : {lo, hi}) {
          const auto e4 = ssmsim::quant::cmul_exact({ar, ai}, {br, bi}, CMulForm::FourMult);
          const auto e3 = ssmsim::quant::cmul_exact({ar, ai}, {br, bi}, CMulForm::ThreeMult);
          f.check(e4.re == e3.re && e4.im == e3.im, [&] { return std::string("extremes"); });
        }
  f.expect_none();
}

}  // namespace
